"""Text edits that carry their meaning: the characters a fix replaces, and the change to the data.

Rules make edits only through the functions here, so every splice of text comes with the
change to the YAML data it is meant to make; patch.verify holds the fixed text to exactly
those changes and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from nix_tag_check.config.reference import Reference
from nix_tag_check.errors import ScanError
from nix_tag_check.scan import spans
from nix_tag_check.yamltree import tree as yt


@dataclass(frozen=True)
class SetValue:
    """The scalar that starts at offset `node` holds `value`."""

    node: int
    value: str


@dataclass(frozen=True)
class SetPart:
    """The scalar that starts at offset `node` has value[start:end] replaced by `text`: a tag
    inside a string, a line of a script. `within`: what the same change means to the value
    read as YAML itself (a Helm values document written as a block scalar), in offsets of
    the value; empty when the value is only text. `node` is TEXT for a file that is text
    and no YAML (a chart template): its characters are then the value."""

    node: int
    start: int
    end: int
    text: str
    within: tuple[Meaning, ...] = ()


TEXT = -1  # SetPart.node of a change to a file read as text


@dataclass(frozen=True)
class AddKey:
    """The mapping that starts at offset `mapping` gains `key: value`."""

    mapping: int
    key: str
    value: str


@dataclass(frozen=True)
class RemoveKey:
    """The mapping that starts at offset `mapping` loses `key`."""

    mapping: int
    key: str


Meaning = SetValue | SetPart | AddKey | RemoveKey


@dataclass(frozen=True, order=True)
class Edit:
    """Replace text[start:end] by `text`, meaning `meanings` (never empty)."""

    start: int
    end: int
    text: str
    meanings: tuple[Meaning, ...] = field(compare=False)

    def __post_init__(self) -> None:
        if not self.meanings:
            raise ValueError("an edit must say what it means")


@dataclass
class Intent:
    """What a set of edits means, by node offset, as patch.verify compares it."""

    values: dict[int, str] = field(default_factory=dict)
    parts: dict[int, list[SetPart]] = field(default_factory=dict)
    added: dict[int, tuple[str, str]] = field(default_factory=dict)
    removed: dict[int, str] = field(default_factory=dict)

    def value(self, node: yt.Scalar) -> str:
        """The value the edits mean the scalar to hold."""
        if node.start in self.values:
            return self.values[node.start]
        parts = self.parts.get(node.start)
        return node.value if parts is None else with_parts(node.value, parts)


def with_parts(value: str, parts: Iterable[SetPart]) -> str:
    """`value` with each part replaced (ValueError when they overlap or do not fit)."""
    out: list[str] = []
    position = 0
    for part in sorted(parts, key=lambda p: (p.start, p.end)):
        if part.start < position or part.end > len(value):
            raise ValueError("overlapping parts")
        out += (value[position : part.start], part.text)
        position = part.end
    out.append(value[position:])
    return "".join(out)


def intent(edits: Iterable[Edit]) -> Intent:
    result = Intent()
    for edit in edits:
        for meaning in edit.meanings:
            if isinstance(meaning, SetValue):
                result.values[meaning.node] = meaning.value
            elif isinstance(meaning, SetPart):
                result.parts.setdefault(meaning.node, []).append(meaning)
            elif isinstance(meaning, AddKey):
                result.added[meaning.mapping] = (meaning.key, meaning.value)
            else:
                result.removed[meaning.mapping] = meaning.key
    return result


def _where(node: yt.Node) -> tuple[int, int]:
    return node.line + 1, node.column + 1


_NOT_IN_PLACE = ("cannot rewrite this value in place: write it as a one-line plain or quoted "
                 "scalar without escapes")
# One character of a double-quoted scalar's text: an escape, an escaped line break (with
# the next line's indentation), an unescaped line break (which folds), or itself.
_DOUBLE_QUOTED_RE = re.compile(
    r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}"
    r"|(?P<cont>(?:\r\n|[\r\n\x85\u2028\u2029])[ \t]*)|.)"
    r"|(?P<fold>[\r\n\x85\u2028\u2029])|(?P<plain>.)",
    re.DOTALL,
)


def scalar_inner(text: str, node: yt.Scalar) -> int:
    """Offset of the value's first character, if the value stands verbatim in the text."""
    if node.style in ("", "'", '"'):
        inner = 1 if node.style else 0
        raw = text[node.start + inner : node.end - inner]
        if raw == node.value and "\n" not in raw and "\r" not in raw:
            return node.start + inner
    raise ScanError(_NOT_IN_PLACE, *_where(node))


