"""-v: every file scanned, every reference found (fresh ones too) and the files of each image,
so that "why was it not found?" has an answer on the screen."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nix_tag_check.evaluate.groups import Evaluated
    from nix_tag_check.scan.finding import Finding, Unread


def _state(finding: Finding) -> str:
    found = f"tag '{finding.found}'" if finding.found is not None else "no tag"
    if finding.ignored:
        return (f"{found} left as it is by `# nix-tag-check: ignore` "
                f"(expected '{finding.expected}')")
    if finding.stale:
        return f"{found}, stale (expected '{finding.expected}')"
    return f"{found}, up to date"


def file_lines(shown: str, findings: Sequence[Finding], error: str | None,
               unread: Sequence[Unread] = ()) -> list[str]:
    """What one scanned file held: its references, and the names no rule reads a tag of."""
    if error is not None:
        return [f"scanned {shown}: not checked ({error})"]
    if not findings and not unread:
        return [f"scanned {shown}: no reference to a configured image"]
    head = f"scanned {shown}: {len(findings)} reference(s)"
    if unread:
        head += f", {len(unread)} name(s) with no tag read"
    places = [(f.line, f.column, f"{f.image}: {_state(f)} [{f.kind}]") for f in findings]
    places += [(u.line, u.column, f"{u.image}: named as '{u.written}', no tag read"
                + (" (left as it is by `# nix-tag-check: ignore`)" if u.ignored else "")
                + " [unread]") for u in unread]
    return [head] + [f"  {shown}:{line}:{column}: {text}" for line, column, text in sorted(places)]


def image_lines(
    evaluated: Iterable[Evaluated], scanned: Iterable[tuple[str, Sequence[Finding]]]
) -> list[str]:
    """Each image, with the files that reference it."""
    live: dict[str, list[str]] = {}
    ignored: dict[str, list[str]] = {}
    for shown, findings in scanned:
        for finding in findings:
            where = ignored if finding.ignored else live
            if shown not in where.setdefault(finding.image, []):
                where[finding.image].append(shown)
    lines = []
    for item in evaluated:
        name = item.spec.name
        files = ", ".join(live.get(name, [])) or "no checked file references it"
        if name in ignored:
            files += f" (ignored in {', '.join(ignored[name])})"
        lines.append(f"image {name}:{item.tag} ({item.spec.source}): {files}")
    return lines
