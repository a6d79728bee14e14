"""Rule: Helm values written as a YAML string (Argo CD's `helm.values: |`).

The string is a document of its own: every rule reads it, and what they find is placed back
in the file through the block scalar's lines (spans.py). To the file, an edit inside it is a
part of one value replaced (SetPart); to the values document, it means what its rule meant
(`within`): patch.verify proves both. Only edits inside one line can be placed (a line added
or removed would need the block's indentation). A string that is not YAML (a template) is
left to the occurrence rule, as text.
"""

from __future__ import annotations

from collections.abc import Callable

from nix_tag_check.errors import ScanError, YamlSyntaxError
from nix_tag_check.scan import edits, spans
from nix_tag_check.scan.finding import Finding
from nix_tag_check.scan.rules.context import Context, Scanned
from nix_tag_check.yamltree import tree as yt

MAX_NESTING = 2  # a values string inside a values string is read; deeper ones are text
_BREAKS = frozenset("\r\n\x85\u2028\u2029")

Inner = Callable[[str, list[yt.Node]], Scanned]  # the rules, over a document's text and tree


def check(ctx: Context, node: yt.Scalar, scan: Inner) -> Scanned | None:
    """The references in a values string, placed in the file; None when it is no YAML."""
    try:
        roots = yt.parse(node.value)
    except YamlSyntaxError:
        return None
    place = _Place(ctx, node)
    try:
        inner = scan(node.value, roots)
    except ScanError as exc:
        raise ScanError(exc.message, *place.where(exc.line, exc.column)) from None
    ctx.read.add(id(node))
    for finding in inner.findings:
        place.finding(finding)
    for unread in inner.unread:
        unread.line, unread.column = place.where(unread.line, unread.column)
    return inner


class _Place:
    """Positions and edits of a values string, moved from its own text to the file's."""

    def __init__(self, ctx: Context, node: yt.Scalar) -> None:
        self.ctx, self.node = ctx, node
        self.mapped = spans.offsets(ctx.text, node)
        self.inner_lines = yt.LineIndex(node.value)

    def where(self, line: int, column: int) -> tuple[int, int]:
        """The file's 1-based line and column of the values string's."""
        starts = self.inner_lines.starts()
        at = -1
        if self.mapped is not None and 0 < line <= len(starts):
            index = starts[line - 1] + max(column, 1) - 1
            at = self.mapped[index] if index < len(self.mapped) else -1
        if at < 0:
            return self.node.line + 1, self.node.column + 1
        outer_line, outer_column = self.ctx.lines.line_of(at)
        return outer_line + 1, outer_column

    def finding(self, finding: Finding) -> None:
        finding.line, finding.column = self.where(finding.line, finding.column)
        if finding.unfixable is not None:
            error = finding.unfixable
            finding.unfixable = ScanError(error.message, *self.where(error.line, error.column))
        if finding.edits:
            try:
                finding.edits[:] = [self.edit(edit, finding) for edit in finding.edits]
            except ScanError as exc:
                finding.edits.clear()
                finding.unfixable = exc

    def edit(self, edit: edits.Edit, finding: Finding) -> edits.Edit:
        """The edit of the values string as an edit of the file."""
        where = (finding.line, finding.column)
        if _BREAKS.intersection(edit.text + self.node.value[edit.start : edit.end]):
            raise ScanError("cannot add or remove a line inside a YAML string: change it by "
                            "hand", *where)
        return edits.set_part(self.node, self.mapped, edit.start, edit.end, edit.text, where,
                              edit.meanings)
