"""The tool's state under `.git/nix-tag-check/`, and when a remembered file is still the same.

Every cache (evaluations, scan records, private trees) lives in a folder of its own there, and
every one trusts a file's stat identity only once the file has settled: a change within one
timestamp tick of the moment it was looked at could leave the identity as it was ("racy git").
What is found in those folders is data, never trusted for its kind or its size: each cache reads
its files with `read`.
"""

from __future__ import annotations

import os
import stat

RACY_NS = 2_000_000_000  # FAT's timestamps are 2 s apart; everything else is finer
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What changes whenever a file's content can have changed (ctime cannot be set back)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def settled(st: os.stat_result, now_ns: int) -> bool:
    """Whether the file last changed long enough before `now_ns` for its identity to pin it."""
    return max(st.st_mtime_ns, st.st_ctime_ns) < now_ns - RACY_NS


def folder(git_dir: str, name: str) -> str | None:
    """`.git/nix-tag-check/NAME`, or None when it (or its parent) is a link: never write
    through one."""
    parent = os.path.join(git_dir, "nix-tag-check")
    path = os.path.join(parent, name)
    return None if os.path.islink(parent) or os.path.islink(path) else path


def read(path: str, limit: int) -> bytes | None:
    """The bytes of a regular file of at most `limit` bytes, else None.

    Never through a link (a link to /dev/zero would be read until memory runs out), never
    waiting on a FIFO (opened non-blocking, then refused by its kind), never more than
    `limit` bytes in memory, even for a file that grows while it is read.
    """
    try:
        fd = os.open(path, _READ)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        parts: list[bytes] = []
        got = 0
        while got <= limit:  # read the size fstat gave and one byte more, to see the end
            part = os.read(fd, min(max(st.st_size + 1 - got, 1 << 16), limit + 1 - got))
            if not part:
                return b"".join(parts)
            parts.append(part)
            got += len(part)
        return None
    except OSError:
        return None
    finally:
        os.close(fd)
