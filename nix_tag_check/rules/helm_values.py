"""Rule: a Helm-values mapping, `repository:` (and optionally `registry:`) beside `tag:`."""

from __future__ import annotations

from collections.abc import Iterator

from .. import edits
from .. import yaml_tree as yt
from .context import Context, Finding


def _name(keys: dict[str, yt.Node], repository: yt.Scalar) -> str:
    """`registry/repository`, or the repository alone when there is no registry."""
    registry = keys.get("registry")
    if isinstance(registry, yt.Scalar) and registry.value:
        return f"{registry.value.rstrip('/')}/{repository.value}"
    return repository.value


def check(ctx: Context, mapping: yt.Mapping) -> Iterator[Finding]:
    keys = ctx.merged(mapping)  # every mapping: merge keys can bring these in
    repository, tag = keys.get("repository"), keys.get("tag")
    if not isinstance(repository, yt.Scalar) or not isinstance(tag, yt.Scalar):
        return
    exp = ctx.image_named(_name(keys, repository))
    if exp is None or ctx.taken(tag, exp):
        return
    found = tag.value or None
    item = ctx.finding(tag, exp, found, "helm")
    if found != exp.tag:
        item.edits.append(edits.set_scalar(ctx.text, tag, exp.tag))
    yield item
