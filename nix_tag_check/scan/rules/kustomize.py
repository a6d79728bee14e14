"""Rule: an entry of a kustomization's `images:` list, matched on `newName`, else `name`.

`newTag` is set (added when missing) and a `digest:` is removed, in one of four cases:

    newTag  digest   case
    no      no       add_tag: add `newTag: T` after the name
    no      yes      digest_to_tag: `digest: D` becomes `newTag: T` where it stands
    yes     no       set_tag: `newTag: old` -> `newTag: T`
    yes     yes      set_tag_drop_digest: set_tag (when stale), and the digest's line goes
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from nix_tag_check.errors import ScanError
from nix_tag_check.scan import edits
from nix_tag_check.scan.finding import Expected, Finding
from nix_tag_check.scan.rules.context import Context
from nix_tag_check.yamltree import tree as yt

FILES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
KINDS = {"Kustomization", "Component"}

Pair = tuple[yt.Node, yt.Node]  # key node, resolved value node


@dataclass(frozen=True)
class Entry:
    """One `images:` entry that names a configured image."""

    node: yt.Mapping
    exp: Expected
    name: yt.Scalar  # the newName (else name) value
    tag: yt.Scalar | None  # the newTag value
    digest: Pair | None  # the digest key and value

    @property
    def found(self) -> str | None:
        return self.tag.value if self.tag is not None and self.tag.value else None

    @property
    def digest_value(self) -> str | None:
        value = self.digest[1] if self.digest is not None else None
        return value.value if isinstance(value, yt.Scalar) and value.value else None


def check(ctx: Context, root: yt.Node, kustomization_file: bool) -> Iterator[Finding]:
    """A document's root: its `images:` entries if it is a kustomization."""
    if not isinstance(root, yt.Mapping):
        return
    if not kustomization_file and not _is_kustomization(ctx, root):
        return
    images = ctx.merged(root).get("images")
    if not isinstance(images, yt.Sequence):
        return
    seen: set[int] = set()
    for item in images.items:
        node = yt.resolve(item)
        if isinstance(node, yt.Mapping) and id(node) not in seen:  # `- *e` twice: once
            seen.add(id(node))
            entry = _read(ctx, node)
            if entry is not None:
                yield _finding(ctx, entry)


def _is_kustomization(ctx: Context, root: yt.Mapping) -> bool:
    kind = ctx.merged(root).get("kind")
    return isinstance(kind, yt.Scalar) and kind.value in KINDS


def _read(ctx: Context, node: yt.Mapping) -> Entry | None:
    """The entry's image, tag and digest; None when it names no configured image."""
    pairs = {name: (key, yt.resolve(value))
             for name, key, value in yt.merged_pairs(node, ctx.budget)}
    name_pair = pairs.get("newName") or pairs.get("name")
    if name_pair is None or not isinstance(name_pair[1], yt.Scalar):
        return None
    exp = ctx.image_named(name_pair[1].value)
    if exp is None:
        return None
    tag_pair = pairs.get("newTag")
    tag = tag_pair[1] if tag_pair is not None else None
    if tag is not None and (not isinstance(tag, yt.Scalar) or ctx.taken(tag, exp)):
        return None
    return Entry(node, exp, name_pair[1], tag, pairs.get("digest"))


def _finding(ctx: Context, entry: Entry) -> Finding:
    where = entry.tag if entry.tag is not None else entry.name
    item = ctx.finding(where, entry.exp, entry.found, "kustomize", entry.digest_value)
    for key in ("name", "newName"):  # the names are read: no other rule writes a tag there
        node = yt.resolve(next((v for k, v in entry.node.pairs
                                if isinstance(k, yt.Scalar) and k.value == key), entry.name))
        if isinstance(node, yt.Scalar):
            ctx.read.add(id(node))
    if entry.found == entry.exp.tag and item.digest is None:
        return item  # up to date (an empty `digest:` is no digest)
    ctx.fix(item, lambda: _edits(ctx, entry))
    return item


def _edits(ctx: Context, entry: Entry) -> list[edits.Edit]:
    if entry.digest is not None:
        key, value = entry.digest
        if key.anchor is not None or value.anchor is not None:
            raise ScanError("this digest carries an anchor: an alias may use it elsewhere, "
                            "so remove it by hand", key.line + 1, key.column + 1)
    return CASES[(entry.tag is not None, entry.digest is not None)](ctx, entry)


def add_tag(ctx: Context, entry: Entry) -> list[edits.Edit]:
    """No newTag, no digest: `newTag: T` goes after the name."""
    return [edits.add_key(ctx.text, entry.node, "newTag", entry.exp.tag)]


def digest_to_tag(ctx: Context, entry: Entry) -> list[edits.Edit]:
    """No newTag, a digest: `digest: D` becomes `newTag: T` (same line, same indentation)."""
    assert entry.digest is not None
    key, value = entry.digest
    return [edits.replace_key(entry.node, "digest", key, value, "newTag", entry.exp.tag)]


def set_tag(ctx: Context, entry: Entry) -> list[edits.Edit]:
    """A stale newTag, no digest: set it."""
    assert entry.tag is not None
    return [edits.set_scalar(ctx.text, entry.tag, entry.exp.tag)]


def set_tag_drop_digest(ctx: Context, entry: Entry) -> list[edits.Edit]:
    """A newTag and a digest: set the tag when stale, remove the digest."""
    assert entry.digest is not None
    key, value = entry.digest
    fixes = set_tag(ctx, entry) if entry.found != entry.exp.tag else []
    return [*fixes, edits.remove_key(ctx.lines, entry.node, "digest", key, value)]


Case = Callable[[Context, Entry], list[edits.Edit]]
CASES: dict[tuple[bool, bool], Case] = {  # (has newTag, has digest) -> fix
    (False, False): add_tag,
    (False, True): digest_to_tag,
    (True, False): set_tag,
    (True, True): set_tag_drop_digest,
}
