"""Every error with a place in the config, a manifest or a Nix file carries it, in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
CONFIG = ".nix-tag-check.yaml"
BAD_CONFIG = "images:\n  - name: registry.example.com/team/hello\n    nix: default.nix\n" \
    "    colour: blue\n"
UNREFERENCED = ("  - name: registry.example.com/team/legacy\n    nix: default.nix\n"
                "    attr: legacy\n")


def _place(case: str, repo: Path) -> tuple[list[str], str, int, int]:
    """Arguments that make one located error, and its path, line and column."""
    if case == "config":
        (repo / CONFIG).write_text(BAD_CONFIG)
        return [], CONFIG, 4, 0
    if case == "unreferenced":
        config = repo / CONFIG
        config.write_text(config.read_text().replace("files:", UNREFERENCED + "files:"))
        return [], CONFIG, 9, 0
    if case == "nix-syntax":  # Nix names the place: the Nix file's line
        (repo / "default.nix").write_text("{\n  hello = ;\n}\n")
        git(repo, "add", "default.nix")
        return [], "default.nix", 2, 11
    if case == "nix-attribute":  # Nix names none: the image's line of the config
        config = repo / CONFIG
        config.write_text(config.read_text().replace("attr: hello", "attr: helo"))
        return [], CONFIG, 3, 0
    if case == "manifest":
        (repo / "deploy/bad.yaml").write_text(f"a: b\n  image: {HELLO}:x\n")
        return ["deploy/bad.yaml"], "deploy/bad.yaml", 2, 8
    (repo / "deploy/bad.yaml").write_text(f'image: "{HELLO}:\\x6fld"\n')
    return ["--fix", "deploy/bad.yaml"], "deploy/bad.yaml", 1, 8


CASES = ["config", "unreferenced", "nix-syntax", "nix-attribute", "manifest", "unfixable"]


@pytest.mark.parametrize("case", CASES)
def test_text_error_starts_with_its_place(
    repo: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    args, path, line, column = _place(case, repo)
    assert main(args) == 2
    where = f"{path}:{line}" + (f":{column}" if column else "")
    errors = [e for e in capsys.readouterr().err.splitlines() if e.startswith("error:")]
    assert [e for e in errors if e.startswith(f"error: {where}: ")] != [], errors


@pytest.mark.parametrize("case", CASES)
def test_json_error_has_path_line_and_column(
    repo: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    args, path, line, column = _place(case, repo)
    assert main(["--format", "json", *args]) == 2
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert [(e["path"], e["line"], e["column"] or 0) for e in errors] == [(path, line, column)]


@pytest.mark.parametrize("case", CASES)
def test_github_error_is_an_annotation_on_its_line(
    repo: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    args, path, line, column = _place(case, repo)
    assert main(["--format", "github", *args]) == 2
    props = f"file={path},line={line}" + (f",col={column}" if column else "")
    annotations = [a for a in capsys.readouterr().out.splitlines() if a.startswith("::error")]
    assert [a for a in annotations if a.startswith(f"::error {props}")] != [], annotations
