"""--fix's helper process (writer.py): the same files, lines and exit status as writing in
place, the same refusals, and a stop leaves every file whole (test_unwritable.py has the
folder that refuses the temporary file, both ways)."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from nix_tag_check import cli, patch
from nix_tag_check.main import main


def _fix(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["--fix"])
    out, err = capsys.readouterr()
    return status, out, err


def _files(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*"))
            if p.is_file() and ".git" not in p.parts}


@pytest.mark.parametrize("in_place", [0, 1])
def test_the_helper_writes_and_reports_what_writing_in_place_does(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    in_place: int,
) -> None:
    alone = _fix(capsys)
    fixed = _files(repo)
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
    monkeypatch.setattr(cli, "WRITER_AFTER", in_place)  # every file (or all but one) by it
    assert _fix(capsys) == alone
    assert _files(repo) == fixed
    assert _fix(capsys)[0] == 0


def test_a_file_changed_meanwhile_is_refused_by_the_helper(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = repo / "deploy/hello.yaml"
    real = patch._current

    def someone_edits_first(name: str, limit: int) -> tuple[bytes, os.stat_result]:
        if name == str(path.resolve()):
            path.write_text("# edited by someone else meanwhile\n")
        return real(name, limit)

    monkeypatch.setattr(patch, "_current", someone_edits_first)  # the helper is forked after
    monkeypatch.setattr(cli, "WRITER_AFTER", 0)
    status, _, err = _fix(capsys)
    assert status == 2
    assert ("error: deploy/hello.yaml: file changed while it was being checked; left as it "
            "is, run again\n") in err
    assert path.read_text() == "# edited by someone else meanwhile\n"


def test_an_interrupt_in_the_helper_stops_the_run_with_the_file_whole(
    repo: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(path: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(patch, "before_rename", interrupted)
    monkeypatch.setattr(cli, "WRITER_AFTER", 0)
    before = _files(repo)
    assert main(["--fix"]) == 130
    assert _files(repo) == before  # the first file was refused before its rename; no other
    assert not [p for p in repo.rglob(".*.nix-tag-check")]


def test_without_a_process_to_fork_the_files_are_written_in_place(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    alone = _fix(capsys)
    fixed = _files(repo)
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)

    def no_fork() -> int:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(cli, "WRITER_AFTER", 0)
    assert _fix(capsys) == alone
    assert _files(repo) == fixed
