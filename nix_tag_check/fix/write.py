"""Write a fixed manifest whole or not at all, and only over the text that was checked."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable

from nix_tag_check import atomic
from nix_tag_check.errors import ChangedOnDisk

# A test seam: called between the final check and the rename.
before_rename: Callable[[str], None] = lambda path: None  # noqa: E731


def _keep_owner(fd: int, st: os.stat_result) -> None:
    """The original's owner and group on the new file; only the group when we may not."""
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except PermissionError:
        with contextlib.suppress(OSError):  # a group we are not in: as `sed -i`, go on
            os.fchown(fd, -1, st.st_gid)


def _current(path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """Up to `limit` bytes of the file at `path` now, and its status, from one open."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, original: bytes) -> None:
    """Replace `path` by `data` through a temporary file and a rename, keeping its mode,
    owner and group (as far as we may: `sed -i` does the same; no fsync, as durable as it).

    Refuses (ChangedOnDisk) when the file no longer holds `original`: read again, by its
    path, once the new file is written, just before the rename.
    """

    def finish(fd: int) -> None:
        current, st = _current(path, len(original) + 1)
        if current != original:
            raise ChangedOnDisk("file changed while it was being checked; left as it is, "
                                "run again", path=path)
        _keep_owner(fd, st)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id
        before_rename(path)

    with atomic.SignalsDeferred():
        atomic.write_then_rename(path, data, prefix=f".{os.path.basename(path)}.",
                                 suffix=".nix-tag-check", finish=finish)
