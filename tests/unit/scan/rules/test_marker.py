"""Rule marker: `(source, fixed)` one-liners and texts the fix leaves alone."""

from __future__ import annotations

import pytest
from conftest import expected_map, fix_error

from nix_tag_check.fix.apply import fix_text

EXPECTED = expected_map(hello="h2", api="a2")
MARK = "# nix-tag-check: ghcr.io/acme/api"


@pytest.mark.parametrize(("source", "fixed"), (
    (f'IMAGE_TAG: "old"  {MARK}\n', f'IMAGE_TAG: "a2"  {MARK}\n'),
    (f"ref: ghcr.io/acme/api:old {MARK}\n", f"ref: ghcr.io/acme/api:a2 {MARK}\n"),
    (f"ref: ghcr.io/acme/api {MARK}\n", f"ref: ghcr.io/acme/api:a2 {MARK}\n"),
    (f"- old {MARK}\n", f"- a2 {MARK}\n"),
    (f"args: [--tag, old] {MARK}\n", f"args: [--tag, a2] {MARK}\n"),
    (f"x: old\t{MARK}", f"x: a2\t{MARK}"),
    ("x: old #nix-tag-check:ghcr.io/acme/api\n", "x: a2 #nix-tag-check:ghcr.io/acme/api\n"),
    (f"x: old {MARK}\r\n", f"x: a2 {MARK}\r\n"),
    (f"image: ghcr.io/acme/api:old {MARK}\n", f"image: ghcr.io/acme/api:a2 {MARK}\n"),
    # a marked chart `tag:` (its registry set elsewhere): a digest beside it is emptied
    (f"image: acme/api\ntag: v1 {MARK}\ndigest: sha256:{'ab' * 32}\n",
     f'image: acme/api\ntag: a2 {MARK}\ndigest: ""\n'),
    (f"tag: a2 {MARK}\nsha: '{'ab' * 32}'\n", f"tag: a2 {MARK}\nsha: ''\n"),
))
def test_fixes(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed


@pytest.mark.parametrize("source", (
    f"x: a2 {MARK}\n",
    "x: old # nix-tag-check: ignore\n",
    "x: old # bumped by nix-tag-check\n",
    "x: old # nix-tag-check runs in CI before kubectl apply\n",
    "x: old # nix-tag-check package.\n",
    "# nix-tag-check\nx: old\n",
    "x: old # nix-tag-checker: ghcr.io/acme/api\n",
    "x: 'old # Nix-Tag-Check image'\n",
    f"x: 'old {MARK}'\n",
    "x: old#nix-tag-check:ghcr.io/acme/api\n",
    f"script: |\n  old {MARK}\n",
    f"IMAGE_TAG: a2 {MARK}\ndigest: sha256:{'ab' * 32}\n",
    # a kustomization's name holds no tag: its newTag does
    f"kind: Kustomization\nimages:\n- name: ghcr.io/acme/api {MARK}\n  newTag: a2\n",
))
def test_leaves_alone(source: str) -> None:
    assert fix_text(source, EXPECTED) == source


@pytest.mark.parametrize(("source", "error"), (
    ("x: old # nix-tag-check: Not/A/Name\n", "1:8: marker names 'Not/A/Name'"),
    ("x: old # nix-tag-check: ghcr.io/acme/other\n", "1:8: marker names ghcr.io/acme/other, "
     "which is not a configured image (configured: ghcr.io/acme/api, registry.example.com/"),
    ("x: old # nix-tag-check ghcr.io/acme/api\n", "1:8: this comment looks like a marker"),
    ("x: old # nix-tag-check : ghcr.io/acme/api\n", "1:8: this comment looks like a marker"),
    ("x: old # Nix-Tag-Check: ghcr.io/acme/api\n", "1:8: this comment looks like a marker"),
    ("x: old # nix_tag_check: ghcr.io/acme/api\n", "1:8: this comment looks like a marker"),
    ("x: old # nix-tag-check:\n", "1:8: this comment looks like a marker"),
    ("# NIX-TAG-CHECK ghcr.io/acme/api\nx: old\n", "1:1: this comment looks like a marker"),
    ("x: old # nix-tag-check acme/api\n", "1:8: this comment looks like a marker"),
    ("x: old # nix-tag-check ignore\n", "1:8: this comment looks like a marker"),
    (f"{MARK}\nx: old\n", "1:1: marker for ghcr.io/acme/api has no value on its line"),
    (f"x:\n  {MARK}\n", "2:3: marker for ghcr.io/acme/api has no value on its line"),
    (f"x: not a tag {MARK}\n", "1:4: value marked for ghcr.io/acme/api is neither"),
    (f"x: ghcr.io/acme/other:1 {MARK}\n", "1:4: value marked for ghcr.io/acme/api is neither"),
))
def test_refuses(source: str, error: str) -> None:
    assert fix_error(source, EXPECTED).startswith(error)
