"""-v: every file scanned, every reference found (fresh ones too) and the files of each image,
so that "why was it not found?" has an answer on the screen."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nix_tag_check.evaluate.nix import Evaluated
    from nix_tag_check.scan.rules.context import Finding


def _state(finding: Finding) -> str:
    found = f"tag '{finding.found}'" if finding.found is not None else "no tag"
    if finding.ignored:
        return (f"{found} left as it is by `# nix-tag-check: ignore` "
                f"(expected '{finding.expected}')")
    if finding.stale:
        return f"{found}, stale (expected '{finding.expected}')"
    return f"{found}, up to date"


def file_lines(shown: str, findings: Sequence[Finding], error: str | None) -> list[str]:
    """What one scanned file held."""
    if error is not None:
        return [f"scanned {shown}: not checked ({error})"]
    if not findings:
        return [f"scanned {shown}: no reference to a configured image"]
    lines = [f"scanned {shown}: {len(findings)} reference(s)"]
    lines.extend(f"  {shown}:{f.line}:{f.column}: {f.image}: {_state(f)} [{f.kind}]"
                 for f in findings)
    return lines


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
