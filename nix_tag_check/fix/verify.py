"""Apply edits to a manifest's text, and prove they did only what was meant."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from typing import Any

from nix_tag_check.errors import PatchError, YamlSyntaxError
from nix_tag_check.fix import local_proof
from nix_tag_check.scan.edits import (
    TEXT,
    AddKey,
    Edit,
    Intent,
    Meaning,
    RemoveKey,
    SetPart,
    SetValue,
    intent,
    with_parts,
)
from nix_tag_check.yamltree import tree as yt


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
        return ("=", node.anchor, meant.value(node))
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
            if meant.value(old) != new.value:
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
    local_proof proves from the text around them need no parse of `patched`, and the
    others need a parse of the pieces of text they are in only (see by_piece).
    """
    edits = list(edits)
    if before is not None:
        unproven = local_proof.unproven(original, patched, edits, before)
        if unproven == [] or (unproven and by_piece(original, patched, edits, unproven)):
            return
    meant = intent(edits)
    try:
        after = yt.parse(patched)
    except YamlSyntaxError as exc:
        raise PatchError(f"the fixed text would not parse ({exc.message})") from None
    if before is None:
        before = yt.parse(original)
    try:
        same = _same(before, after, meant)
    except ValueError:  # parts of one value that overlap: no value is meant
        same = False
    if not same:
        raise PatchError("the fixed text differs from the original in more than its tags")
    _verify_within(before, meant)


def _verify_within(roots: list[yt.Node], meant: Intent) -> None:
    """A value that is YAML itself (Helm values in a string) changes as its parts mean."""
    nested = {at: parts for at, parts in meant.parts.items() if any(p.within for p in parts)}
    if not nested:
        return
    for node in yt.walk(roots):
        if isinstance(node, yt.Scalar) and node.start in nested:
            parts = nested.pop(node.start)
            if not all(part.within for part in parts):
                raise PatchError("a value read as YAML changes in a part that means nothing")
            inner = [Edit(p.start, p.end, p.text, p.within) for p in parts]
            verify(node.value, with_parts(node.value, parts), inner)


def verify_text(original: str, patched: str, edits: Iterable[Edit]) -> None:
    """For a file read as text, not YAML (a chart template): `patched` is `original` with
    each edit's characters replaced, and each replaces a tag (or a tag and a digest) by a tag,
    where a tag stands: after a name's `:` or `@`, not running into the next characters."""
    edits = list(edits)
    parts: list[SetPart] = []
    for edit in edits:
        meaning = edit.meanings[0] if len(edit.meanings) == 1 else None
        if not (isinstance(meaning, SetPart) and meaning.node == TEXT
                and (meaning.start, meaning.end, meaning.text) == (edit.start, edit.end, edit.text)
                and _tag_swap(original, edit)):
            raise PatchError("a change to a template that is not a tag")
        parts.append(meaning)
    try:
        wanted = with_parts(original, parts)
    except ValueError:
        raise PatchError("overlapping edits") from None
    if patched != wanted:
        raise PatchError("the fixed text differs from the original in more than its tags")


_OLD_TAG_RE = re.compile(r"(?::[\w][\w.-]*)?(?:@[A-Za-z][A-Za-z0-9+._-]*:[0-9a-fA-F]{32,})?")
_NEW_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")


def _tag_swap(text: str, edit: Edit) -> bool:
    """Whether the edit replaces `[:]old[@digest]` right after a name by a tag."""
    old = text[edit.start : edit.end]
    before = text[edit.start - 1 : edit.start]
    if before == ":":  # `name:old` -> `name:new`
        old, new = ":" + old, ":" + edit.text
    else:  # `name@digest` or `name:old@digest` -> `name:new`
        new = edit.text
    return (bool(old) and _OLD_TAG_RE.fullmatch(old) is not None
            and new.startswith(":") and _NEW_TAG_RE.fullmatch(new[1:]) is not None
            and not re.match(r"[\w.@-]", text[edit.end : edit.end + 1]))


def by_piece(original: str, patched: str, edits: list[Edit], unproven: list[Edit]) -> bool:
    """Whether the pieces of `original` that hold the `unproven` edits (yt.cuts: a piece
    reads alone as in the whole) parse, fixed, to their tree with the edits' meanings.

    `patched` must be `original` with `edits`. The proof holds for the whole text when
    `patched` is cut at the same places, moved by the edits, and no edit crosses a cut:
    the other pieces read as before, but for what local_proof proved. False, for the
    full proof to decide, when it does not or when the pieces are most of the text.
    """
    bounds = [*yt.cuts(original), len(original)]
    edits = sorted(edits)
    moved = _moved_bounds(bounds, edits)
    if moved is None or [*yt.cuts(patched), len(patched)] != moved:
        return False
    pieces = sorted({bisect.bisect_right(bounds, edit.start) - 1 for edit in unproven}
                    | {bisect.bisect_left(bounds, edit.end) - 1 for edit in unproven})
    pieces = [piece for piece in pieces if 0 <= piece < len(bounds) - 1]
    if 2 * sum(bounds[piece + 1] - bounds[piece] for piece in pieces) > len(original):
        return False
    if any(isinstance(m, SetPart) for edit in edits for m in edit.meanings):
        return False  # a change inside a value: the full proof decides
    starts = [edit.start for edit in edits]
    for piece in pieces:
        start, end = bounds[piece], bounds[piece + 1]
        inside = edits[bisect.bisect_left(starts, start) : bisect.bisect_right(starts, end)]
        if not _piece_is_same(original[start:end], patched[moved[piece] : moved[piece + 1]],
                              start, inside):
            return False
    return True


def _moved_bounds(bounds: list[int], edits: list[Edit]) -> list[int] | None:
    """Where each bound stands once the (sorted) edits are made; None if one crosses it."""
    moved, growth, at = [], 0, 0
    for bound in bounds:
        while at < len(edits) and edits[at].end <= bound:
            growth += len(edits[at].text) - (edits[at].end - edits[at].start)
            at += 1
        if at < len(edits) and edits[at].start < bound:
            return None
        moved.append(bound + growth)
    return moved


def _piece_is_same(original: str, patched: str, start: int, edits: list[Edit]) -> bool:
    """The full proof of one piece that starts `start` characters into the text."""
    meant = intent(Edit(e.start - start, e.end - start, e.text,
                        tuple(_moved_meaning(m, start) for m in e.meanings)) for e in edits)
    try:
        return _same(yt.parse(original), yt.parse(patched), meant)
    except YamlSyntaxError:
        return False


def _moved_meaning(meaning: Meaning, by: int) -> Meaning:
    if isinstance(meaning, SetValue):
        return SetValue(meaning.node - by, meaning.value)
    if isinstance(meaning, AddKey):
        return AddKey(meaning.mapping - by, meaning.key, meaning.value)
    if isinstance(meaning, SetPart):  # by_piece leaves these to the full proof
        raise AssertionError("a part edit is never proven by piece")
    return RemoveKey(meaning.mapping - by, meaning.key)
