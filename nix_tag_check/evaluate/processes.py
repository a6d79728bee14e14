"""Run Nix processes side by side, at most one per core, and leave none behind.

Each process leads its own process group, so stopping it (the tool's --timeout,
SIGINT, SIGTERM from a cancelled CI job) also stops whatever it started (git, fetchers).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType

Output = tuple[int | None, str, str]  # return code (None: timed out or stopped), stdout, stderr
_GRACE_SECONDS = 2.0


class Interrupted(KeyboardInterrupt):
    """SIGTERM asked the tool to stop (unwinds as Ctrl-C does); `signum` says which signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Runner:
    def __init__(self, cwd: str, timeout: float) -> None:
        self.cwd = cwd
        self.deadline = time.monotonic() + timeout
        self.lock = threading.Lock()
        self.started: list[subprocess.Popen[str]] = []
        self.stopped = False

    def one(self, command: Sequence[str], env: Mapping[str, str] | None) -> Output:
        with self.lock:
            if self.stopped:
                return None, "", ""
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                stdin=subprocess.DEVNULL, cwd=self.cwd, start_new_session=True, env=env,
            )
            self.started.append(process)
        try:
            stdout, stderr = process.communicate(
                timeout=max(0.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            return None, "", ""
        with self.lock:
            if self.stopped:
                return None, stdout, stderr
        return process.returncode, stdout, stderr

    def stop(self) -> None:
        """Terminate every process group still running, then kill what outlives the grace."""
        with self.lock:
            self.stopped = True
            running = [p for p in self.started if p.returncode is None]
            for process in running:
                _signal_group(process, signal.SIGTERM)
        end = time.monotonic() + _GRACE_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM unwinds like SIGINT does, so the processes are stopped on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_all(commands: Sequence[Sequence[str]], cwd: str, timeout: float,
            envs: Sequence[Mapping[str, str] | None] | None = None) -> list[Output]:
    """Each command's output, in order; stops them all on timeout, error or signal.

    `envs`, parallel to `commands`, gives each its environment (None: this process's).
    """
    if not commands:
        return []
    runner = _Runner(cwd, timeout)
    workers = max(1, min(len(commands), os.cpu_count() or 1))
    with _sigterm_raises():
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
            runner.stop()
            pool.shutdown(wait=True, cancel_futures=True)
