"""Which manifests to look at: FILE arguments, `files:`/`exclude:` globs, or what Git tracks."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from nix_tag_check.errors import FileProblem
from nix_tag_check.git import GitTree
from nix_tag_check.paths import is_inside, relative

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-like globs: `**` spans folders, a pattern without `/` matches a basename."""
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            out.append(_bracket(pattern[i + 1 : end]))
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    body = "".join(out)
    if pattern.endswith("/"):
        body += ".*"
    return re.compile(body if anchored else f"(?:.*/)?{body}")


def _bracket(body: str) -> str:
    """`[...]` as git's wildmatch reads it: `!` or `^` negates (never a `/`), `a-z` is a
    range and one the wrong way round matches nothing; every other character is itself
    (escaped, so that no character of the pattern is regex syntax)."""
    negate = body[:1] in ("!", "^")
    body = body[1:] if negate else body
    parts = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            if body[i] <= body[i + 2]:
                parts.append(f"{re.escape(body[i])}-{re.escape(body[i + 2])}")
            i += 3
        else:
            parts.append(re.escape(body[i]))
            i += 1
    if negate:
        return f"[^/{''.join(parts)}]"
    return f"[{''.join(parts)}]" if parts else "(?!)"


def is_chart_template(path: str) -> bool:
    """Whether the file is under `templates/` of a folder holding `Chart.yaml`: a Go template
    that Helm renders to YAML, never YAML itself."""
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        parent = os.path.dirname(folder)
        if os.path.basename(folder) == "templates" and os.path.isfile(
                os.path.join(parent, "Chart.yaml")):
            return True
        if parent == folder:
            return False
        folder = parent


def matches(path: str, patterns: Iterable[str]) -> bool:
    return _any_of(tuple(patterns)).fullmatch(path) is not None


@lru_cache(maxsize=64)
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for a list of globs: a file is tested once, not once per glob."""
    return re.compile("|".join(f"(?:{_glob_regex(p).pattern})" for p in patterns) or "(?!)")


def is_manifest_name(path: str) -> bool:
    return path.lower().endswith(MANIFEST_SUFFIXES)


def _walk(root: str) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(found)


@dataclass(frozen=True)
class Selection:
    paths: list[str]  # absolute, in a stable order
    empty_globs: tuple[int, ...] = ()  # indexes of `files:` globs that selected no file
    links: frozenset[str] | None = None  # those of `paths` that are links (None: not known)


def select(
    root: str,
    arguments: Sequence[str],
    files: Sequence[str],
    exclude: Sequence[str],
    config_path: str | None,
    tree: GitTree | None,
) -> Selection:
    """The manifests to scan, and which configured globs found none (a gate checking
    nothing must not pass)."""
    skip = os.path.abspath(config_path) if config_path else None
    skip_name = os.path.basename(skip or "")  # a cheap test before abspath()
    links: set[str] | None = None
    if arguments:
        chosen = [(a, relative(a, root).replace(os.sep, "/"))
                  for a in (os.path.abspath(a) for a in arguments if is_manifest_name(a))]
    else:
        chosen, links = _listed(root, files, tree)
    result = []
    unmatched = dict.fromkeys(range(len(files))) if files and not arguments else {}
    excluded = _any_of(tuple(exclude)) if exclude else None
    for path, rel in chosen:
        if excluded is not None and not rel.startswith("../") and excluded.fullmatch(rel):
            continue
        if skip is not None and path.endswith(skip_name) and os.path.abspath(path) == skip:
            continue
        if unmatched:
            for index in [i for i in unmatched if _glob_regex(files[i]).fullmatch(rel)]:
                del unmatched[index]
        result.append(path)
    return Selection(list(dict.fromkeys(result)), tuple(unmatched),
                     None if links is None else frozenset(links))


def _listed(
    root: str, files: Sequence[str], tree: GitTree | None
) -> tuple[list[tuple[str, str]], set[str]]:
    """(path, path relative to `root`) of the files below `root` that match `files`, and
    which of those paths are links."""
    if tree is not None and tree.contains(os.path.realpath(root)):
        listed = tree.below(os.path.realpath(root), tracked_only=not files)
    else:
        listed = _walk(root)
    wanted = _any_of(tuple(files or [f"*{suffix}" for suffix in MANIFEST_SUFFIXES]))
    folders = _Folders()
    found, links = [], set()
    below = os.path.join(root, "")  # so that below + rel is os.path.join(root, rel)
    for rel in listed:
        if wanted.fullmatch(rel) is not None:
            path = below + rel
            link = folders.link(path)
            if link is not None:  # else tracked, deleted: gone
                found.append((path, rel))
                if link:
                    links.add(path)
    return found, links


class _Folders:
    """Each folder's names and which are links: one os.scandir a folder, where an lstat a
    file cost 10,000 system calls for 10,000 manifests in 50 folders."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, bool] | None] = {}

    def link(self, path: str) -> bool | None:
        """Whether `path` is a symbolic link; None when there is nothing there."""
        folder, _, name = path.rpartition(os.sep)  # os.path.split, for an absolute path
        folder = folder or os.sep
        if folder not in self._entries:
            self._entries[folder] = _entries(folder)
        entries = self._entries[folder]
        if entries is not None and name in entries:
            return entries[name]
        try:  # unlisted: gone, or spelt otherwise by the file system (its case, its Unicode)
            return stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:
            return None


