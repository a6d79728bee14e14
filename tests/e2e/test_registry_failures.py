"""`--registry` against registries that fail: an error at the reference (exit 2), never a pass.

The registries here are small servers on 127.0.0.1 that answer as a rate-limited, forbidding,
broken or silent registry does; the tool runs against them through main() with real Nix.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from conftest import FIXTURES
from nixtools import out_path_hash
from test_registry_gate import WHERE, make_repo

from nix_tag_check.main import main

pytestmark = pytest.mark.usefixtures("no_user_credentials")
SILENT_FOR = 10.0  # seconds a silent server holds a connection: a bug cannot hang CI forever
DIGEST = "sha256:" + "1" * 64


@pytest.fixture(scope="module")
def hello_tag() -> str:
    return out_path_hash(FIXTURES / "repo/default.nix", "hello")


@contextmanager
def answering(head: int, get: int = 200, digest: bool = True,
              stall: str = "") -> Iterator[str]:
    """A plain-HTTP registry on 127.0.0.1 whose manifest HEAD and GET answer these statuses,
    or stall: say nothing (`silent`), or one byte of an endless header every quarter second
    (`trickle`), for SILENT_FOR seconds."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.answer(head, b"")

        def do_GET(self) -> None:
            if self.path == "/v2/":
                self.answer(200, b"{}")
            else:
                self.answer(get, b'{"errors": [{"code": "UNKNOWN"}]}' if get != 200 else b"{}")

        def answer(self, status: int, body: bytes) -> None:
            if stall and self.path != "/v2/":
                self.stall()
                return
            self.send_response(status)
            if status == 200 and digest:
                self.send_header("Docker-Content-Digest", DIGEST)
            if status == 429:
                self.send_header("Retry-After", "30")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

        def stall(self) -> None:
            if stall == "silent":
                time.sleep(SILENT_FOR)
                return
            with suppress(OSError):  # the client hung up: what a timeout does
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(int(SILENT_FOR * 4)):
                    self.wfile.write(b"a")
                    self.wfile.flush()
                    time.sleep(0.25)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


@contextmanager
def silent(says: bytes = b"") -> Iterator[str]:
    """A server that accepts connections and says nothing more than `says`; it closes them
    after a while."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        held: list[tuple[socket.socket, float]] = []
        while not stop.is_set():
            with suppress(TimeoutError):
                conn = listener.accept()[0]
                conn.sendall(says)
                held.append((conn, time.monotonic()))
            for conn, since in list(held):
                if time.monotonic() - since > SILENT_FOR:
                    conn.close()
                    held.remove((conn, since))
        for conn, _ in held:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=30)
        listener.close()


@pytest.fixture
def in_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hello_tag: str):  # type: ignore[no-untyped-def]
    def enter(host: str) -> str:
        monkeypatch.chdir(make_repo(tmp_path / "repo", f"{host}/acme/api", hello_tag))
        return f"{host}/acme/api:{hello_tag}"
    return enter


FAILURES = {  # each status, and what the error says to do about it
    403: "access denied; check that these credentials may pull it",
    429: "too many requests; try again later (the registry asks to wait 30s)",
    500: "the registry failed; try again later, or ask its operators",
    502: "the registry failed; try again later, or ask its operators",
    503: "the registry failed; try again later, or ask its operators",
}
REQUESTS = [  # a registry that sends no digest on HEAD is asked again with GET
    *[pytest.param({"head": status}, status, id=f"HEAD-{status}") for status in FAILURES],
    *[pytest.param({"head": 200, "get": status, "digest": False}, status, id=f"GET-{status}")
      for status in FAILURES],
]


@pytest.mark.parametrize("answers, status", REQUESTS)
def test_a_failing_manifest_request_is_a_located_error(
    answers: dict, status: int, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    with answering(**answers) as host:
        reference = in_repo(host)
        assert main(["--registry"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[0] == (
        f"error: {WHERE}: {reference}: registry {host} answered HTTP {status} for {reference}"
        f": {FAILURES[status]}")


def test_a_failing_manifest_get_never_stands_for_the_digest(
    in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    with answering(head=200, get=500, digest=False) as host:
        reference = in_repo(host)
        name = reference.rsplit(":", 1)[0]
        assert main(["--registry-digest", f"{name}@{DIGEST}"]) == 2
    assert f"registry {host} answered HTTP 500" in capsys.readouterr().err


SILENT = [  # where the registry stops answering, and the URL the tool was waiting on
    pytest.param(silent, "https://{host}/v2/", id="after-accepting"),
    pytest.param(lambda: answering(head=200, stall="silent"),
                 "http://{host}/v2/acme/api/manifests/", id="on-the-manifest"),
    pytest.param(lambda: answering(head=200, stall="trickle"),
                 "http://{host}/v2/acme/api/manifests/", id="byte-by-byte"),
]


@pytest.mark.parametrize("server, url", SILENT)
def test_a_registry_that_never_answers_is_an_error_after_the_timeout(
    server, url: str, in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    with server() as host:
        reference = in_repo(host)
        assert main(["--registry", "--registry-timeout", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {WHERE}: {reference}: registry {host} cannot be "
                                   f"reached ({url.format(host=host)}")
    assert ": no answer within 1s" in captured.err


def test_a_server_that_does_not_speak_http_is_an_error(
    in_repo, capsys: pytest.CaptureFixture[str],
) -> None:
    with silent(says=b"SSH-2.0-OpenSSH_9.6\r\n") as host:
        reference = in_repo(host)
        assert main(["--registry", "--registry-timeout", "1"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: {WHERE}: {reference}: registry {host} cannot be reached "
        f"(http://{host}/v2/acme/api/manifests/{reference.rsplit(':', 1)[1]}): its answer is "
        "not HTTP (BadStatusLine); is it a registry?")
