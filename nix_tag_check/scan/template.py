"""A chart template read as text: it is a Go template, which only renders to YAML.

The occurrence rule reads its text, but for comments: Go template comments (`{{/* */}}`)
and what will be YAML comments (`#` at a line's start or after a blank, outside a quoted
string and a template action). A reference written in the text is fixed where it stands;
one inside an action (`{{ default "repo:tag" .Values.image }}`) is reported, not fixed.
Markers are read nowhere here (no value to mark): one is an error unless its line holds a
reference to its image that is read anyway; `# nix-tag-check: ignore` works as in YAML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from nix_tag_check.config.reference import ReferenceError, Repository, parse_repository
from nix_tag_check.errors import ScanError
from nix_tag_check.scan import edits
from nix_tag_check.scan.finding import Expected, Finding, Unread
from nix_tag_check.scan.rules import marker, occurrence, pragma
from nix_tag_check.scan.rules.context import Scanned
from nix_tag_check.yamltree import tree as yt

_TOKEN_RE = re.compile(
    r"(?P<comment>\{\{-?\s*/\*.*?\*/\s*-?\}\})|(?P<action>\{\{.*?\}\})"
    r"|(?P<hash>#)|(?P<quote>[\"'])|(?P<brk>\r\n|[\r\n])|[^{#\"'\r\n]+|.",
    re.DOTALL,
)
_OPENS_QUOTE = " \t[{,:-"
IN_ACTION = ("this reference is inside a template action (`{{ }}`): change it by hand, or "
             "move the tag to values.yaml")


@dataclass
class Text:
    """A template's text with its comments blanked out (offsets kept), and where they were."""

    masked: str
    comments: list[tuple[int, int]]
    actions: list[tuple[int, int]]


def read(text: str) -> Text:
    """The text outside comments, and the spans of comments and actions."""
    chars = list(text)
    comments: list[tuple[int, int]] = []
    actions: list[tuple[int, int]] = []
    quote = ""
    line_start = 0
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        assert match is not None  # `.` matches any character
        position = match.end()
        if match["comment"] is not None:
            comments.append(match.span())
        elif match["action"] is not None:
            actions.append(match.span())
        elif match["brk"] is not None:
            quote, line_start = "", position
        elif match["quote"] is not None:
            quote = _toggled(quote, match["quote"], text, match.start(), line_start)
        elif match["hash"] is not None and not quote and (
                match.start() == line_start or text[match.start() - 1] in " \t"):
            end, _ = yt.line_end(text, match.start())
            end = len(text[:end].rstrip("\r\n"))
            comments.append((match.start(), end))
            position = end
    for start, end in comments:
        chars[start:end] = " " * (end - start)
    return Text("".join(chars), comments, actions)


def _toggled(quote: str, char: str, text: str, at: int, line_start: int) -> str:
    """The quote a YAML string is in after `char`: one opens only where a value may start."""
    if quote:
        return "" if char == quote else quote
    return char if at == line_start or text[at - 1] in _OPENS_QUOTE else ""


def scan(text: str, expected: Mapping[Repository, Expected]) -> Scanned:
    """Every reference to a configured image in a template's text (raises ScanError)."""
    read_text = read(text)
    lines = yt.LineIndex(text)
    masked = read_text.masked
    found = Scanned()
    for item in occurrence.find(masked, expected, occurrence.needle_re(expected)):
        line, column = lines.line_of(item.start)
        if item.read:
            found.findings.append(_finding(item, line + 1, column, read_text))
        elif item.said and not occurrence.renamed(masked, item):
            found.unread.append(Unread(line + 1, column, item.exp.name,
                                       occurrence.written(masked, item)))
    _comments(text, read_text, lines, found, expected)
    return found


def _finding(item: occurrence.Occurrence, line: int, column: int, read_text: Text) -> Finding:
    exp = item.exp
    found = Finding(line=line, column=column, image=exp.name, found=item.tag,
                    expected=exp.tag, source=exp.source, kind=occurrence.KIND,
                    digest=item.digest)
    if not item.stale:
        return found
    if any(start <= item.start < end for start, end in read_text.actions):
        found.unfixable = ScanError(IN_ACTION, line, column)
    else:
        start, end, new = item.fix()
        found.edits.append(edits.set_text(start, end, new))
    return found


def _comments(text: str, read_text: Text, lines: yt.LineIndex, found: Scanned,
              expected: Mapping[Repository, Expected]) -> None:
    """Markers and pragmas in the comments."""
    ignored = set()
    for start, end in read_text.comments:
        comment = text[start:end]
        line, column = lines.line_of(start)
        for hit in marker.MARKER_LIKE_RE.finditer(comment):
            word = marker.MARKER_RE.match(comment, hit.start())
            if word is not None and word["name"] == pragma.WORD:
                ignored.add(line + 1)
            elif not _marks_a_reference(word["name"] if word else None, line + 1, found,
                                        expected):
                raise ScanError("a marker in a chart template marks nothing (it is a Go "
                                "template, not YAML): mark the value in the chart's values, "
                                "or write a reference with its tag on this line",
                                line + 1, column + hit.start())
    for finding in found.findings:
        if finding.line in ignored:
            finding.ignore()
    for unread in found.unread:
        if unread.line in ignored:
            unread.ignored = True


def _marks_a_reference(name: str | None, line: int, found: Scanned,
                       expected: Mapping[Repository, Expected]) -> bool:
    """Whether a marker names an image that a reference on its line is read for anyway."""
    try:
        exp = expected.get(parse_repository(name)) if name else None
    except ReferenceError:
        exp = None
    return exp is not None and any(f.line == line and f.image == exp.name
                                   for f in found.findings)
