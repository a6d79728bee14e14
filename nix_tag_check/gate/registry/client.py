"""Ask OCI registries whether `name:tag` exists, and under which digest.

A manifest HEAD on the distribution API (`/v2/<name>/manifests/<tag>`), with the
`WWW-Authenticate` challenge answered by Basic credentials or a Bearer token, as docker,
podman and skopeo do. Each distinct reference is asked once, a few at a time, and every
network call has a timeout: a registry that does not answer is an error, never a pass.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import http.client
import json
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from typing import Any

from nix_tag_check.gate.registry import auth as registry_auth
from nix_tag_check.gate.registry.challenge import Challenge, parse_challenge

DEFAULT_TIMEOUT = 10.0
DEFAULT_WORKERS = 8
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
MAX_BODY = 4 << 20


@dataclass(frozen=True)
class ImageRef:
    """A reference to ask about: registry host (as written, with port), repository path, tag."""

    host: str
    path: str
    tag: str

    def __str__(self) -> str:
        return f"{self.host}/{self.path}:{self.tag}"


class Outcome(enum.Enum):
    EXISTS = "exists"
    MISSING = "missing"
    ERROR = "error"


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    digest: str | None = None  # the manifest digest, when it exists
    reason: str = ""  # why it is an error: which registry, what went wrong


class Failure(Exception):
    """The registry could not say whether the reference exists."""


def endpoint(host: str) -> str:
    """Docker Hub's API lives on another host than its name."""
    return "registry-1.docker.io" if host == "docker.io" else host


def plain_http_allowed(host: str, insecure: Iterable[str]) -> bool:
    """Loopback registries and those listed as insecure may speak plain HTTP."""
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return bare in LOOPBACK or host in insecure or bare in insecure


@dataclass
class _Response:
    status: int
    headers: Message
    body: bytes


