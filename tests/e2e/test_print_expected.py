"""--print-expected evaluates and prints; it reads no manifest, so none can stop it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import git
from nixtools import attribute, out_path_hash

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
WORKER = "registry.example.com/team/worker"
BROKEN = f'containers:\n  - image: "{HELLO}:old\n'  # the quote never closes


def test_print_expected_prints_every_image_even_beside_a_broken_manifest(
    repo: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    (repo / "deploy/broken.yaml").write_text(BROKEN)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a manifest that does not parse")
    assert main([]) == 2  # the check does read it
    assert "deploy/broken.yaml:3:1: invalid YAML" in capsys.readouterr().err
    hello = out_path_hash(repo / "default.nix", "hello")
    worker = attribute(repo / "default.nix", "worker.imageTag")
    assert main(["--print-expected"]) == 0
    assert capsys.readouterr() == (f"{HELLO}:{hello}\n{WORKER}:{worker}\n", "")


def test_print_expected_as_json_gives_each_image_with_its_output_path(
    repo: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A pipeline step can `nix build` exactly the output the tag names."""
    assert main(["--print-expected", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    hello, worker = document["expected"]
    assert hello["reference"] == f"{HELLO}:{out_path_hash(repo / 'default.nix', 'hello')}"
    assert Path(hello["out_path"]).name[:32] == hello["tag"]
    assert worker["tag"] == attribute(repo / "default.nix", "worker.imageTag")
    assert (document["errors"], document["warnings"]) == ([], [])


def test_print_expected_as_json_gives_the_derivation_that_builds_the_output_path(
    repo: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The drv_path is the one `nix-instantiate` writes (evaluation is read-only), and it
    builds exactly the out_path printed beside it (`nix-store --realise DRV`)."""
    assert main(["--print-expected", "--format", "json"]) == 0
    hello = json.loads(capsys.readouterr().out)["expected"][0]
    written = subprocess.run(
        ["nix-instantiate", "--option", "system", "x86_64-linux", "-A", "hello", "default.nix"],
        cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    outputs = subprocess.run(["nix-store", "-q", "--outputs", hello["drv_path"]],
                             capture_output=True, text=True, check=True).stdout.split()
    assert (written, outputs) == (hello["drv_path"], [hello["out_path"]])


@pytest.mark.parametrize("args", [["--print-expected", "--format", "github"],
                                  ["--diff", "--format", "json"],
                                  ["--diff", "--format", "github"]])
def test_a_format_that_makes_no_sense_for_the_action_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str],
) -> None:
    assert main(args) == 2
    assert capsys.readouterr().err.startswith("nix-tag-check: error: ")


@pytest.mark.parametrize(("strict", "status"), [([], 0), (["--strict"], 1)])
def test_strict_makes_a_warning_fail_the_check(
    repo: Path, capsys: pytest.CaptureFixture[str], strict: list[str], status: int,
) -> None:
    """A tag that is not a Nix hash is a warning, which pre-commit hides on a passing hook."""
    tag = "latest"
    (repo / "deploy/legacy.yaml").write_text(f"image: registry.example.com/team/legacy:{tag}\n")
    git(repo, "add", "-A")
    spec = "registry.example.com/team/legacy=default.nix#legacy"
    assert main(["--image", spec, *strict, "deploy/legacy.yaml"]) == status
    assert "is not a Nix hash" in capsys.readouterr().err


@pytest.mark.parametrize(("strict", "status"), [([], 0), (["--strict"], 1)])
def test_strict_makes_a_name_read_without_a_tag_fail_the_check(
    repo: Path, capsys: pytest.CaptureFixture[str], strict: list[str], status: int,
) -> None:
    """A templated tag no rule can read is a warning; under --strict it fails the check."""
    (repo / "deploy/env.yaml").write_text(f'data:\n  API_IMAGE: "{HELLO}:${{TAG}}"\n')
    git(repo, "add", "-A")
    assert main([*strict, "deploy/env.yaml"]) == status
    assert "warning: " in capsys.readouterr().err
