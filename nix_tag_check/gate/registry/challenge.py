"""The `WWW-Authenticate` header a registry answers 401 with (RFC 7235 auth-params)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: bearer, basic, ...
    params: dict[str, str] = field(default_factory=dict)
    raw: str = ""


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="https://auth/token",service="reg",scope="repository:a/b:pull"`."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM_RE.match(rest, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match[2], match[3]
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[match[1].lower()] = value
        position = match.end()
    return Challenge(scheme.lower(), params, header.strip())
