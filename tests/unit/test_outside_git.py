"""Outside a Git repository a passing run says nothing on stderr: no `fatal: not a git
repository` from the git commands that ask where the repository is (-v explains instead).

A stand-in nix-instantiate prints eval.nix's answer; tests/e2e/test_outside_git.py runs real Nix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import quiet_pass, quiet_process

HASH = "a" * 32
NIX = f"""#!/bin/sh
case "$*" in *--version*) echo "nix-instantiate (Nix) 2.8.0"; exit 0;; esac
echo "trace: nix-tag-check-file: 0" >&2
echo '[[{{"path": "/nix/store/{HASH}-api.tar.gz", "drvPath": "/nix/store/{HASH}-api.drv"}}]]'
"""


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that is no Git repository, with a config, a Nix file and an up-to-date manifest."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/nix-instantiate").write_text(NIX)
    (tmp_path / "bin/nix-instantiate").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    work = tmp_path / "work"
    (work / "deploy").mkdir(parents=True)
    (work / ".nix-tag-check.yaml").write_text(
        "images:\n  - name: ghcr.io/acme/api\n    nix: default.nix\n    attr: api\n")
    (work / "default.nix").write_text("{ }\n")
    (work / "deploy/a.yaml").write_text(f"image: ghcr.io/acme/api:{HASH}\n")
    monkeypatch.chdir(work)
    return work


def test_a_passing_run_outside_git_writes_nothing_to_stderr(
    plain: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert quiet_pass(capfd) == (0, "")


def test_the_real_process_outside_git_writes_nothing_to_stderr(plain: Path) -> None:
    assert quiet_process(plain) == (0, "")
