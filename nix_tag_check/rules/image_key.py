"""Rule: the string value of any `image:` key, at any depth (workloads, Tekton, compose, ...)."""

from __future__ import annotations

from collections.abc import Iterator

from .. import yaml_tree as yt
from ..reference import ReferenceError, parse_reference
from .context import Context, Finding


def check(ctx: Context, key: yt.Scalar, value: yt.Node) -> Iterator[Finding]:
    """One `key: value` pair of a mapping; only `image:` keys count."""
    if key.value != "image":
        return
    node = yt.resolve(value)
    if not isinstance(node, yt.Scalar) or id(node) in ctx.claimed:
        return  # an image reference names its repository: it can only be one image's
    try:
        ref = parse_reference(node.value)
    except ReferenceError:
        return
    exp = ctx.expected.get(ref.repository)
    if exp is not None:
        yield ctx.reference(node, ref, exp, "image")
