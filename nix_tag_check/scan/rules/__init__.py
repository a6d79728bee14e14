"""The rules, one reference shape each, and the walk that feeds them, in the order they run.

1. kustomize    (each document root)   entries of a kustomization's `images:`
2. image_key    (each mapping's pairs) any `image:` key
3. helm_values  (each mapping)         `repository:`/`image:`/`name:` (and `registry:`)
                                       beside `tag:`, and a digest beside them
4. marker       (the text)             `# nix-tag-check: IMAGE` comments
5. pragma       (the findings)         `# nix-tag-check: ignore` leaves its line's alone

A scalar reported by one rule is claimed: later rules skip it (or refuse it when it would
hold a second image's tag). Findings come out in text order.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC

from nix_tag_check.config.reference import Repository
from nix_tag_check.errors import ScanError
from nix_tag_check.scan.rules.context import Context, Expected, Finding
from nix_tag_check.yamltree import tree as yt

__all__ = ["Context", "Expected", "Finding", "run"]


def run(
    text: str, roots: list[yt.Node], path: str, expected: MappingABC[Repository, Expected]
) -> list[Finding]:
    """Every reference to a configured image in a parsed manifest (raises ScanError)."""
    # Here, not at the top: a run whose manifests all come from the scan cache imports no rule.
    from nix_tag_check.scan.rules import helm_values, image_key, kustomize, marker, pragma

    ctx = Context(text, expected, roots, global_registries=helm_values.global_registries(roots))
    kustomization_file = path.replace("\\", "/").rsplit("/", 1)[-1] in kustomize.FILES
    findings: list[Finding] = []
    for root in roots:
        findings.extend(kustomize.check(ctx, root, kustomization_file))
    for mapping in _mappings(ctx, roots):
        keys = ctx.merged(mapping)
        chart_image = helm_values.names_an_image(keys)
        for key, value in _own_pairs(mapping):
            if not (chart_image and key.value == "image"):  # a repository beside `tag:`
                found = image_key.check(ctx, key, value)
                if found is not None:
                    findings.append(found)
        found = helm_values.check(ctx, keys)
        if found is not None:
            findings.append(found)
    findings.extend(marker.check(ctx))
    pragma.apply(ctx, findings)
    findings.sort(key=lambda f: (f.line, f.column))
    return findings


_COLLECTIONS = (yt.Mapping, yt.Sequence)


def _mappings(ctx: Context, roots: list[yt.Node]) -> list[yt.Mapping]:
    """Every mapping in document order (aliases not followed); note flow membership."""
    mappings: list[yt.Mapping] = []
    todo = [node for node in reversed(roots) if type(node) in _COLLECTIONS]
    while todo:
        node = todo.pop()
        if isinstance(node, yt.Mapping):
            mappings.append(node)
            if node.flow:
                ctx.in_flow.update(id(value) for _, value in node.pairs)
            for key, value in reversed(node.pairs):
                if type(value) in _COLLECTIONS:
                    todo.append(value)
                if type(key) in _COLLECTIONS:
                    todo.append(key)
        elif isinstance(node, yt.Sequence):
            if node.flow:
                ctx.in_flow.update(id(item) for item in node.items)
            todo.extend(item for item in reversed(node.items) if type(item) in _COLLECTIONS)
    return mappings


def _own_pairs(mapping: yt.Mapping) -> list[tuple[yt.Scalar, yt.Node]]:
    """The mapping's scalar keys and their values; a key written twice is an error."""
    seen: set[str] = set()
    pairs = []
    for key, value in mapping.pairs:
        key = yt.resolve(key)
        if not isinstance(key, yt.Scalar):
            continue
        if key.value in seen:  # as ruamel.yaml's loaders do: which one would count?
            raise ScanError(f"duplicate key {key.value!r}", key.line + 1, key.column + 1)
        seen.add(key.value)
        pairs.append((key, value))
    return pairs
