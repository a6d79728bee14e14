"""Run Nix processes side by side, at most one per core, and leave none behind.

Each Nix process leads its own session (so a terminal's Ctrl-C reaches the tool, which
decides) and carries a token in its environment, which every process it starts inherits:
git, ssh, a fetcher's helpers. Stopping (--timeout, SIGINT, SIGTERM, SIGHUP, an error of
the tool) signals Nix's group and every process holding the token, and returns only once
all of them are gone: SIGTERM first, SIGKILL after a grace. Signalling Nix's group and
waiting for Nix alone is not enough: Nix exits as soon as its git child does, while a
grandchild that outlives SIGTERM, or one that left the group (`setsid`, an ssh master),
keeps a connection to a server that never answers open forever. While stopping, the tool
is the child subreaper of what it kills, so that no zombie is left in Nix's group either.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

Output = tuple[int | None, str, str]  # return code (None: timed out or stopped), stdout, stderr
TOKEN_VARIABLE = "_NIX_TAG_CHECK_STOP"  # no NIX_ prefix: environment.py never keys it
_GRACE_SECONDS = 2.0
_POLL_SECONDS = 0.02
_CHECK_SECONDS = 0.5  # how often a wait for Nix's output looks whether Nix has exited
# The signals that stop the tool while Nix runs (SIGINT raises KeyboardInterrupt already).
_STOPPING = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A signal asked the tool to stop (unwinds as Ctrl-C does); `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _token_holders(needle: bytes) -> list[int]:
    """Live processes whose environment holds `needle` (`NAME=token`): what Nix started.

    Linux's /proc only (elsewhere: none, and Nix's process groups alone are signalled). A
    zombie's environment reads empty, so a process that has exited is never listed.
    """
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    me = os.getpid()
    found = []
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(name))
    return found


def _stat(pid: str) -> tuple[str, int, int] | None:
    """(state, parent, session) of a process, from /proc; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[1]), int(fields[3])
    except (OSError, IndexError, ValueError):
        return None


class _Adoption:
    """While a stop is under way, this process is Linux's child subreaper: what the kills
    orphan is reparented here, not to PID 1 (which, in a container, may leave it a zombie
    in Nix's process group for long), and is reaped here."""

    def __init__(self) -> None:
        self.previous: int | None = None  # None: not adopting

    def start(self) -> None:
        if self.previous is None:
            self.previous = _subreaper(None)
            if self.previous == 0:
                _subreaper(1)

    def end(self) -> None:
        if self.previous == 0:
            _subreaper(0)
        self.previous = None


def _subreaper(value: int | None) -> int | None:
    """Set PR_SET_CHILD_SUBREAPER to `value`, or (None) read it; None where unknown."""
    if not os.path.isdir("/proc/self"):
        return None
    import ctypes  # Linux only, and only when a stop is under way

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    if value is not None:
        return 0 if prctl(36, value, 0, 0, 0) == 0 else None  # PR_SET_CHILD_SUBREAPER
    current = ctypes.c_int()
    return current.value if prctl(37, ctypes.byref(current), 0, 0, 0) == 0 else None


@dataclass
class _Started:
    """A Nix process, and the token its descendants inherit (one each: leftovers of one
    Nix process are stopped while the others run on)."""

    process: subprocess.Popen[str]
    needle: bytes  # `NAME=token`, as /proc/PID/environ holds it
    seen: set[int] = field(default_factory=set)  # its descendants seen while stopping

    def signal(self, signum: int) -> None:
        # Only while Nix is not reaped is its group id surely still its group's.
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)
        for pid in _token_holders(self.needle):
            self.seen.add(pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def gone(self) -> bool:
        return self.process.poll() is not None and not _token_holders(self.needle)

    def reap(self) -> None:
        """Reap its descendants that became this process's children (see _Adoption), never
        Nix itself (its Popen does)."""
        me = os.getpid()
        for pid in self.seen | _session_members(self.process.pid):
            stat = _stat(str(pid))
            if pid != self.process.pid and stat is not None and stat[0] == "Z" \
                    and stat[1] == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)


