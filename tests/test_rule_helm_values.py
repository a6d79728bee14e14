"""Rule helm_values: `(source, fixed)` one-liners and texts the fix leaves alone."""

from __future__ import annotations

import pytest
from conftest import expected_map

from nix_tag_check.fix import fix_text
from nix_tag_check.scan import ScanError

EXPECTED = expected_map(hello="h2", api="a2")
REPO = "repository: ghcr.io/acme/api\n"


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
))
def test_leaves_alone(source: str) -> None:
    assert fix_text(source, EXPECTED) == source


def test_refuses_a_tag_shared_by_two_images() -> None:
    source = ("a:\n  repository: ghcr.io/acme/api\n  tag: &t v1\n"
              "b:\n  repository: registry.example.com/team/hello\n  tag: *t\n")
    with pytest.raises(ScanError, match="tag of both"):
        fix_text(source, EXPECTED)
