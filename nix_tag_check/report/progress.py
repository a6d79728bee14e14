"""A line on a terminal while Nix runs for longer than a second, gone when it ends.

Only on a terminal: a pipe, a file or a CI log never gets it (nor its `\\r`). The line is
written from a timer thread while the main one waits for Nix, which prints nothing itself;
it is cleared before anything else is said.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from typing import TextIO

DELAY_SECONDS = 1.0
_CLEAR = "\r\033[K"


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):  # closed, or not a file at all
        return False


class _Line:
    def __init__(self, stream: TextIO, text: str) -> None:
        self.stream = stream
        self.text = text
        self.lock = threading.Lock()
        self.shown = False
        self.done = False

    def show(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        text = self.text if len(self.text) < width else self.text[:max(1, width - 4)] + "..."
        with self.lock, contextlib.suppress(OSError, ValueError):
            if not self.done:
                self.stream.write(text)
                self.stream.flush()
                self.shown = True

    def clear(self) -> None:
        with self.lock, contextlib.suppress(OSError, ValueError):
            self.done = True
            if self.shown:
                self.stream.write(_CLEAR)
                self.stream.flush()


@contextlib.contextmanager
def line(stream: TextIO, text: str) -> Iterator[None]:
    """`text` on the terminal `stream` once the block has lasted DELAY_SECONDS, until it ends."""
    shown = _Line(stream, text)
    timer = threading.Timer(DELAY_SECONDS, shown.show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        shown.clear()
