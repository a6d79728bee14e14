"""The tool's state under `.git/nix-tag-check/`, and when a remembered file is still the same.

Every cache (evaluations, scan records, private trees) lives in a folder of its own there, and
every one trusts a file's stat identity only once the file has settled: a change within one
timestamp tick of the moment it was looked at could leave the identity as it was ("racy git").
"""

from __future__ import annotations

import os

RACY_NS = 2_000_000_000  # FAT's timestamps are 2 s apart; everything else is finer


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
