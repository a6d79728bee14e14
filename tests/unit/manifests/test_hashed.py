"""Which repositories a manifest gives a tag shaped like a Nix hash (the text search)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_tag_check.manifests import hashed

H = "d06r0v79f7v375fzplv6yc6025v8cyxf"


def found(tmp_path: Path, text: str | bytes) -> list[tuple[str, str, int]]:
    path = tmp_path / "manifest.yaml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return [(str(h.repository), h.name, h.line) for h in hashed.references([str(path)], 1 << 20)]


@pytest.mark.parametrize(("text", "expected"), [
    (f"image: docker.io/lewo/poc-tekton:{H}\n",
     [("docker.io/lewo/poc-tekton", "docker.io/lewo/poc-tekton", 1)]),
    (f"x: 1\nimage: 'hello-world:{H}'\n", [("docker.io/library/hello-world", "hello-world", 2)]),
    (f"args: [--image=localhost:5000/app:{H}]\n",
     [("localhost:5000/app", "localhost:5000/app", 1)]),
    (f"env: API=ghcr.io/acme/api:{H}@sha256:{'a' * 64}\n",
     [("ghcr.io/acme/api", "ghcr.io/acme/api", 1)]),
    (f"image:\n  repository: ghcr.io/acme/api\n  tag: \"{H}\"\n  pullPolicy: Always\n",
     [("ghcr.io/acme/api", "ghcr.io/acme/api", 3)]),
    (f"image:\n  registry: reg.example.com:5000\n  tag: {H}  # by Nix\n  repository: team/w\n",
     [("reg.example.com:5000/team/w", "reg.example.com:5000/team/w", 3)]),
    (f"images:\n- repository: acme/web\n  tag: {H}\n- repository: acme/other\n  tag: latest\n",
     [("docker.io/acme/web", "acme/web", 3)]),
    (f"image: acme/api:{H}\n".encode("utf-16"), [("docker.io/acme/api", "acme/api", 1)]),
])
def test_references_with_a_nix_hash_tag(
    tmp_path: Path, text: str | bytes, expected: list[tuple[str, str, int]]
) -> None:
    assert found(tmp_path, text) == expected


@pytest.mark.parametrize("text", [
    "image: acme/api:1.2.3\n",
    f"image: acme/api:{H}x\n",  # 33 characters
    f"image: acme/api:{H.replace('d', 'e')}\n",  # e is not in Nix's base32
    f"commit: {H}\n",  # a hash with no repository
    f"image:\n  repository: acme/api\nother:\n  tag: {H}\n",  # another mapping's tag
    f"image: Acme/Api:{H}\n",  # not a repository: upper case
])
def test_nothing_else_counts(tmp_path: Path, text: str) -> None:
    assert found(tmp_path, text) == []


def test_a_file_that_cannot_be_read_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "elsewhere.yaml")
    (tmp_path / "elsewhere.yaml").write_text(f"image: acme/api:{H}\n")
    paths = [str(tmp_path / "folder.yaml"), str(link), str(tmp_path / "missing.yaml")]
    assert hashed.references(paths, 1 << 20) == []
