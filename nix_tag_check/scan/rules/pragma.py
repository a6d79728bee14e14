"""Pragma: a line ending in `# nix-tag-check: ignore` keeps its reference as it is.

In the manner of yamllint's `disable-line`: for a pinned rollback image, say. The reference is
still found (and listed with -v), but it is neither reported stale nor rewritten, and it does not
count as the reference a required image needs. A block scalar (a script) holds no comment: the
pragma on the line it starts on (`script: |  # nix-tag-check: ignore`) covers its lines.
"""

from __future__ import annotations

import re

from nix_tag_check.errors import ScanError
from nix_tag_check.scan.rules.context import Context, Scanned

WORD = "ignore"
PRAGMA_RE = re.compile(rf"#[ \t]*nix-tag-check:[ \t]*{WORD}(?![^\s#])(?P<rest>[^\r\n]*)")


def lines(ctx: Context) -> set[int]:
    """The 1-based lines that end in the pragma (raises ScanError for a pragma mid-line)."""
    found = set()
    for match in ctx.comments(PRAGMA_RE):
        line, column = ctx.lines.line_of(match.start())
        if match["rest"].strip():
            raise ScanError("`# nix-tag-check: ignore` must end its line: move what follows it "
                            "before it", line + 1, column)
        found.add(line + 1)
    return found


def apply(ctx: Context, found: Scanned) -> None:
    """Mark the findings and unread names on pragma lines as ignored."""
    ignored = lines(ctx)
    if not ignored:
        return
    for line in list(ignored):
        for node in ctx.scalars.values_by_line.get(line - 1, ()):
            if node.style in ("|", ">"):  # its lines follow the one the pragma ends
                last, _ = ctx.lines.line_of(max(node.end - 1, node.start))
                ignored.update(range(line + 1, last + 2))
    for finding in found.findings:
        if finding.line in ignored:
            finding.ignore()
    for unread in found.unread:
        if unread.line in ignored:
            unread.ignored = True
