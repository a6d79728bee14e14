"""Outside a Git repository, with real Nix: a passing run says nothing on stderr (git's
`fatal: not a git repository` is swallowed; -v says the file is evaluated where it lies)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, quiet_pass, quiet_process

from nix_tag_check.main import main


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tests/fixtures/repo copied into a folder no Git repository holds, as the cwd, fixed."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = Path(shutil.copytree(FIXTURES / "repo", tmp_path / "plain"))
    monkeypatch.chdir(root)
    main(["--fix"])
    return root


def test_a_passing_run_outside_git_writes_nothing_to_stderr(
    plain: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert quiet_pass(capfd) == (0, "")


def test_the_real_process_outside_git_writes_nothing_to_stderr(plain: Path) -> None:
    assert quiet_process(plain) == (0, "")
