"""Whether a run checked what it promised: a gate that checked nothing must not pass.

Globs that select no file, images that no checked file references and expected tags
that no manifest could hold are each an error with the place that configured them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nix_tag_check import paths
from nix_tag_check.config.load import CONFIG_NAME, Config, ImageSpec
from nix_tag_check.config.reference import TAG_RE, Repository
from nix_tag_check.errors import did_you_mean
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.manifests.select import MANIFEST_SUFFIXES, Selection

if TYPE_CHECKING:  # read again only to explain a missing image: a passing run never imports it
    from nix_tag_check.manifests import hashed

_MAX_SHOWN = 5


@dataclass(frozen=True)
class Gap:
    """One reason the check is incomplete; `path`/`line` locate it in the config if known."""

    message: str
    path: str | None = None
    line: int = 0
    warning: bool = False  # what an error said elsewhere hides: said, but no error itself


def empty_globs(config: Config, selection: Selection) -> list[Gap]:
    """`files:` globs that selected no file: a moved manifest would go unchecked."""
    gaps = []
    for index in selection.empty_globs:
        line = config.file_lines[index] if index < len(config.file_lines) else 0
        excluded = " (or only files that exclude: leaves out)" if config.exclude else ""
        gaps.append(Gap(
            f"files: glob {config.files[index]!r} matches no file{excluded}; fix or remove it",
            config.path, line,
        ))
    return gaps


def invalid_tags(evaluated: Iterable[Evaluated]) -> list[Gap]:
    """Tags no registry accepts: writing one would break every manifest that holds it."""
    return [
        Gap(f"{item.spec.name}: tag {item.tag!r} ({item.spec.source}) is not a valid image tag "
            "(letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'); "
            "change the image's imageTag, or use `tag: outPath`")
        for item in evaluated if not TAG_RE.fullmatch(item.tag)
    ]


def searched(config: Config, count: int) -> str:
    """What the files were, in the words of the config."""
    if config.files:
        where = "files: " + ", ".join(config.files)
        if config.exclude:
            where += "; exclude: " + ", ".join(config.exclude)
    else:
        suffixes = ", ".join(f"*{s}" for s in MANIFEST_SUFFIXES)
        where = f"every Git-tracked {suffixes} file"
    return f"{count} file(s) checked: {where}"


def _where(spec: ImageSpec, config: Config) -> tuple[str | None, int]:
    if spec.line and config.path:
        return config.path, spec.line
    return None, 0


def unreferenced(
    config: Config, evaluated: Sequence[Evaluated], referenced: set[str], count: int,
    files: Sequence[str] = (), unchecked: Mapping[str, Sequence[str]] | None = None,
) -> list[Gap]:
    """Required images that no checked file references (a misspelt name, a moved file).

    `files`: the checked files, read again only for a discovered image that nothing
    references, to say which repositories they do give Nix-built tags. An image named
    in a file that could not be checked (`unchecked`: image -> those files) is not said
    to be unreferenced: that file's error is the one to fix, and this says so.
    """
    specs = {spec.name: spec for spec in config.images}
    candidates: list[list[hashed.Hashed]] | None = None
    gaps = []
    for item in evaluated:
        spec = specs.get(item.spec.name, item.spec)  # cached results carry no config lines
        if not spec.required or spec.name in referenced:
            continue
        path, line = _where(spec, config)
        if unchecked and spec.name in unchecked:
            names = ", ".join(unchecked[spec.name])
            gaps.append(Gap(f"{spec.name}: not known to be up to date: {names} names it but "
                            "could not be checked (see its error)", path, line, warning=True))
            continue
        if config.discover:
            if candidates is None:
                candidates = _hashed_elsewhere(evaluated, files, config.max_file_size)
            hint = (f"discovered in {item.spec.source}; list the images to check in "
                    f"{CONFIG_NAME} (with `required: false` for one deployed elsewhere)"
                    + _pushed_as(item, candidates, config))
        elif config.path is None:
            hint = "check the name given to --image"
        else:
            hint = ("check its name and files:, or set `required: false` for an image "
                    "deployed from elsewhere")
            close = _closest(spec.name, config, files)
            hint = f"{close} {hint}" if close else hint
        gaps.append(Gap(
            f"{spec.name}: no checked file references this image ({searched(config, count)}); "
            f"{hint}", path, line,
        ))
    return gaps


def _closest(name: str, config: Config, files: Sequence[str]) -> str:
    """For a misspelt name: the closest repository the checked files reference that no
    configured image is, as `did you mean '...'?`."""
    from nix_tag_check.manifests import hashed

    configured = {spec.name for spec in config.images}
    written = hashed.repositories(files, config.max_file_size) - configured
    return did_you_mean(name, written)


def _hashed_elsewhere(evaluated: Sequence[Evaluated], files: Sequence[str],
                      max_size: int) -> list[list[hashed.Hashed]]:
    """Per repository that is not an evaluated image's, its places with a Nix-hash tag."""
    from nix_tag_check.manifests import hashed

    ours = {item.spec.repository for item in evaluated}
    by_repository: dict[Repository, list[hashed.Hashed]] = {}
    for place in hashed.references(files, max_size):
        if place.repository not in ours:
            by_repository.setdefault(place.repository, []).append(place)
    return list(by_repository.values())


def _pushed_as(item: Evaluated, candidates: list[list[hashed.Hashed]], config: Config) -> str:
    """The repositories the manifests give Nix-built tags, and the config that checks the
    likeliest as this image (the builder's `name` is often not what the pipeline pushes)."""
    if not candidates:
        return ""
    ranked = sorted(candidates, key=lambda places: (
        not any(p.tag == item.tag for p in places), -len(places), str(places[0].repository)))
    shown = ", ".join(f"{places[0].name} ({_place(places[0], config)}"
                      + (f", {len(places)} places)" if len(places) > 1 else ")")
                      for places in ranked[:_MAX_SHOWN])
    more = f" and {len(ranked) - _MAX_SHOWN} more" if len(ranked) > _MAX_SHOWN else ""
    return (f"; the checked files reference {shown}{more} with a tag shaped like a Nix hash: "
            f"if the pipeline pushes this image as {ranked[0][0].name}, check it with this "
            f"{CONFIG_NAME}: `images: [{_snippet(item, ranked[0][0].name)}]`")


def _place(place: hashed.Hashed, config: Config) -> str:
    return f"{paths.relative(place.path, config.root)}:{place.line}"


def _snippet(item: Evaluated, name: str) -> str:
    """The config entry, in YAML flow style: one line to paste."""
    spec = item.spec
    written = json.dumps(name) if "[" in name or "]" in name else name
    if spec.flake is not None:
        return f"{{name: {written}, flake: {spec.source}}}"
    nix, _, attr = spec.source.partition("#")
    return f"{{name: {written}, nix: {nix}" + (f", attr: {attr}}}" if attr else "}")
