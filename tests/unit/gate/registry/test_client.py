"""The registry client against a real distribution registry on 127.0.0.1."""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from registry_server import Registry, TokenServer, oci_layout, running

from nix_tag_check.config import load as cfg
from nix_tag_check.config.load import ImageSpec
from nix_tag_check.config.reference import parse_repository
from nix_tag_check.gate.registry import auth as registry_auth
from nix_tag_check.gate.registry import client as registry
from nix_tag_check.gate.registry import gate as registry_gate
from nix_tag_check.gate.registry.challenge import parse_challenge
from nix_tag_check.gate.registry.client import Answer, ImageRef, Outcome

TAG = "0c3vh8lmz4ld1rq5jr0yb9xq7fxsxk3w"


pytestmark = pytest.mark.usefixtures("no_user_credentials")


def _served(root: Path, user: str | None = None, password: str | None = None,
            host_ip: str = "127.0.0.1") -> Iterator[tuple[Registry, str]]:
    with running(root, "acme/api", TAG, user, password, host_ip) as served:
        yield served


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, str]]:
    yield from _served(tmp_path_factory.mktemp("open"))


@pytest.fixture(scope="module")
def locked_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, str]]:
    yield from _served(tmp_path_factory.mktemp("locked"), "alice", "s3cret")


@pytest.fixture(scope="module")
def empty_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("empty"))
    try:
        yield server.start()
    finally:
        server.stop()


def ask(ref: ImageRef, **options: object) -> Answer:
    return registry.lookup([ref], **options)[ref]  # type: ignore[arg-type]


def test_a_pushed_reference_exists_with_the_digest_the_push_reported(
    open_registry: tuple[Registry, str],
) -> None:
    server, digest = open_registry
    assert ask(ImageRef(server.host, "acme/api", TAG)) == Answer(Outcome.EXISTS, digest)


@pytest.mark.parametrize("path, tag", [
    ("acme/api", "1dq4d2v2l6f3n5p8r0s9x7y4z1a2b3c4"),  # the tag was never pushed
    ("other/api", TAG),  # another namespace than the push
    ("acme/api-gw", TAG),  # another repository
])
def test_a_reference_that_was_not_pushed_is_missing(
    open_registry: tuple[Registry, str], path: str, tag: str,
) -> None:
    server, _ = open_registry
    assert ask(ImageRef(server.host, path, tag)) == Answer(Outcome.MISSING)


def test_a_reference_on_another_registry_host_is_missing(
    open_registry: tuple[Registry, str], empty_registry: Registry,
) -> None:
    assert ask(ImageRef(empty_registry.host, "acme/api", TAG)).outcome is Outcome.MISSING


def test_a_stopped_registry_is_an_error_that_says_it_cannot_be_reached(tmp_path: Path) -> None:
    server = Registry(tmp_path).start()
    server.stop()
    answer = ask(ImageRef(server.host, "acme/api", TAG))
    assert answer.outcome is Outcome.ERROR
    assert answer.reason.startswith(f"registry {server.host} cannot be reached")
    assert "connection refused" in answer.reason


def test_each_distinct_reference_is_asked_once(tmp_path: Path) -> None:
    server = Registry(tmp_path, log_level="info")
    try:
        server.start()
        server.push(oci_layout(tmp_path / "layout"), "acme/api", TAG)
        ref = ImageRef(server.host, "acme/api", TAG)
        other = ImageRef(server.host, "acme/api", "other")
        answers = registry.lookup([ref, other, ref, ref, other])
    finally:
        server.stop()
    assert [a.outcome for a in answers.values()] == [Outcome.EXISTS, Outcome.MISSING]
    asked = [line for line in server.log.read_text().splitlines()
             if '"HEAD /v2/acme/api/manifests/' in line]
    assert len(asked) == 2, asked


