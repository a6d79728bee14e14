"""Docker/OCI image references: parse, normalise, compare.

Follows the grammar of github.com/distribution/reference, because that is what
kubelet, docker and skopeo accept: a name that would not be pulled is not a
reference to keep in step.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"


# The patterns a run uses only when it reads a manifest's text are compiled on first use:
# a run whose every file is cached compiles none of them (each costs about 1 ms).
@functools.cache
def _reference_re() -> re.Pattern[str]:
    return re.compile(
        rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH}))"
        rf"(?::(?P<tag>{TAG_RE.pattern}))?"
        rf"(?:@(?P<digest>{_DIGEST}))?",
        re.ASCII,
    )


@functools.cache
def registry_host_re() -> re.Pattern[str]:
    return re.compile(_DOMAIN, re.ASCII)


@functools.cache
def in_text_re() -> re.Pattern[str]:
    """A name inside free text (a flag, a URL, a line of a script): not the tail of a longer
    name (a scheme's `//` may come before it) nor its head (`api` in `api-gw`, `api/v2`); a
    tag that ends in a letter or digit (`repo:v1.` ends a sentence) and is not a port
    (`host:5000/path`); no name or tag character right after the whole reference."""
    return re.compile(
        rf"(?:(?<=//)|(?<![\w.@/-]))"
        rf"(?P<name>(?:{_DOMAIN}/)?{_PATH})(?![A-Za-z0-9_]|[._-]+[A-Za-z0-9]|/[A-Za-z0-9])"
        rf"(?:(?::(?P<tag>[\w](?:[\w.-]{{0,126}}[\w])?)(?![\w.-]*[\w/]))?"
        rf"(?:@(?P<digest>{_DIGEST})(?![\w]))?)"
        rf"(?![@\w])",
        re.ASCII,
    )


_NAME_RE = re.compile(rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH})", re.ASCII)
NIX_HASH_RE = re.compile(r"[0-9a-df-np-sv-z]{32}")

DOCKER_HUB = "docker.io"


class ReferenceError(ValueError):
    """The text is not an image reference."""


@dataclass(frozen=True)
class Repository:
    """A normalised repository: what two spellings of one image have in common."""

    domain: str
    path: str

    def __str__(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def needle(self) -> str:
        """Text that every spelling of this repository contains (for the pre-filter)."""
        if self.domain == DOCKER_HUB and self.path.startswith("library/"):
            return self.path[len("library/") :]
        return self.path


@dataclass(frozen=True)
class Reference:
    """A parsed reference, with the offsets needed to rewrite its tag in place."""

    repository: Repository
    name_end: int  # offset just past the repository name as written
    tag: str | None
    digest: str | None
    text: str

    def with_tag(self, tag: str) -> str:
        """The same reference as written, with `tag` and no digest."""
        return f"{self.text[: self.name_end]}:{tag}"


def _split_domain(domain: str | None, path: str) -> Repository:
    # distribution/reference: the first component is a registry only when it
    # looks like a host (has '.', ':' or is 'localhost'); else it is Docker Hub.
    if domain is None:
        return Repository(DOCKER_HUB, path if "/" in path else f"library/{path}")
    lowered = domain.lower()
    if "." not in lowered and ":" not in lowered and lowered != "localhost" and domain == lowered:
        full = f"{domain}/{path}"
        return Repository(DOCKER_HUB, full)
    if lowered == "index.docker.io":
        lowered = DOCKER_HUB
    if lowered == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return Repository(lowered, path)


def parse_repository(text: str) -> Repository:
    """Parse a repository name without tag or digest, as written in config."""
    match = _NAME_RE.fullmatch(text)
    if match is None:
        raise ReferenceError(_why_invalid(text))
    return _split_domain(match["domain"], match["path"])


def parse_reference(text: str) -> Reference:
    """Parse `[domain/]path[:tag][@digest]`."""
    match = _reference_re().fullmatch(text)
    if match is None:
        raise ReferenceError(_why_invalid(text))
    return Reference(
        repository=_split_domain(match["domain"], match["path"]),
        name_end=match.end("name"),
        tag=match["tag"],
        digest=match["digest"],
        text=text,
    )


def _why_invalid(text: str) -> str:
    if not text:
        return "empty image reference"
    if text != text.lower() and _reference_re().fullmatch(text.lower()):
        return f"invalid image reference {text!r}: repository name must be lowercase"
    return f"invalid image reference {text!r}"


def is_nix_hash(tag: str) -> bool:
    """True for a 32-character Nix store hash: the only content-addressed tag we compute."""
    return NIX_HASH_RE.fullmatch(tag) is not None
