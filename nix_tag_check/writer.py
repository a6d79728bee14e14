"""Write fixed files in a second process while this one reads and checks the next file.

A rename that replaces a file costs the kernel about as much as reading and checking a
small manifest; with many files to fix, a forked helper does patch.write_atomic (the same
code, the same checks) for file N while this process parses file N+1, and says how it
went before file N is reported. One file is in flight at a time, so the report's order,
its lines and the exit status are those of writing in place. The helper holds SIGINT and
SIGTERM: a file it has begun is written whole (or not at all); it stops when its pipe
closes, also when this process is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct

from . import patch
from .errors import ChangedOnDisk

_LENGTH = struct.Struct("<Q")
OK, CHANGED, OSERROR, INTERRUPTED, FAILED = "ok", "changed", "oserror", "interrupted", "failed"


class Writer:
    """A helper process that runs patch.write_atomic; one request at a time."""

    def __init__(self) -> None:
        requests_r, self._requests = os.pipe()
        self._answers, answers_w = os.pipe()
        try:
            self.pid = os.fork()
        except OSError:  # the caller writes in place instead
            for fd in (requests_r, self._requests, self._answers, answers_w):
                os.close(fd)
            raise
        if self.pid == 0:  # the helper: it never returns
            os.close(self._requests)
            os.close(self._answers)
            _serve(requests_r, answers_w)
        os.close(requests_r)
        os.close(answers_w)

    def submit(self, path: str, data: bytes, original: bytes) -> None:
        _send(self._requests, [os.fsencode(path), data, original])

    def result(self) -> tuple[str, str]:
        """(OK, "") or what went wrong with the file last submitted (see _serve)."""
        kind, message = _receive(self._answers) or [FAILED.encode(), b"the writer stopped"]
        return kind.decode(), message.decode("utf-8", "replace")

    def close(self) -> None:
        """No more files: the helper finishes the one it has and exits."""
        os.close(self._requests)
        os.close(self._answers)
        os.waitpid(self.pid, 0)


def _serve(requests: int, answers: int) -> None:
    """The helper's loop: a request is (path, data, original), the answer (kind, message)."""
    status = 0
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, signal.SIGTERM))
        with contextlib.suppress(OSError):  # waking it must not preempt the sender
            os.nice(10)
        while (request := _receive(requests)) is not None:
            path, data, original = request
            kind, message = outcome(os.fsdecode(path), data, original)
            _send(answers, [kind.encode(), message.encode("utf-8", "surrogateescape")])
    except BaseException:  # the pipe is gone: nothing to tell anyone
        status = 1
    os._exit(status)  # never the parent's atexit handlers, buffers or test runner


def outcome(path: str, data: bytes, original: bytes) -> tuple[str, str]:
    """patch.write_atomic, and how it went: (OK, "") or (kind, message). The helper and a
    write in place both go through here, so both are reported alike."""
    try:
        patch.write_atomic(path, data, original)
    except ChangedOnDisk as exc:
        return CHANGED, exc.message
    except OSError as exc:
        return OSERROR, exc.strerror or str(exc)
    except KeyboardInterrupt:
        return INTERRUPTED, ""
    except Exception as exc:  # told to the caller, which reports it
        return FAILED, str(exc)
    return OK, ""


def _send(fd: int, parts: list[bytes]) -> None:
    frame = b"".join(_LENGTH.pack(len(part)) + part for part in parts)
    view = memoryview(_LENGTH.pack(len(parts)) + frame)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> list[bytes] | None:
    """The next message's parts; None at the end of the pipe."""
    head = _read_exactly(fd, _LENGTH.size)
    if head is None:
        return None
    parts = []
    for _ in range(_LENGTH.unpack(head)[0]):
        size = _read_exactly(fd, _LENGTH.size)
        part = _read_exactly(fd, _LENGTH.unpack(size)[0]) if size is not None else None
        if part is None:
            return None
        parts.append(part)
    return parts


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
