"""Pragma: a line ending in `# nix-tag-check: ignore` keeps its reference as it is.

In the manner of yamllint's `disable-line`: for a pinned rollback image, say. The reference is
still found (and listed with -v), but it is neither reported stale nor rewritten, and it does not
count as the reference a required image needs.
"""

from __future__ import annotations

import re

from .context import Context, Finding

WORD = "ignore"
PRAGMA_RE = re.compile(rf"#[ \t]*nix-tag-check:[ \t]*{WORD}[ \t]*(?=\r?\n|\r|\Z)")


def apply(ctx: Context, findings: list[Finding]) -> None:
    """Mark the findings on pragma lines as ignored."""
    lines = {ctx.lines.line_of(match.start())[0] + 1 for match in ctx.comments(PRAGMA_RE)}
    for finding in findings:
        if finding.line in lines:
            finding.ignore()
