"""Rule image_key: `(source, fixed)` one-liners and texts the fix leaves alone."""

from __future__ import annotations

import pytest
from conftest import expected_map

from nix_tag_check.fix.apply import fix_text

EXPECTED = expected_map(hello="h2", api="a2")
D = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(("source", "fixed"), (
    ("image: ghcr.io/acme/api:old\n", "image: ghcr.io/acme/api:a2\n"),
    ("image: ghcr.io/acme/api\n", "image: ghcr.io/acme/api:a2\n"),
    ("image: 'ghcr.io/acme/api:old'\n", "image: 'ghcr.io/acme/api:a2'\n"),
    ('image: "ghcr.io/acme/api:old"  # c\n', 'image: "ghcr.io/acme/api:a2"  # c\n'),
    (f"image: ghcr.io/acme/api:old@{D}\n", "image: ghcr.io/acme/api:a2\n"),
    (f"image: ghcr.io/acme/api@{D}\n", "image: ghcr.io/acme/api:a2\n"),
    ("image: !!str ghcr.io/acme/api:old\n", "image: !!str ghcr.io/acme/api:a2\n"),
    ("c: {image: ghcr.io/acme/api}\n", 'c: {image: "ghcr.io/acme/api:a2"}\n'),
    ('c: [{image: "ghcr.io/acme/api:old"}]\n', 'c: [{image: "ghcr.io/acme/api:a2"}]\n'),
    ("a:\n  b:\n    image: ghcr.io/acme/api:1\n", "a:\n  b:\n    image: ghcr.io/acme/api:a2\n"),
    ("image: ghcr.io/acme/api:old", "image: ghcr.io/acme/api:a2"),
    ("image: ghcr.io/acme/api:old\r\n", "image: ghcr.io/acme/api:a2\r\n"),
    ("\ufeffimage: ghcr.io/acme/api:old\n", "\ufeffimage: ghcr.io/acme/api:a2\n"),
    ("a:\n  image: &i ghcr.io/acme/api:1\nb: {image: *i}\n",
     "a:\n  image: &i ghcr.io/acme/api:a2\nb: {image: *i}\n"),
    ("image: registry.example.com/team/hello:1\n", "image: registry.example.com/team/hello:h2\n"),
    ('{"image": "ghcr.io/acme/api:old"}', '{"image": "ghcr.io/acme/api:a2"}'),
))
def test_fixes(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed


# (a reference outside an `image:` key is the occurrence rule's: test_occurrence.py)
@pytest.mark.parametrize("source", (
    "image: ghcr.io/acme/api:a2\n",
    "image: ghcr.io/acme/api-gw:old\n",
    "image: ghcr.io/acme/apis:old\n",
    "image: ghcr.io/acme:old\n",
    "# image: ghcr.io/acme/api:old\n",
))
def test_leaves_alone(source: str) -> None:
    assert fix_text(source, EXPECTED) == source
