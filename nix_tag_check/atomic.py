"""Replace a file whole or not at all: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any


def write_then_rename(
    path: str, data: bytes, *, prefix: str = "tmp", suffix: str = "", sync: bool = False,
    finish: Callable[[str], None] = lambda temporary: None,
) -> None:
    """Write `data` beside `path` and rename it over `path`; on any failure, remove it.

    `sync` flushes the new file to disk before the rename; `finish(temporary)` may set its
    owner and mode, or still refuse (raise) with the temporary file complete.
    """
    import tempfile  # only a write needs it: keep it off the start-up of every check

    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        finish(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM while a temporary file exists, then re-deliver them."""
    caught: list[int] = []
    previous: dict[int, Any] = {}

    def hold(signum: int, _frame: object) -> None:
        caught.append(signum)

    try:
        for wanted in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                previous[wanted] = signal.signal(wanted, hold)
        yield caught
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
        for signum in caught:
            os.kill(os.getpid(), signum)
