"""Record what a check run consulted, so that the same run next time can be replayed.

While a run is recorded, the functions through which Python reaches the file system
(os.stat, os.lstat, open, os.open, os.listdir, os.scandir, os.readlink, os.access) and
subprocesses note what they were asked and what they saw, and the output is kept as
written. At the end the recording is stored (replay.py reads it) only if it can be trusted:
- nothing but git ran (a Nix process means the evaluation was not all cached);
- nothing was written outside the tool's own caches under .git/nix-tag-check/;
- everything looks now as it did when it was first consulted;
- no file it depends on changed less than RACY_NS before the run began, in the clock of the
  file system that holds the cache (a second change within one timestamp tick would look
  identical); COARSE_NS where the file system keeps whole seconds.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from . import recording_hooks, replay
from .recording_hooks import absolute
from .replay import RACY_NS, REV_PARSE, Summary

# A ctime in whole seconds: a file system that keeps seconds (or two, as FAT does), on which
# two versions written within the same second or two look alike.
COARSE_NS = 2_000_000_000
# Beyond these a run is not recorded: memory stays bounded by the largest file, not by the
# number of files (a 10,000-manifest check looks about 10,300 times and writes 10,001 lines).
MAX_LOOKS = 12_000
MAX_WRITES = 12_000
KEEP = 64  # recordings per repository; the oldest go first
Dep = tuple[str, str, int]  # op, absolute path, argument (access mode)


class Capture:
    """A text stream that keeps each write, in order, for the replay (until the recorder
    gives up)."""

    def __init__(self, stream: TextIO, fd: int, recorder: Recorder) -> None:
        self._stream, self._fd, self._recorder = stream, fd, recorder

    def write(self, text: str) -> int:
        self._recorder.wrote_out(self._fd, text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._recorder.wrote_out(self._fd, None)
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Recorder:
    """One run's recording; `start` patches, `stop` restores, `finish` stores."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.key = replay.key(argv)
        self.started_ns = time.time_ns()
        self.seen: dict[Dep, Summary] = {}  # None: take it at the end
        self.writes: list[str] = []
        self.gits: list[tuple[tuple[str, ...], str, tuple[int, bytes]]] = []
        self.output: list[tuple[int, str | None]] = []
        self.refused = False
        self.allow_git = 0
        self._undo: list[tuple[Any, str, Any]] = []

    def start(self) -> None:
        self._patch(sys, "stdout", Capture(sys.stdout, 1, self))
        self._patch(sys, "stderr", Capture(sys.stderr, 2, self))
        for owner, name, wrapper in recording_hooks.wrappers(self):
            self._patch(owner, name, wrapper)

    def stop(self) -> None:
        while self._undo:
            owner, name, value = self._undo.pop()
            setattr(owner, name, value)

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def saw(self, op: str, path: Any, value: Summary, arg: int = 0) -> None:
        """Note a look at `path`; the same look seeing something else later: not replayable."""
        if self.refused:
            return
        where = path if type(path) is str and path.startswith("/") else absolute(path)
        if where is None:
            self.give_up()
            return
        dep = (op, where, arg)
        if dep in self.seen and value is not None and self.seen[dep] not in (None, value):
            self.give_up()
        elif self.seen.get(dep) is None:
            self.seen[dep] = value
            if len(self.seen) > MAX_LOOKS:
                self.give_up()

    def wrote_out(self, fd: int, text: str | None) -> None:
        if not self.refused:
            self.output.append((fd, text))
            if len(self.output) > MAX_WRITES:
                self.give_up()

    def give_up(self) -> None:
        """A run that cannot be recorded (a program other than git, a look the recording
        cannot describe, or too many: memory would grow with the repository). Stop
        tracing and let go of what was kept."""
        self.refused = True
        self.stop()
        self.seen, self.output, self.gits = {}, [], []

    def wrote(self, path: Any) -> None:
        where = absolute(path)
        if where is None:
            self.give_up()
        elif where != os.devnull:  # subprocess's DEVNULL
            self.writes.append(where)

    def finish(self, status: int) -> None:
        """Store the recording if it can be trusted; failing to store only costs a real run."""
        self.stop()
        if self.refused or status not in (0, 1):
            return
        with contextlib.suppress(OSError, ValueError, TypeError):
            _store(self, status)


