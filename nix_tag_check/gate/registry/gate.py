"""The registry half of the gate: every up-to-date reference exists where the cluster pulls it.

The tag check proves a reference names what the commit builds; this asks the registry
whether that was pushed (and, given the build's digest, that it is what was pushed).
Stale references are already failing, so only references whose tag is right are asked,
and those left alone with `# nix-tag-check: ignore` (a pinned rollback is pulled too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nix_tag_check.config.load import ImageSpec
from nix_tag_check.config.reference import ReferenceError, Repository, parse_reference
from nix_tag_check.gate.registry import client as registry

DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


class DigestOptionError(ValueError):
    """A --registry-digest value that names no configured image or no digest."""


@dataclass(frozen=True)
class Place:
    """One reference to ask about, where it is written."""

    path: str | None  # as shown to the user; None for --print-expected (no file)
    line: int
    column: int
    image: str  # the configured name
    repository: Repository
    tag: str

    @property
    def reference(self) -> registry.ImageRef:
        return registry.ImageRef(self.repository.domain, self.repository.path, self.tag)


@dataclass(frozen=True)
class Problem:
    """A reference the registry does not confirm: missing, another digest, or an error."""

    place: Place
    kind: str  # missing | digest | error
    message: str
    digest: str | None = None  # what the registry has, for `digest`

    @property
    def is_error(self) -> bool:
        return self.kind == "error"


def parse_digests(values: Iterable[str], images: Sequence[ImageSpec]) -> dict[Repository, str]:
    """`NAME[:TAG]@sha256:HEX` per image, or a bare `sha256:HEX` when there is one image."""
    digests: dict[Repository, str] = {}
    for value in values:
        if DIGEST_RE.fullmatch(value):
            if len(images) != 1:
                raise DigestOptionError(f"--registry-digest {value}: name the image "
                                        "(NAME@sha256:...) when more than one is configured")
            digests[images[0].repository] = value
            continue
        name, _, digest = value.rpartition("@")
        try:
            repository = parse_reference(name).repository if name else None
        except ReferenceError as exc:
            raise DigestOptionError(f"--registry-digest {value}: {exc}") from None
        if not DIGEST_RE.fullmatch(digest) or repository is None:
            raise DigestOptionError(f"--registry-digest {value}: expected NAME@sha256:<64 hex "
                                    "digits> or sha256:<64 hex digits>")
        if all(image.repository != repository for image in images):
            raise DigestOptionError(f"--registry-digest {value}: {name} is not a configured "
                                    "image")
        digests[repository] = digest
    return digests


def _judge(place: Place, answer: registry.Answer, digests: Mapping[Repository, str],
           ) -> Problem | None:
    shown = f"{place.image}:{place.tag}"
    if answer.outcome is registry.Outcome.MISSING:
        return Problem(place, "missing", f"{shown} not found in the registry")
    if answer.outcome is registry.Outcome.ERROR:
        return Problem(place, "error", f"{shown}: {answer.reason}")
    wanted = digests.get(place.repository)
    if wanted is not None and answer.digest != wanted:
        return Problem(place, "digest", f"{shown} is {answer.digest} in the registry, not "
                       f"{wanted} (--registry-digest)", answer.digest)
    return None


def check(
    places: Sequence[Place], digests: Mapping[Repository, str], insecure: Iterable[str],
    timeout: float = registry.DEFAULT_TIMEOUT,
) -> list[Problem]:
    """Ask the registry about each distinct reference once; one problem per place it affects.

    An error is reported once per reference (at its first place): it says which registry
    failed and why, and repeating it for every manifest adds nothing.
    """
    answers = registry.lookup([place.reference for place in places], insecure, timeout)
    problems: list[Problem] = []
    errored: set[registry.ImageRef] = set()
    for place in places:
        problem = _judge(place, answers[place.reference], digests)
        if problem is None or (problem.is_error and place.reference in errored):
            continue
        if problem.is_error:
            errored.add(place.reference)
        problems.append(problem)
    return problems
