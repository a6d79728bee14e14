"""Paths inside the repository: one spelling of "below" and "relative to" for the whole tool."""

from __future__ import annotations

import os


def is_inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it (both absolute and normalised, no `..`)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def relative(path: str, folder: str) -> str:
    """`path` relative to `folder`, with a cheap cut when it lies below (no filesystem call)."""
    prefix = folder.rstrip(os.sep) + os.sep
    return path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, folder)


def below(path: str, folder: str) -> str | None:
    """`path` relative to `folder` with `/` separators ("" for the folder itself), None when
    it lies outside: how the tracked tree and the cache key name a repository path."""
    if path == folder:
        return ""
    prefix = folder.rstrip(os.sep) + os.sep
    return path[len(prefix):].replace(os.sep, "/") if path.startswith(prefix) else None


def named(path: str, folder: str) -> str:
    """`path` as a message names it: `below` it ("." for the folder itself), else as given
    (nixpkgs' files, the store's, a flake reference such as `github:owner/repo`)."""
    rel = below(path, folder)
    return path if rel is None else rel or "."
