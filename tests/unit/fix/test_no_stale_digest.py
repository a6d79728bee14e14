"""A stale digest never wins: in every shape, after --fix the reference resolves to the new tag.

Each shape comes with how its consumer turns the data into the image it pulls (Kubernetes
for `image:`, kustomize for its `images:` entries, a chart's template for Helm values, the
script reading a marked value); that model reads the fixed file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from conftest import expected_map
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from nix_tag_check.fix.apply import fix_text

EXPECTED = expected_map(api="a2")
API = "ghcr.io/acme/api"
WANT = f"{API}:a2"
HEX = "9f" * 32
MARK = "  # nix-tag-check: ghcr.io/acme/api"


def _pinned(name: str, tag: Any, digest: Any) -> str:
    """`name:tag`, or `name@digest` when a digest is set: a digest always wins."""
    return f"{name}@{digest}" if digest else f"{name}:{tag}"


def _suffixed(name: str, tag: Any, digest: Any) -> str:
    """`name:tag@digest` (ingress-nginx, traefik): the digest still wins over the tag."""
    return f"{name}:{tag}" + (f"@{digest}" if digest else "")


# shape -> (source template, what its consumer pulls). The template takes `tag` (a whole
# `:tag` for references, a bare value otherwise), `digest` (quoted as drawn) and `comment`.
SHAPES: dict[str, tuple[str, Callable[[Any], str]]] = {
    "image key": (
        "spec:\n  containers:\n  - name: api\n    image: {q}ghcr.io/acme/api{rtag}@sha256:"
        "{hex}{q}{comment}\n",
        lambda d: d["spec"]["containers"][0]["image"],
    ),
    "kustomize": (
        "kind: Kustomization\nimages:\n- name: ghcr.io/acme/api\n  newTag: {tag}\n"
        "  digest: {digest}\n",
        lambda d: _suffixed(d["images"][0]["name"], d["images"][0].get("newTag"),
                            d["images"][0].get("digest")),
    ),
    "helm bitnami": (
        "image:\n  registry: ghcr.io\n  repository: acme/api\n  tag: {tag}\n"
        "  digest: {digest}{comment}\n",
        lambda d: _pinned(f"{d['image']['registry']}/{d['image']['repository']}",
                          d["image"]["tag"], d["image"]["digest"]),
    ),
    "helm ingress-nginx": (
        "controller:\n  image:\n    registry: ghcr.io\n    image: acme/api\n    tag: {tag}\n"
        "    digest: {digest}{comment}\n",
        lambda d: _suffixed(f"{d['controller']['image']['registry']}/"
                            f"{d['controller']['image']['image']}",
                            d["controller"]["image"]["tag"], d["controller"]["image"]["digest"]),
    ),
    "helm kube-prometheus-stack sha": (
        "image:\n  registry: ghcr.io\n  repository: acme/api\n  tag: {tag}\n"
        "  sha: {q}{hex}{q}{comment}\n",
        lambda d: _suffixed(f"{d['image']['registry']}/{d['image']['repository']}",
                            d["image"]["tag"],
                            d["image"]["sha"] and f"sha256:{d['image']['sha']}"),
    ),
    "helm flow": (
        "image: {{repository: ghcr.io/acme/api, tag: {tag}, digest: {fdigest}}}{comment}\n",
        lambda d: _pinned(d["image"]["repository"], d["image"]["tag"], d["image"]["digest"]),
    ),
    "marker reference": (
        "data:\n  IMAGE: {q}ghcr.io/acme/api{rtag}@sha256:{hex}{q}" + MARK + "\n",
        lambda d: d["data"]["IMAGE"],
    ),
    "marker tag beside a digest": (
        "controller:\n  image:\n    image: acme/controller\n    tag: {tag}" + MARK + "\n"
        "    digest: {digest}{comment}\n",
        lambda d: _suffixed(API, d["controller"]["image"]["tag"],
                            d["controller"]["image"]["digest"]),
    ),
}


def _comments(text: str) -> list[str]:
    return [line[line.find("  #"):] if "  #" in line else "" for line in text.splitlines()]


def _load(text: str) -> Any:
    return YAML(typ="safe").load(io.StringIO(text))


@settings(max_examples=150, deadline=None)
@given(
    shape=st.sampled_from(sorted(SHAPES)),
    tag=st.sampled_from(["old", "a2", "v1.2.3", ""]),  # "": no tag, or an empty one
    quote=st.sampled_from(["", "'", '"']),
    comment=st.sampled_from(["", "  # pinned by renovate"]),
)
def test_after_fix_every_shape_pulls_the_new_tag(
    shape: str, tag: str, quote: str, comment: str
) -> None:
    assume(tag or shape != "marker tag beside a digest")  # a marked empty value is refused
    template, pulls = SHAPES[shape]
    digest = f"{quote}sha256:{HEX}{quote}"
    source = template.format(
        q=quote, rtag=f":{tag}" if tag else "", tag=tag or '""', hex=HEX, comment=comment,
        digest=digest,
        fdigest=f"'sha256:{HEX}'" if not quote else digest,
    )
    assert pulls(_load(source)) != WANT  # pinned: the old image, whatever the tag says
    fixed = fix_text(source, EXPECTED)
    assert pulls(_load(fixed)) == WANT
    assert fix_text(fixed, EXPECTED) == fixed
    if shape != "kustomize":  # which removes its digest's line: the rest keep every comment
        assert _comments(fixed) == _comments(source)
