"""Apply edits to a manifest's text, prove they did only what was meant, write atomically."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable
from typing import Any

from . import atomic, local_proof
from . import yaml_tree as yt
from .edits import Edit, Intent, intent
from .errors import ChangedOnDisk, PatchError, YamlSyntaxError


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """`text` with each edit's range replaced; edits must not overlap."""
    out: list[str] = []
    position = 0
    for edit in sorted(edits):
        if edit.start < position:
            raise PatchError("overlapping edits")
        out.append(text[position : edit.start])
        out.append(edit.text)
        position = edit.end
    out.append(text[position:])
    return "".join(out)


def _canonical(node: yt.Node, meant: Intent) -> Any:
    """Plain data of a node, with the intended changes applied (aliases stay names).

    Hashable tuples all the way down: a mapping's pairs are put in hash order, so that
    mappings compare regardless of key order (an added key goes where the text puts it)
    without rendering every subtree to text to sort it.
    """
    if isinstance(node, yt.Alias):
        return ("*", node.anchor)
    if isinstance(node, yt.Scalar):
        return ("=", node.anchor, meant.values.get(node.start, node.value))
    if isinstance(node, yt.Sequence):
        return ("[", node.anchor, tuple(_canonical(i, meant) for i in node.items))
    assert isinstance(node, yt.Mapping)
    removed = meant.removed.get(node.start)
    pairs = [
        (_canonical(k, meant), _canonical(v, meant))
        for k, v in node.pairs
        if not (isinstance(k, yt.Scalar) and removed == k.value)
    ]
    if node.start in meant.added:
        key, value = meant.added[node.start]
        pairs.append((("=", None, key), ("=", None, value)))
    return ("{", node.anchor, tuple(sorted(pairs, key=hash)))


def _same(before: list[yt.Node], after: list[yt.Node], meant: Intent) -> bool:
    """Whether `after` is `before` with the intended changes, walking both trees in step.

    Key order must be kept too (edits never move keys); only a mapping that gains or loses
    a key is compared as plain data, regardless of order.
    """
    if len(before) != len(after):
        return False
    todo: list[tuple[yt.Node, yt.Node]] = list(zip(before, after, strict=True))
    while todo:
        old, new = todo.pop()
        kind = type(old)
        if kind is not type(new) or old.anchor != new.anchor:
            return False
        if kind is yt.Scalar:
            assert isinstance(old, yt.Scalar) and isinstance(new, yt.Scalar)
            if meant.values.get(old.start, old.value) != new.value:
                return False
        elif kind is yt.Sequence:
            assert isinstance(old, yt.Sequence) and isinstance(new, yt.Sequence)
            if len(old.items) != len(new.items):
                return False
            todo.extend(zip(old.items, new.items, strict=True))
        elif kind is yt.Mapping:
            assert isinstance(old, yt.Mapping) and isinstance(new, yt.Mapping)
            if old.start in meant.added or old.start in meant.removed:
                if _canonical(old, meant) != _canonical(new, Intent()):
                    return False
            elif len(old.pairs) != len(new.pairs):
                return False
            else:
                for (old_key, old_value), (new_key, new_value) in zip(
                        old.pairs, new.pairs, strict=True):
                    todo += ((old_key, new_key), (old_value, new_value))
    return True


def verify(
    original: str, patched: str, edits: Iterable[Edit], before: list[yt.Node] | None = None
) -> None:
    """Raise PatchError unless `patched` parses to `original` with only the edits' meanings.

    `before` is the original's tree when the caller has it. With it, edits that
    local_proof proves from the text around them need no parse of `patched`.
    """
    edits = list(edits)
    if before is not None and local_proof.proves(original, patched, edits, before):
        return
    meant = intent(edits)
    try:
        after = yt.parse(patched)
    except YamlSyntaxError as exc:
        raise PatchError(f"the fixed text would not parse ({exc.message})") from None
    if before is None:
        before = yt.parse(original)
    if not _same(before, after, meant):
        raise PatchError("the fixed text differs from the original in more than its tags")


# A test seam: called between the final check and the rename.
before_rename: Callable[[str], None] = lambda path: None  # noqa: E731


def _keep_owner(fd: int, st: os.stat_result) -> None:
    """The original's owner and group on the new file; only the group when we may not."""
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except PermissionError:
        with contextlib.suppress(OSError):  # a group we are not in: as `sed -i`, go on
            os.fchown(fd, -1, st.st_gid)


def _current(path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """Up to `limit` bytes of the file at `path` now, and its status, from one open."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, original: bytes) -> None:
    """Replace `path` by `data` through a temporary file and a rename, keeping its mode,
    owner and group (as far as we may: `sed -i` does the same; no fsync, as durable as it).

    Refuses (ChangedOnDisk) when the file no longer holds `original`: read again, by its
    path, once the new file is written, just before the rename.
    """

    def finish(fd: int) -> None:
        current, st = _current(path, len(original) + 1)
        if current != original:
            raise ChangedOnDisk("file changed while it was being checked; left as it is, "
                                "run again", path=path)
        _keep_owner(fd, st)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id
        before_rename(path)

    with atomic.SignalsDeferred():
        atomic.write_then_rename(path, data, prefix=f".{os.path.basename(path)}.",
                                 suffix=".nix-tag-check", finish=finish)
