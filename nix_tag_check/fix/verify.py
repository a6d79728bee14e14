"""Apply edits to a manifest's text, and prove they did only what was meant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nix_tag_check.errors import PatchError, YamlSyntaxError
from nix_tag_check.fix import local_proof
from nix_tag_check.scan.edits import Edit, Intent, intent
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
