"""The walk that feeds the rules, in the order rules/__init__.py lists them."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC

from nix_tag_check.config.reference import Repository
from nix_tag_check.errors import ScanError
from nix_tag_check.scan.finding import Expected
from nix_tag_check.scan.rules import (
    argocd,
    embedded,
    helm_values,
    image_key,
    kustomize,
    marker,
    occurrence,
    pragma,
)
from nix_tag_check.scan.rules.context import Context, Scanned
from nix_tag_check.yamltree import tree as yt


def run(
    text: str, roots: list[yt.Node], path: str, expected: MappingABC[Repository, Expected],
    depth: int = 0,
) -> Scanned:
    """Every reference to a configured image in a parsed manifest (raises ScanError)."""
    ctx = Context(text, expected, roots, global_registries=helm_values.global_registries(roots))
    kustomization_file = path.replace("\\", "/").rsplit("/", 1)[-1] in kustomize.FILES
    found = Scanned()
    for root in roots:
        found.findings.extend(kustomize.check(ctx, root, kustomization_file))
    for mapping in _mappings(ctx, roots):
        _mapping(ctx, mapping, found, depth)
    found.findings.extend(marker.check(ctx))
    text_findings, unread = occurrence.check(ctx)
    found.findings += text_findings
    found.unread += unread
    pragma.apply(ctx, found)
    found.findings.sort(key=lambda f: (f.line, f.column))
    found.unread.sort(key=lambda u: (u.line, u.column))
    return found


def _mapping(ctx: Context, mapping: yt.Mapping, found: Scanned, depth: int) -> None:
    """The rules that read one mapping (and its pairs)."""
    keys = ctx.merged(mapping)
    chart_image = helm_values.names_an_image(keys)
    for key, value in _own_pairs(mapping):
        if not (chart_image and key.value == "image"):  # a repository beside `tag:`
            item = image_key.check(ctx, key, value)
            if item is not None:
                found.findings.append(item)
    item = helm_values.check(ctx, keys)
    if item is not None:
        found.findings.append(item)
    found.findings.extend(argocd.parameters(ctx, keys))
    found.findings.extend(argocd.kustomize_images(ctx, keys))
    values = argocd.values_string(ctx, keys)
    if values is not None and depth < embedded.MAX_NESTING and id(values) not in ctx.read:
        inner = embedded.check(ctx, values, lambda text, roots: run(
            text, roots, "", ctx.expected, depth + 1))
        if inner is not None:
            found.findings += inner.findings
            found.unread += inner.unread


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
