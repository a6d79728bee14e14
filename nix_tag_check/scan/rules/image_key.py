"""Rule: the string value of any `image:` key, at any depth (workloads, Tekton, compose, ...)."""

from __future__ import annotations

from nix_tag_check.config.reference import ReferenceError, parse_reference
from nix_tag_check.scan.finding import Finding
from nix_tag_check.scan.rules.context import Context
from nix_tag_check.yamltree import tree as yt


def check(ctx: Context, key: yt.Scalar, value: yt.Node) -> Finding | None:
    """One `key: value` pair of a mapping; only `image:` keys count."""
    if key.value != "image":
        return None
    node = yt.resolve(value)
    if not isinstance(node, yt.Scalar) or id(node) in ctx.claimed:
        return None  # an image reference names its repository: it can only be one image's
    try:
        ref = parse_reference(node.value)
    except ReferenceError:
        return None
    exp = ctx.expected.get(ref.repository)
    return None if exp is None else ctx.reference(node, ref, exp, "image")
