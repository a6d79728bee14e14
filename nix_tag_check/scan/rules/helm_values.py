"""Rule: a Helm-values mapping that names an image as charts read it, beside `tag:`.

The repository is the first of `repository:`, `image:` and `name:` that holds a non-empty
string (a chart's `{{ if .repository }}...{{ else }}{{ .registry }}/{{ .image }}` picks so),
prefixed by a `registry:` of the same mapping or the chart's global one. These keys stay as
they are; `tag:` gets the tag. A digest beside it (`digest:`; `sha:` in kube-prometheus-stack
and grafana) wins over the tag wherever charts render it (bitnami, ingress-nginx, traefik...),
so a pinned one is emptied (`digest: ""`) and said: the key stays, as the chart's own values
file and schema have it, and every chart reads an empty string as "no digest".
"""

from __future__ import annotations

import re

from nix_tag_check.config.reference import ReferenceError, parse_reference
from nix_tag_check.errors import ScanError
from nix_tag_check.scan import edits
from nix_tag_check.scan.finding import Expected, Finding
from nix_tag_check.scan.rules.context import Context
from nix_tag_check.yamltree import tree as yt

REPOSITORY_KEYS = ("repository", "image", "name")
DIGEST_KEYS = ("digest", "sha")
_NULLS = ("~", "null", "Null", "NULL")
_TEMPLATED = re.compile(r"\{\{|\$\{|\$[A-Za-z_]")  # `{{ .sha }}`, `${TAG}`, `$TAG`


def _unset(node: yt.Scalar) -> bool:
    """An empty or null value: what a chart's `{{ if .digest }}` takes for unset."""
    return node.value == "" or (node.style == "" and node.value in _NULLS)


def names_an_image(keys: dict[str, yt.Node]) -> bool:
    """A mapping with a `tag:` value: its `image:` is a repository, never a whole reference."""
    return isinstance(keys.get("tag"), yt.Scalar)


def _repository(keys: dict[str, yt.Node]) -> tuple[str, yt.Scalar] | None:
    for key in REPOSITORY_KEYS:
        node = keys.get(key)
        if isinstance(node, yt.Scalar) and not _unset(node):
            return key, node
    return None


def global_registries(roots: list[yt.Node]) -> tuple[str, ...]:
    """`global.imageRegistry` (bitnami) and `global.image.registry` (ingress-nginx) of the
    documents: charts prefix them to an image's repository."""
    found = []
    for root in roots:
        top = yt.resolve(root)
        chart = _key(top, "global") if isinstance(top, yt.Mapping) else None
        image = _key(chart, "image") if isinstance(chart, yt.Mapping) else None
        for node in (_key(chart, "imageRegistry") if isinstance(chart, yt.Mapping) else None,
                     _key(image, "registry") if isinstance(image, yt.Mapping) else None):
            if isinstance(node, yt.Scalar) and not _unset(node):
                found.append(node.value.rstrip("/"))
    return tuple(found)


def _key(mapping: yt.Mapping, name: str) -> yt.Node | None:
    return next((yt.resolve(v) for k, v in mapping.pairs
                 if isinstance(k, yt.Scalar) and k.value == name), None)


def _names(ctx: Context, keys: dict[str, yt.Node], key: str, repository: str) -> list[str]:
    """The names a chart may render: `registry/repository` (the repository alone without a
    `registry:`, or when `repository:` names a registry of its own, as ingress-nginx
    renders it), then each global registry's."""
    registry = keys.get("registry")
    globals_ = [f"{prefix}/{repository}" for prefix in ctx.global_registries]
    if not isinstance(registry, yt.Scalar) or _unset(registry):
        return [repository, *globals_]
    first = repository.split("/", 1)[0]
    own = "/" in repository and ("." in first or ":" in first or first == "localhost")
    alone = [repository] if own and key == "repository" else []
    return [f"{registry.value.rstrip('/')}/{repository}", *alone, *globals_]


