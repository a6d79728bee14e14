"""Stopping the tool stops every Nix process it started; a signal is no traceback."""

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
SLOW = ("{ image = builtins.foldl' (a: b: a + b) 0 "
        "(builtins.genList (x: x) 100000000); }")


def _pid_logging_nix(bin_dir: Path, log: Path) -> str:
    """A PATH whose nix-instantiate writes its process id, then becomes the real one."""
    bin_dir.mkdir()
    real = subprocess.run(["which", "nix-instantiate"], check=True, capture_output=True,
                          text=True).stdout.strip()
    wrapper = bin_dir / "nix-instantiate"
    wrapper.write_text(f'#!/bin/sh\necho $$ >> "{log}"\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def slow_repo(repo: Path) -> Path:
    (repo / "slow.nix").write_text(SLOW)
    git(repo, "add", "slow.nix")
    return repo


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_nix_and_prints_no_traceback(
    slow_repo: Path, tmp_path: Path, signum: int
) -> None:
    log = tmp_path / "pids"
    env = {**os.environ, "PATH": _pid_logging_nix(tmp_path / "bin", log)}
    tool = subprocess.Popen(
        [sys.executable, "-m", "nix_tag_check", "--print-expected", "--no-cache",
         "--image", f"{HELLO}=slow.nix#image"],
        cwd=slow_repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # until Nix has started (a bound, not a timing assertion)
        if log.exists() and log.read_text().strip():
            break
        time.sleep(0.1)
    nix_pid = int(log.read_text().split()[0])
    assert _alive(nix_pid)
    tool.send_signal(signum)
    _, err = tool.communicate()
    assert tool.returncode == 128 + signum
    assert "Traceback" not in err
    assert err == "interrupted\n"
    assert not _alive(nix_pid)


def test_timeout_leaves_no_nix_process(
    slow_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "pids"
    monkeypatch.setenv("PATH", _pid_logging_nix(tmp_path / "bin", log))
    assert main(["--print-expected", "--timeout", "1", "--image",
                 f"{HELLO}=slow.nix#image"]) == 2
    assert "evaluation took longer than 1s (--timeout)" in capsys.readouterr().err
    assert not _alive(int(log.read_text().split()[0]))


def test_at_most_one_process_per_core(tmp_path: Path) -> None:
    from nix_tag_check.evaluate import processes

    log = tmp_path / "log"
    step = f'echo start >> "{log}"; sleep 0.2; echo end >> "{log}"'
    outputs = processes.run_all([["sh", "-c", step]] * 6, str(tmp_path), 60)
    assert [code for code, _, _ in outputs] == [0] * 6
    running = peak = 0
    for line in log.read_text().split():
        running += 1 if line == "start" else -1
        peak = max(peak, running)
    assert 1 <= peak <= (os.cpu_count() or 1)
