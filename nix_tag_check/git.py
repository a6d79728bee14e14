"""Running git, and the work tree as Git lists it: the one place the tool asks git."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from nix_tag_check.paths import is_inside


def git(args: Sequence[str], cwd: str) -> str | None:
    """Output of a git command, or None outside a repository or without git."""
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, check=False, stdin=subprocess.DEVNULL
        )
    except OSError:
        return None
    if out.returncode != 0:
        return None
    return out.stdout.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class GitTree:
    """A work tree as Git lists it, asked once per run (two git processes)."""

    root: str
    git_dir: str
    tracked: frozenset[str]  # relative to root
    files: tuple[str, ...]  # tracked and untracked-but-not-ignored, sorted

    def below(self, folder: str, tracked_only: bool) -> list[str]:
        """Files below `folder`, relative to it."""
        prefix = os.path.relpath(folder, self.root).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        return [
            rel[len(prefix):] for rel in self.files
            if rel.startswith(prefix) and (not tracked_only or rel in self.tracked)
        ]

    def contains(self, path: str) -> bool:
        return is_inside(path, self.root)


def git_tree(start: str) -> GitTree | None:
    """The Git work tree holding `start`, or None outside Git (or without git)."""
    out = git(["rev-parse", "--show-toplevel", "--absolute-git-dir"], start)
    if not out or len(out.splitlines()) < 2:
        return None
    root, git_dir = out.splitlines()[:2]
    listing = git(["ls-files", "-z", "-t", "--cached", "--others", "--exclude-standard"], root)
    if listing is None:
        return None
    tracked: set[str] = set()
    every: set[str] = set()
    for entry in filter(None, listing.split("\0")):
        status, rel = entry[:1], entry[2:]
        every.add(rel)
        if status != "?":
            tracked.add(rel)
    return GitTree(os.path.realpath(root), git_dir, frozenset(tracked), tuple(sorted(every)))
