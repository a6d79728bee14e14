"""Prove from the text around an edit, without parsing again, that a fix changed one value only.

patch.verify's full proof parses the fixed text and walks both trees. The common fix, a tag
swapped inside a one-line scalar that ends its line, can be proven from the text alone:
every YAML reader we may use (libyaml 0.1 or 0.2, ruamel.yaml's YAML 1.2 scanner) decides
where a plain scalar ends character by character, from the character, the next one and
whether it is inside `[...]`/`{...}`. When the old and the new scalar are both made of
characters that never end or start anything there (a colon only before such a character,
the first colon where it was: libyaml 0.1 refuses a colon inside a flow scalar), the new
text gives the same tokens as the old, but for that one value. The scalar must end its
line (blanks and a comment may follow), so no later token on the line moves, and the line
must stay shorter than the 1,024 characters after which a reader forgets a possible key.
A quoted scalar ends at its quote: the new characters must only not be a quote, an escape
or a line break. Whatever is not proven here goes to the full proof; tests compare both.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence

from nix_tag_check.scan.edits import Edit, SetValue
from nix_tag_check.yamltree import tree as yt

_SAFE = "A-Za-z0-9._/@+-"  # inside a plain scalar, never the end of anything
# A plain scalar that every reader reads alike in block and flow context, at any column.
_PLAIN_RE = re.compile(f"[A-Za-z0-9_](?:[{_SAFE}]|:(?=[{_SAFE}]))*")
_NEW_TEXT_RE = re.compile(f"[{_SAFE}:]*")
_BREAKS = frozenset("\r\n\x85\u2028\u2029")
# After the scalar: blanks, perhaps a comment, then the end of the line or of the text.
_REST_OF_LINE_RE = re.compile("[ \t]*(?:#[^\r\n\x85\u2028\u2029]*)?(?:[\r\n]|\\Z)")
MAX_LINE = 1000  # readers forget a possible simple key 1,024 characters after its start


def proves(text: str, patched: str, edits: Sequence[Edit], roots: list[yt.Node]) -> bool:
    """Whether `patched` is `text` with the edits, and each edit provably sets one scalar of
    `roots` (the tree of `text`) to the value it means and changes nothing else a parse
    would read."""
    return unproven(text, patched, edits, roots) == []


def unproven(
    text: str, patched: str, edits: Sequence[Edit], roots: list[yt.Node]
) -> list[Edit] | None:
    """The edits that proves() cannot prove, each on its own: the others change their one
    value only, whatever the unproven ones do elsewhere. None when `patched` is not `text`
    with the edits, or two edits set one value: then none of them is proven here."""
    if not _spliced(text, patched, edits):
        return None
    left: list[Edit] = []
    wanted: dict[int, Edit] = {}
    for edit in edits:
        meaning = edit.meanings[0]
        if len(edit.meanings) != 1 or not isinstance(meaning, SetValue):
            left.append(edit)
        elif meaning.node in wanted:
            return None
        else:
            wanted[meaning.node] = edit
    found = _scalars_at(roots, wanted.keys())
    if found is None:
        return None
    return left + [edit for at, edit in wanted.items()
                   if at not in found or not _in_place(text, found[at], edit)]


def _spliced(text: str, patched: str, edits: Sequence[Edit]) -> bool:
    """Whether `patched` is `text` with each edit's text in its range: checked here, not
    taken from whoever spliced them."""
    at = position = 0  # in patched, in text
    for edit in sorted(edits):
        if edit.start < position or not patched.startswith(text[position : edit.start], at):
            return False
        at += edit.start - position
        if not patched.startswith(edit.text, at):
            return False
        at += len(edit.text)
        position = edit.end
    return len(patched) - at == len(text) - position and patched.endswith(text[position:])


def _scalars_at(roots: list[yt.Node], offsets: Container[int]) -> dict[int, yt.Scalar] | None:
    """The scalar starting at each offset; None when two do (the full proof's meaning
    would then apply to both)."""
    found: dict[int, yt.Scalar] = {}
    todo: list[yt.Node] = list(roots)
    while todo:  # yt.walk's order is not needed: every node once, aliases not followed
        node = todo.pop()
        if isinstance(node, yt.Scalar):
            if node.start in offsets:
                if node.start in found:
                    return None
                found[node.start] = node
        elif isinstance(node, yt.Mapping):
            for pair in node.pairs:
                todo += pair
        elif isinstance(node, yt.Sequence):
            todo += node.items
    return found


def _in_place(text: str, node: yt.Scalar, edit: Edit) -> bool:
    """Whether `edit` only replaces characters of `node`'s one-line value (see above)."""
    meaning = edit.meanings[0]
    assert isinstance(meaning, SetValue)
    quoted = node.style in ("'", '"')
    if not quoted and node.style != "":
        return False
    start, end = (node.start + 1, node.end - 1) if quoted else (node.start, node.end)
    old = text[start:end]
    if old != node.value or not start <= edit.start <= edit.end <= end or (
            quoted and not text[node.start] == text[end] == node.style):
        return False
    new = old[: edit.start - start] + edit.text + old[edit.end - start :]
    if new != meaning.value or not _NEW_TEXT_RE.fullmatch(edit.text):
        return False
    if quoted:
        if not _BREAKS.isdisjoint(old):
            return False
    elif not (_PLAIN_RE.fullmatch(old) and _PLAIN_RE.fullmatch(new)
              and old.find(":") == new.find(":")):
        return False
    return _ends_short_line(text, node.end, len(new) - len(old))


def _ends_short_line(text: str, end: int, growth: int) -> bool:
    """Whether only blanks and a comment follow `end` on its line, and the line is short
    before and after growing by `growth` characters."""
    rest = _REST_OF_LINE_RE.match(text, end)
    if rest is None:
        return False
    line_start = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
    length = rest.end() - line_start
    return length <= MAX_LINE and length + growth <= MAX_LINE
