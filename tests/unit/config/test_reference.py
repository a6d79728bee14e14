"""Docker/OCI reference parsing and normalisation, as kubelet and docker read them."""

from __future__ import annotations

import pytest

from nix_tag_check.config.reference import (
    ReferenceError,
    Repository,
    is_nix_hash,
    parse_reference,
    parse_repository,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest"),
    [
        ("hello", "docker.io", "library/hello", None, None),
        ("hello:1.0", "docker.io", "library/hello", "1.0", None),
        ("library/hello", "docker.io", "library/hello", None, None),
        ("docker.io/library/hello", "docker.io", "library/hello", None, None),
        ("index.docker.io/library/hello:x", "docker.io", "library/hello", "x", None),
        ("docker.io/hello", "docker.io", "library/hello", None, None),
        ("team/hello", "docker.io", "team/hello", None, None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/app", "localhost:5000", "app", None, None),
        ("host:5000/a/b", "host:5000", "a/b", None, None),
        ("host:5000/a/b:v2", "host:5000", "a/b", "v2", None),
        ("registry.example.com/team/hello:old", "registry.example.com", "team/hello", "old", None),
        ("Registry.Example.com/app", "registry.example.com", "app", None, None),
        ("ghcr.io/acme/api@" + DIGEST, "ghcr.io", "acme/api", None, DIGEST),
        ("ghcr.io/acme/api:v1@" + DIGEST, "ghcr.io", "acme/api", "v1", DIGEST),
        ("[::1]:5000/app:t", "[::1]:5000", "app", "t", None),
        ("a.b/c__d/e-f.g:T_1.x-y", "a.b", "c__d/e-f.g", "T_1.x-y", None),
    ],
)
def test_reference_parses_and_normalises(
    text: str, domain: str, path: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.repository, ref.tag, ref.digest) == (Repository(domain, path), tag, digest)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "registry.example.com/Team/hello",
        "hello:",
        "hello:-bad",
        ":tag",
        "a//b",
        "a/b/",
        "hello world",
        "hello@sha256:short",
        "${IMAGE}",
        "{{ .Values.image }}",
        "hello:" + "t" * 129,
    ],
)
def test_invalid_reference_is_refused(text: str) -> None:
    with pytest.raises(ReferenceError):
        parse_reference(text)


def test_uppercase_path_error_says_why() -> None:
    with pytest.raises(ReferenceError, match="must be lowercase"):
        parse_reference("ghcr.io/Acme/api")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("hello", "docker.io/library/hello", True),
        ("library/hello", "index.docker.io/library/hello", True),
        ("ghcr.io/acme/api", "ghcr.io/acme/api-gw", False),
        ("hello", "registry.example.com/hello", False),
        ("localhost:5000/app", "localhost/app", False),
        ("team/hello", "docker.io/team/hello", True),
    ],
)
def test_repository_equality_follows_normalisation(a: str, b: str, same: bool) -> None:
    assert (parse_repository(a) == parse_repository(b)) is same


def test_with_tag_keeps_the_name_as_written_and_drops_the_digest() -> None:
    assert parse_reference("hello:1@" + DIGEST).with_tag("new") == "hello:new"
    assert parse_reference("localhost:5000/app").with_tag("t") == "localhost:5000/app:t"


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("bhvhf4ndzxgqnlwzv5s272i5xs2qs6v0", True),
        ("latest", False),
        ("bhvhf4ndzxgqnlwzv5s272i5xs2qs6ve", False),  # 'e' is not in Nix's base32
        ("bhvhf4ndzxgqnlwzv5s272i5xs2qs6v", False),
    ],
)
def test_nix_hash_recognition(tag: str, ok: bool) -> None:
    assert is_nix_hash(tag) is ok
