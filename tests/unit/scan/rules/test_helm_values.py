"""Rule helm_values: `(source, fixed)` one-liners and texts the fix leaves alone."""

from __future__ import annotations

import pytest
from conftest import expected_map, fix_error

from nix_tag_check.fix.apply import fix_text
from nix_tag_check.scan.find import ScanError, scan

EXPECTED = expected_map(hello="h2", api="a2")
REPO = "repository: ghcr.io/acme/api\n"
HEX = "ab" * 32
D = f"sha256:{HEX}"


@pytest.mark.parametrize(("source", "fixed"), (
    (f"{REPO}tag: old\n", f"{REPO}tag: a2\n"),
    (f"tag: old\n{REPO}", f"tag: a2\n{REPO}"),
    (f"{REPO}tag: 'old'  # c\n", f"{REPO}tag: 'a2'  # c\n"),
    (f"{REPO}tag:\n", f"{REPO}tag: a2\n"),
    (f"{REPO}tag: # c\n", f"{REPO}tag: a2 # c\n"),
    (f"{REPO}tag: ''\n", f"{REPO}tag: 'a2'\n"),
    ("registry: ghcr.io\nrepository: acme/api\ntag: old\n",
     "registry: ghcr.io\nrepository: acme/api\ntag: a2\n"),
    ("registry: ghcr.io/\nrepository: acme/api\ntag: old\n",
     "registry: ghcr.io/\nrepository: acme/api\ntag: a2\n"),
    ("image: {repository: ghcr.io/acme/api, tag: old}\n",
     "image: {repository: ghcr.io/acme/api, tag: a2}\n"),
    ("a: &b\n  repository: ghcr.io/acme/api\n  tag: old\nb:\n  <<: *b\n",
     "a: &b\n  repository: ghcr.io/acme/api\n  tag: a2\nb:\n  <<: *b\n"),
    ("a: &t old\nb:\n  repository: ghcr.io/acme/api\n  tag: *t\n",
     "a: &t a2\nb:\n  repository: ghcr.io/acme/api\n  tag: *t\n"),
    ("repository: registry.example.com/team/hello\ntag: v1",
     "repository: registry.example.com/team/hello\ntag: h2"),
    # the repository named by `image:` or `name:`, with or without `registry:`
    ("registry: ghcr.io\nimage: acme/api\ntag: old\n",
     "registry: ghcr.io\nimage: acme/api\ntag: a2\n"),
    ("image: ghcr.io/acme/api\ntag: old\n", "image: ghcr.io/acme/api\ntag: a2\n"),
    # a marker on the repository's (or registry's) line: only `tag:` is written
    ("repository: ghcr.io/acme/api  # nix-tag-check: ghcr.io/acme/api\ntag: ''\n",
     "repository: ghcr.io/acme/api  # nix-tag-check: ghcr.io/acme/api\ntag: 'a2'\n"),
    ("registry: ghcr.io  # nix-tag-check: ghcr.io/acme/api\nrepository: acme/api\ntag: old\n",
     "registry: ghcr.io  # nix-tag-check: ghcr.io/acme/api\nrepository: acme/api\ntag: a2\n"),
    ("- {image: 'ghcr.io/acme/api', tag: '9.1'}\n", "- {image: 'ghcr.io/acme/api', tag: 'a2'}\n"),
    ("name: ghcr.io/acme/api\ntag: old\n", "name: ghcr.io/acme/api\ntag: a2\n"),
    ("image: ghcr.io/acme/api\ntag:\n", "image: ghcr.io/acme/api\ntag: a2\n"),
    # an empty `repository:` is unset, as charts test it: `image:` names the repository
    ('repository: ""\nregistry: ghcr.io\nimage: acme/api\ntag: old\n',
     'repository: ""\nregistry: ghcr.io\nimage: acme/api\ntag: a2\n'),
    # a repository naming its own registry is read alone (ingress-nginx's `repository:` form)
    ("registry: registry.k8s.io\nrepository: ghcr.io/acme/api\ntag: old\n",
     "registry: registry.k8s.io\nrepository: ghcr.io/acme/api\ntag: a2\n"),
    # a chart's global registry: ingress-nginx's `global.image.registry`, bitnami's
    # `global.imageRegistry`
    ("global:\n  image:\n    registry: ghcr.io\nc:\n  image:\n    image: acme/api\n    tag: v1\n",
     "global:\n  image:\n    registry: ghcr.io\nc:\n  image:\n    image: acme/api\n    tag: a2\n"),
    ("global: {imageRegistry: ghcr.io}\nimage: {registry: r.io, repository: acme/api, tag: v1}",
     "global: {imageRegistry: ghcr.io}\nimage: {registry: r.io, repository: acme/api, tag: a2}"),
    # a set digest beside the tag is emptied: quotes, comments and the key stay
    (f"{REPO}tag: old\ndigest: {D}\n", f'{REPO}tag: a2\ndigest: ""\n'),
    (f"{REPO}tag: old\ndigest: '{D}'  # pinned\n", f"{REPO}tag: a2\ndigest: ''  # pinned\n"),
    (f'{REPO}tag: a2\ndigest: "{D}"\n', f'{REPO}tag: a2\ndigest: ""\n'),
    (f"{REPO}tag: old\nsha: {HEX}\n", f'{REPO}tag: a2\nsha: ""\n'),
    (f"{REPO}tag: old\ndigest: &d {D}\n", f'{REPO}tag: a2\ndigest: &d ""\n'),
    (f"{{repository: ghcr.io/acme/api, tag: old, digest: '{D}'}}\n",
     "{repository: ghcr.io/acme/api, tag: a2, digest: ''}\n"),
    (f"registry: ghcr.io\nimage: acme/api\ntag: old\ndigest: {D}\ndigestChroot: {D}\n",
     f'registry: ghcr.io\nimage: acme/api\ntag: a2\ndigest: ""\ndigestChroot: {D}\n'),
    # merge keys: a base's digest is emptied once; a merging mapping's own digest too
    (f"a: &b\n  repository: ghcr.io/acme/api\n  tag: old\n  digest: {D}\nb:\n  <<: *b\n",
     'a: &b\n  repository: ghcr.io/acme/api\n  tag: a2\n  digest: ""\nb:\n  <<: *b\n'),
    (f"a: &b\n  repository: ghcr.io/acme/api\n  tag: a2\nb:\n  <<: *b\n  digest: {D}\n",
     'a: &b\n  repository: ghcr.io/acme/api\n  tag: a2\nb:\n  <<: *b\n  digest: ""\n'),
))
def test_fixes(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed


@pytest.mark.parametrize("source", (
    f"{REPO}tag: a2\n",
    f"{REPO}version: old\n",
    f"{REPO}tag: [old]\n",
    "repository: ghcr.io/acme/other\ntag: old\n",
    "registry: docker.io\nrepository: acme/api\ntag: old\n",
    "repository: not a name\ntag: old\n",
    f"a:\n  {REPO}b:\n  tag: old\n",
    f'{REPO}tag: a2\ndigest: ""\n',
    f"{REPO}tag: a2\ndigest:\n",
    f"{REPO}tag: a2\ndigest: ~\nsha: null\n",
    f"repository: ghcr.io/acme/other\ntag: old\ndigest: {D}\n",
    f"registry: ghcr.io\nimage: acme/api\ntag: a2\ndigestChroot: {D}\n",
    "image: ghcr.io/acme/other\ntag: old\n",
    "- {image: 'alpine', tag: '3.6'}\n",
    "image: ghcr.io/acme/api\ntag: a2\n",
    "name: api\nimage: ghcr.io/acme/api:a2\n",
    "registry: registry.k8s.io\nimage: ghcr.io/acme/api\ntag: old\n",
    f"image: ghcr.io/acme/api:a2\ndigest: {D}\n",
    'global: {imageRegistry: ""}\nimage: {registry: docker.io, repository: acme/api, tag: v1}',
    "c:\n  global: {imageRegistry: ghcr.io}\nimage: {repository: acme/api, tag: v1}\n",
))
def test_leaves_alone(source: str) -> None:
    assert fix_text(source, EXPECTED) == source


def test_refuses_a_tag_shared_by_two_images() -> None:
    source = ("a:\n  repository: ghcr.io/acme/api\n  tag: &t v1\n"
              "b:\n  repository: registry.example.com/team/hello\n  tag: *t\n")
    with pytest.raises(ScanError, match="tag of both"):
        fix_text(source, EXPECTED)


@pytest.mark.parametrize(("source", "error"), (
    ("image: ghcr.io/acme/api:old\ntag: v1\n", "1:8: this image has a tag or digest"),
    (f"repository: ghcr.io/acme/api@{D}\ntag: v1\n", "1:13: this repository has a tag or"),
    ("a: &b\n  digest: sha256:x\n"
     "c:\n  <<: *b\n  repository: ghcr.io/acme/api\n  tag: a2\n"
     "d:\n  <<: *b\n  repository: registry.example.com/team/hello\n  tag: h2\n",
     "2:11: this digest pins both"),
))
def test_refuses(source: str, error: str) -> None:
    assert fix_error(source, EXPECTED).startswith(error)


def test_a_tag_fix_cannot_write_keeps_its_digest() -> None:
    [item] = scan(f'{REPO}tag: "o\\x6cd"\ndigest: {D}\n', "values.yaml", EXPECTED)
    assert item.unfixable is not None
    assert item.edits == []


def test_a_repository_with_its_own_tag_hides_no_other_reference() -> None:
    tagged, other = scan("a: {image: 'ghcr.io/acme/api:v1', tag: v2}\n"
                         "b: {repository: ghcr.io/acme/api, tag: v2}\n", "values.yaml", EXPECTED)
    assert tagged.unfixable is not None and tagged.found == "v2"
    assert other.unfixable is None and other.edits


@pytest.mark.parametrize(("source", "fixed"), [
    (f"{REPO}tag: v1\n", f'{REPO}tag: "1.20"\n'),
    (f"{REPO}tag: 'v1'\n", f"{REPO}tag: '1.20'\n"),
    (f"{REPO}tag:\n", f'{REPO}tag: "1.20"\n'),
    ("{repository: ghcr.io/acme/api, tag: v1}\n",
     '{repository: ghcr.io/acme/api, tag: "1.20"}\n'),
])
def test_a_tag_that_would_read_as_a_number_stays_a_string(source: str, fixed: str) -> None:
    from ruamel.yaml import YAML

    assert fix_text(source, expected_map(api="1.20")) == fixed
    assert YAML(typ="safe").load(fixed)["tag"] == "1.20"


@pytest.mark.parametrize("tag", ["1.20", "20240101", "true", "no", "null", "1e5", "0x1f"])
def test_every_tag_yaml_would_not_read_as_a_string_is_quoted(tag: str) -> None:
    from nix_tag_check.scan.edits import plain

    assert plain(tag) == f'"{tag}"'


@pytest.mark.parametrize("tag", ["v1.20", "1.2.3", "bhvhf4ndzxgqnlwzv5s272i5xs2qs6v0", "latest"])
def test_a_tag_that_reads_as_a_string_stays_plain(tag: str) -> None:
    from nix_tag_check.scan.edits import plain

    assert plain(tag) == tag
