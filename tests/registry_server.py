"""A real distribution registry on 127.0.0.1 for the tests, and a small image to push to it.

The registry is Debian's `docker-registry`; images are OCI layouts written here in Python
and copied with `skopeo`, as a build task pushes them. Loopback only, and every process
started here is stopped by `stop()` (the fixtures call it in a finally).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

START_TRIES = 400  # x 0.05 s: how long a slow machine may take to open the port
SKOPEO_TIMEOUT = 120


def listening_port(pid: int) -> int | None:
    """The TCP port process `pid` listens on (Linux /proc), None while it listens on none.

    The registry binds port 0 and is asked afterwards: a port picked free beforehand could be
    taken in between by a test running beside this one (-n), whose registry would answer."""
    sockets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                sockets.add(target[len("socket:["):-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in sockets:  # 0A: LISTEN; 9: the inode
                return int(fields[1].rsplit(":", 1)[1], 16)
    return None


class Registry:
    """`docker-registry serve` on 127.0.0.1:PORT, optionally behind htpasswd basic auth."""

    def __init__(self, root: Path, user: str | None = None, password: str | None = None,
                 host_ip: str = "127.0.0.1", log_level: str = "warn",
                 token: TokenServer | None = None):
        self.root, self.token = root, token
        root.mkdir(parents=True, exist_ok=True)
        self.user, self.password = user, password
        self.host_ip, self.port = host_ip, 0  # the port: the one it binds, once started
        self.host = f"{host_ip}:{self.port}"
        self.log_level = log_level
        self.log = root / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        lines = [
            "version: 0.1", f"log: {{level: {self.log_level}}}",
            f"storage: {{filesystem: {{rootdirectory: {self.root / 'data'}}}}}",
            f"http: {{addr: '{self.host}'}}",
        ]
        if self.token:
            lines.append(self.token.registry_auth())
        elif self.user:
            htpasswd = self.root / "htpasswd"
            hashed = subprocess.run(["htpasswd", "-nbB", self.user, self.password or ""],
                                    check=True, capture_output=True, text=True, timeout=60)
            htpasswd.write_text(hashed.stdout.strip() + "\n")
            lines.append(f"auth: {{htpasswd: {{realm: test, path: {htpasswd}}}}}")
        config = self.root / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> Registry:
        config = self._config()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(["docker-registry", "serve", str(config)],
                                            stdout=log, stderr=subprocess.STDOUT)
        for _ in range(START_TRIES):
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log.read_text()}")
            if not self.port:
                self.port = listening_port(self.process.pid) or 0
                self.host = f"{self.host_ip}:{self.port}"
                if not self.port:
                    time.sleep(0.05)
                    continue
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
                return self
            except urllib.error.HTTPError:
                return self  # 401: up, and asking for credentials
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not open {self.host}: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def push(self, layout: Path, path: str, tag: str) -> str:
        """Copy the layout's image to `host/path:tag`; the pushed manifest's digest."""
        digest_file = self.root / "digest"
        command = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                   "--digestfile", str(digest_file), f"oci:{layout}:latest",
                   f"docker://{self.host}/{path}:{tag}"]
        if self.user:
            command[3:3] = ["--dest-creds", f"{self.user}:{self.password}"]
        subprocess.run(command, check=True, capture_output=True, timeout=SKOPEO_TIMEOUT)
        return digest_file.read_text().strip()


@contextlib.contextmanager
def running(root: Path, path: str, tag: str, user: str | None = None,
            password: str | None = None, host_ip: str = "127.0.0.1",
            ) -> Iterator[tuple[Registry, str]]:
    """A registry holding one small image at `path:tag`, and the digest it was pushed as."""
    server = Registry(root, user, password, host_ip=host_ip)
    try:
        server.start()
        yield server, server.push(oci_layout(root / "layout"), path, tag)
    finally:
        server.stop()


def _blob(blobs: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_layout(where: Path, content: bytes = b"hello\n") -> Path:
    """A one-layer OCI image layout, tagged `latest`: the smallest image a registry takes."""
    blobs = where / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    raw = tar_bytes.getvalue()
    layer = _blob(blobs, gzip.compress(raw, mtime=0))
    config = _blob(blobs, json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    }).encode())
    manifest = _blob(blobs, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }).encode())
    (where / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (where / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }]}))
    return where


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    """A Docker token service on 127.0.0.1: anonymous pull of public repositories, anything
    for `user:password`, nothing under `private/` without them. Signs RS256 JWTs with a
    throwaway key whose self-signed certificate the registry trusts."""

    def __init__(self, root: Path, user: str, password: str, service: str = "test-registry"):
        self.root, self.service = root, service
        self.basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.key, self.cert = root / "token.key", root / "token.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=token", "-keyout", str(self.key), "-out", str(self.cert)],
                       check=True, capture_output=True, timeout=120)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True, timeout=60).stdout
        self.x5c = base64.b64encode(der).decode()
        self.refresh_token = "refresh-" + user
        self.seen: list[str | None] = []  # the Authorization header of each token request
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def registry_auth(self) -> str:
        return (f"auth: {{token: {{realm: '{self.realm}', service: {self.service}, "
                f"issuer: test-issuer, rootcertbundle: {self.cert}}}}}")

    def token(self, access: list[dict[str, object]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": "test-issuer", "sub": "test", "aud": self.service, "iat": now,
                  "nbf": now - 60, "exp": now + 600, "jti": str(now), "access": access}
        signing_input = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims))
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), check=True,
                                   capture_output=True, timeout=60).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def grant(self, scope: str, authorization: str | None) -> list[dict[str, object]] | None:
        """The access a scope `repository:NAME:ACTIONS` gets; None: credentials refused."""
        if authorization is not None and authorization != self.basic:
            return None
        _, name, actions = scope.split(":") if scope.count(":") == 2 else ("", "", "")
        if authorization is None and (name.startswith("private/") or not name):
            return []
        allowed = actions.split(",") if authorization else ["pull"]
        return [{"type": "repository", "name": name, "actions": allowed}]

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                authorization = self.headers.get("Authorization")
                server.seen.append(authorization)
                self.answer(server.grant(query.get("scope", [""])[0], authorization))

            def answer(self, access: list[dict[str, object]] | None, key: str = "token",
                       ) -> None:
                if access is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({key: server.token(access), "expires_in": 600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # OAuth2: an identity token as refresh token
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                server.seen.append("refresh_token=" + form.get("refresh_token", [""])[0])
                granted = form.get("refresh_token") == [server.refresh_token]
                access = server.grant(form.get("scope", [""])[0],
                                      server.basic if granted else "refused")
                self.answer(access, key="access_token")  # as OAuth2 servers name it

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def start(self) -> TokenServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=30)
