"""Which manifests to look at, and reading them without ever trusting them."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from . import encoding, prefilter
from .errors import FileProblem

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def is_inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it (both absolute and normalised, no `..`)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def relative(path: str, folder: str) -> str:
    """`path` relative to `folder`, with a cheap cut when it lies below (no filesystem call)."""
    prefix = folder.rstrip(os.sep) + os.sep
    return path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, folder)


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


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


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


@dataclass(frozen=True)
class Manifest:
    path: str  # the real file (symlinks inside the repository resolved)
    raw: bytes
    text: str  # decoded; a BOM stays its first character
    codec: str = encoding.UTF8  # write the fixed text back in this encoding

    def encode(self, text: str) -> bytes:
        return encoding.encode(text, self.codec)


def _decode(raw: bytes) -> tuple[str, str]:
    """(text, codec) of a manifest, or a FileProblem at the first byte that is not text."""
    codec, bom = encoding.detect(raw[:4])
    if codec == encoding.UTF8 and b"\0" in raw:
        where = _position(raw, raw.index(b"\0"))
        raise FileProblem("binary file (contains NUL bytes); exclude it", *where)
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        if codec != encoding.UTF8 and not bom:  # NULs that do not make UTF-16/32 text
            raise FileProblem("binary file (contains NUL bytes); exclude it",
                              *_position(raw, raw.index(b"\0"))) from None
        line, column = _text_position(raw[: exc.start].decode(codec, "replace"))
        raise FileProblem(f"not {encoding.name(codec)} text", line, column) from None
    if "\0" in text:
        raise FileProblem("binary file (contains NUL characters); exclude it",
                          *_text_position(text[: text.index("\0")]))
    return text, codec


def _text_position(before: str) -> tuple[int, int]:
    """1-based line and column just after `before`."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def read(
    path: str, boundary: str, needles: Sequence[str], max_size: int,
    known: tuple[str, os.stat_result] | None = None,
) -> Manifest | None:
    """The manifest's text, None when it cannot reference any image (never parsed then).

    A file that mentions an image but cannot be handled safely is a FileProblem. `known`:
    the real file behind `path` and its stat, when the caller has just taken them.
    """
    real, st = _locate(path, boundary) if known is None else known
    try:
        if not stat.S_ISREG(st.st_mode):
            return None  # a folder, a device, a FIFO: nothing to check, nothing to block on
        size = st.st_size
        if size > max_size:
            if prefilter.mentions_file(real, needles):
                raise FileProblem(
                    f"file is {size} bytes, over the limit of {max_size} (max-file-size in "
                    "the config or --max-file-size); raise it or exclude the file"
                )
            return None
        with open(real, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror}") from None
    if not prefilter.mentions(raw, needles):
        return None
    text, codec = _decode(raw)
    return Manifest(real, raw, text, codec)


def _locate(path: str, boundary: str) -> tuple[str, os.stat_result]:
    """The real file behind `path` and its stat (raises FileProblem)."""
    if not os.path.lexists(path):
        raise FileProblem("no such file")
    real = resolve_target(path, boundary)
    try:
        return real, os.stat(real)
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror}") from None
