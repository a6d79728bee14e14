"""Stopping the tool stops every Nix process it started; a signal is no traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from nixtools import alive, pid_logging_nix

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
SLOW = ("{ image = builtins.foldl' (a: b: a + b) 0 "
        "(builtins.genList (x: x) 100000000); }")


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
    env = {**os.environ, "PATH": pid_logging_nix(tmp_path / "bin", log)}
    tool = subprocess.Popen(
        [sys.executable, "-m", "nix_tag_check", "--print-expected", "--no-cache",
         "--image", f"{HELLO}=slow.nix#image"],
        cwd=slow_repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # until Nix has started (a bound, not a timing assertion)
        if log.exists() and log.read_text().strip():
            break
        time.sleep(0.1)
    nix_pid = int(log.read_text().split()[0])
    assert alive(nix_pid)
    tool.send_signal(signum)
    _, err = tool.communicate()
    assert tool.returncode == 128 + signum
    assert "Traceback" not in err
    assert err == "interrupted\n"
    assert not alive(nix_pid)


def test_timeout_leaves_no_nix_process(
    slow_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "pids"
    monkeypatch.setenv("PATH", pid_logging_nix(tmp_path / "bin", log))
    assert main(["--print-expected", "--timeout", "1", "--image",
                 f"{HELLO}=slow.nix#image"]) == 2
    assert "evaluation took longer than 1s (--timeout)" in capsys.readouterr().err
    assert not alive(int(log.read_text().split()[0]))


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


# A stop stops everything Nix started: a `builtins.fetchGit` from a server that accepts the
# connection and never answers keeps git (and its helpers) waiting forever, so whatever
# outlives the tool here would outlive it for good. Every process Nix starts inherits Nix's
# environment, so a marker variable the test sets finds them all in /proc (a zombie's
# environment reads empty: only processes still running are found).

SSH_STANDIN = """#!{python}
# git's core.sshCommand: connects to the silent server and waits for its answer forever,
# having first {how}.
import os, signal, socket
{prepare}
connection = socket.create_connection(("127.0.0.1", {port}))
while connection.recv(1):
    pass
