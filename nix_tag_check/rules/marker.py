"""Rule: a scalar on a line ending in `# nix-tag-check: IMAGE`: a whole reference or a bare tag."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from .. import edits
from .. import yaml_tree as yt
from ..errors import ScanError
from ..reference import TAG_RE, ReferenceError, parse_reference, parse_repository
from . import helm_values
from .context import Context, Expected, Finding

MARKER_RE = re.compile(r"#[ \t]*nix-tag-check:[ \t]*(?P<name>[^\s#]+)")


def check(ctx: Context) -> Iterator[Finding]:
    """Every marker comment of the text (a `#` inside a scalar is text, not a comment)."""
    starts = [s.start for s in ctx.scalars]
    for match in MARKER_RE.finditer(ctx.text):
        hash_at = match.start()
        if hash_at > 0 and not ctx.text[hash_at - 1].isspace():
            continue
        before = bisect.bisect_right(starts, hash_at) - 1
        if before >= 0 and ctx.scalars[before].end > hash_at:
            continue  # inside a scalar (a script, a quoted string): text, not a comment
        node, exp = _marked(ctx, match)
        if node is not None and exp is not None and not ctx.taken(node, exp):
            yield _finding(ctx, node, exp)


def _marked(ctx: Context, match: re.Match[str]) -> tuple[yt.Scalar | None, Expected | None]:
    """The value a marker marks, and the image it names (None: not a configured image)."""
    line, column = ctx.lines.line_of(match.start())
    try:
        repo = parse_repository(match["name"])
    except ReferenceError:
        raise ScanError(f"marker names {match['name']!r}, which is not an image repository",
                        line + 1, column) from None
    exp = ctx.expected.get(repo)
    if exp is None:
        return None, None
    candidates = [s for s in ctx.values_by_line.get(line, ()) if s.end <= match.start()]
    if not candidates:
        raise ScanError(f"marker for {match['name']} has no value on its line", line + 1, column)
    return candidates[-1], exp


def _finding(ctx: Context, node: yt.Scalar, exp: Expected) -> Finding:
    try:
        ref = parse_reference(node.value)
    except ReferenceError:
        ref = None
    if ref is not None and ref.repository == exp.repository:
        return ctx.reference(node, ref, exp, "marker")
    if not TAG_RE.fullmatch(node.value):
        raise ScanError(f"value marked for {exp.name} is neither a reference to it nor a tag",
                        node.line + 1, node.column + 1)
    item = ctx.finding(node, exp, node.value, "marker")
    mapping = ctx.tag_of.get(id(node))  # a chart's `tag:`: a digest beside it would win
    digests = [] if mapping is None else helm_values.pinned_digests(
        ctx, ctx.merged(mapping), exp)
    retag = node.value != exp.tag
    ctx.fix(item, lambda: ([edits.set_scalar(ctx.text, node, exp.tag)] if retag else [])
            + helm_values.unpin(ctx, item, digests))
    return item
