"""The tree an evaluation sees: the Git-tracked files (as a clean clone has them) or the work tree.

A classic Nix file reads whatever lies beside it, so it is evaluated in a private tree of
the tracked files that it can reach (its path literals followed, reach.py): untracked and
ignored files, build results and empty folders are simply not there, as in the pipeline's
checkout, while the contents are those of the work tree. The files are copies (reflinks
where the file system clones), never hard links: a link changes the original's ctime and
link count, and the scan cache trusts those. The tree lies at the same path on every run,
`.git/nix-tag-check/trees/SLOT/NAME`, so that a tag that embeds its path is at least
the same tag every time; a lock beside it makes a second run in the repository wait.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from nix_tag_check.errors import EvalError
from nix_tag_check.paths import below

_MAX_LINKS = 40
_ABANDONED_SECONDS = 3600
_LEGACY = "tree-"  # the random folders of versions before the tree had a fixed path
_CHUNK = 1 << 30
_FICLONE: int = getattr(fcntl, "FICLONE", 0x40049409)  # Linux: share the extents
_QUOTED_PATH = re.compile(r"'(/[^']+)'")


@dataclass(frozen=True)
class View:
    """Which paths below `root` exist for Nix. `tracked` None: the work tree as it is."""

    root: str
    tracked: tuple[str, ...] | None  # sorted, relative to root
    _tracked_set: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def of(cls, root: str, tracked: frozenset[str] | None) -> View:
        if tracked is None:
            return cls(root, None)
        return cls(root, tuple(sorted(tracked)), frozenset(tracked))

    def full(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def is_tracked(self, rel: str) -> bool:
        return self.tracked is None or rel in self._tracked_set

    def has_below(self, rel: str) -> bool:
        """A tracked file lies below `rel` (so the folder exists in the copy)."""
        assert self.tracked is not None
        if not rel:
            return bool(self.tracked)
        prefix = rel + "/"
        at = bisect.bisect_left(self.tracked, prefix)
        return at < len(self.tracked) and self.tracked[at].startswith(prefix)

    def below(self, rel: str) -> list[str]:
        """Tracked paths below the folder `rel` (tracked view only)."""
        assert self.tracked is not None
        prefix = rel + "/" if rel else ""
        at = bisect.bisect_left(self.tracked, prefix)
        end = bisect.bisect_left(self.tracked, prefix[:-1] + "0") if prefix else len(self.tracked)
        return list(self.tracked[at:end])

    def resolve(self, rel: str, links: set[str] | None = None) -> str | None:
        """`rel` with symbolic links in its folders followed (each one added to `links`);
        None when it leaves the tree."""
        for _ in range(_MAX_LINKS):
            parts = rel.split("/") if rel else []
            for i in range(1, len(parts)):
                prefix = "/".join(parts[:i])
                if self.is_tracked(prefix) and os.path.islink(self.full(prefix)):
                    if links is not None:
                        links.add(prefix)
                    inside = self.link_target(prefix)
                    if inside is None:
                        return None
                    rel = "/".join(filter(None, [inside, *parts[i:]]))
                    break
            else:
                return rel
        return None

    def link_target(self, rel: str) -> str | None:
        """Where the link `rel` points, relative to the root; None outside it (or no link)."""
        path = self.full(rel)
        try:
            target = os.readlink(path)
        except OSError:
            return None
        return below(os.path.normpath(os.path.join(os.path.dirname(path), target)), self.root)


def placed(view: View, reached: Iterable[str]) -> frozenset[str] | None:
    """The tracked paths a tree must hold for an evaluation that reaches `reached`; None: all.

    Each reached path comes with the links on its way and what each points to (a link at any
    position, the last one too: Nix reads through them); a reached folder with everything
    below it (a copy to the store or `readDir` lists it whole). An absent or untracked path
    brings nothing: a clean clone does not have it either.
    """
    assert view.tracked is not None
    chosen: set[str] = set()
    pending = list(reached)
    seen: set[str] = set()
    while pending:
        rel = pending.pop()
        if rel in seen:
            continue
        seen.add(rel)
        target = view.resolve(rel, chosen)
        if target == "":
            return None  # the whole tree
        if target is None:
            continue
        found = [target] if view.is_tracked(target) else view.below(target)
        for sub in found:
            chosen.add(sub)
            pointed = view.link_target(sub) if os.path.islink(view.full(sub)) else None
            if pointed is not None:
                pending.append(pointed)
    return frozenset(chosen)


@dataclass(frozen=True)
class Tree:
    """A private tree: where Nix evaluates, and which tracked paths it holds (None: all)."""

    root: str
    view: View
    holds: frozenset[str] | None

    def left_out(self, text: str) -> str | None:
        """A tracked path that Nix's message names (quoted, as Nix quotes paths) and that this
        tree left out: the reach missed it, so the whole tracked tree must be evaluated."""
        if self.holds is None:
            return None
        for path in _QUOTED_PATH.findall(text):
            for root in (self.root, self.view.root):
                rel = below(os.path.normpath(path), root)
                resolved = self.view.resolve(rel) if rel is not None else None
                if resolved is None:
                    continue
                wanted = [resolved] if self.view.is_tracked(resolved) else \
                    self.view.below(resolved)
                if any(sub not in self.holds for sub in wanted):
                    return resolved
        return None


class Copier:
    """File contents into a tree: a hard link where `link` asks (the mirror of a copy), a
    clone where the file system shares extents, else an in-kernel copy, else read and write;
    a way that fails once is not tried again."""

    def __init__(self, link: bool = False) -> None:
        self.link = link
        self.clone = sys.platform.startswith("linux")
        self.ranged = hasattr(os, "copy_file_range")

    def copy(self, source: str, target: str) -> None:
        if self.link:
            try:
                os.link(source, target)
                return
            except OSError:
                self.link = False  # another file system, or not allowed: copy from now on
        try:
            fd_in = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError:  # Nix must fail on it as it would on the original
            mode = os.lstat(source).st_mode & 0o777
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
            os.chmod(target, mode)
            return
        try:
            st = os.fstat(fd_in)
            if not stat.S_ISREG(st.st_mode):
                return  # swapped for a FIFO or a device since it was looked at
            fd_out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                self._data(fd_in, fd_out, st.st_size)
                os.fchmod(fd_out, st.st_mode & 0o777)  # the executable bit is in the store path
            finally:
                os.close(fd_out)
        finally:
            os.close(fd_in)

    def _data(self, fd_in: int, fd_out: int, size: int) -> None:
        if self.clone:
            try:
                fcntl.ioctl(fd_out, _FICLONE, fd_in)
                return
            except OSError:
                self.clone = False
        if self.ranged:
            try:
                copied = 0
                while done := os.copy_file_range(fd_in, fd_out, _CHUNK):
                    copied += done
                if copied or not size:
                    return
            except OSError:
                pass
            self.ranged = False  # or it copied nothing of a file that has bytes
            os.lseek(fd_in, 0, os.SEEK_SET)
            os.lseek(fd_out, 0, os.SEEK_SET)
            os.ftruncate(fd_out, 0)
        while chunk := os.read(fd_in, 1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd_out, view):]


def _place(source: str, target: str, copier: Copier) -> None:
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        return  # deleted in the work tree
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISDIR(st.st_mode):  # a submodule: its own work tree
        os.symlink(source, target)
    elif stat.S_ISREG(st.st_mode):
        copier.copy(source, target)


def _fill(view: View, dest: str, paths: Iterable[str]) -> None:
    os.mkdir(dest)
    made = {""}
    copier = Copier()
    for rel in sorted(paths):
        folder = os.path.dirname(rel)
        if folder not in made:
            os.makedirs(os.path.join(dest, folder), exist_ok=True)
            made.add(folder)
        _place(os.path.join(view.root, rel), os.path.join(dest, rel), copier)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock(path: str, waiting: Callable[[str], None]) -> int:
    """The lock of one slot, held until its fd is closed (the kernel drops it when a run dies)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if not _try_lock(fd):
            waiting(f"evaluation: waiting for another nix-tag-check run in this repository "
                    f"(it holds {path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _sweep(trees: str) -> None:
    """Trees left by killed runs (SIGKILL): every slot whose lock no run holds, and the
    random folders of older versions once an hour old (longer than any run)."""
    cutoff = time.time() - _ABANDONED_SECONDS
    with contextlib.suppress(OSError), os.scandir(trees) as entries:
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith(_LEGACY):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    shutil.rmtree(entry.path, ignore_errors=True)
                continue
            with contextlib.suppress(OSError):
                fd = os.open(f"{entry.path}.lock", os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    if _try_lock(fd):
                        shutil.rmtree(entry.path, ignore_errors=True)
                finally:
                    os.close(fd)


def temporary_trees(git_dir: str) -> str:
    """Where trees go when `.git/nix-tag-check` is a link (never written through): a folder
    of this user's own in the temporary folder, one per repository, the same on every run."""
    import tempfile  # only for this rare case: tempfile's own imports cost a cached run 2 ms

    base = os.path.join(tempfile.gettempdir(), f"nix-tag-check-{os.getuid()}")
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(base, 0o700)
        st = os.lstat(base)
    except OSError as exc:
        raise EvalError(f"{base}: cannot make the private tree of tracked files there: "
                        f"{exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise EvalError(f"{base}: not a folder of this user's alone, so no private tree can be "
                        "made there: remove it (it is made again)")
    return os.path.join(base, hashlib.sha256(git_dir.encode()).hexdigest()[:16], "trees")


@contextlib.contextmanager
def private_tree(view: View, holds: frozenset[str] | None, trees: str, *, slot: str = "a",
                 name: str | None = None,
                 waiting: Callable[[str], None] = lambda _: None) -> Iterator[Tree]:
    """A private tree of the tracked paths `holds` (None: all), removed afterwards.

    It lies at `trees/SLOT/NAME` (NAME: the repository folder's name, as `./.` copies are
    named after it): the same path on every run. Another slot and name give a second root
    at another path in the same run; take slots in the same order in every run.
    """
    assert view.tracked is not None
    holder = os.path.join(trees, slot)
    try:
        os.makedirs(trees, exist_ok=True)
        lock = _lock(f"{holder}.lock", waiting)
    except OSError as exc:
        raise EvalError(f"{trees}: cannot make the private tree of tracked files there: "
                        f"{exc.strerror}") from None
    try:
        _sweep(trees)
        shutil.rmtree(holder, ignore_errors=True)  # a killed run's, should the sweep have failed
        dest = os.path.join(holder, name or os.path.basename(view.root))
        try:
            os.mkdir(holder)
            _fill(view, dest, view.tracked if holds is None else holds)
        except OSError as exc:
            raise EvalError(f"{exc.filename or holder}: cannot make the private tree of tracked "
                            f"files: {exc.strerror}") from None
        yield Tree(dest, view, holds)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
        os.close(lock)
