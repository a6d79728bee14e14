"""Rule: a scalar on a line ending in `# nix-tag-check: IMAGE`: a whole reference or a bare tag.

A marked string that holds a reference to its image inside it (`--image=repo:tag`) is left to
the occurrence rule, which reads it anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from nix_tag_check.config.reference import TAG_RE, ReferenceError, parse_reference, parse_repository
from nix_tag_check.errors import ScanError
from nix_tag_check.scan import edits
from nix_tag_check.scan.finding import Expected, Finding
from nix_tag_check.scan.rules import helm_values, occurrence, pragma
from nix_tag_check.scan.rules.context import Context
from nix_tag_check.yamltree import tree as yt

MARKER_RE = re.compile(r"#[ \t]*nix-tag-check:[ \t]*(?P<name>[^\s#]+)")
# A comment that starts with the tool's name, however spelt: a marker, almost one, or prose.
MARKER_LIKE_RE = re.compile(r"#[ \t]*(?i:nix[-_ .]?tag[-_ .]?check)(?![A-Za-z0-9])"
                            r"(?P<colon>[ \t]*:)?[ \t]*(?P<word>[^\s#]*)")
PRAGMAS = {pragma.WORD}  # `# nix-tag-check: ignore` is no image name


def check(ctx: Context) -> Iterator[Finding]:
    """Every marker comment of the text (a `#` inside a scalar is text, not a comment)."""
    for almost in ctx.comments(MARKER_LIKE_RE):
        match = MARKER_RE.match(ctx.text, almost.start())
        if match is None:
            _almost(ctx, almost)
            continue
        if match["name"] in PRAGMAS:
            continue
        node, exp = _marked(ctx, match)
        if not ctx.taken(node, exp) and id(node) not in ctx.read:  # read whole by a rule
            found = _finding(ctx, node, exp)
            if found is not None:
                yield found


def _almost(ctx: Context, almost: re.Match[str]) -> None:
    """A comment that starts with the tool's name but is no marker: an error when it would
    be one with a fix (a colon, or an image or pragma after the name); prose is left be."""
    word = almost["word"]
    try:
        repo = parse_repository(word)
        image_like = "/" in word or "." in word or repo in ctx.expected
    except ReferenceError:
        image_like = False
    if almost["colon"] or image_like or word in PRAGMAS:
        line, column = ctx.lines.line_of(almost.start())
        raise ScanError("this comment looks like a marker but is not one: write "
                        "`# nix-tag-check: IMAGE` (lowercase, a colon, then the image), "
                        "or reword the comment", line + 1, column)


def _marked(ctx: Context, match: re.Match[str]) -> tuple[yt.Scalar, Expected]:
    """The value a marker marks, and the configured image it names."""
    line, column = ctx.lines.line_of(match.start())
    try:
        repo = parse_repository(match["name"])
    except ReferenceError:
        raise ScanError(f"marker names {match['name']!r}, which is not an image repository",
                        line + 1, column) from None
    exp = ctx.expected.get(repo)
    if exp is None:
        configured = ", ".join(sorted(e.name for e in ctx.expected.values()))
        raise ScanError(f"marker names {match['name']}, which is not a configured image "
                        f"(configured: {configured}): configure it, or fix the marker",
                        line + 1, column)
    candidates = [s for s in ctx.scalars.values_by_line.get(line, ())
                  if s.end <= match.start()]
    if not candidates:
        raise ScanError(f"marker for {match['name']} has no value on its line", line + 1, column)
    return candidates[-1], exp


def _finding(ctx: Context, node: yt.Scalar, exp: Expected) -> Finding | None:
    try:
        ref = parse_reference(node.value)
    except ReferenceError:
        ref = None
    if ref is not None and ref.repository == exp.repository:
        return ctx.reference(node, ref, exp, "marker")
    if not TAG_RE.fullmatch(node.value):
        if occurrence.holds(ctx, node, exp):
            return None  # the occurrence rule reads it
        raise ScanError(f"value marked for {exp.name} is neither a reference to it nor a tag",
                        node.line + 1, node.column + 1)
    item = ctx.finding(node, exp, node.value, "marker")
    mapping = ctx.scalars.tag_of.get(id(node))  # a chart's `tag:`: a digest beside it would win
    digests = [] if mapping is None else helm_values.pinned_digests(
        ctx, ctx.merged(mapping), exp)
    retag = node.value != exp.tag
    ctx.fix(item, lambda: ([edits.set_scalar(ctx.text, node, exp.tag)] if retag else [])
            + helm_values.unpin(ctx, item, digests))
    return item