def _value_offsets(text: str, node: yt.Scalar) -> list[int] | None:
    """For a double-quoted scalar: the text offset of each value character written as
    itself, -1 for one written as an escape; None when the value folds over lines."""
    offsets: list[int] = []
    base = node.start + 1
    for match in _DOUBLE_QUOTED_RE.finditer(text, base, node.end - 1):
        if match["fold"] is not None:
            return None
        if match["plain"] is not None:
            offsets.append(match.start())
        elif match["cont"] is None:
            offsets.append(-1)
    return offsets if len(offsets) == len(node.value) else None


def plain_tail(text: str, node: yt.Scalar, index: int) -> int:
    """Offset in `text` where value[index:] starts, when that tail is written verbatim up to
    the end of the scalar: the name before it may be written with escapes (`\\/`, `\\x61`)."""
    if node.style in ("|", ">"):  # a block scalar of one line (`image: >-`)
        mapped = spans.offsets(text, node)
        placed = None if mapped is None else spans.span(mapped, index, len(node.value))
        if placed is None:
            raise ScanError(FOLDED if node.style == ">" else _NOT_IN_PLACE, *_where(node))
        return placed[0]
    if node.style != '"' or text[node.start + 1 : node.end - 1] == node.value:
        return scalar_inner(text, node) + index
    offsets = _value_offsets(text, node)
    if offsets is None:
        raise ScanError(_NOT_IN_PLACE, *_where(node))
    end = node.end - 1
    start = offsets[index] if index < len(offsets) else end
    if start == -1 or text[start:end] != node.value[index:]:
        raise ScanError("cannot rewrite this tag in place: it is written with escapes or over "
                        "lines; write the tag plainly", *_where(node))
    return start


# What a plain scalar made of tag characters resolves to other than a string, in YAML 1.1
# (Helm, kustomize, PyYAML) or 1.2: an int, a float, a bool or null.
_NOT_A_STRING = re.compile(
    r"[-+]?(?:[0-9][0-9_]*|0[xob][0-9a-fA-F_]+)"
    r"|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|\.(?:inf|Inf|INF|nan|NaN|NAN)"
    r"|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL")


def plain(value: str) -> str:
    """`value` as a plain scalar that still reads as the string: `1.20` is written "1.20"."""
    return f'"{value}"' if _NOT_A_STRING.fullmatch(value) else value


def set_scalar(text: str, node: yt.Scalar, value: str) -> Edit:
    """`key: old` -> `key: value`; an empty (null) value, `tag:`, is filled in."""
    meaning = (SetValue(node.start, value),)
    if node.style == "" and node.value == "" and node.start == node.end:
        before = " " if node.start > 0 and text[node.start - 1] not in " \t\r\n" else ""
        after = " " if node.start < len(text) and text[node.start] == "#" else ""
        return Edit(node.start, node.end, f"{before}{plain(value)}{after}", meaning)
    start = scalar_inner(text, node)
    written = value if node.style else plain(value)
    return Edit(start, start + len(node.value), written, meaning)


def empty_scalar(text: str, node: yt.Scalar) -> Edit:
    """`key: value` -> `key: ""` (quotes kept if it had them): an empty string, never null."""
    start = scalar_inner(text, node)
    meaning = (SetValue(node.start, ""),)
    if node.style:
        return Edit(start, start + len(node.value), "", meaning)
    return Edit(node.start, node.end, '""', meaning)


def set_reference_tag(
    text: str, node: yt.Scalar, ref: Reference, tag: str, in_flow: bool
) -> Edit:
    """`repo:old@digest` -> `repo:tag`: only the characters after the name change."""
    new = ref.with_tag(tag)
    meaning = (SetValue(node.start, new),)
    if in_flow and node.style == "" and ref.tag is None:
        # `{image: repo}` -> `{image: repo:tag}` would not parse: ':' ends a flow key.
        scalar_inner(text, node)
        return Edit(node.start, node.end, f'"{new}"', meaning)
    start = plain_tail(text, node, ref.name_end)
    return Edit(start, start + len(node.value) - ref.name_end, f":{tag}", meaning)


FOLDED = ("cannot rewrite a tag inside a folded block scalar (`>`), whose lines join into "
          "one: write it as a literal block scalar (`|`), or change the tag by hand")
_PART_NOT_IN_PLACE = ("cannot rewrite this tag in place: it is written with escapes or over "
                      "lines; write the tag plainly")


def set_part(
    node: yt.Scalar, mapped: list[int] | None, start: int, end: int, new: str,
    where: tuple[int, int], within: tuple[Meaning, ...] = (),
) -> Edit:
    """value[start:end] -> `new` where those characters are written (`mapped`: see
    spans.offsets); `where`: the 1-based line and column to blame when they cannot be."""
    if mapped is None and node.style == ">":
        raise ScanError(FOLDED, *where)
    placed = spans.span(mapped, start, end) if mapped is not None else None
    if placed is None:
        raise ScanError(_PART_NOT_IN_PLACE, *where)
    return Edit(placed[0], placed[1], new, (SetPart(node.start, start, end, new, within),))


