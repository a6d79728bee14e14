"""Rule kustomize: `(source, fixed)` one-liners per case, and texts the fix leaves alone.

Sources are the `images:` of a file named kustomization.yaml.
"""

from __future__ import annotations

import pytest
from conftest import HELLO, HELLO_TAG, expected_map, fix_error

from nix_tag_check.fix.apply import fix_text

EXPECTED = expected_map(hello="h2", api="a2")
PATH = "deploy/kustomization.yaml"
D = "sha256:" + "0123456789abcdef" * 4
ENTRY = "images:\n- name: ghcr.io/acme/api\n"


@pytest.mark.parametrize(("source", "fixed"), (
    # add_tag: no newTag, no digest
    (ENTRY, f"{ENTRY}  newTag: a2\n"),
    (ENTRY.rstrip("\n"), f"{ENTRY}  newTag: a2"),
    (ENTRY.replace("\n", "\r\n"), f"{ENTRY}  newTag: a2\n".replace("\n", "\r\n")),
    ("images:\n- name: x\n  newName: ghcr.io/acme/api\n",
     "images:\n- name: x\n  newName: ghcr.io/acme/api\n  newTag: a2\n"),
    ("images: [{name: ghcr.io/acme/api}]\n", "images: [{name: ghcr.io/acme/api, newTag: a2}]\n"),
    # digest_to_tag: no newTag, a digest
    (f"{ENTRY}  digest: {D}\n", f"{ENTRY}  newTag: a2\n"),
    # set_tag: a stale newTag, no digest
    (f"{ENTRY}  newTag: old\n", f"{ENTRY}  newTag: a2\n"),
    (f"{ENTRY}  newTag: 'old'\n", f"{ENTRY}  newTag: 'a2'\n"),
    (f"{ENTRY}  newTag:\n", f"{ENTRY}  newTag: a2\n"),
    ("images: [{name: ghcr.io/acme/api, newTag: old}]\n",
     "images: [{name: ghcr.io/acme/api, newTag: a2}]\n"),
    # set_tag_drop_digest: a newTag and a digest
    (f"{ENTRY}  newTag: old\n  digest: {D}\n", f"{ENTRY}  newTag: a2\n"),
    (f"{ENTRY}  newTag: a2\n  digest: {D}\n", f"{ENTRY}  newTag: a2\n"),
    (f"{ENTRY}  digest: {D}\n  newTag: old\n", f"{ENTRY}  newTag: a2\n"),
    (f"{ENTRY}  newTag: a2\n  digest: {D}", f"{ENTRY}  newTag: a2"),
    (f"{ENTRY}  newTag: old\n  digest: {D}  # pinned\n", f"{ENTRY}  newTag: a2\n    # pinned\n"),
    (f'images: [{{name: ghcr.io/acme/api, newTag: old, digest: "{D}"}}]\n',
     "images: [{name: ghcr.io/acme/api, newTag: a2}]\n"),
    (f'images: [{{digest: "{D}", name: ghcr.io/acme/api, newTag: old}}]\n',
     "images: [{name: ghcr.io/acme/api, newTag: a2}]\n"),
))
def test_fixes(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED, PATH) == fixed


def test_a_kustomization_is_known_by_its_kind_too() -> None:
    source = f"kind: Kustomization\n{ENTRY}  newTag: old\n"
    assert fix_text(source, EXPECTED, "other.yaml") == source.replace("old", "a2")


@pytest.mark.parametrize("source", (
    f"{ENTRY}  newTag: a2\n",
    f"{ENTRY}  newTag: a2\n  digest:\n",
    "images:\n- name: ghcr.io/acme/api\n  newName: ghcr.io/acme/other\n",
    "images:\n- name: ghcr.io/acme/other\n",
    "images:\n- ghcr.io/acme/api\n",
    "images: {name: ghcr.io/acme/api}\n",
    f"{ENTRY}  newTag: [old]\n",
    "other:\n- name: ghcr.io/acme/api\n",
))
def test_leaves_alone(source: str) -> None:
    assert fix_text(source, EXPECTED, PATH) == source


def test_is_no_kustomization_without_its_file_name_or_kind() -> None:
    assert fix_text(ENTRY, EXPECTED, "deploy/app.yaml") == ENTRY


@pytest.mark.parametrize(("source", "error"), (
    (f"{ENTRY}  digest: &d {D}\n", "3:3: this digest carries an anchor"),
    (f"{ENTRY}  newTag: old\n  digest: x\n  dummy: 1\n  digest: y\n", "6:3: duplicate key"),
    (f"{ENTRY}  digest:\n    {D}\n", "3:3: cannot replace this digest"),
    (f"{ENTRY}  newTag: old\n  digest:\n    {D}\n", "4:3: cannot remove a digest that spans"),
    (f"pin: &p {{digest: {D}}}\nimages: [{{<<: *p, name: {HELLO}, newTag: old}}]\n",
     "1:10: this digest comes through a merge key"),
    (f"pin: &p {{digest: {D}}}\nimages:\n- <<: *p\n  name: {HELLO}\n  newTag: old\n",
     "1:10: this digest comes through a merge key"),
))
def test_refuses(source: str, error: str) -> None:
    assert fix_error(source, EXPECTED, PATH).startswith(error)


def test_an_anchored_empty_tag_is_filled_after_its_anchor() -> None:
    text = "images:\n- name: registry.example.com/team/hello\n  newTag: &t\n"
    fixed = fix_text(text, expected_map(), "kustomization.yaml")
    assert fixed == text.replace("&t", f"&t {HELLO_TAG}")


def test_an_added_newtag_that_would_read_as_a_number_is_quoted() -> None:
    text = f"images:\n- name: {HELLO}\n"
    fixed = fix_text(text, expected_map(hello="1.20"), "kustomization.yaml")
    assert fixed == f'{text}  newTag: "1.20"\n'
