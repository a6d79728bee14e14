"""The tree an evaluation sees: the Git-tracked files (as a clean clone has them) or the work tree.

A classic Nix file reads whatever lies beside it, so it is evaluated in a private copy of
the tracked files made of hard links (copies where links cannot be made): untracked and
ignored files, build results and empty folders are simply not there, as in the
pipeline's checkout, while the contents are those of the work tree.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

_MAX_LINKS = 40
_ABANDONED_SECONDS = 3600


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

    def resolve(self, rel: str) -> str | None:
        """`rel` with symbolic links in its folders followed; None when it leaves the tree."""
        for _ in range(_MAX_LINKS):
            parts = rel.split("/") if rel else []
            for i in range(1, len(parts)):
                prefix = "/".join(parts[:i])
                path = self.full(prefix)
                if self.is_tracked(prefix) and os.path.islink(path):
                    target = os.path.normpath(os.path.join(os.path.dirname(path),
                                                           os.readlink(path)))
                    inside = relative(self.root, target)
                    if inside is None:
                        return None
                    rel = "/".join(filter(None, [inside, *parts[i:]]))
                    break
            else:
                return rel
        return None


def relative(root: str, path: str) -> str | None:
    """`path` relative to `root` ("" for root itself), None when outside it."""
    if path == root:
        return ""
    prefix = root.rstrip(os.sep) + os.sep
    return path[len(prefix):].replace(os.sep, "/") if path.startswith(prefix) else None


def _place(source: str, target: str, link: list[bool]) -> None:
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
    elif os.path.isdir(source):  # a submodule: its own work tree
        os.symlink(source, target)
    elif os.path.isfile(source):
        if link[0]:
            try:
                os.link(source, target)
                return
            except OSError:
                link[0] = False  # another file system, or not allowed: copy from now on
        shutil.copy2(source, target)


def _remove_abandoned(parent: str) -> None:
    """Copies left by a run that was killed (SIGKILL): an hour is longer than any run."""
    cutoff = time.time() - _ABANDONED_SECONDS
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        for entry in entries:
            if entry.name.startswith("tree-") and entry.is_dir(follow_symlinks=False) \
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                shutil.rmtree(entry.path, ignore_errors=True)


@contextlib.contextmanager
def tracked_copy(view: View, parent: str | None) -> Iterator[str]:
    """A private tree of the tracked files (named like the root), removed afterwards.

    `parent` should be on the repository's file system, so that hard links can be made.
    """
    assert view.tracked is not None
    if parent is not None:
        os.makedirs(parent, exist_ok=True)
        _remove_abandoned(parent)
    holder = tempfile.mkdtemp(prefix="tree-", dir=parent)
    try:
        dest = os.path.join(holder, os.path.basename(view.root))
        os.mkdir(dest)
        made = {""}
        link = [True]
        for rel in view.tracked:
            folder = os.path.dirname(rel)
            if folder not in made:
                os.makedirs(os.path.join(dest, folder), exist_ok=True)
                made.add(folder)
            with contextlib.suppress(FileNotFoundError):  # deleted in the work tree
                _place(os.path.join(view.root, rel), os.path.join(dest, rel), link)
        yield dest
    finally:
        shutil.rmtree(holder, ignore_errors=True)
