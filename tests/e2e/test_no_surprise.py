"""No traceback, no surprise: closed pipes, SIGINT, odd file names, owners, links."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
ROOT = Path(__file__).resolve().parents[2]


def _tool(repo: Path, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}  # type: ignore[dict-item]
    return subprocess.Popen([sys.executable, "-m", "nix_tag_check", *args], cwd=repo, env=env,
                            stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args", [[], ["--print-expected"], ["--format", "github"]])
def test_reader_that_closed_the_pipe_stops_the_tool_quietly(
    repo: Path, args: list[str], unbuffered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user's stdout is buffered; a CI machine may set PYTHONUNBUFFERED, which hid the flush
    # at exit failing: say which stdout the tool gets.
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    if unbuffered:
        monkeypatch.setenv("PYTHONUNBUFFERED", unbuffered)
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -0` does: every write fails with EPIPE
    process = _tool(repo, *args, stdout=write_end)
    os.close(write_end)
    _, stderr = process.communicate()
    assert stderr == b""
    assert process.returncode == 128 + signal.SIGPIPE


def test_findings_and_summary_sent_to_one_log_keep_their_order(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # a user's stdout is buffered
    log = tmp_path / "log"
    with log.open("wb") as both:
        subprocess.run([sys.executable, "-m", "nix_tag_check"], cwd=repo, stdout=both,
                       stderr=both, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = log.read_text().splitlines()
    assert [": tag " in line or ": no tag" in line for line in lines] == [True] * 5 + [False]
    assert lines[-1].startswith("5 stale reference(s) in ")


def test_sigint_during_evaluation_stops_nix_and_exits_130_without_traceback(
    repo: Path, tmp_path: Path
) -> None:
    """A Nix that never finishes (it writes its pid, then sleeps) is stopped with the tool."""
    pid_file = tmp_path / "nix.pid"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    slow = bin_dir / "nix-instantiate"
    slow.write_text(f'#!/bin/sh\necho $$ > "{pid_file}.tmp"\nmv "{pid_file}.tmp" "{pid_file}"\n'
                    "exec sleep 1000\n")
    slow.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    process = _tool(repo, "--no-cache", env={"PATH": path}, stdout=subprocess.PIPE)
    while not pid_file.exists():  # no time limit: the wrapper writes it when Nix starts
        time.sleep(0.05)
    nix_pid = int(pid_file.read_text())
    process.send_signal(signal.SIGINT)
    out, err = process.communicate()
    assert (process.returncode, out, err) == (130, b"", b"interrupted\n")
    with pytest.raises(ProcessLookupError):
        os.kill(nix_pid, 0)


def _odd_name(repo: Path) -> None:
    (repo / os.fsdecode(b"deploy/caf\xe9.yaml")).write_text(f"image: {HELLO}:old\n")
    (repo / os.fsdecode(b"notes-\xff")).mkdir()
    (repo / os.fsdecode(b"notes-\xff/a.yaml")).write_text("a: 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "odd names")


def test_file_names_that_are_not_utf8_are_checked_and_shown_escaped(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _odd_name(repo)
    assert main([]) == 1
    assert f"deploy/caf\\xe9.yaml:1:8: {HELLO}: tag 'old'" in capsys.readouterr().out
    assert main(["--fix"]) == 1
    assert main([]) == 0


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_file_names_that_are_not_utf8_never_crash_a_utf8_terminal(repo: Path, fmt: str) -> None:
    _odd_name(repo)
    process = _tool(repo, "--format", fmt, env={"LC_ALL": "C.UTF-8"}, stdout=subprocess.PIPE)
    out, err = process.communicate()
    assert process.returncode == 1, err
    assert b"xe9.yaml" in out
    assert b"Traceback" not in err


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another user")
def test_fix_keeps_the_owner_and_group(repo: Path) -> None:
    path = repo / "deploy/hello.yaml"
    os.chown(path, 1234, 5678)
    path.chmod(0o640)
    assert main(["--fix"]) == 1
    after = path.stat()
    assert (after.st_uid, after.st_gid, after.st_mode & 0o777) == (1234, 5678, 0o640)


def test_tracked_link_to_a_manifest_is_reported_once_and_fixed_through_its_target(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "deploy/alias.yaml").symlink_to("hello.yaml")
    git(repo, "add", "-A")
    assert main([]) == 1
    out = capsys.readouterr().out
    assert out.count(f"{HELLO}: tag '1dq4") == 2  # hello.yaml and the kustomization
    assert "alias.yaml" not in out
    assert main(["--fix"]) == 1
    assert capsys.readouterr().err.count("error") == 0
    assert (repo / "deploy/alias.yaml").is_symlink()
    assert main([]) == 0


def test_link_to_an_unchecked_manifest_is_reported_under_its_own_name(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "base").mkdir()
    (repo / "base/app.yaml").write_text(f"image: {HELLO}:old\n")
    (repo / "deploy/app.yaml").symlink_to("../base/app.yaml")
    assert main(["--fix"]) == 1
    assert f"deploy/app.yaml:1:8: {HELLO}: tag 'old' ->" in capsys.readouterr().out
    assert "old" not in (repo / "base/app.yaml").read_text()


def test_file_argument_outside_the_repository_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"image: {HELLO}:old\n")
    assert main(["--fix", str(outside)]) == 2
    assert capsys.readouterr().err == (
        f"error: {outside}: file is outside the repository ({repo}); not checked\n")
    assert outside.read_text() == f"image: {HELLO}:old\n"
