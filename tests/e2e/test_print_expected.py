"""--print-expected evaluates and prints; it reads no manifest, so none can stop it."""

from __future__ import annotations

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