def _entries(folder: str) -> dict[str, bool] | None:
    try:
        with os.scandir(folder) as found:
            return {entry.name: entry.is_symlink() for entry in found}
    except OSError:  # unreadable: each file is asked then
        return None


@lru_cache(maxsize=4096)
def _real_folder(folder: str) -> str:
    return os.path.join(os.path.realpath(folder), "")


def _in_real_folder(path: str) -> str:
    """An absolute, normalised `path` with its folder's links resolved (not its own).

    os.path.split and os.path.join cost a third of a resolve: a cached run calls it for
    every manifest.
    """
    folder, _, name = path.rpartition(os.sep)
    return _real_folder(folder or os.sep) + name


def resolve_target(path: str, boundary: str, link: bool | None = None) -> str:
    """The real file behind `path`, refusing links that leave the repository.

    `link`: whether `path` is a link, when the caller knows (None: ask the file system).
    """
    path = os.path.abspath(path)
    real = _in_real_folder(path)
    if link is None:
        try:
            link = stat.S_ISLNK(os.lstat(real).st_mode)
        except OSError:
            link = False  # as os.path.islink: a missing file is no link (reading will say)
    if link:
        real = os.path.realpath(real)
    inside = is_inside(real, boundary)
    if not inside and real != path:
        raise FileProblem(f"symlink points outside the repository (to {real}); not followed")
    if not inside:
        raise FileProblem(f"file is outside the repository ({boundary}); not checked")
    return real


def distinct(
    paths: Sequence[str], boundary: str, links: frozenset[str] | None = None
) -> list[tuple[str, str | None]]:
    """Each real file once, with that real file (None: reported when it is read). A link to
    a manifest inside the repository is that manifest (named as itself when it is checked
    too), so it is reported and fixed once. `links`: which paths are links, if known."""
    by_target: dict[str, tuple[str, str | None]] = {}
    twice = False
    for path in paths:
        try:
            link = None if links is None else path in links
            target: str | None = resolve_target(path, boundary, link)
        except FileProblem:
            target = None
        key = path if target is None else target
        if key in by_target:
            twice = True
            if path != key:
                continue
        by_target[key] = (path, target)
    if not twice:  # each file once: already in the order given
        return list(by_target.values())
    order = {path: index for index, path in enumerate(paths)}
    return sorted(by_target.values(), key=lambda pair: order[pair[0]])
