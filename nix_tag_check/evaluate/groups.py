"""What evaluation is asked and what it answers, without running Nix: the images grouped into
one Nix process each (Group), how and under which cache key each group is evaluated
(Plan), and each image's expected tag (Evaluated).

A run whose tags are all cached needs these and nothing of nix.py, which runs Nix and reads
what it says: so a cached run never imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nix_tag_check import paths
from nix_tag_check.config.load import Config, ImageSpec
from nix_tag_check.config.reference import is_nix_hash, parse_repository
from nix_tag_check.errors import EvalError

if TYPE_CHECKING:
    from nix_tag_check.evaluate.reach import Reach
    from nix_tag_check.evaluate.tracked_tree import View


@dataclass(frozen=True)
class Evaluated:
    """An image's expected tag, with where it came from."""

    spec: ImageSpec
    tag: str
    out_path: str
    image_tag: str | None = None  # the image's imageTag, where the expected tag is another
    pulled: bool = False  # discovered, but fetched from a registry: left out of the check
    drv_path: str = ""  # its derivation, so that a pipeline builds exactly that ("" if pulled)

    def to_json(self) -> dict[str, object]:
        spec = self.spec
        return {"name": spec.name, "tag": self.tag, "out_path": self.out_path,
                "tag_source": spec.tag, "system": spec.system, "attr": list(spec.attr),
                "source": spec.source, "nix": spec.nix, "flake": spec.flake,
                "args": [list(a) for a in spec.args], "image_tag": self.image_tag,
                "pulled": self.pulled, "drv_path": self.drv_path}

    @classmethod
    def from_json(cls, data: object) -> Evaluated:
        """The inverse of to_json; ValueError for anything to_json did not write."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        name = _text(data, "name")
        args = data.get("args")
        if not isinstance(args, list):
            raise ValueError("args is not a list")
        pairs = tuple(_strings(pair, 2) for pair in args)
        spec = ImageSpec(name, parse_repository(name), _text(data, "tag_source"),
                         _text(data, "system"), _strings(data.get("attr")),
                         _text(data, "source"), _optional(data, "nix"), _optional(data, "flake"),
                         tuple((key, value) for key, value in pairs))
        pulled = data.get("pulled")
        if not isinstance(pulled, bool):
            raise ValueError("pulled is not a boolean")
        # An entry written before drv_path existed has none: ValueError, so it is evaluated again.
        return cls(spec, _text(data, "tag"), _text(data, "out_path"),
                   _optional(data, "image_tag"), pulled, _text(data, "drv_path"))

    @property
    def warning(self) -> str | None:
        spec = self.spec
        if self.image_tag is not None:
            return (f"{spec.name}: `tag: outPath` expects '{self.tag}', the hash of the image's "
                    f"output path, but the image is tagged, and pushed, as its imageTag "
                    f"'{self.image_tag}' ({spec.source}; buildLayeredImage and "
                    "streamLayeredImage tag with another hash): the expected tag is never "
                    "pushed; use `tag: auto`")
        if is_nix_hash(self.tag):
            return None
        return (f"{spec.name}: tag '{self.tag}' ({spec.source}) is not a Nix hash: "
                "it is not content-addressed")


def _text(data: dict[Any, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} is not a string")
    return value


def _strings(value: object, length: int | None = None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("not a list of strings")
    if length is not None and len(value) != length:
        raise ValueError(f"not {length} strings")
    return tuple(value)


def _optional(data: dict[Any, object], key: str) -> str | None:
    return None if data.get(key) is None else _text(data, key)


@dataclass(frozen=True)
class GroupKey:
    """What makes two images share one Nix process."""

    kind: str  # "file" or "flake"
    target: str  # absolute .nix path, or flake reference
    system: str
    args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Group:
    """Images evaluated together: one Nix process."""

    key: GroupKey
    images: tuple[ImageSpec, ...]
    discover: bool = False

    @property
    def is_flake(self) -> bool:
        return self.key.kind == "flake"

    @property
    def target(self) -> str:
        return self.key.target

    @property
    def system(self) -> str:
        return self.key.system


def groups(config: Config) -> list[Group]:
    """One group per Nix file (and system and arguments) or flake, in config order."""
    if config.discover:
        return [_discovery_group(config)]
    grouped: dict[GroupKey, list[ImageSpec]] = {}
    for spec in config.images:
        if spec.flake is not None:
            key = GroupKey("flake", spec.flake, spec.system)
        else:
            assert spec.nix is not None
            key = GroupKey("file", spec.nix, spec.system, spec.args)
        grouped.setdefault(key, []).append(spec)
    return [Group(key, tuple(images)) for key, images in grouped.items()]


def ordered(config: Config, evaluated_groups: Sequence[Group],
            results: Sequence[Sequence[Evaluated]], info: Callable[[str], None]) -> list[Evaluated]:
    """Config order (discovery: evaluation order), whatever order groups finished in."""
    found = [item for result in results for item in result]
    if config.discover:
        return _one_per_repository(_built_here(found, info), evaluated_groups[0], config, found)
    by_name = {item.spec.name: item for item in found}
    return [by_name[spec.name] for spec in config.images]


def _built_here(found: list[Evaluated], info: Callable[[str], None]) -> list[Evaluated]:
    """Discovered images less the pulled ones (dockerTools.pullImage beside the images, a
    base for them): fetched from a registry by their digest, never built from this
    repository, so no tag of theirs is this tool's to keep."""
    for item in found:
        if item.pulled:
            info(f"discovery: {item.spec.name} ({item.spec.source}) left out: a pulled image "
                 "(a fixed-output derivation, as dockerTools.pullImage makes: fetched, not "
                 "built from this repository)")
    return [item for item in found if not item.pulled]


