"""What one evaluation can depend on, and a digest of it taken before and after Nix runs.

Starting from the evaluated file, every path literal of every reachable file is
followed (a folder: everything below it; an interpolated path: its folder). The
digest covers each such path as the evaluated tree shows it (content, executable bit,
link target, absence), the variables the reachable files read, and, when they reach
code outside the repository (a search path, a store path), every environment variable.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import deque
from dataclasses import dataclass, field

from nix_tag_check import state
from nix_tag_check.evaluate import lexer as nix_source
from nix_tag_check.evaluate.tracked_tree import View
from nix_tag_check.paths import below

_MAX_SCANNED = 1 << 20  # bigger files are data, not Nix code
_MAX_ENTRIES = 200_000
_MAX_LINKS = 40
_STORE = "/nix/store/"


class Unknowable(Exception):
    """The inputs cannot be pinned down (an impure builtin, a huge folder): do not cache."""


@dataclass
class Reach:
    files: set[str] = field(default_factory=set)  # relative to the view's root
    trees: set[str] = field(default_factory=set)
    outside: set[str] = field(default_factory=set)  # absolute, neither repository nor store
    foreign_code: bool = False  # a search path or a store path: code we cannot read
    env: set[str] | None = field(default_factory=set)
    impure: str | None = None  # why it cannot be cached (reach(pure=False) only)
    fetchers: dict[str, str] = field(default_factory=dict)  # file -> the fetcher its text names


class Hashes:
    """Content hashes remembered by stat, as Git's index does (racy entries are not kept),
    and what the Nix scanner found in each content, remembered by its hash."""

    def __init__(self, known: dict[str, list[object]] | None = None,
                 scans: dict[str, nix_source.TextScan | None] | None = None) -> None:
        self.known: dict[str, list[object]] = known or {}
        self.scans: dict[str, nix_source.TextScan | None] = scans or {}
        self.changed = False
        self.used: set[str] = set()
        self.used_scans: set[str] = set()
        self.now = time.time_ns()

    def _hash(self, path: str, st: os.stat_result) -> tuple[str, bytes | None]:
        """(content hash, the bytes when they had to be read)."""
        key = list(state.identity(st))
        self.used.add(path)
        cached = self.known.get(path)
        if cached is not None and cached[0] == key and isinstance(cached[1], str):
            return cached[1], None
        with open(path, "rb") as handle:
            raw = handle.read()
        value = hashlib.sha256(raw).hexdigest()
        if state.settled(st, self.now):
            self.known[path] = [key, value]
            self.changed = True
        return value, raw

    def digest(self, path: str, st: os.stat_result) -> str:
        return self._hash(path, st)[0]

    def kept(self) -> dict[str, object] | None:
        """What to remember for the next run (what this run used); None: nothing new."""
        if not self.changed and self.used >= self.known.keys() \
                and self.used_scans >= self.scans.keys():
            return None
        return {"files": {p: self.known[p] for p in self.used if p in self.known},
                "scans": {h: nix_source.to_json(self.scans[h]) for h in self.used_scans}}

    def scan(self, path: str) -> nix_source.TextScan | None:
        """The file's Nix literals; None for a file that cannot be Nix code."""
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_SCANNED:
                return None
            key, raw = self._hash(path, st)
            if key not in self.scans:
                if raw is None:
                    with open(path, "rb") as handle:
                        raw = handle.read()
                if hashlib.sha256(raw).hexdigest() != key:
                    raise Unknowable(f"{path} changed while it was read")
                text = None if b"\0" in raw else raw.decode("utf-8", "replace")
                self.scans[key] = nix_source.scan(text) if text is not None else None
                self.changed = True
        except OSError:
            return None
        self.used_scans.add(key)
        return self.scans[key]


