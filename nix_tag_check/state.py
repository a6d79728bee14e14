"""The tool's state under `.git/nix-tag-check/`, and when a remembered file is still the same.

Every cache (evaluations, scan records, private trees) lives in a folder of its own there, and
every one trusts a file's stat identity only once the file has settled: a change within one
timestamp tick of the moment it was looked at could leave the identity as it was ("racy git").
What is found in those folders is data, never trusted for its kind or its size: each cache reads
its files with `read`, keeps its folder within bounds with `Bounded`, and keys what it keeps on
`tool_identity`, so that another build of the tool never takes a result it did not make.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import os
import stat
import sys

from nix_tag_check import __version__

RACY_NS = 2_000_000_000  # FAT's timestamps are 2 s apart; everything else is finer
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_PACKAGE = os.path.dirname(os.path.realpath(__file__))  # the whole tool


def identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What changes whenever a file's content can have changed (ctime cannot be set back)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def settled(st: os.stat_result, now_ns: int) -> bool:
    """Whether the file last changed long enough before `now_ns` for its identity to pin it."""
    return max(st.st_mtime_ns, st.st_ctime_ns) < now_ns - RACY_NS


def folder(git_dir: str, name: str) -> str | None:
    """`.git/nix-tag-check/NAME`, or None when it (or its parent) is there but is no folder:
    never write through a link, never wait on a FIFO, never fail on a file in the way."""
    parent = os.path.join(git_dir, "nix-tag-check")
    path = os.path.join(parent, name)
    return None if _in_the_way(parent) or _in_the_way(path) else path


def _in_the_way(path: str) -> bool:
    try:
        return not stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False  # absent: made when it is needed


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


class Bounded:
    """A cache folder kept to at most `files` files and `size` bytes: the oldest go first.

    The folder is listed at a run's first write, never by a run that only reads, and then kept
    in step with that run's writes (one listing a run, however many entries it writes). Every
    entry counts, whatever its kind (a FIFO, a link, a temporary file a killed run left), but
    for folders and the names in `keep`. Files are removed through the folder's descriptor:
    a folder swapped for a link meanwhile never loses someone else's files.
    """

    def __init__(self, folder: str, files: int, size: int,
                 keep: frozenset[str] = frozenset()) -> None:
        self.folder, self.files, self.size, self.keep = folder, files, size, keep
        self._sizes: dict[str, int] | None = None  # every entry's size in bytes
        self._order: collections.deque[str] = collections.deque()  # oldest first
        self._repeats: collections.Counter[str] = collections.Counter()  # names in _order twice
        self._total = 0

    def wrote(self, name: str, size: int) -> None:
        """`name` was just written whole (`size` bytes): remove the oldest beyond the bounds."""
        if name in self.keep:
            return
        try:
            fd = os.open(self.folder, _FOLDER)
        except OSError:
            return
        try:
            if self._sizes is None:
                self._sizes = self._list(fd)
            self._add(name, size)
            self._prune(fd, self._sizes)
        finally:
            os.close(fd)

    def _list(self, fd: int) -> dict[str, int]:
        found: list[tuple[int, str, int]] = []
        with contextlib.suppress(OSError), os.scandir(fd) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if entry.name not in self.keep and not stat.S_ISDIR(st.st_mode):
                        found.append((st.st_mtime_ns, entry.name, st.st_size))
        found.sort()
        self._order.extend(name for _, name, _ in found)
        self._total = sum(size for _, _, size in found)
        return {name: size for _, name, size in found}

    def _add(self, name: str, size: int) -> None:
        assert self._sizes is not None
        if name in self._sizes:
            self._total -= self._sizes[name]
            self._repeats[name] += 1  # its older place in the order is stale
        self._sizes[name] = size
        self._total += size
        self._order.append(name)

    def _prune(self, fd: int, sizes: dict[str, int]) -> None:
        while len(sizes) > 1 and (len(sizes) > self.files or self._total > self.size):
            name = self._order.popleft()
            if self._repeats[name]:
                self._repeats[name] -= 1
                continue
            self._total -= sizes.pop(name)
            with contextlib.suppress(OSError):  # gone already, or another run's: no matter
                os.unlink(name, dir_fd=fd)


@functools.cache
def tool_identity() -> str:
    """What every cache is keyed on of the tool itself: its version, the bytes of every file
    of its package, and Python's version.

    Contents, not mtimes: an install from the Nix store has every mtime at 1, and a
    development install changes without a new version. About 1 to 2 ms, once a process.
    """
    return f"{__version__} {package_digest(_PACKAGE)} {sys.version}"


def package_digest(top: str) -> str:
    """A digest of every file below `top` by relative path and content (not `__pycache__`,
    nor dot files: Python's and editors' by-products)."""
    digest = hashlib.sha256()  # twice blake2b's speed here (SHA extensions)
    for rel in _files(top, ""):
        data = _whole(os.path.join(top, rel))
        digest.update(f"{rel}\0{len(data)}\0".encode("utf-8", "surrogateescape"))
        digest.update(data)
    return digest.hexdigest()


def _whole(path: str) -> bytes:
    """A file's bytes; os.read, as open()'s file objects cost more than the reading here."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _files(top: str, rel: str) -> list[str]:
    found: list[str] = []
    with os.scandir(os.path.join(top, rel)) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith(".") or entry.name == "__pycache__":
                continue
            if entry.is_dir(follow_symlinks=False):
                found += _files(top, os.path.join(rel, entry.name))
            elif entry.is_file():
                found.append(os.path.join(rel, entry.name))
    return found