def _one_per_repository(found: list[Evaluated], group: Group, config: Config,
                        discovered: list[Evaluated]) -> list[Evaluated]:
    """Discovered images, each repository once: `packages.default` is often `packages.image`."""
    if not found:
        if group.is_flake:
            where = paths.named(os.path.join(group.target, "flake.nix"), config.root)
            looked = f"packages.{config.system} of {where}"
        else:
            where = paths.named(group.target, config.root)
            looked = f"the value of {where}"
        pulled = [item.spec.source for item in discovered if item.pulled]
        left_out = (f" (and left out {', '.join(pulled)}: pulled images, not built here)"
                    if pulled else "")
        raise EvalError(
            f"{where}: no image found: looked for derivations with an imageName attribute in "
            f"{looked}, and one level down in attribute sets that set "
            f"recurseForDerivations = true{left_out}; set that on a nested set, or list the "
            "images in .nix-tag-check.yaml (or give --image NAME=SOURCE)"
        )
    kept: dict[object, Evaluated] = {}
    for item in found:
        other = kept.setdefault(item.spec.repository, item)
        if other is not item and other.tag != item.tag:
            raise EvalError(
                f"image {item.spec.name} is discovered twice with different tags: "
                f"{other.spec.source} gives '{other.tag}', {item.spec.source} gives "
                f"'{item.tag}'; list the one to check in .nix-tag-check.yaml"
            )
    return list(kept.values())


def _discovery_group(config: Config) -> Group:
    flake = os.path.join(config.root, "flake.nix")
    if os.path.isfile(flake):
        return Group(GroupKey("flake", config.root, config.system), (), discover=True)
    default = os.path.join(config.root, "default.nix")
    if os.path.isfile(default):
        return Group(GroupKey("file", default, config.system), (), discover=True)
    raise EvalError(
        f"{config.root}: no .nix-tag-check.yaml, no --image, and no flake.nix or default.nix "
        "to discover images from"
    )


@dataclass
class Plan:
    """How one group is evaluated, and under which cache key (None: not cached)."""

    group: Group
    view: View | None  # None: evaluated where it lies
    rel: str  # the file (or flake folder) relative to the view's root
    key: str | None = None
    why: str = ""
    env: dict[str, str] | None = None  # Nix's environment (nix_env), the same cached or not
    reach: Reach | None = None  # what its private tree holds (None: every tracked file)