def _store(recorder: Recorder, status: int) -> None:
    git_dir = _git_dir(recorder)
    if git_dir is None:
        return
    path = replay.memo_path(git_dir, recorder.key)
    own = _own_folders(recorder)
    if path is None or any(_inside(write, own) is False for write in recorder.writes):
        return
    deps = _dependencies(recorder, frozenset(recorder.writes))
    if not _settled(deps, recorder.started_ns - RACY_NS):
        return  # before any work: the file system's clock can only move the cutoff earlier
    deps.sort(key=_recent_first)
    memo = (replay.FORMAT, recorder.key, tuple(deps), tuple(recorder.gits),
            tuple(recorder.output), status)
    _write(path, marshal.dumps(memo), lambda cutoff: _settled(deps, cutoff), recorder.started_ns)


def _git_dir(recorder: Recorder) -> str | None:
    cwd = os.getcwd()
    for args, where, (code, out) in recorder.gits:
        if args == REV_PARSE and where == cwd and code == 0:
            return replay.git_dir_of(out)
    return None


def _own_folders(recorder: Recorder) -> tuple[str, ...]:
    """The tool's caches, in every repository the run asked git about: the only place a
    recorded run may write."""
    found = []
    for args, _, (code, out) in recorder.gits:
        git_dir = replay.git_dir_of(out) if args == REV_PARSE and code == 0 else None
        if git_dir:
            found.append(os.path.join(git_dir, "nix-tag-check") + os.sep)
    return tuple(found)


def _inside(path: str, folders: tuple[str, ...]) -> bool:
    return path.startswith(folders) or path + os.sep in folders


def _dependencies(recorder: Recorder, written: frozenset[str]) -> list[tuple[Any, ...]]:
    """Every look of the run as the run saw it, and the tool's own module files as they are.

    A look is kept as first seen: a file that changes later no longer matches it, and the
    replay runs the check for real; one that changed between the start and the look is
    caught by _settled. What the run wrote itself (its caches) is no input; a cache entry it
    only read is one (an entry removed or damaged since is evaluated again).
    """
    seen = dict(recorder.seen)
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str):
            seen.setdefault(("s", name, 0), None)
    return [(op, path, arg, replay.summary(op, path, arg) if then is None else then)
            for (op, path, arg), then in seen.items() if path not in written]


def _recent_first(dep: tuple[Any, ...]) -> int:
    """The replay stops at the first look that differs: the files changed last are the
    likeliest to change again (the one being edited), so they are looked at first."""
    op, _, _, now = dep
    return -max(now[5], now[6]) if op in ("s", "l") and len(now) == 7 else 0


def _settled(deps: Sequence[tuple[Any, ...]], cutoff: int) -> bool:
    """No file changed at or after `cutoff`."""
    for op, _, _, now in deps:
        if op in ("s", "l") and isinstance(now, tuple) and len(now) == 7:
            times = now[5:7]
        else:
            continue  # a listing is compared whole: no timestamp stands for it
        coarse = COARSE_NS if times[1] % 1_000_000_000 == 0 else 0
        if max(times) + coarse >= cutoff:
            return False
    return True


def _write(path: str, data: bytes, settled: Callable[[int], bool], started_ns: int) -> None:
    """Write beside, read the file system's clock off the new file, then rename or drop."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
            written = os.fstat(handle.fileno()).st_mtime_ns
        elapsed = time.time_ns() - started_ns
        if settled(min(started_ns, written - elapsed) - RACY_NS):
            os.replace(temporary, path)
            _prune(folder)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _prune(folder: str) -> None:
    runs = [entry for entry in os.scandir(folder) if entry.name.endswith(".run")]
    runs.sort(key=lambda entry: entry.stat().st_mtime_ns)
    for entry in runs[:-KEEP]:
        with contextlib.suppress(OSError):
            os.unlink(entry.path)

