"""Whether a run checked what it promised: a gate that checked nothing must not pass.

Globs that select no file, images that no checked file references and expected tags
that no manifest could hold are each an error with the place that configured them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nix_tag_check.config.load import CONFIG_NAME, Config, ImageSpec
from nix_tag_check.config.reference import TAG_RE
from nix_tag_check.evaluate.nix import Evaluated
from nix_tag_check.manifests.select import MANIFEST_SUFFIXES, Selection


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
    unchecked: Mapping[str, Sequence[str]] | None = None,
) -> list[Gap]:
    """Required images that no checked file references (a misspelt name, a moved file).

    An image named in a file that could not be checked (`unchecked`: image -> those files)
    is not said to be unreferenced: that file's error is the one to fix, and this says so.
    """
    specs = {spec.name: spec for spec in config.images}
    gaps = []
    for item in evaluated:
        spec = specs.get(item.spec.name, item.spec)  # cached results carry no config lines
        if not spec.required or spec.name in referenced:
            continue
        path, line = _where(spec, config)
        if unchecked and spec.name in unchecked:
            files = ", ".join(unchecked[spec.name])
            gaps.append(Gap(f"{spec.name}: not known to be up to date: {files} names it but "
                            "could not be checked (see its error)", path, line, warning=True))
            continue
        if config.discover:
            hint = (f"discovered in {item.spec.source}; list the images to check in "
                    f"{CONFIG_NAME} (with `required: false` for one deployed elsewhere)")
        elif config.path is None:
            hint = "check the name given to --image"
        else:
            hint = ("check its name and files:, or set `required: false` for an image "
                    "deployed from elsewhere")
        gaps.append(Gap(
            f"{spec.name}: no checked file references this image ({searched(config, count)}); "
            f"{hint}", path, line,
        ))
    return gaps
