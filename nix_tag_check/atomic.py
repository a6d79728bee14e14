"""Replace a file whole or not at all: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from collections.abc import Callable

_CREATE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
           | getattr(os, "O_NOFOLLOW", 0))
_numbers = itertools.count()
_TRIES = 100
_DEFERRED = (signal.SIGINT, signal.SIGTERM)


def write_then_rename(
    path: str, data: bytes, *, prefix: str = "tmp", suffix: str = "", sync: bool = False,
    finish: Callable[[int], None] = lambda fd: None,
) -> None:
    """Write `data` beside `path` and rename it over `path`; on any failure, remove it.

    `sync` flushes the new file to disk before the rename; `finish(fd)`, given the new
    file still open, may set its owner and mode, or still refuse (raise) with it complete.
    """
    fd, temporary = _create(os.path.dirname(os.path.abspath(path)), prefix, suffix)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
            finish(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _create(folder: str, prefix: str, suffix: str) -> tuple[int, str]:
    """A new file, ours alone: O_EXCL on a name made of our process id and a counter (a
    name someone else took is skipped), cheaper than tempfile's random names."""
    for _ in range(_TRIES):
        name = os.path.join(folder, f"{prefix}{os.getpid()}-{next(_numbers)}{suffix}")
        try:
            return os.open(name, _CREATE, 0o600), name
        except FileExistsError:
            continue
    import tempfile  # someone holds every name we tried: let tempfile draw random ones

    return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)


class SignalsDeferred:
    """Hold SIGINT/SIGTERM while a temporary file exists; they arrive when it is gone.

    The signal mask of this thread, not handlers: two system calls, and a signal that
    came meanwhile is delivered (its handler run) as the mask is restored.
    """

    def __enter__(self) -> None:
        self.held = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)

    def __exit__(self, *exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self.held)
