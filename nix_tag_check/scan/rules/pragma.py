"""Pragma: a line ending in `# nix-tag-check: ignore` keeps its reference as it is.

In the manner of yamllint's `disable-line`: for a pinned rollback image, say. The reference is
still found (and listed with -v), but it is neither reported stale nor rewritten, and it does not
count as the reference a required image needs.
"""

from __future__ import annotations

import re

from nix_tag_check.errors import ScanError
from nix_tag_check.scan.rules.context import Context, Finding

WORD = "ignore"
PRAGMA_RE = re.compile(rf"#[ \t]*nix-tag-check:[ \t]*{WORD}(?![^\s#])(?P<rest>[^\r\n]*)")


def apply(ctx: Context, findings: list[Finding]) -> None:
    """Mark the findings on pragma lines as ignored (raises ScanError for a pragma mid-line)."""
    lines = set()
    for match in ctx.comments(PRAGMA_RE):
        line, column = ctx.lines.line_of(match.start())
        if match["rest"].strip():
            raise ScanError("`# nix-tag-check: ignore` must end its line: move what follows it "
                            "before it", line + 1, column)
        lines.add(line + 1)
    for finding in findings:
        if finding.line in lines:
            finding.ignore()