def _image(
    ctx: Context, keys: dict[str, yt.Node], key: str, node: yt.Scalar
) -> tuple[Expected, bool] | None:
    """The configured image the mapping names, and whether its repository has a tag too."""
    for name in _names(ctx, keys, key, node.value):
        try:
            ref = parse_reference(name)
        except ReferenceError:
            continue
        exp = ctx.expected.get(ref.repository)
        if exp is not None:
            return exp, ref.tag is not None or ref.digest is not None
    return None


def _claim_names(ctx: Context, keys: dict[str, yt.Node], repository: yt.Scalar,
                 exp: Expected) -> None:
    """The repository and registry name the image; only `tag:` holds its tag. Claimed, a
    marker on their line cannot write a tag into them (a chart would render it twice)."""
    for node in (repository, keys.get("registry")):
        if isinstance(node, yt.Scalar):
            ctx.taken(node, exp)  # another image's already: an error
            ctx.claimed[id(node)] = exp.name


def _tagged(ctx: Context, key: str, node: yt.Scalar, tag: yt.Scalar, exp: Expected,
            kind: str) -> Finding:
    """`image: repo:v1` beside `tag: v2`: a chart renders `repo:v1:v2`; never guessed at."""
    item = ctx.finding(node, exp, tag.value or None, kind)
    item.unfixable = ScanError(
        f"this {key} has a tag or digest of its own beside a `tag:` key, and a chart renders "
        "both: write the repository alone", node.line + 1, node.column + 1,
    )
    return item


def pinned_digests(ctx: Context, keys: dict[str, yt.Node], exp: Expected) -> list[yt.Scalar]:
    """The set digests beside a tag not yet emptied for `exp` (one scalar, one image)."""
    found = []
    for key in DIGEST_KEYS:
        node = keys.get(key)
        if not isinstance(node, yt.Scalar) or _unset(node):
            continue
        other = ctx.claimed.get(id(node))
        if other is not None and other != exp.name:
            raise ScanError(
                f"this digest pins both {other} and {exp.name} (shared through an anchor or "
                "a merge key): give each image its own", node.line + 1, node.column + 1,
            )
        if other is None:
            found.append(node)
    return found


def unpin(ctx: Context, item: Finding, digests: list[yt.Scalar]) -> list[edits.Edit]:
    """Claim each digest for the finding's image (it says the first); the edits emptying them.

    Made inside the finding's `ctx.fix`, beside its tag's edit: both are written, or neither.
    """
    for node in digests:
        ctx.claimed[id(node)] = item.image
    if digests:
        item.digest, item.digest_emptied = digests[0].value, True
    return [edits.empty_scalar(ctx.text, node) for node in digests]


def check(ctx: Context, keys: dict[str, yt.Node], kind: str = "helm") -> Finding | None:
    """`keys`: the mapping's merged keys (merge keys can bring any of these in)."""
    tag = keys.get("tag")
    if not isinstance(tag, yt.Scalar) or _TEMPLATED.search(tag.value):
        return None  # a tag filled in elsewhere: the repository is a name no rule reads
    repository = _repository(keys)
    if repository is None:
        return None
    named = _image(ctx, keys, *repository)
    if named is None:
        return None
    exp, tagged = named
    if tagged:
        return _tagged(ctx, *repository, tag, exp, kind)
    _claim_names(ctx, keys, repository[1], exp)
    fresh_tag = not ctx.taken(tag, exp)
    digests = pinned_digests(ctx, keys, exp)
    if not fresh_tag and not digests:
        return None  # reported where the shared tag was first found
    found = tag.value or None
    item = ctx.finding(tag if fresh_tag else digests[0], exp, found, kind)
    retag = fresh_tag and found != exp.tag
    ctx.fix(item, lambda: ([edits.set_scalar(ctx.text, tag, exp.tag)] if retag else [])
            + unpin(ctx, item, digests))
    return item