"""
LEAVES_THE_GROUP = ("left Nix's process group and session, as an ssh master or a daemon does",
                    "os.setsid()")
IGNORES_SIGTERM = ("set SIGTERM aside", "signal.signal(signal.SIGTERM, signal.SIG_IGN)")


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port: int = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.done.is_set():
            with contextlib.suppress(TimeoutError, socket.timeout):
                self.held.append(self.socket.accept()[0])

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        for connection in [*self.held, self.socket]:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def _fetching_repo(root: Path, url: str) -> Path:
    root.mkdir()
    (root / "default.nix").write_text(
        '{ image = derivation { name = "image"; system = "x86_64-linux"; builder = "/bin/sh";'
        f' src = builtins.fetchGit {{ url = "{url}"; }}; }}; }}\n')
    git(root, "init", "-q")
    git(root, "add", "default.nix")
    return root


def _marked(mark: str) -> dict[int, str]:
    """The command lines of running processes whose environment holds NIX_TEST_MARK=mark."""
    needle = f"NIX_TEST_MARK={mark}".encode()
    found = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
            command = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found[int(name)] = command.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def _start(root: Path, mark: str, *options: str, home: Path | None = None,
           ) -> subprocess.Popen[str]:
    """The tool as a foreground command runs it: Ctrl-C raises (a shell running the tests in
    the background would have SIGINT ignored, and the child would inherit that)."""
    env = {**os.environ, "NIX_TEST_MARK": mark, "HOME": str(home or root.parent)}
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from nix_tag_check.main import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.Popen(
        [sys.executable, "-c", code, "--print-expected", "--no-cache", *options,
         "--image", f"{HELLO}=default.nix#image"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_the_fetch(tool: subprocess.Popen[str], mark: str, program: str,
                        server: SilentServer) -> int:
    """Until `program` (a command's first or second word), started by Nix's fetch, runs and
    the server has its connection (a bound, not a timing assertion); Nix's session id."""
    for _ in range(1200):
        marked = _marked(mark)
        if server.held and any(program in command.split(" ", 2)[:2]
                               for command in marked.values()):
            [nix] = [pid for pid, command in marked.items() if "nix-instantiate" in command]
            return nix  # a session's id is its leader's process id
        assert tool.poll() is None, tool.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{program} never connected: {_marked(mark)}")


def _in_session(session: int) -> list[str]:
    """Every process of the session, zombies too (what a check by session or group sees)."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                found.append(f"{name} {fields[0]}")
    return found


def _ssh_home(tmp_path: Path, port: int, how: tuple[str, str]) -> Path:
    """A HOME whose git config runs an ssh stand-in (`core.sshCommand`)."""
    home = tmp_path / "home"
    home.mkdir()
    standin = home / "ssh-standin"
    standin.write_text(SSH_STANDIN.format(python=sys.executable, how=how[0], prepare=how[1],
                                          port=port))
    standin.chmod(0o755)
    (home / ".gitconfig").write_text(f"[core]\n\tsshCommand = {standin}\n[ssh]\n\tvariant = ssh\n")
    return home


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_a_fetch_that_never_answers_stops_every_process_nix_started(
    tmp_path: Path, silent_server: SilentServer, signum: int
) -> None:
    root = _fetching_repo(tmp_path / "repo", f"http://127.0.0.1:{silent_server.port}/x.git")
    mark = uuid.uuid4().hex
    tool = _start(root, mark)
    session = _wait_for_the_fetch(tool, mark, "/usr/lib/git-core/git-remote-http", silent_server)
    tool.send_signal(signum)
    _, err = tool.communicate()
    assert (tool.returncode, err) == (128 + signum, "interrupted\n")
    assert _marked(mark) == {}
    assert _in_session(session) == []


def test_timeout_during_a_fetch_that_never_answers_stops_every_process_nix_started(
    tmp_path: Path, silent_server: SilentServer
) -> None:
    root = _fetching_repo(tmp_path / "repo", f"git://127.0.0.1:{silent_server.port}/x.git")
    mark = uuid.uuid4().hex
    tool = _start(root, mark, "--timeout", "5")
    session = _wait_for_the_fetch(tool, mark, "git", silent_server)
    _, err = tool.communicate()
    assert tool.returncode == 2
    assert "evaluation took longer than 5s (--timeout)" in err
    assert _marked(mark) == {}
    assert _in_session(session) == []


def test_a_fetch_helper_that_left_nix_process_group_is_stopped_too(
    tmp_path: Path, silent_server: SilentServer
) -> None:
    home = _ssh_home(tmp_path, silent_server.port, LEAVES_THE_GROUP)
    root = _fetching_repo(tmp_path / "repo", "ssh://git@127.0.0.1/x.git")
    mark = uuid.uuid4().hex
    tool = _start(root, mark, home=home)
    session = _wait_for_the_fetch(tool, mark, str(home / "ssh-standin"), silent_server)
    tool.send_signal(signal.SIGTERM)
    assert tool.wait() == 128 + signal.SIGTERM
    assert _marked(mark) == {}
    assert _in_session(session) == []


def test_a_fetch_helper_that_outlives_sigterm_is_killed_after_the_grace_on_timeout(
    tmp_path: Path, silent_server: SilentServer
) -> None:
    home = _ssh_home(tmp_path, silent_server.port, IGNORES_SIGTERM)
    root = _fetching_repo(tmp_path / "repo", "ssh://git@127.0.0.1/x.git")
    mark = uuid.uuid4().hex
    tool = _start(root, mark, "--timeout", "5", home=home)
    session = _wait_for_the_fetch(tool, mark, str(home / "ssh-standin"), silent_server)
    assert tool.wait() == 2
    assert _marked(mark) == {}
    assert _in_session(session) == []


def test_a_second_signal_while_stopping_does_not_cut_the_stop_short(
    tmp_path: Path, silent_server: SilentServer
) -> None:
    home = _ssh_home(tmp_path, silent_server.port, IGNORES_SIGTERM)
    root = _fetching_repo(tmp_path / "repo", "ssh://git@127.0.0.1/x.git")
    mark = uuid.uuid4().hex
    tool = _start(root, mark, home=home)
    session = _wait_for_the_fetch(tool, mark, str(home / "ssh-standin"), silent_server)
    tool.send_signal(signal.SIGINT)
    for _ in range(600):  # until git, which does not set SIGTERM aside, is gone
        if not any(command.startswith("git ") for command in _marked(mark).values()):
            break
        time.sleep(0.01)
    tool.send_signal(signal.SIGTERM)  # within the grace: the stand-in still waits
    _, err = tool.communicate()
    assert (tool.returncode, err) == (128 + signal.SIGTERM, "interrupted\n")
    assert _marked(mark) == {}
    assert _in_session(session) == []