def reach(view: View, start: str, hashes: Hashes, *, pure: bool = True) -> Reach:
    """Everything reachable from the file `start` (relative to the view's root).

    `pure` False: an impure builtin or `/.` is noted in `impure` instead of raised; the
    files of the repository it can read are still those its relative literals name (the
    private tree needs that much, cached or not).
    """
    found = Reach()
    queue: deque[str] = deque([start])
    seen: set[str] = set()
    while queue:
        rel = queue.popleft()
        if rel in seen:
            continue
        seen.add(rel)
        found.files.add(rel)
        scanned = hashes.scan(view.full(rel)) if _present(view, rel) else None
        if scanned is None:
            continue
        if scanned.impure:
            found.impure = found.impure or f"{rel} uses {scanned.impure}"
            if pure:
                raise Unknowable(found.impure)
            if nix_source.climbs(scanned.impure):
                found.trees.add("")  # it may read any file: its private tree holds them all
        found.foreign_code |= scanned.search_path
        if scanned.fetcher is not None:  # what it fetches is code we cannot read
            found.fetchers[rel] = scanned.fetcher
            found.foreign_code = True
        found.env = None if found.env is None or scanned.env is None else found.env | scanned.env
        for base in _bases(view, rel):
            for literal, interpolated in scanned.paths:
                _follow(view, base, literal, interpolated, found, queue, pure)
    return found


def _present(view: View, rel: str) -> bool:
    resolved = view.resolve(rel)
    return resolved is not None and view.is_tracked(resolved)


def _bases(view: View, rel: str) -> set[str]:
    """Folders a file's relative literals resolve from: its own, and its link target's."""
    full = view.full(rel)
    bases = {os.path.dirname(full)}
    if os.path.islink(full):
        bases.add(os.path.dirname(os.path.realpath(full)))
    return bases


def _follow(view: View, base: str, literal: str, interpolated: bool, found: Reach,
            queue: deque[str], pure: bool) -> None:
    home = literal.startswith("~")
    path = os.path.normpath(os.path.expanduser(literal) if home else os.path.join(base, literal))
    if interpolated and not literal.endswith("/"):
        path = os.path.dirname(path)
    # `/. + "/any/where"`, `toString ./src + "/../x"`: any file at all, which no key can hold
    climbs = literal.startswith("/") and ".." in literal.split("/")
    if path == "/" or climbs:
        found.impure = found.impure or ("it names the root folder (`/.`)" if path == "/" else
                                        f"a string path climbs with `..` ({literal})")
        if pure:
            raise Unknowable(found.impure)
        found.trees.add("")
        return
    if path.startswith(_STORE) or path == _STORE.rstrip("/"):
        found.foreign_code = True
        return
    rel = below(path, view.root)
    if rel is None:
        found.outside.add(path)
        found.foreign_code = True  # an outside folder may hold code; its reads are unseen
        return
    target = _last_link_followed(view, rel)
    if target != rel:
        queue.append(rel)  # the link itself: its target is keyed
    if interpolated or _is_folder(view, target):
        found.trees.add(target)
        queue.extend(sub for sub in _tree_files(view, target) if sub not in found.files)
    else:
        queue.append(target)


def _last_link_followed(view: View, rel: str) -> str:
    """`rel` with a link in its last place followed too, as Nix reads through it
    (`import ./current`, `current` a link to a folder); a link out of the tree stays."""
    for _ in range(_MAX_LINKS):
        resolved = view.resolve(rel)
        if resolved is None:
            return rel
        if not view.is_tracked(resolved) or not os.path.islink(view.full(resolved)):
            return resolved
        inside = view.link_target(resolved)
        if inside is None:
            return resolved
        rel = inside
    raise Unknowable(f"{rel}: more than {_MAX_LINKS} symbolic links in a row")


def _is_folder(view: View, rel: str) -> bool:
    resolved = view.resolve(rel)
    if resolved is None:
        return False
    if view.tracked is None:
        return os.path.isdir(view.full(resolved))
    return view.has_below(resolved) and not view.is_tracked(resolved)


def _tree_files(view: View, rel: str) -> list[str]:
    resolved = view.resolve(rel)
    if resolved is None:
        return []
    if view.tracked is not None:
        return view.below(resolved)
    listed: list[str] = []
    for folder, dirs, names in os.walk(view.full(resolved)):
        dirs.sort()
        listed.extend(below(os.path.join(folder, n), view.root) or n for n in sorted(names))
        if len(listed) > _MAX_ENTRIES:
            raise Unknowable(f"{rel or '.'} holds more than {_MAX_ENTRIES} files")
    return listed


