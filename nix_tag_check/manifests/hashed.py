"""Repositories that manifests reference with a tag shaped like a Nix hash (or any tag).

Asked only when a discovered image is referenced by nothing. The name a builder gives an
image (`name = "hello-world"`) is often not the one the pipeline pushes it as
(`docker.io/lewo/poc-tekton`), and a tag that is a Nix hash says which repositories hold
images built by Nix. A text search, cheap and never an error (a file that cannot be read
is skipped): it only suggests a config.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from nix_tag_check.config.reference import (
    NIX_HASH_RE,
    ReferenceError,
    Repository,
    in_text_re,
    parse_reference,
    parse_repository,
)
from nix_tag_check.manifests.encoding import detect

_HASH = NIX_HASH_RE.pattern
# `repo:tag` anywhere (an image: value, a flag, an environment value), not inside a word.
_INLINE_RE = re.compile(rf"(?<![\w.:/@\[\]-])([\w.:/\[\]-]+):({_HASH})(?![\w.-])", re.ASCII)
# Helm values: `tag: HASH` beside `repository:` (and `registry:`) in one mapping.
_KEY_RE = re.compile(r"^(\s*)(?:-\s+)?(tag|repository|registry)\s*:\s*[\"']?([^\"'\s#]+)[\"']?"
                     r"\s*(?:#.*)?$", re.ASCII)
_NEIGHBOURS = 20  # lines looked at on each side of a `tag:` for its mapping's keys


@dataclass(frozen=True)
class Hashed:
    """One place a repository is referenced with a Nix hash for its tag."""

    repository: Repository
    name: str  # the repository as written
    tag: str
    path: str
    line: int


def references(paths: Iterable[str], max_size: int) -> list[Hashed]:
    """Every `repository:NIXHASH` (or Helm-values pair) in the regular files given."""
    found: list[Hashed] = []
    for path in paths:
        text = _text(path, max_size)
        if text is not None and re.search(_HASH, text):
            found += _inline(text, path) + _helm_values(text, path)
    return found


def repositories(paths: Iterable[str], max_size: int) -> set[str]:
    """Every repository written `repository:tag` in the files given, whatever its tag, as
    written: the names a misspelt configured image is compared with."""
    found: set[str] = set()
    for path in paths:
        text = _text(path, max_size)
        found.update(match["name"] for match in in_text_re().finditer(text or "")
                     if match["tag"] or match["digest"])
    return found


def _text(path: str, max_size: int) -> str | None:
    """A regular file's text (never through a link, never blocking on a FIFO), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_size:
            return None
        raw = os.read(fd, max_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return raw.decode(detect(raw[:4])[0], "replace")


def _inline(text: str, path: str) -> list[Hashed]:
    found = []
    for match in _INLINE_RE.finditer(text):
        try:
            reference = parse_reference(match[0])
        except ReferenceError:
            continue
        line = text.count("\n", 0, match.start()) + 1
        found.append(Hashed(reference.repository, match[1], match[2], path, line))
    return found


def _helm_values(text: str, path: str) -> list[Hashed]:
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        match = _KEY_RE.match(line)
        if match is None or match[2] != "tag" or not NIX_HASH_RE.fullmatch(match[3]):
            continue
        keys = _siblings(lines, number, match.start(2))
        if "repository" not in keys:
            continue
        name = keys["repository"]
        if "registry" in keys:
            name = f"{keys['registry']}/{name}"
        try:
            repository = parse_repository(name)
        except ReferenceError:
            continue
        found.append(Hashed(repository, name, match[3], path, number + 1))
    return found


def _siblings(lines: list[str], at: int, column: int) -> dict[str, str]:
    """The keys written at `column` around line `at`, within its mapping."""
    keys: dict[str, str] = {}
    for step in (-1, 1):
        index = at + step
        while 0 <= index < len(lines) and abs(index - at) <= _NEIGHBOURS:
            line = lines[index]
            match = _KEY_RE.match(line)
            if match is not None and match.start(2) == column:
                keys.setdefault(match[2], match[3])
            if line.strip() and (len(line) - len(line.lstrip(" -")) < column
                                 or line.lstrip().startswith("- ")):
                break  # the mapping's first line (a list item), or a shallower one
            index += step
    return keys
