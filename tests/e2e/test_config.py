"""Configuration errors: one line, `path:line: message`, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nixtools import out_path_hash

from nix_tag_check.config.load import parse_attr_path
from nix_tag_check.main import main

IMAGE = "  - name: registry.example.com/team/hello\n    nix: default.nix\n    attr: hello\n"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (f"imagess:\n{IMAGE}", ".nix-tag-check.yaml:1: unknown key 'imagess' in the config"),
        (f"images:\n{IMAGE}    atr: image\n",
         ".nix-tag-check.yaml:5: unknown key 'atr' in an image; did you mean 'attr'?"),
        (f"images:\n{IMAGE}    colour: blue\n",
         ".nix-tag-check.yaml:5: unknown key 'colour' in an image"),
        ("images:\n  - name: registry.example.com/team/hello\n    nix: missing.nix\n",
         ".nix-tag-check.yaml:3: Nix file 'missing.nix' does not exist"),
        (f"images:\n{IMAGE}{IMAGE}",
         ".nix-tag-check.yaml:5: duplicate image name registry.example.com/team/hello"),
        ("images:\n  - name: hello\n    nix: default.nix\n"
         "  - name: docker.io/library/hello\n    nix: default.nix\n",
         ".nix-tag-check.yaml:4: duplicate image name docker.io/library/hello"),
        (f"images:\n{IMAGE}    flake: .#hello\n",
         ".nix-tag-check.yaml:2: image registry.example.com/team/hello: give exactly one of"),
        (f"images:\n{IMAGE}    tag: newest\n",
         ".nix-tag-check.yaml:5: tag must be one of auto, outPath, imageTag"),
        ("images:\n  - name: Registry.example.com/Team/Hello\n    nix: default.nix\n",
         ".nix-tag-check.yaml:2: invalid image reference 'Registry.example.com/Team/Hello': "
         "repository name must be lowercase"),
        ("images:\n  - name: registry.example.com/team/hello:1.0\n    nix: default.nix\n",
         ".nix-tag-check.yaml:2: invalid image reference"),
        ("images:\n  - nix: default.nix\n", ".nix-tag-check.yaml:2: an image needs 'name'"),
        ("images: [\n", ".nix-tag-check.yaml:2: invalid YAML"),
        ("", ".nix-tag-check.yaml:1: config is empty"),
        ("# nothing yet\n", ".nix-tag-check.yaml:1: config is empty"),
        ("images: registry.example.com/team/hello\n",
         ".nix-tag-check.yaml:1: 'images' must be a non-empty list"),
        (f"system: linux\nimages:\n{IMAGE}",
         ".nix-tag-check.yaml:1: system 'linux' is not like 'x86_64-linux'"),
        (f"images:\n{IMAGE}files: {{a: b}}\n",
         ".nix-tag-check.yaml:5: files must be a list of glob patterns"),
        (f"images:\n{IMAGE}max-file-size: big\n",
         ".nix-tag-check.yaml:5: max-file-size is bytes"),
        (f"images:\n{IMAGE}---\nimages: []\n",
         ".nix-tag-check.yaml:6: config must be a single YAML document"),
    ],
)
def test_config_error_is_one_located_line_and_exit_2(
    repo: Path, capsys: pytest.CaptureFixture[str], config: str, message: str
) -> None:
    (repo / ".nix-tag-check.yaml").write_text(config)
    before = (repo / "deploy/hello.yaml").read_bytes()
    assert main(["--fix"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {message}"), captured.err
    assert len(captured.err.splitlines()) == 1
    assert (repo / "deploy/hello.yaml").read_bytes() == before


def test_missing_config_file_is_an_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "nope.yaml"]) == 2
    assert capsys.readouterr().err == (
        "error: nope.yaml: cannot read config: No such file or directory\n"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("registry.example.com/team/hello", "expected NAME=NIXFILE[#ATTR] or NAME=FLAKEREF"),
        ("registry.example.com/team/hello=nothing.nix", "is neither a Nix file nor a flake"),
        ("registry.example.com/Team/hello=default.nix#hello", "must be lowercase"),
        ("registry.example.com/team/hello=default.nix#a..b", "not a plain attribute path"),
    ],
)
def test_bad_image_option_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    assert main(["--image", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --image: ") and message in err


def test_duplicate_image_options_are_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = "registry.example.com/team/hello=default.nix#hello"
    assert main(["--image", image, "--image", image]) == 2
    assert "duplicate image name" in capsys.readouterr().err


def test_image_options_replace_the_configured_images_but_keep_its_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--image", "registry.example.com/team/worker=default.nix#worker",
                 "--config", ".nix-tag-check.yaml"]) == 1
    out = capsys.readouterr().out
    assert "team/worker" in out and "team/hello" not in out


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("", ()),
        ("image", ("image",)),
        ("a.b.c", ("a", "b", "c")),
        ('a."b.c".d', ("a", "b.c", "d")),
        ("x-1.y_2'", ("x-1", "y_2'")),
    ],
)
def test_attr_path_parses(text: str, path: tuple[str, ...]) -> None:
    assert parse_attr_path(text) == path


@pytest.mark.parametrize("text", ["a..b", "a.", ".a", 'a."b', "a b", "a.${x}", "a or b", "1a"])
def test_attr_path_rejects_anything_but_names(text: str) -> None:
    with pytest.raises(ValueError, match="attribute path"):
        parse_attr_path(text)


def test_image_options_take_the_system_of_an_explicit_config(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text().replace("x86_64-linux", "aarch64-darwin"))
    image = "registry.example.com/team/hello=default.nix#hello"
    assert main(["--image", image, "--config", ".nix-tag-check.yaml", "--print-expected"]) == 0
    darwin = out_path_hash(repo / "default.nix", "hello", "aarch64-darwin")
    assert capsys.readouterr().out == f"registry.example.com/team/hello:{darwin}\n"


def test_config_error_is_a_github_annotation_on_its_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".nix-tag-check.yaml").write_text(f"images:\n{IMAGE}    colour: blue\n")
    assert main(["--format", "github"]) == 2
    assert capsys.readouterr().out == (
        "::error file=.nix-tag-check.yaml,line=5::.nix-tag-check.yaml:5: unknown key 'colour' "
        "in an image (known: args, attr, checkout-dependent, flake, name, nix, required, system, "
        "tag)\n"
    )


def test_config_error_in_json_carries_its_path_and_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".nix-tag-check.yaml").write_text(f"images:\n{IMAGE}    tag: newest\n")
    assert main(["--format", "json"]) == 2
    assert json.loads(capsys.readouterr().out)["errors"] == [{
        "path": ".nix-tag-check.yaml", "line": 5, "column": None,
        "message": "tag must be one of auto, outPath, imageTag",
    }]


def test_an_option_error_names_the_option_and_no_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--format", "github", "--image", "nonsense"]) == 2
    assert capsys.readouterr().out == (
        "::error::--image: 'nonsense': expected NAME=NIXFILE[#ATTR] or NAME=FLAKEREF\n"
    )