def digest(view: View, found: Reach, hashes: Hashes, environ: dict[str, str]) -> str:
    """One hash of every reachable path as Nix would see it now, and the variables read."""
    lines: list[str] = []
    for rel in sorted(found.files):
        lines.append(f"file {rel} {_describe(view, rel, hashes)}")
    for rel in sorted(found.trees):
        lines.append(f"tree {rel} {_listing(view, rel)}")
    for path in sorted(found.outside):
        lines.append(f"outside {path} {_describe_outside(path, hashes)}")
    if found.env is None or found.foreign_code:
        lines.append(f"environment {sorted(environ.items())}")
    else:
        lines.append(f"variables {[(name, environ.get(name)) for name in sorted(found.env)]}")
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def _describe(view: View, rel: str, hashes: Hashes, depth: int = 0) -> str:
    resolved = view.resolve(rel)
    if resolved is None or depth > 40:
        raise Unknowable(f"{rel} leads outside the repository through a symbolic link")
    if not view.is_tracked(resolved):
        _no_file_as_folder(view, resolved)
        return "folder" if view.has_below(resolved) else "absent"
    full = view.full(resolved)
    try:
        st = os.lstat(full)
    except OSError:
        return "absent"
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(full)
        inside = below(os.path.normpath(os.path.join(os.path.dirname(full), target)), view.root)
        then = (_describe(view, inside, hashes, depth + 1) if inside is not None
                else _describe_outside(os.path.realpath(full), hashes))
        return f"link {target!r} -> {then}"
    if stat.S_ISREG(st.st_mode):
        return f"file {st.st_mode & 0o111 != 0} {hashes.digest(full, st)}"
    if stat.S_ISDIR(st.st_mode) and view.tracked is None:
        return "folder"  # the work tree evaluated: its files below are reached one by one
    if stat.S_ISDIR(st.st_mode):  # a gitlink, or a tracked file swapped for a folder
        raise Unknowable(_AS_FOLDER.format(resolved))
    return f"special {stat.S_IFMT(st.st_mode)}"


_AS_FOLDER = ("{} is a file (or a nested repository) in Git but a folder in the work tree: "
              "what Nix reads in it is not tracked")


def _no_file_as_folder(view: View, rel: str) -> None:
    """An untracked path below a tracked one: Nix reads it through a folder Git does not
    list (a nested repository, a tracked file swapped for a folder), which nothing keys."""
    parts = rel.split("/")
    for end in range(1, len(parts)):
        prefix = "/".join(parts[:end])
        if view.is_tracked(prefix) and os.path.isdir(view.full(prefix)) \
                and not os.path.islink(view.full(prefix)):
            raise Unknowable(_AS_FOLDER.format(prefix))


def _describe_outside(path: str, hashes: Hashes) -> str:
    if path.startswith(_STORE):
        return "store"
    try:
        st = os.stat(path)
    except OSError:
        return "absent"
    if stat.S_ISREG(st.st_mode):
        return f"file {st.st_mode & 0o111 != 0} {hashes.digest(path, st)}"
    if not stat.S_ISDIR(st.st_mode):
        return f"special {stat.S_IFMT(st.st_mode)}"
    entries = []
    for folder, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            described = _describe_outside_file(folder, name, hashes)
            entries.append(f"{os.path.join(folder, name)} {described}")
        if len(entries) > _MAX_ENTRIES:
            raise Unknowable(f"{path} holds more than {_MAX_ENTRIES} files")
    return hashlib.sha256("\n".join(entries).encode("utf-8", "surrogateescape")).hexdigest()


def _describe_outside_file(folder: str, name: str, hashes: Hashes) -> str:
    full = os.path.join(folder, name)
    if os.path.islink(full):
        return f"link {os.readlink(full)!r}"
    return _describe_outside(full, hashes)


def _listing(view: View, rel: str) -> str:
    """The names below a folder: what a copy into the store, or readDir, would list."""
    resolved = view.resolve(rel)
    if resolved is None:
        raise Unknowable(f"{rel} leads outside the repository through a symbolic link")
    if view.tracked is not None:
        names = view.below(resolved)
    else:
        names = []
        for folder, dirs, files in os.walk(view.full(resolved)):
            dirs.sort()
            names += [f"{os.path.join(folder, d)}/" for d in dirs]  # empty folders count
            names += [os.path.join(folder, f) for f in sorted(files)]
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()
