"""The rules, one reference shape each, and the walk that feeds them, in the order they run.

1. kustomize    (each document root)   entries of a kustomization's `images:`
2. image_key    (each mapping's pairs) any `image:` key
3. helm_values  (each mapping)         `repository:`/`image:`/`name:` (and `registry:`)
                                       beside `tag:`, and a digest beside them
4. argocd       (each mapping)         `helm.parameters`, `kustomize.images` strings, and
                                       `helm.values: |` read as the document it is
                                       (embedded.py)
5. marker       (the text)             `# nix-tag-check: IMAGE` comments
6. occurrence   (every other scalar)   any other `repo:tag` in a string or a block scalar,
                                       and the names no rule reads (`repo:${TAG}`)
7. pragma       (the findings)         `# nix-tag-check: ignore` leaves its line's alone

A scalar reported by one rule is claimed: later rules skip it (or refuse it when it would
hold a second image's tag). Findings come out in text order.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC

from nix_tag_check.config.reference import Repository
from nix_tag_check.scan.finding import Expected, Finding, Unread
from nix_tag_check.scan.rules.context import Context, Scanned
from nix_tag_check.yamltree import tree as yt

__all__ = ["Context", "Expected", "Finding", "Scanned", "Unread", "run"]


def run(
    text: str, roots: list[yt.Node], path: str, expected: MappingABC[Repository, Expected],
    depth: int = 0,
) -> Scanned:
    """Every reference to a configured image in a parsed manifest (raises ScanError)."""
    # Here, not at the top: a run whose manifests all come from the scan cache imports no rule.
    from nix_tag_check.scan.rules import walk

    return walk.run(text, roots, path, expected)
