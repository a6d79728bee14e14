"""The bundled examples and documentation say things that are true of this tool."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import git
from nixtools import out_path_hash
from ruamel.yaml import YAML

from nix_tag_check.cli import _parser
from nix_tag_check.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
YAML_FILES = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".yaml", ".yml"))
# `nix-tag-check` followed by at least one option (prose mentions carry none).
COMMAND_RE = re.compile(r"\bnix-tag-check((?: +--?[a-z][\w-]*(?:[ =]+[\w.#/=:@-]+)?)+)")


def _load(path: Path) -> list[object]:
    return list(YAML(typ="safe").load_all(path.read_text()))


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_yaml_parses(path: Path) -> None:
    assert _load(path)


def _all_commands() -> list[tuple[str, str]]:
    sources = [*YAML_FILES, ROOT / "README.md", EXAMPLES / "hello/README.md"]
    found = {
        (str(p.relative_to(ROOT)), f"nix-tag-check{m.group(1)}")
        for p in sources for m in COMMAND_RE.finditer(p.read_text())
    }
    return sorted(found)


@pytest.mark.parametrize(("where", "command"), _all_commands())
def test_documented_command_lines_use_real_options(where: str, command: str) -> None:
    argv = shlex.split(command)[1:]
    _parser().parse_args(argv)  # exits (fails the test) on an unknown option


def test_documented_commands_cover_the_pipeline_gates() -> None:
    commands = {c for _, c in _all_commands()}
    assert "nix-tag-check --format github" in commands
    assert "nix-tag-check --print-expected" in commands
    assert "nix-tag-check --fix" in commands


def test_example_pre_commit_config_names_the_published_hook() -> None:
    hook_ids = {hook["id"] for hook in _load(ROOT / ".pre-commit-hooks.yaml")[0]}
    config = _load(EXAMPLES / "hello/.pre-commit-config.yaml")[0]
    used = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert used <= hook_ids
    (published,) = [hook for hook in _load(ROOT / ".pre-commit-hooks.yaml")[0]
                    if hook["id"] == "nix-tag-check"]
    (local,) = [hook for repo in config["repos"] for hook in repo["hooks"]]
    for key in ("entry", "pass_filenames", "always_run", "require_serial"):
        assert local[key] == published[key], key


def test_readme_hook_snippet_names_the_published_hook() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "- id: nix-tag-check" in readme


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.DOTALL)
    run_example, run_tests = blocks[0], blocks[1]
    assert "examples/hello" in run_example and "nix-bin" in run_example
    told = subprocess.run([ROOT / ".ci/test-command"], check=True, capture_output=True, text=True)
    assert told.stdout == f"{run_tests}\n"
    ci = (ROOT / ".ci/run").read_text()
    assert "command=$(.ci/test-command)" in ci  # each lane runs "$command"


def test_hello_example_reports_its_stale_tag_and_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello", root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    monkeypatch.chdir(root)
    tag = out_path_hash(root / "default.nix", "image")
    assert main([]) == 1
    assert capsys.readouterr().out == (
        "deploy/deployment.yaml:21:18: registry.example.com/team/hello: tag "
        f"'0000000000000000000000000000000a' should be '{tag}' (default.nix#image)\n"
    )
    assert main(["--fix"]) == 1
    assert main([]) == 0