def _session_members(session: int) -> set[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return set()
    return {int(name) for name in names
            if name.isdigit() and (_stat(name) or ("", 0, 0))[2] == session}


class _Runner:
    def __init__(self, cwd: str, timeout: float) -> None:
        self.cwd = cwd
        self.deadline = time.monotonic() + timeout
        self.lock = threading.Lock()
        self.started: list[_Started] = []
        self.stopped = False
        self.adoption = _Adoption()

    def one(self, command: Sequence[str], env: Mapping[str, str] | None) -> Output:
        token = secrets.token_hex(16)
        environ = {**(os.environ if env is None else env), TOKEN_VARIABLE: token}
        with self.lock:
            if self.stopped:
                return None, "", ""
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                stdin=subprocess.DEVNULL, cwd=self.cwd, start_new_session=True, env=environ,
            )
            started = _Started(process, f"{TOKEN_VARIABLE}={token}".encode())
            self.started.append(started)
        read = self._read(started)
        if read is None:
            self.stop()
            return None, "", ""
        with self.lock:
            if self.stopped:
                return None, *read
        return process.returncode, *read

    def _read(self, started: _Started) -> tuple[str, str] | None:
        """Nix's output, once its pipes close; None when the deadline comes first.

        A process Nix started and left behind still holds the pipes it inherited, so once
        Nix has exited, what holds them is stopped (else the run would wait for --timeout).
        """
        while True:
            left = self.deadline - time.monotonic()
            try:
                return started.process.communicate(timeout=max(0.0, min(left, _CHECK_SECONDS)))
            except subprocess.TimeoutExpired:
                if left <= _CHECK_SECONDS:
                    return None
                if started.process.poll() is not None:
                    self._stop([started])

    def stop(self) -> None:
        """Stop the run: no process of ours is left."""
        with self.lock:
            self.stopped = True
            started = list(self.started)
        self._stop(started)

    def _stop(self, started: Sequence[_Started]) -> None:
        """SIGTERM to every process of theirs, the grace, then SIGKILL for what is left."""
        with self.lock:
            self.adoption.start()
        for signum in (signal.SIGTERM, signal.SIGKILL):
            for each in started:
                each.signal(signum)
            if _gone_within(started, _GRACE_SECONDS):
                return

    def finish(self) -> None:
        """After a run: stop it unless every Nix process exited 0 (then nothing is left)."""
        with self.lock:
            clean = not self.stopped and all(s.process.returncode == 0 for s in self.started)
        if not clean:
            self.stop()

    def release(self) -> None:
        """Once no worker can stop anything any more: this process is no subreaper."""
        with self.lock:
            self.adoption.end()


def _gone_within(started: Sequence[_Started], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while True:
        gone = all(each.gone() for each in started)
        for each in started:
            each.reap()
        if gone:
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(_POLL_SECONDS)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _stopping_signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like SIGINT does, so the processes are stopped on the way
    out (a closed terminal too: Nix, in its own session, would never hear of it). A signal
    the tool was told to ignore (`nohup`) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in _STOPPING}
    for signum, handler in previous.items():
        if handler != signal.SIG_IGN:
            signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """While the processes are being stopped, a second signal (CI sends SIGINT, then
    SIGTERM) is remembered, not obeyed: obeyed at once, it would cut the stop short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    watched = (signal.SIGINT, *_STOPPING)
    previous = {signum: signal.getsignal(signum) for signum in watched}
    for signum, handler in previous.items():
        if handler != signal.SIG_IGN:
            signal.signal(signum, lambda got, frame: received.append(got))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise Interrupted(received[-1])


def run_all(commands: Sequence[Sequence[str]], cwd: str, timeout: float,
            envs: Sequence[Mapping[str, str] | None] | None = None) -> list[Output]:
    """Each command's output, in order; stops them all on timeout, error or signal.

    `envs`, parallel to `commands`, gives each its environment (None: this process's).
    """
    if not commands:
        return []
    runner = _Runner(cwd, timeout)
    workers = max(1, min(len(commands), os.cpu_count() or 1))
    with _stopping_signals_raise():
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        try:
            each = envs if envs is not None else [None] * len(commands)
            futures = [pool.submit(runner.one, command, env)
                       for command, env in zip(commands, each, strict=True)]
            pending = set(futures)
            while pending:
                _, pending = concurrent.futures.wait(pending, timeout=0.2)
            return [future.result() for future in futures]
        finally:
            with _signals_deferred():
                runner.finish()
                pool.shutdown(wait=True, cancel_futures=True)
                runner.release()
