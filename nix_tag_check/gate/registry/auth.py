"""Registry credentials, found where `docker login` and `podman login` leave them.

Files are read in the order containers-auth.json(5) gives ($REGISTRY_AUTH_FILE or
$XDG_RUNTIME_DIR/containers/auth.json, then $XDG_CONFIG_HOME/containers/auth.json, then
$DOCKER_CONFIG/config.json or ~/.docker/config.json); the first file that knows the
registry wins. Within a file: `credHelpers` for the host, then the most specific `auths`
key (`host/ns/repo`, `host/ns`, `host`), then `credsStore`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass

HELPER_TIMEOUT = 30.0
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")


class AuthError(Exception):
    """Credentials exist but cannot be read: the check cannot go on for that registry."""


@dataclass(frozen=True)
class Credential:
    username: str
    secret: str
    source: str  # where it came from, for messages: a file or a helper

    @property
    def identity_token(self) -> bool:
        """An OAuth2 refresh token rather than a password (Docker's `<token>` user)."""
        return self.username == "<token>"


def auth_files() -> list[str]:
    """Candidate files, most preferred first (missing ones included; callers skip them)."""
    env = os.environ
    home = os.path.expanduser("~")
    files = []
    if env.get("REGISTRY_AUTH_FILE"):
        files.append(env["REGISTRY_AUTH_FILE"])
    elif env.get("XDG_RUNTIME_DIR"):
        files.append(os.path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files.append(os.path.join(config_home, "containers", "auth.json"))
    docker = env.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    files.append(os.path.join(docker, "config.json"))
    return files


def _key_host(key: str) -> str:
    """`https://host/v1/` and `host` name the same registry in an `auths` key."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):].split("/", 1)[0]
    return key


def _keys(host: str, path: str) -> list[str]:
    """Keys that can hold `host/path`'s credentials, most specific first."""
    parts = path.split("/")
    keys = [f"{host}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)] + [host]
    if host == "docker.io":
        keys += list(DOCKER_HUB_KEYS)
    return keys


def _read(path: str) -> dict[str, object] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AuthError(f"{path}: cannot read registry credentials: {exc}") from exc
    if not isinstance(data, dict):
        raise AuthError(f"{path}: not a registry credentials file (expected a JSON object)")
    return data


def _decode(path: str, key: str, entry: object) -> Credential | None:
    if not isinstance(entry, dict):
        raise AuthError(f"{path}: auths[{key!r}] is not an object")
    if entry.get("identitytoken"):
        return Credential("<token>", str(entry["identitytoken"]), path)
    if not entry.get("auth"):
        return None  # e.g. only `email`: Docker then asks the credsStore
    try:
        pair = base64.b64decode(str(entry["auth"]), validate=True).decode("utf-8")
        user, _, secret = pair.partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthError(f"{path}: auths[{key!r}].auth is not base64 of user:password") from exc
    return Credential(user, secret, path)


def _from_auths(path: str, auths: object, host: str, repo_path: str) -> Credential | None:
    if not isinstance(auths, dict):
        return None
    by_host: dict[str, object] = {}
    for key, entry in auths.items():
        by_host.setdefault(_key_host(str(key)) if "://" in str(key) else str(key), entry)
    for key in _keys(host, repo_path):
        if key in by_host:
            found = _decode(path, key, by_host[key])
            if found is not None:
                return found
    return None


def run_helper(name: str, host: str, path: str) -> Credential | None:
    """Ask `docker-credential-NAME get`; None when it has nothing for the host."""
    program = shutil.which(f"docker-credential-{name}")
    if program is None:
        raise AuthError(f"{path}: credential helper docker-credential-{name} is not installed "
                        f"(it is named for {host})")
    server = "https://index.docker.io/v1/" if host == "docker.io" else host
    try:
        done = subprocess.run([program, "get"], input=server, capture_output=True, text=True,
                              timeout=HELPER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AuthError(f"docker-credential-{name} did not answer in {HELPER_TIMEOUT:g}s") from exc
    if done.returncode != 0:
        if "credentials not found" in (done.stdout + done.stderr).lower():
            return None
        message = (done.stderr or done.stdout).strip().splitlines()
        raise AuthError(f"docker-credential-{name} failed for {host}: "
                        f"{message[-1] if message else f'exit {done.returncode}'}")
    try:
        answer = json.loads(done.stdout)
        return Credential(str(answer["Username"]), str(answer["Secret"]),
                          f"docker-credential-{name}")
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError(f"docker-credential-{name} answered something that is not "
                        "{Username, Secret} JSON") from exc


def _from_file(path: str, host: str, repo_path: str) -> Credential | None:
    data = _read(path)
    if data is None:
        return None
    helpers = data.get("credHelpers")
    if isinstance(helpers, dict):
        for key in (host, *DOCKER_HUB_KEYS) if host == "docker.io" else (host,):
            if key in helpers:
                return run_helper(str(helpers[key]), host, path)
    found = _from_auths(path, data.get("auths"), host, repo_path)
    store = data.get("credsStore")
    if (found is None and isinstance(store, str) and store
            and shutil.which(f"docker-credential-{store}") is not None):
        found = run_helper(store, host, path)
    return found


def find(host: str, repo_path: str) -> Credential | None:
    """Credentials for `host/repo_path`, or None (anonymous). Raises AuthError."""
    for path in auth_files():
        found = _from_file(path, host, repo_path)
        if found is not None:
            return found
    return None


def searched() -> str:
    """Where find() looked, for the message that says no credentials were found."""
    home = os.path.expanduser("~")
    return ", ".join(p.replace(home, "~", 1) if p.startswith(home) else p for p in auth_files())
