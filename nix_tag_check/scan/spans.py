"""Where each character of a scalar's value is written in the text.

A reference inside a string (`--image=repo:tag`, a line of a script, a Helm values document
written as a block scalar) is found in the scalar's *value*; a fix must change the characters
of the *text* that write its tag, and nothing else. This maps one to the other: for each value
character, the offset of the text character that writes it as itself, or -1 when none does
(an escape such as `\\x41` or `''`, a line break folded into a space). The map is rebuilt from
the text by YAML's own folding rules and then checked against the parser's value: a text the
map does not reproduce exactly gives no map at all, and its tags are reported as not fixable.

A folded block scalar (`>`) of more than one line gets no map on purpose: its lines join into
one, so a reader of the file cannot tell which line a fix would rewrite; its references are
reported, not fixed. One of a single line (`image: >-` then the name) is that line.
"""

from __future__ import annotations

import re

from nix_tag_check.yamltree import tree as yt

# One piece of a flow scalar's text: (character or None for an escape, its offset or -1,
# whether it is white space that folding strips at a line's edge).
_Piece = tuple[str | None, int, bool]
_BLANKS = " \t"
# A double-quoted scalar's text: an escaped line break (with the next line's indentation),
# another escape, a line break, or one character.
_DOUBLE_RE = re.compile(
    r"\\(?P<cont>\r\n|[\r\n\x85\u2028\u2029])[ \t]*"
    r"|\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)"
    r"|(?P<brk>\r\n|[\r\n\x85\u2028\u2029])|(?P<char>.)",
    re.DOTALL,
)
_SINGLE_RE = re.compile(r"(?P<quote>'')|(?P<brk>\r\n|[\r\n\x85\u2028\u2029])|(?P<char>.)",
                        re.DOTALL)


def offsets(text: str, node: yt.Scalar) -> list[int] | None:
    """The text offset of each character of `node.value` (-1: not written as itself), or
    None when the value cannot be placed in the text."""
    style = node.style
    if style in ("", "'", '"'):
        inner = 1 if style else 0
        start, end = node.start + inner, node.end - inner
        if text[start:end] == node.value:
            return list(range(start, end))
        if style == '"':
            lines = _double_lines(text, start, end)
        elif style == "'":
            lines = _regex_lines(_SINGLE_RE, text, start, end)
        else:
            lines = _regex_lines(_SINGLE_RE, text, start, end, plain=True)
        return _checked(_fold(lines), node.value)
    if style == "|":
        return _literal(text, node)
    if style == ">" and "\n" not in node.value.rstrip("\n"):
        return _literal(text, node)  # one line of text: nothing is folded
    return None


def span(mapped: list[int], start: int, end: int) -> tuple[int, int] | None:
    """Text offsets of value[start:end] when those characters are written as themselves and
    side by side in the text (end == start: where to insert before value[start])."""
    if start == end:
        if start < len(mapped) and mapped[start] >= 0:
            return mapped[start], mapped[start]
        if start == len(mapped) and start > 0 and mapped[start - 1] >= 0:
            return mapped[start - 1] + 1, mapped[start - 1] + 1
        return None
    first = mapped[start]
    if first < 0 or any(mapped[i] != first + i - start for i in range(start, end)):
        return None
    return first, first + end - start


def _regex_lines(
    pattern: re.Pattern[str], text: str, start: int, end: int, plain: bool = False
) -> list[list[_Piece]]:
    """A single-quoted (or plain) scalar's text as lines of pieces."""
    lines: list[list[_Piece]] = [[]]
    for match in pattern.finditer(text, start, end):
        if match["brk"] is not None:
            lines.append([])
        elif match["quote"] is not None and not plain:
            lines[-1].append(("'", -1, False))
        else:
            for offset in range(match.start(), match.end()):
                char = text[offset]
                lines[-1].append((char, offset, char in _BLANKS))
    return lines


def _double_lines(text: str, start: int, end: int) -> list[list[_Piece]]:
    """A double-quoted scalar's text as lines of pieces; an escaped line break joins two
    lines and keeps the blanks before it."""
    lines: list[list[_Piece]] = [[]]
    for match in _DOUBLE_RE.finditer(text, start, end):
        if match["cont"] is not None:
            lines[-1] = [(char, at, False) for char, at, _ in lines[-1]]
        elif match["brk"] is not None:
            lines.append([])
        elif match["char"] is not None:
            char = match["char"]
            lines[-1].append((char, match.start(), char in _BLANKS))
        else:
            lines[-1].append((None, -1, False))
    return lines


def _fold(lines: list[list[_Piece]]) -> list[_Piece]:
    """YAML's line folding of a flow scalar: blanks around each line break go, a break
    becomes a space, or n-1 breaks when n follow one another."""
    last = len(lines) - 1
    out: list[_Piece] = []
    empty = 0
    for index, line in enumerate(lines):
        begin, stop = 0, len(line)
        if index > 0:
            while begin < stop and line[begin][2]:
                begin += 1
        if index < last:
            while stop > begin and line[stop - 1][2]:
                stop -= 1
        if index > 0 and begin == stop and index < last:
            empty += 1
            continue
        if index > 0:
            out += [("\n", -1, False)] * empty if empty else [(" ", -1, False)]
            empty = 0
        out += line[begin:stop]
    return out


def _checked(pieces: list[_Piece], value: str) -> list[int] | None:
    """The offsets of `pieces`, if they spell `value` (an escape may stand for anything)."""
    if len(pieces) != len(value):
        return None
    for (char, _, _), wanted in zip(pieces, value, strict=True):
        if char is not None and char != wanted:
            return None
    return [at for _, at, _ in pieces]


def _literal(text: str, node: yt.Scalar) -> list[int] | None:
    """A literal block scalar: each line as written past its indentation, each line break
    at the text's line break (the chomping indicator may drop the last ones)."""
    header = yt.BREAK_RE.search(text, node.start, node.end)
    if header is None:
        return None
    lines: list[tuple[int, int, int]] = []  # start, end before the break, the break
    at = header.end()
    while at < node.end:
        found = yt.BREAK_RE.search(text, at, node.end)
        stop = found.start() if found else node.end
        lines.append((at, stop, stop if found else -1))
        at = found.end() if found else node.end
    values = node.value.split("\n")
    indent = next((stop - start - len(values[i]) for i, (start, stop, _) in enumerate(lines)
                   if i < len(values) and text[start:stop].strip(" ")), None)
    if indent is None:
        return None if node.value.strip("\n") else [-1] * len(node.value)
    built: list[str] = []
    mapped: list[int] = []
    for start, stop, brk in lines:
        body = text[start + indent : stop] if stop - start > indent else ""
        built.append(body + "\n")
        mapped += range(start + indent, start + indent + len(body))
        mapped.append(brk)
    whole = "".join(built)
    if not whole.startswith(node.value) or whole[len(node.value):].strip(" \n"):
        return None
    return mapped[: len(node.value)]
