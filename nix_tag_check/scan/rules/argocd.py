"""Rule: what an Argo CD source sets for a chart or a kustomization, beside its `helm:` or
`kustomize:` key (Applications, ApplicationSets' templates, `.argocd-source-*.yaml`).

- `helm.parameters`: `{name, value}` pairs that override the chart's values (`--set`, and
  Argo CD gives them precedence). A parameter named for a tag (`image.tag`, `imageTag`)
  beside ones naming the repository (`image.repository`, `image.name` or `image`, with an
  optional `image.registry`, `image.digest`) is read as helm_values reads a mapping.
- `kustomize.images`: strings as `kustomize edit set image` takes them, `[old=]new[:tag]`;
  a Docker Hub short name counts here, as it does in an `image:` key.
- `helm.values`: Helm values written as a YAML string; see embedded.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from nix_tag_check.config.reference import Reference, ReferenceError, parse_reference
from nix_tag_check.scan import edits, spans
from nix_tag_check.scan.finding import Finding
from nix_tag_check.scan.rules import helm_values
from nix_tag_check.scan.rules.context import Context
from nix_tag_check.yamltree import tree as yt

PARAMETER = "parameter"
_SEPARATORS = "._-"


def values_string(ctx: Context, keys: dict[str, yt.Node]) -> yt.Scalar | None:
    """`helm.values: |`, if the mapping has it."""
    helm = keys.get("helm")
    if not isinstance(helm, yt.Mapping):
        return None
    values = ctx.merged(helm).get("values")
    return values if isinstance(values, yt.Scalar) else None


def parameters(ctx: Context, keys: dict[str, yt.Node]) -> Iterator[Finding]:
    """The images that `helm.parameters` set the tag of."""
    helm = keys.get("helm")
    listed = ctx.merged(helm).get("parameters") if isinstance(helm, yt.Mapping) else None
    if not isinstance(listed, yt.Sequence):
        return
    by_name: dict[str, yt.Scalar] = {}  # as Argo CD passes them: the first of a name
    for item in listed.items:
        entry = yt.resolve(item)
        if isinstance(entry, yt.Mapping):
            pair = ctx.merged(entry)
            name, value = pair.get("name"), pair.get("value")
            if isinstance(name, yt.Scalar) and isinstance(value, yt.Scalar):
                by_name.setdefault(name.value, value)
    for parameter in list(by_name):
        chart = _as_values(parameter, by_name)
        if chart is not None:
            found = helm_values.check(ctx, chart, PARAMETER)
            if found is not None:
                yield found


def _as_values(name: str, by_name: dict[str, yt.Scalar]) -> dict[str, yt.Node] | None:
    """The parameters of one image as the Helm values mapping they set, if `name` is its
    tag: `image.tag` beside `image.repository` is `image: {repository, tag}`."""
    if name == "tag":
        stem, sep = "", ""
    elif name.endswith("tag") and len(name) > 3 and name[-4] in _SEPARATORS:
        stem, sep = name[:-4], name[-4]
    elif name.endswith("Tag") and len(name) > 3:
        stem, sep = name[:-3], "camel"
    else:
        return None
    chart: dict[str, yt.Node] = {"tag": by_name[name]}
    for key in ("registry", *helm_values.REPOSITORY_KEYS, *helm_values.DIGEST_KEYS):
        node = by_name.get(_beside(stem, sep, key))
        if node is not None:
            chart[key] = node
    if "image" not in chart and stem and stem in by_name:  # `image` beside `image.tag`
        chart["image"] = by_name[stem]
    return chart


def _beside(stem: str, sep: str, key: str) -> str:
    """The parameter of `key` beside the tag's: `image.` + `registry`, `image` + `Registry`."""
    if sep == "camel":
        return f"{stem}{key[:1].upper()}{key[1:]}"
    return f"{stem}{sep}{key}"


def kustomize_images(ctx: Context, keys: dict[str, yt.Node]) -> Iterator[Finding]:
    """The entries of `kustomize.images` that name a configured image."""
    kustomize = keys.get("kustomize")
    images = ctx.merged(kustomize).get("images") if isinstance(kustomize, yt.Mapping) else None
    if not isinstance(images, yt.Sequence):
        return
    for item in images.items:
        node = yt.resolve(item)
        if isinstance(node, yt.Scalar) and id(node) not in ctx.claimed:
            found = _image_string(ctx, node)
            if found is not None:
                yield found


def _image_string(ctx: Context, node: yt.Scalar) -> Finding | None:
    """`[old=]new[:tag][@digest]`: `new` is the image kustomize writes."""
    old, equals, new = node.value.rpartition("=")
    offset = len(old) + len(equals)
    try:
        ref = parse_reference(new)
    except ReferenceError:
        return None
    exp = ctx.expected.get(ref.repository)
    if exp is None:
        return None
    if not equals:
        return ctx.reference(node, ref, exp, "kustomize")
    item = ctx.finding(node, exp, ref.tag, "kustomize", ref.digest)
    if ref.tag != exp.tag or ref.digest is not None:
        ctx.fix(item, lambda: [_set_tag(ctx, node, offset, ref, exp.tag)])
    return item


def _set_tag(ctx: Context, node: yt.Scalar, offset: int, ref: Reference, tag: str
             ) -> edits.Edit:
    """`old=new:stale` -> `old=new:tag`, where the characters after the name stand."""
    start = offset + ref.name_end
    where = (node.line + 1, node.column + 1)
    if id(node) in ctx.in_flow and node.style == "" and start == len(node.value):
        # `[a=repo]` -> `[a=repo:tag]` would not parse everywhere: ':' in a flow plain scalar
        whole = f"{node.value}:{tag}"
        edits.scalar_inner(ctx.text, node)
        return edits.Edit(node.start, node.end, f'"{whole}"', (edits.SetValue(node.start, whole),))
    mapped = spans.offsets(ctx.text, node)
    return edits.set_part(node, mapped, start, len(node.value), f":{tag}", where)
