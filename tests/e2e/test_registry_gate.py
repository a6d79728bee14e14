"""`--registry`: main() against real Nix and a real registry on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, git
from nixtools import attribute, out_path_hash
from registry_server import Registry, running

from nix_tag_check.main import main

pytestmark = pytest.mark.usefixtures("no_user_credentials")
WRONG_DIGEST = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def hello_tag() -> str:
    return out_path_hash(FIXTURES / "repo/default.nix", "hello")


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory, hello_tag: str,
           ) -> Iterator[tuple[Registry, str]]:
    """A registry holding acme/api under the tag Nix computes for the fixture's `hello`."""
    with running(tmp_path_factory.mktemp("pushed"), "acme/api", hello_tag) as served:
        yield served


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("empty"))
    try:
        yield server.start()
    finally:
        server.stop()


MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api}}
spec:
  template:
    spec:
      containers:
        - name: api
          image: {reference}
"""
WHERE = "deploy/app.yaml:9:18"


def make_repo(root: Path, name: str, tag: str, attr: str = "hello", extra: str = "") -> Path:
    """A Git repository with one image `name` (built from `attr`) referenced as `name:tag`."""
    root.mkdir()
    shutil.copy(FIXTURES / "repo/default.nix", root)
    shutil.copytree(FIXTURES / "repo/src", root / "src")
    (root / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {name}\n    nix: default.nix\n    attr: {attr}\n"
        f"files: [deploy/*.yaml]\n{extra}"
    )
    (root / "deploy").mkdir()
    (root / "deploy/app.yaml").write_text(MANIFEST.format(reference=f"{name}:{tag}"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


@pytest.fixture
def in_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def enter(name: str, tag: str, attr: str = "hello", extra: str = "") -> Path:
        root = make_repo(tmp_path / "repo", name, tag, attr, extra)
        monkeypatch.chdir(root)
        return root
    return enter


def test_a_reference_that_was_pushed_passes(
    pushed: tuple[Registry, str], hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = pushed
    in_repo(f"{server.host}/acme/api", hello_tag)
    assert main(["--registry"]) == 0
    assert capsys.readouterr().out == ""


def test_a_missing_tag_fails_at_its_place(
    pushed: tuple[Registry, str], in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = pushed
    tag = attribute(FIXTURES / "repo/default.nix", "worker.imageTag")  # never pushed
    in_repo(f"{server.host}/acme/api", tag, attr="worker")
    assert main(["--registry"]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"{WHERE}: {server.host}/acme/api:{tag} not found in the registry\n"
    assert "1 reference(s) not confirmed by the registry" in captured.err


def test_a_wrong_namespace_fails_at_its_place(
    pushed: tuple[Registry, str], hello_tag: str, in_repo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = pushed
    in_repo(f"{server.host}/other/api", hello_tag)
    assert main(["--registry"]) == 1
    assert capsys.readouterr().out == (
        f"{WHERE}: {server.host}/other/api:{hello_tag} not found in the registry\n"
    )


def test_a_wrong_registry_host_fails_at_its_place(
    pushed: tuple[Registry, str], empty: Registry, hello_tag: str, in_repo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo(f"{empty.host}/acme/api", hello_tag)
    assert main(["--registry"]) == 1
    assert capsys.readouterr().out == (
        f"{WHERE}: {empty.host}/acme/api:{hello_tag} not found in the registry\n"
    )


def test_json_lists_what_the_registry_lacks(
    empty: Registry, hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo(f"{empty.host}/acme/api", hello_tag)
    assert main(["--registry", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out) == {
        "findings": [], "errors": [], "warnings": [],
        "registry": [{"path": "deploy/app.yaml", "line": 9, "column": 18,
                      "image": f"{empty.host}/acme/api", "tag": hello_tag,
                      "problem": "missing", "digest": None}],
    }


def test_json_has_an_empty_registry_list_when_everything_exists(
    pushed: tuple[Registry, str], hello_tag: str, in_repo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo(f"{pushed[0].host}/acme/api", hello_tag)
    assert main(["--registry", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["registry"] == []


def test_github_annotates_the_line_the_registry_lacks(
    empty: Registry, hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo(f"{empty.host}/acme/api", hello_tag)
    assert main(["--registry", "--format", "github"]) == 1
    assert capsys.readouterr().out == (
        f"::error file=deploy/app.yaml,line=9,col=18,title=nix-tag-check::"
        f"{empty.host}/acme/api:{hello_tag} not found in the registry\n"
    )


def test_a_stopped_registry_is_an_error_not_a_pass(
    tmp_path: Path, hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    server = Registry(tmp_path / "stopped").start()
    server.stop()
    in_repo(f"{server.host}/acme/api", hello_tag)
    assert main(["--registry"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        f"error: {WHERE}: {server.host}/acme/api:{hello_tag}: registry {server.host} cannot "
        f"be reached (https://{server.host}/v2/): connection refused"
    )


def test_without_registry_a_stopped_registry_is_never_asked(
    tmp_path: Path, hello_tag: str, in_repo,
) -> None:
    in_repo("127.0.0.1:1/acme/api", hello_tag)
    assert main([]) == 0


def _auth_file(path: Path, host: str, password: str) -> Path:
    token = base64.b64encode(f"alice:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, hello_tag: str,
           ) -> Iterator[tuple[Registry, str]]:
    with running(tmp_path_factory.mktemp("locked"), "acme/api", hello_tag, "alice",
                 "s3cret") as served:
        yield served


def test_basic_auth_passes_with_a_credentials_file(
    locked: tuple[Registry, str], hello_tag: str, in_repo, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = locked
    in_repo(f"{server.host}/acme/api", hello_tag)
    auth = _auth_file(tmp_path / "auth.json", server.host, "s3cret")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    assert main(["--registry"]) == 0


def test_basic_auth_without_credentials_is_a_clear_error(
    locked: tuple[Registry, str], hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = locked
    in_repo(f"{server.host}/acme/api", hello_tag)
    assert main(["--registry"]) == 2
    assert (f"registry {server.host} requires credentials and none were found for it"
            in capsys.readouterr().err)


def test_refused_credentials_are_a_clear_error(
    locked: tuple[Registry, str], hello_tag: str, in_repo, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = locked
    in_repo(f"{server.host}/acme/api", hello_tag)
    auth = _auth_file(tmp_path / "auth.json", server.host, "wrong")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    assert main(["--registry"]) == 2
    assert (f"registry {server.host} refused the credentials of 'alice' from {auth}"
            in capsys.readouterr().err)


@pytest.mark.parametrize("form", ["{name}@{digest}", "{name}:{tag}@{digest}", "{digest}"])
def test_the_digest_the_build_pushed_passes(
    pushed: tuple[Registry, str], hello_tag: str, in_repo, form: str,
) -> None:
    server, digest = pushed
    name = f"{server.host}/acme/api"
    in_repo(name, hello_tag)
    value = form.format(name=name, tag=hello_tag, digest=digest)
    assert main(["--registry-digest", value]) == 0


def test_another_digest_fails_at_the_reference(
    pushed: tuple[Registry, str], hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    server, digest = pushed
    name = f"{server.host}/acme/api"
    in_repo(name, hello_tag)
    assert main(["--registry-digest", f"{name}@{WRONG_DIGEST}"]) == 1
    assert capsys.readouterr().out == (
        f"{WHERE}: {name}:{hello_tag} is {digest} in the registry, not {WRONG_DIGEST} "
        "(--registry-digest)\n"
    )


@pytest.mark.parametrize("value, message", [
    ("sha256:abc", "expected NAME@sha256:<64 hex digits> or sha256:<64 hex digits>"),
    ("ghcr.io/acme/other@" + WRONG_DIGEST, "ghcr.io/acme/other is not a configured image"),
    ("Bad/Name@" + WRONG_DIGEST, "invalid image reference 'Bad/Name'"),
])
def test_a_bad_registry_digest_is_an_error(
    pushed: tuple[Registry, str], hello_tag: str, in_repo, value: str, message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo(f"{pushed[0].host}/acme/api", hello_tag)
    assert main(["--registry-digest", value]) == 2
    assert capsys.readouterr().err.startswith(f"error: --registry-digest {value}: {message}")


@pytest.mark.parametrize("mode", ["--fix", "--diff"])
def test_registry_is_check_mode_only(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--registry", mode]) == 2
    assert "run it without --fix or --diff" in capsys.readouterr().err


def test_print_expected_prints_only_images_whose_tag_exists(
    pushed: tuple[Registry, str], hello_tag: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = pushed
    root = make_repo(tmp_path / "repo", f"{server.host}/acme/api", hello_tag)
    config = root / ".nix-tag-check.yaml"
    config.write_text(config.read_text().replace(
        "files:", f"  - name: {server.host}/acme/worker\n    nix: default.nix\n"
        "    attr: worker\nfiles:"))
    monkeypatch.chdir(root)
    worker = out_path_hash(FIXTURES / "repo/default.nix", "worker")
    assert main(["--print-expected", "--registry"]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"{server.host}/acme/api:{hello_tag}\n"
    assert f"{server.host}/acme/worker:" in captured.err
    assert worker not in captured.out
    assert main(["--print-expected", "--registry", "--format", "json"]) == 1


def test_print_expected_registry_exits_0_when_every_tag_exists(
    pushed: tuple[Registry, str], hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo(f"{pushed[0].host}/acme/api", hello_tag)
    assert main(["--print-expected", "--registry"]) == 0
    assert capsys.readouterr().out == f"{pushed[0].host}/acme/api:{hello_tag}\n"


def test_print_expected_registry_prints_nothing_when_the_registry_cannot_say(
    hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo("127.0.0.1:1/acme/api", hello_tag)
    assert main(["--print-expected", "--registry"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "registry 127.0.0.1:1 cannot be reached" in captured.err


def test_a_registry_listed_as_insecure_may_speak_plain_http(
    tmp_path: Path, hello_tag: str, in_repo,
) -> None:
    with running(tmp_path / "insecure", "acme/api", hello_tag, host_ip="127.0.0.2") as served:
        server, _ = served
        in_repo(f"{server.host}/acme/api", hello_tag,
                extra=f"insecure-registries: ['{server.host}']\n")
        assert main(["--registry"]) == 0


def test_a_registry_not_listed_as_insecure_must_speak_tls(
    tmp_path: Path, hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    with running(tmp_path / "insecure", "acme/api", hello_tag, host_ip="127.0.0.2") as served:
        server, _ = served
        in_repo(f"{server.host}/acme/api", hello_tag)
        assert main(["--registry"]) == 2
        assert f"registry {server.host} cannot be reached (https://" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["'https://reg.example.com'", "'reg.example.com/ns'", "{a: b}"])
def test_insecure_registries_must_be_hosts(
    hello_tag: str, in_repo, value: str, capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo("reg.example.com/acme/api", hello_tag, extra=f"insecure-registries: [{value}]\n")
    assert main([]) == 2
    assert capsys.readouterr().err.startswith("error: .nix-tag-check.yaml:6: insecure-registries")


def test_a_run_without_registry_does_not_import_the_client(
    hello_tag: str, in_repo,
) -> None:
    in_repo("reg.example.com/acme/api", hello_tag)
    code = ("import sys; from nix_tag_check.main import main; assert main([]) == 0; "
            "print(sorted(m for m in sys.modules if 'registry' in m or m == 'urllib.request'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=600)
    assert done.stdout == "[]\n"


def test_an_ignored_reference_must_still_exist_where_the_cluster_pulls_it(
    pushed: tuple[Registry, str], hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = pushed
    name = f"{server.host}/acme/api"
    root = in_repo(name, hello_tag)
    pinned = "1dq4d2v2l6f3n5p8r0s9x7y4z1a2b3c4"  # a rollback image, pinned on purpose
    (root / "deploy/rollback.yaml").write_text(
        f"image: {name}:{pinned}  # nix-tag-check: ignore\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pin a rollback")
    assert main(["--registry"]) == 1
    assert capsys.readouterr().out == (
        f"deploy/rollback.yaml:1:8: {name}:{pinned} not found in the registry\n")


def test_a_run_from_the_scan_cache_still_asks_the_registry(
    empty: Registry, hello_tag: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    in_repo(f"{empty.host}/acme/api", hello_tag)
    assert main([]) == 0  # fills the evaluation and scan caches
    assert main(["--registry"]) == 1
    assert main(["--registry"]) == 1
    assert capsys.readouterr().out.count("not found in the registry") == 2