class Client:
    """One run's view of the registries: schemes, tokens and credentials it has learnt."""

    def __init__(self, insecure: Iterable[str] = (), timeout: float = DEFAULT_TIMEOUT) -> None:
        self.insecure = frozenset(insecure)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._schemes: dict[str, str] = {}
        self._tokens: dict[tuple[str, str], str] = {}
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def check(self, ref: ImageRef) -> Answer:
        """Whether `ref` exists; errors become an Answer, never an exception."""
        try:
            credential = registry_auth.find(ref.host, ref.path)
            return self._manifest(ref, credential)
        except (Failure, registry_auth.AuthError) as exc:
            return Answer(Outcome.ERROR, reason=str(exc))

    def _manifest(self, ref: ImageRef, credential: registry_auth.Credential | None) -> Answer:
        path = f"/v2/{ref.path}/manifests/{urllib.parse.quote(ref.tag)}"
        response = self._authorised(ref, "HEAD", path, credential)
        if response.status == 404:
            return Answer(Outcome.MISSING)
        _expect_ok(ref, response)
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:  # some registries send it only with GET
            response = self._authorised(ref, "GET", path, credential)
            _expect_ok(ref, response)  # an error page's hash is no digest
            digest = "sha256:" + hashlib.sha256(response.body).hexdigest()
        return Answer(Outcome.EXISTS, digest=digest)

    def _authorised(
        self, ref: ImageRef, method: str, path: str, cred: registry_auth.Credential | None,
    ) -> _Response:
        """The request, answering one authentication challenge if the registry makes one."""
        scope = f"repository:{ref.path}:pull"
        header = self._tokens.get((ref.host, scope))
        response = self._send(ref.host, method, path, header)
        if response.status != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        header = self._answer(ref.host, challenge, scope, cred)
        response = self._send(ref.host, method, path, header)
        if response.status == 401:
            raise Failure(_refused(ref.host, cred))
        if response.status == 403:
            raise Failure(f"registry {ref.host} denies pulling {ref.path} "
                          f"({_who(cred)}): HTTP 403")
        with self._lock:
            self._tokens[(ref.host, scope)] = header
        return response

    def _answer(
        self, host: str, challenge: Challenge, scope: str, cred: registry_auth.Credential | None,
    ) -> str:
        if challenge.scheme == "basic":
            if cred is None or cred.identity_token:
                raise Failure(_refused(host, None))
            return _basic(cred)
        if challenge.scheme != "bearer" or not challenge.params.get("realm"):
            raise Failure(f"registry {host} asks for authentication this tool does not speak: "
                          f"{challenge.raw or 'no WWW-Authenticate header'}")
        return "Bearer " + self._token(host, challenge, scope, cred)

    def _token(
        self, host: str, challenge: Challenge, scope: str, cred: registry_auth.Credential | None,
    ) -> str:
        """A Bearer token from the realm the challenge names (anonymous without credentials)."""
        realm = challenge.params["realm"]
        realm_host = urllib.parse.urlsplit(realm).netloc
        if not realm.startswith("https://") and not plain_http_allowed(realm_host, self.insecure):
            raise Failure(f"registry {host} sends credentials to a plain-HTTP realm {realm}; "
                          "refused (list the host under insecure-registries if you trust it)")
        form = {"service": challenge.params.get("service", ""),
                "scope": challenge.params.get("scope", scope)}
        if cred is not None and cred.identity_token:  # OAuth2: POST the refresh token
            form.update(grant_type="refresh_token", refresh_token=cred.secret,
                        client_id="nix-tag-check")
            request = urllib.request.Request(realm, data=urllib.parse.urlencode(form).encode())
        else:
            joiner = "&" if "?" in realm else "?"
            request = urllib.request.Request(f"{realm}{joiner}{urllib.parse.urlencode(form)}")
            if cred is not None:
                request.add_unredirected_header("Authorization", _basic(cred))
        response = self._fetch(request, realm_host)
        if response.status in (401, 403):
            raise Failure(_refused(host, cred))
        try:
            answer = json.loads(response.body)
            return str(answer.get("token") or answer["access_token"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Failure(f"token service {realm} of registry {host} answered HTTP "
                          f"{response.status} without a token") from exc

    def _send(self, host: str, method: str, path: str, authorization: str | None) -> _Response:
        scheme = self._scheme(host)
        request = urllib.request.Request(f"{scheme}://{endpoint(host)}{path}", method=method,
                                         headers={"Accept": MANIFEST_TYPES})
        if authorization:  # unredirected: a redirect to another host never carries it
            request.add_unredirected_header("Authorization", authorization)
        return self._fetch(request, host)

    def _scheme(self, host: str) -> str:
        """https, or http for a loopback/insecure registry that does not speak TLS."""
        with self._lock:
            if host in self._schemes:
                return self._schemes[host]
        scheme = "https"
        if plain_http_allowed(host, self.insecure):
            try:
                self._fetch(urllib.request.Request(f"https://{host}/v2/", method="GET"), host)
            except Failure as exc:
                if not isinstance(exc.__cause__, ssl.SSLError | ConnectionResetError):
                    raise
                scheme = "http"
        with self._lock:
            self._schemes[host] = scheme
        return scheme

    def _context(self, verify: bool) -> ssl.SSLContext:
        """One TLS context per kind and run: loading the CA bundle costs ~10 ms each time."""
        with self._lock:
            if verify not in self._contexts:
                context = ssl.create_default_context()
                if not verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._contexts[verify] = context
            return self._contexts[verify]

    def _fetch(self, request: urllib.request.Request, host: str) -> _Response:
        """One HTTP exchange; any status is an answer, a network failure is a Failure.

        The timeout bounds the whole exchange, not only each read: a registry that sends
        a byte at a time never lets a socket timeout expire."""
        context = self._context(verify=not plain_http_allowed(host, self.insecure))
        with _Watch(self.timeout) as watch:
            opener = urllib.request.build_opener(_HTTPHandler(watch),
                                                 _HTTPSHandler(watch, context))
            try:
                answer = _exchange(opener, request, self.timeout)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                cause: BaseException = exc
                if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason,
                                                                          BaseException):
                    cause = exc.reason
                if not watch.expired:
                    raise Failure(_unreachable(host, request.full_url, cause, self.timeout)
                                  ) from cause
        if watch.expired:  # cut short: what was read may look like a whole answer
            raise Failure(_unreachable(host, request.full_url, TimeoutError(), self.timeout))
        return answer


def _exchange(opener: urllib.request.OpenerDirector, request: urllib.request.Request,
              timeout: float) -> _Response:
    try:
        with opener.open(request, timeout=timeout) as response:
            return _Response(response.status, response.headers, response.read(MAX_BODY))
    except urllib.error.HTTPError as exc:
        with exc:
            return _Response(exc.code, exc.headers, exc.read(MAX_BODY))


class _Watch:
    """The sockets of one exchange, shut down when its time is up."""

    def __init__(self, timeout: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Watch:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    """Wake a read blocked on `sock` (the plain socket's shutdown: TLS's would send a close)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedHTTP(http.client.HTTPConnection):
    watch: _Watch

    def connect(self) -> None:
        super().connect()
        self.watch.add(self.sock)  # with TLS, the socket TLS wrapped the connection in


class _WatchedHTTPS(_WatchedHTTP, http.client.HTTPSConnection):
    pass


def _watched(kind: type[_WatchedHTTP], watch: _Watch) -> Callable[..., _WatchedHTTP]:
    def connection(host: str, **kwargs: Any) -> _WatchedHTTP:
        made = kind(host, **kwargs)
        made.watch = watch
        return made
    return connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self.watch = watch

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(_WatchedHTTP, self.watch), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watch, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.watch, self.context = watch, context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(_WatchedHTTPS, self.watch), req, context=self.context)


def _expect_ok(ref: ImageRef, response: _Response) -> None:
    """Anything but 200 (a 404 is handled before) means the registry could not say."""
    if response.status != 200:
        raise Failure(f"registry {ref.host} answered HTTP {response.status} for {ref}"
                      f"{_advice(response)}")


def _advice(response: _Response) -> str:
    """What the user can do about a status that is not an answer."""
    if response.status == 403:
        return ": access denied; check that these credentials may pull it"
    if response.status == 429:
        after = response.headers.get("Retry-After")
        return ": too many requests; try again later" + (
            f" (the registry asks to wait {after}s)" if after and after.isdigit() else "")
    if 500 <= response.status < 600:
        return ": the registry failed; try again later, or ask its operators"
    return ""


def _basic(cred: registry_auth.Credential) -> str:
    pair = f"{cred.username}:{cred.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _who(cred: registry_auth.Credential | None) -> str:
    return f"credentials from {cred.source}" if cred else "anonymously"


def _refused(host: str, cred: registry_auth.Credential | None) -> str:
    if cred is None:
        return (f"registry {host} requires credentials and none were found for it "
                f"(looked in {registry_auth.searched()}); log in with `docker login {host}` "
                "or `podman login`, or set REGISTRY_AUTH_FILE")
    return (f"registry {host} refused the credentials of {cred.username!r} from {cred.source}; "
            f"log in again")


def _unreachable(host: str, url: str, exc: BaseException, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError | socket.timeout):
        why = f"no answer within {timeout:g}s"
    elif isinstance(reason, ssl.SSLCertVerificationError):
        why = (f"TLS certificate not trusted ({reason.verify_message}); list the host under "
               "insecure-registries in the config if it is a test registry")
    elif isinstance(reason, ssl.SSLError):
        why = (f"TLS handshake failed ({reason.reason or reason}); if it serves plain HTTP, "
               "list the host under insecure-registries in the config")
    elif isinstance(reason, OSError) and reason.strerror:
        why = reason.strerror.lower() if reason.strerror else str(reason)
    elif isinstance(reason, http.client.HTTPException) and not isinstance(reason, OSError):
        why = f"its answer is not HTTP ({type(reason).__name__}); is it a registry?"
    else:
        why = str(reason)
    return f"registry {host} cannot be reached ({url}): {why}"


def lookup(
    refs: Iterable[ImageRef], insecure: Iterable[str] = (), timeout: float = DEFAULT_TIMEOUT,
    workers: int = DEFAULT_WORKERS,
) -> dict[ImageRef, Answer]:
    """Ask about each distinct reference once, at most `workers` at a time.

    Plain daemon threads rather than concurrent.futures: ~25 ms less to import, and an
    interrupted run exits without waiting for requests in flight.
    """
    distinct = list(dict.fromkeys(refs))
    client = Client(insecure, timeout)
    pending = list(reversed(distinct))
    answers: dict[ImageRef, Answer] = {}
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not pending:
                    return
                ref = pending.pop()
            answers[ref] = client.check(ref)

    threads = [threading.Thread(target=work, daemon=True)
               for _ in range(max(1, min(workers, len(distinct))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {ref: answers[ref] for ref in distinct}