def set_text(start: int, end: int, new: str) -> Edit:
    """text[start:end] -> `new` in a file read as text, not YAML (a chart template)."""
    return Edit(start, end, new, (SetPart(TEXT, start, end, new),))


def _flow_add(entry: yt.Mapping, key: str) -> int:
    """Where `, key: value` goes in `{name: x}`: after the last value."""
    last = entry.pairs[-1][1]
    if not isinstance(last, (yt.Scalar, yt.Mapping)):
        raise ScanError(f"cannot add {key} after this value: add it by hand once",
                        *_where(entry))
    return last.end


def add_key(text: str, entry: yt.Mapping, key: str, value: str) -> Edit:
    """A new `key: value` line after the entry's name (or its last key), indented alike."""
    meaning = (AddKey(entry.start, key, value),)
    if entry.flow:
        at = _flow_add(entry, key)
        return Edit(at, at, f", {key}: {plain(value)}", meaning)
    own = [(k, v) for k, v in entry.pairs if isinstance(k, yt.Scalar)]
    last_key, last_value = ([(k, v) for k, v in own if k.value in ("name", "newName")] or own)[-1]
    value_node = yt.resolve(last_value)
    end = getattr(value_node, "end", None)
    if end is None or value_node.line != last_key.line:
        raise ScanError(f"cannot add {key} after a value that spans lines", *_where(last_key))
    at, newline = yt.line_end(text, end)
    line = f"{' ' * last_key.column}{key}: {plain(value)}"
    if newline:
        return Edit(at, at, f"{line}{newline}", meaning)
    return Edit(at, at, f"{yt.file_newline(text)}{line}", meaning)


def _flow_remove(entry: yt.Mapping, key: yt.Node, value: yt.Scalar) -> tuple[int, int]:
    index = next(i for i, (k, _) in enumerate(entry.pairs) if k is key)
    if index > 0:
        previous = entry.pairs[index - 1][1]
        return getattr(previous, "end", previous.start), value.end
    if len(entry.pairs) > 1:
        return key.start, entry.pairs[1][0].start
    raise ScanError("cannot remove the only key of an entry", *_where(key))


def _block_remove(
    lines: yt.LineIndex, name: str, key: yt.Scalar, value: yt.Scalar
) -> tuple[int, int]:
    """The whole line of `key: value`, or its preceding break on an unterminated last line."""
    text = lines.text
    line, column = lines.line_of(key.start)
    line_start = key.start - column + 1
    if text[line_start : key.start].strip():
        raise ScanError(f"cannot remove a {name} that shares its line: move it to a line of "
                        "its own", *_where(key))
    at, newline = yt.line_end(text, value.end)
    if text[value.end : at].strip():  # `digest: D  # why`: the comment stays, on its line
        return key.start, value.end
    if not newline and line > 0:  # the last line, unterminated: keep the file so
        previous = yt.BREAK_RE.search(text, lines.starts()[line - 1])
        assert previous is not None
        line_start = previous.start()
    return line_start, at


def remove_key(
    lines: yt.LineIndex, entry: yt.Mapping, name: str, key: yt.Node, value: yt.Node
) -> Edit:
    """Drop the `name: value` pair of `entry` (its line, in block style)."""
    if not any(own is key for own, _ in entry.pairs):
        raise ScanError(f"this {name} comes through a merge key (`<<`), so other entries may "
                        f"use it too: remove it where it is defined, by hand", *_where(key))
    if not isinstance(key, yt.Scalar) or not isinstance(value, yt.Scalar):
        raise ScanError(f"cannot remove this {name}: write it as `{name}: VALUE`", *_where(key))
    if value.line != key.line:
        raise ScanError(f"cannot remove a {name} that spans lines", *_where(key))
    if entry.flow:
        start, end = _flow_remove(entry, key, value)
    else:
        start, end = _block_remove(lines, name, key, value)
    return Edit(start, end, "", (RemoveKey(entry.start, name),))


def replace_key(
    entry: yt.Mapping, name: str, key: yt.Node, value: yt.Node, new_key: str, new_value: str
) -> Edit:
    """`name: value` becomes `new_key: new_value` where it stands: same line, same indent."""
    if not isinstance(key, yt.Scalar) or not isinstance(value, yt.Scalar) or (
            value.line != key.line):
        raise ScanError(f"cannot replace this {name}: write it as `{name}: VALUE`",
                        *_where(key))
    meanings = (RemoveKey(entry.start, name), AddKey(entry.start, new_key, new_value))
    return Edit(key.start, value.end, f"{new_key}: {plain(new_value)}", meanings)