def _write_auth(path: Path, host: str, user: str, password: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


@pytest.mark.parametrize("where", ["REGISTRY_AUTH_FILE", "podman", "docker", "DOCKER_CONFIG"])
def test_basic_auth_works_with_credentials_where_logins_leave_them(
    locked_registry: tuple[Registry, str], where: str, no_user_credentials: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, digest = locked_registry
    if where == "REGISTRY_AUTH_FILE":
        monkeypatch.setenv(where, str(_write_auth(tmp_path / "auth.json", server.host,
                                                  "alice", "s3cret")))
    elif where == "podman":
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
        _write_auth(tmp_path / "run/containers/auth.json", server.host, "alice", "s3cret")
    elif where == "docker":
        _write_auth(no_user_credentials / ".docker/config.json", server.host, "alice", "s3cret")
    else:
        monkeypatch.setenv(where, str(tmp_path / "dc"))
        _write_auth(tmp_path / "dc/config.json", f"http://{server.host}/v1/", "alice", "s3cret")
    assert ask(ImageRef(server.host, "acme/api", TAG)) == Answer(Outcome.EXISTS, digest)


def test_basic_auth_without_credentials_says_none_were_found(
    locked_registry: tuple[Registry, str],
) -> None:
    server, _ = locked_registry
    answer = ask(ImageRef(server.host, "acme/api", TAG))
    assert answer.outcome is Outcome.ERROR
    assert answer.reason.startswith(
        f"registry {server.host} requires credentials and none were found for it (looked in "
    )


def test_wrong_credentials_are_refused_naming_their_file(
    locked_registry: tuple[Registry, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = locked_registry
    auth = _auth_file_env(monkeypatch, tmp_path, server.host, "wrong")
    answer = ask(ImageRef(server.host, "acme/api", TAG))
    assert answer == Answer(Outcome.ERROR, reason=(
        f"registry {server.host} refused the credentials of 'alice' from {auth}; log in again"
    ))


def _auth_file_env(monkeypatch: pytest.MonkeyPatch, where: Path, host: str, password: str) -> Path:
    """REGISTRY_AUTH_FILE naming a file with alice's credentials for `host`."""
    auth = _write_auth(where / "auth.json", host, "alice", password)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    return auth


def _helper(bin_dir: Path, name: str, answer: str) -> None:
    """A docker-credential-NAME program speaking the helper protocol (`get`, host on stdin)."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(f"#!/bin/sh\nread host\n{answer}\n")
    script.chmod(0o755)


def test_a_credential_helper_named_for_the_host_is_asked(
    locked_registry: tuple[Registry, str], no_user_credentials: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, digest = locked_registry
    _helper(tmp_path / "bin", "test", f'test "$host" = "{server.host}" && '
            'echo \'{"Username": "alice", "Secret": "s3cret"}\'')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = no_user_credentials / ".docker/config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"credHelpers": {server.host: "test"}}))
    assert ask(ImageRef(server.host, "acme/api", TAG)) == Answer(Outcome.EXISTS, digest)


def test_a_credential_helper_that_is_not_installed_is_an_error(
    locked_registry: tuple[Registry, str], no_user_credentials: Path,
) -> None:
    server, _ = locked_registry
    config = no_user_credentials / ".docker/config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"credHelpers": {server.host: "nonesuch"}}))
    answer = ask(ImageRef(server.host, "acme/api", TAG))
    assert answer == Answer(Outcome.ERROR, reason=(
        f"{config}: credential helper docker-credential-nonesuch is not installed "
        f"(it is named for {server.host})"
    ))


def test_plain_http_is_refused_for_a_registry_not_listed_as_insecure(tmp_path: Path) -> None:
    for server, _ in _served(tmp_path, host_ip="127.0.0.2"):
        answer = ask(ImageRef(server.host, "acme/api", TAG))
        assert answer.outcome is Outcome.ERROR
        assert answer.reason.startswith(f"registry {server.host} cannot be reached (https://")
        assert answer.reason.endswith("TLS handshake failed (WRONG_VERSION_NUMBER); if it "
                                      "serves plain HTTP, list the host under "
                                      "insecure-registries in the config")


def test_a_registry_listed_as_insecure_may_speak_plain_http(tmp_path: Path) -> None:
    for server, digest in _served(tmp_path, host_ip="127.0.0.2"):
        ref = ImageRef(server.host, "acme/api", TAG)
        assert ask(ref, insecure=[server.host]) == Answer(Outcome.EXISTS, digest)


@pytest.mark.parametrize("host, insecure, allowed", [
    ("localhost:5000", (), True),
    ("127.0.0.1:5000", (), True),
    ("127.0.0.1", (), True),
    ("[::1]:5000", (), True),
    ("registry.example.com", (), False),
    ("127.0.0.2:5000", (), False),
    ("registry.example.com:5000", ("registry.example.com:5000",), True),
    ("registry.example.com:5000", ("registry.example.com",), True),
    ("registry.example.com", ("registry.example.com:5000",), False),
])
def test_which_registries_may_speak_plain_http(
    host: str, insecure: tuple[str, ...], allowed: bool,
) -> None:
    assert registry.plain_http_allowed(host, insecure) is allowed


@pytest.mark.parametrize("header, scheme, params", [
    ('Bearer realm="https://auth.example.com/token",service="registry.example.com",'
     'scope="repository:acme/api:pull"', "bearer",
     {"realm": "https://auth.example.com/token", "service": "registry.example.com",
      "scope": "repository:acme/api:pull"}),
    ('Basic realm="basic-realm"', "basic", {"realm": "basic-realm"}),
    ('Bearer realm="https://a/t", error="insufficient_scope"', "bearer",
     {"realm": "https://a/t", "error": "insufficient_scope"}),
    ('bearer realm=https://a/t,service=r', "bearer", {"realm": "https://a/t", "service": "r"}),
    ('Bearer realm="a\\"b"', "bearer", {"realm": 'a"b'}),
    ("", "", {}),
])
def test_parse_challenge(header: str, scheme: str, params: dict[str, str]) -> None:
    challenge = parse_challenge(header)
    assert (challenge.scheme, challenge.params) == (scheme, params)


def test_docker_hub_is_asked_on_its_api_host() -> None:
    assert registry.endpoint("docker.io") == "registry-1.docker.io"
    assert registry.endpoint("ghcr.io") == "ghcr.io"


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Registry, TokenServer, str]]:
    root = tmp_path_factory.mktemp("token")
    tokens = TokenServer(root, "alice", "s3cret").start()
    server = Registry(root, "alice", "s3cret", token=tokens)
    try:
        server.start()
        digest = server.push(oci_layout(root / "layout"), "acme/api", TAG)
        server.push(oci_layout(root / "layout2", b"private\n"), "private/api", TAG)
        yield server, tokens, digest
    finally:
        server.stop()
        tokens.stop()


def test_an_anonymous_bearer_token_is_fetched_from_the_challenge_realm(
    token_registry: tuple[Registry, TokenServer, str],
) -> None:
    server, tokens, digest = token_registry
    tokens.seen.clear()
    assert ask(ImageRef(server.host, "acme/api", TAG)) == Answer(Outcome.EXISTS, digest)
    assert ask(ImageRef(server.host, "acme/api", "missing")) == Answer(Outcome.MISSING)
    assert tokens.seen == [None, None]


def test_a_bearer_token_is_fetched_with_the_credentials_of_the_auth_file(
    token_registry: tuple[Registry, TokenServer, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, tokens, _ = token_registry
    _auth_file_env(monkeypatch, tmp_path, server.host, "s3cret")
    tokens.seen.clear()
    assert ask(ImageRef(server.host, "private/api", TAG)).outcome is Outcome.EXISTS
    assert tokens.seen == [tokens.basic]


def test_a_private_repository_without_credentials_is_an_error(
    token_registry: tuple[Registry, TokenServer, str],
) -> None:
    server, _, _ = token_registry
    answer = ask(ImageRef(server.host, "private/api", TAG))
    assert answer.outcome is Outcome.ERROR
    assert "requires credentials and none were found" in answer.reason


def test_credentials_the_token_service_refuses_are_an_error(
    token_registry: tuple[Registry, TokenServer, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _, _ = token_registry
    auth = _auth_file_env(monkeypatch, tmp_path, server.host, "wrong")
    answer = ask(ImageRef(server.host, "acme/api", TAG))
    assert answer.reason == (f"registry {server.host} refused the credentials of 'alice' "
                             f"from {auth}; log in again")


def _spec(name: str) -> ImageSpec:
    return ImageSpec(name, parse_repository(name), "auto", "x86_64-linux", (), "default.nix#x")


API, WORKER = _spec("ghcr.io/acme/api"), _spec("ghcr.io/acme/worker")
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("values, images, digests", [
    ([DIGEST], [API], {API.repository: DIGEST}),
    ([f"ghcr.io/acme/api@{DIGEST}"], [API, WORKER], {API.repository: DIGEST}),
    ([f"ghcr.io/acme/worker:{TAG}@{DIGEST}"], [API, WORKER], {WORKER.repository: DIGEST}),
    ([], [API], {}),
])
def test_parse_digests(values: list[str], images: list[ImageSpec], digests: dict) -> None:
    assert registry_gate.parse_digests(values, images) == digests


@pytest.mark.parametrize("values, message", [
    ([DIGEST], "name the image (NAME@sha256:...) when more than one is configured"),
    ([f"ghcr.io/acme/other@{DIGEST}"], "ghcr.io/acme/other is not a configured image"),
    (["ghcr.io/acme/api@sha256:abc"], "expected NAME@sha256:<64 hex digits>"),
    (["sha1:" + "a" * 40], "expected NAME@sha256:<64 hex digits>"),
    ([f"Acme/API@{DIGEST}"], "invalid image reference 'Acme/API'"),
])
def test_parse_digests_refuses(values: list[str], message: str) -> None:
    with pytest.raises(registry_gate.DigestOptionError, match=re.escape(message)):
        registry_gate.parse_digests(values, [API, WORKER])


def _place(host: str, path: str, tag: str, line: int) -> registry_gate.Place:
    name = f"{host}/{path}"
    return registry_gate.Place("deploy/app.yaml", line, 18, name, parse_repository(name), tag)


def test_gate_reports_each_place_of_a_missing_reference(
    open_registry: tuple[Registry, str],
) -> None:
    server, _ = open_registry
    places = [_place(server.host, "acme/api", TAG, 3), _place(server.host, "acme/api", "x", 9),
              _place(server.host, "acme/api", "x", 20)]
    problems = registry_gate.check(places, {}, ())
    assert [(p.place.line, p.kind, p.message) for p in problems] == [
        (9, "missing", f"{server.host}/acme/api:x not found in the registry"),
        (20, "missing", f"{server.host}/acme/api:x not found in the registry"),
    ]


def test_gate_compares_the_digest_the_build_pushed(open_registry: tuple[Registry, str]) -> None:
    server, digest = open_registry
    place = _place(server.host, "acme/api", TAG, 3)
    assert registry_gate.check([place], {place.repository: digest}, ()) == []
    [problem] = registry_gate.check([place], {place.repository: DIGEST}, ())
    assert (problem.kind, problem.digest) == ("digest", digest)
    assert problem.message == (f"{server.host}/acme/api:{TAG} is {digest} in the registry, "
                               f"not {DIGEST} (--registry-digest)")


def test_gate_reports_an_unreachable_registry_once_per_reference() -> None:
    places = [_place("127.0.0.1:1", "acme/api", TAG, line) for line in (3, 9)]
    [problem] = registry_gate.check(places, {}, ())
    assert problem.is_error and problem.place.line == 3
    assert problem.message.startswith(f"127.0.0.1:1/acme/api:{TAG}: registry 127.0.0.1:1 "
                                      "cannot be reached")


def _config(tmp_path: Path, insecure: str) -> Path:
    (tmp_path / "default.nix").write_text("{}\n")
    path = tmp_path / ".nix-tag-check.yaml"
    path.write_text("images:\n  - name: reg.example.com/acme/api\n    nix: default.nix\n"
                    f"insecure-registries: {insecure}\n")
    return path


def test_config_lists_insecure_registries(tmp_path: Path) -> None:
    config = cfg.load(str(_config(tmp_path, "[reg.example.com:5000, 10.0.0.7]")))
    assert config.insecure_registries == ("reg.example.com:5000", "10.0.0.7")


@pytest.mark.parametrize("value, message", [
    ("[https://reg.example.com]", "insecure-registries: 'https://reg.example.com' is not a "
     "registry host (host or host:port, no scheme or path)"),
    ("[reg.example.com/ns]", "insecure-registries: 'reg.example.com/ns' is not a registry host"),
    ("{a: b}", "insecure-registries must be a list of hosts"),
])
def test_config_refuses_insecure_registries_that_are_not_hosts(
    tmp_path: Path, value: str, message: str,
) -> None:
    with pytest.raises(cfg.ConfigError, match=re.escape(f".nix-tag-check.yaml:4: {message}")):
        cfg.load(str(_config(tmp_path, value)))


def test_an_identity_token_is_exchanged_as_an_oauth2_refresh_token(
    token_registry: tuple[Registry, TokenServer, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, tokens, _ = token_registry
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {server.host: {"identitytoken": tokens.refresh_token}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    tokens.seen.clear()
    assert ask(ImageRef(server.host, "private/api", TAG)).outcome is Outcome.EXISTS
    assert tokens.seen == [f"refresh_token={tokens.refresh_token}"]


def test_a_creds_store_answers_for_hosts_the_auths_do_not_name(
    locked_registry: tuple[Registry, str], no_user_credentials: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, digest = locked_registry
    _helper(tmp_path / "bin", "store", 'echo \'{"Username": "alice", "Secret": "s3cret"}\'')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = no_user_credentials / ".docker/config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {"other.example.com": {"auth": "eDp5"}},
                                  "credsStore": "store"}))
    assert ask(ImageRef(server.host, "acme/api", TAG)) == Answer(Outcome.EXISTS, digest)


@pytest.mark.parametrize("key, host, path", [
    ("https://index.docker.io/v1/", "docker.io", "library/hello"),
    ("docker.io", "docker.io", "acme/api"),
    ("ghcr.io/acme", "ghcr.io", "acme/api"),
    ("ghcr.io/acme/api", "ghcr.io", "acme/api"),
    ("http://reg.example.com:5000/v1/", "reg.example.com:5000", "acme/api"),
])
def test_auths_keys_that_name_a_registry(
    key: str, host: str, path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = _write_auth(tmp_path / "auth.json", key, "alice", "s3cret")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    assert registry_auth.find(host, path) == registry_auth.Credential("alice", "s3cret", str(auth))


def test_the_most_specific_auths_key_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = tmp_path / "auth.json"
    entries = {key: {"auth": base64.b64encode(f"{user}:pw".encode()).decode()}
               for key, user in [("ghcr.io", "host"), ("ghcr.io/acme", "ns"),
                                 ("ghcr.io/acme/api", "repo")]}
    auth.write_text(json.dumps({"auths": entries}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    found = {path: registry_auth.find("ghcr.io", path) for path in
             ("acme/api", "acme/worker", "other/api")}
    assert {path: cred.username if cred else None for path, cred in found.items()} == {
        "acme/api": "repo", "acme/worker": "ns", "other/api": "host"}


@pytest.mark.parametrize("content, message", [
    ("{", "cannot read registry credentials"),
    ("[]", "not a registry credentials file"),
    ('{"auths": {"127.0.0.1:1": {"auth": "%%%"}}}', "auths['127.0.0.1:1'].auth is not base64"),
])
def test_an_unreadable_credentials_file_is_an_error(
    content: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(content)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    answer = ask(ImageRef("127.0.0.1:1", "acme/api", TAG))  # never reached: loopback anyway
    assert answer.outcome is Outcome.ERROR
    assert answer.reason.startswith(f"{auth}: {message}")


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 401 Basic without credentials, else redirects to `target`; records headers."""

    target = ""
    seen: ClassVar[list[str | None]] = []

    def do_HEAD(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        if self.target and self.headers.get("Authorization") is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
        elif self.target:
            self.send_response(307)
            self.send_header("Location", f"{self.target}{self.path}")
        else:
            self.send_response(200)
            self.send_header("Docker-Content-Digest", "sha256:" + "c" * 64)
        self.end_headers()

    do_GET = do_HEAD  # urllib follows a redirect with GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.HTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_credentials_never_follow_a_redirect_to_another_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = type("Elsewhere", (_Recorder,), {"target": "", "seen": []})
    other = _serve(elsewhere)
    registry_handler = type("Registry", (_Recorder,), {
        "target": f"http://127.0.0.1:{other.server_address[1]}", "seen": []})
    first = _serve(registry_handler)
    try:
        host = f"127.0.0.1:{first.server_address[1]}"
        _auth_file_env(monkeypatch, tmp_path, host, "s3cret")
        answer = ask(ImageRef(host, "acme/api", TAG))
    finally:
        for server in (first, other):
            server.shutdown()
            server.server_close()
    assert answer == Answer(Outcome.EXISTS, "sha256:" + "c" * 64), answer.reason
    assert registry_handler.seen[-1] is not None  # the registry got the credentials ...
    assert elsewhere.seen == [None]  # ... the host it redirected to did not
