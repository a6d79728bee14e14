"""`.nix-tag-check.yaml` and `--image`: which images, where their tags come from, which files."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from nix_tag_check.config.reference import (
    ReferenceError,
    Repository,
    parse_repository,
    registry_host_re,
)
from nix_tag_check.errors import ConfigError, YamlSyntaxError, did_you_mean
from nix_tag_check.yamltree import tree as yt

CONFIG_NAME = ".nix-tag-check.yaml"
DEFAULT_SYSTEM = "x86_64-linux"
DEFAULT_MAX_FILE_SIZE = 5 * 1024 * 1024
TAG_SOURCES = ("auto", "outPath", "imageTag")
_TOP_KEYS = {"system", "images", "files", "exclude", "max-file-size", "insecure-registries",
             "sources"}
SOURCES = ("tracked", "worktree")
_IMAGE_KEYS = {"name", "nix", "attr", "flake", "tag", "system", "args", "required",
               "checkout-dependent"}
_SYSTEM_RE = re.compile(r"[A-Za-z0-9_]+-[A-Za-z0-9_]+")


@dataclass(frozen=True)
class ImageSpec:
    """One configured image and how to compute its expected tag."""

    name: str
    repository: Repository
    tag: str  # auto | outPath | imageTag
    system: str
    attr: tuple[str, ...]
    source: str  # shown to users: "default.nix#image" or ".#worker"
    nix: str | None = None  # absolute path of a .nix file
    flake: str | None = None  # flake reference without fragment, relative paths made absolute
    args: tuple[tuple[str, str], ...] = ()
    required: bool = True  # an image no checked file references is an error
    checkout_dependent: bool = False  # its tag may depend on where the checkout lies: accepted
    line: int = 0  # 1-based line of the image in the config file; 0 without one


@dataclass(frozen=True)
class Config:
    root: str  # paths in files/exclude and in messages are relative to this
    path: str | None  # the config file, if any
    images: tuple[ImageSpec, ...]
    files: tuple[str, ...] = ()
    file_lines: tuple[int, ...] = ()  # config line of each `files:` glob
    exclude: tuple[str, ...] = ()
    system: str = DEFAULT_SYSTEM
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    insecure_registries: tuple[str, ...] = ()  # hosts --registry may reach without TLS checks
    discover: bool = False  # no images configured: take them from flake.nix or default.nix
    sources: str = "tracked"  # tracked: what a clean clone holds; worktree: the files as they lie
    text: bytes = field(default=b"", repr=False)  # the config's bytes (part of the cache key)


def parse_attr_path(text: str) -> tuple[str, ...]:
    """`a.b."c.d"` -> ('a', 'b', 'c.d'). Data, never Nix code: no operators, no spaces."""
    if text == "":
        return ()
    parts: list[str] = []
    i = 0
    while True:
        if i < len(text) and text[i] == '"':
            end = text.find('"', i + 1)
            if end == -1:
                raise ValueError(f"unterminated quote in attribute path {text!r}")
            parts.append(text[i + 1 : end])
            i = end + 1
        else:
            match = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*").match(text, i)
            if match is None:
                raise ValueError(
                    f"{text!r} is not a plain attribute path (names separated by dots)"
                )
            parts.append(match.group())
            i = match.end()
        if i == len(text):
            return tuple(parts)
        if text[i] != ".":
            raise ValueError(f"{text!r} is not a plain attribute path (names separated by dots)")
        i += 1


def split_flake_ref(ref: str, base: str) -> tuple[str, tuple[str, ...]]:
    """`.#a.b` -> (absolute path, ('a', 'b')); a missing fragment means `default`."""
    flake, _, fragment = ref.partition("#")
    if flake in (".", "..") or flake.startswith(("./", "../", "/")):
        flake = os.path.normpath(os.path.join(base, flake))
    elif flake.startswith("path:") and not flake[5:].startswith("/"):
        flake = "path:" + os.path.normpath(os.path.join(base, flake[5:]))
    if not flake:
        raise ValueError(f"{ref!r} names no flake")
    return flake, parse_attr_path(fragment or "default")


def _error(path: str, node: yt.Node, message: str) -> ConfigError:
    """A problem at a node's line of the config file (`path:line: message`)."""
    return ConfigError(message, node.line + 1, path=path)


def _option_error(option: str, message: str) -> ConfigError:
    return ConfigError(f"{option}: {message}")


def _string(path: str, node: yt.Node, what: str) -> str:
    node = yt.resolve(node)
    if not isinstance(node, yt.Scalar) or node.style in ("|", ">") or node.value == "":
        raise _error(path, node, f"{what} must be a non-empty string")
    return node.value


def _glob_lines(node: yt.Node) -> tuple[int, ...]:
    """1-based line of each glob of a list that _strings accepted."""
    node = yt.resolve(node)
    items = node.items if isinstance(node, yt.Sequence) else [node]
    return tuple(yt.resolve(item).line + 1 for item in items)


def _strings(path: str, node: yt.Node, what: str) -> tuple[str, ...]:
    node = yt.resolve(node)
    if isinstance(node, yt.Scalar):
        return (_string(path, node, what),)
    if not isinstance(node, yt.Sequence):
        raise _error(path, node, f"{what} must be a list of glob patterns")
    return tuple(_string(path, item, what) for item in node.items)


def _unknown_key(name: str | None, keys: set[str], what: str) -> str:
    """`unknown key 'atr' in image; did you mean 'attr'? (known: ...)`."""
    known = ", ".join(sorted(keys))
    close = did_you_mean(name, keys) if isinstance(name, str) else ""
    hint = f"; {close}" if close else ""
    return f"unknown key {name!r} in {what}{hint} (known: {known})"


def _mapping(path: str, node: yt.Node, keys: set[str], what: str) -> dict[str, yt.Node]:
    node = yt.resolve(node)
    if not isinstance(node, yt.Mapping):
        raise _error(path, node, f"{what} must be a mapping")
    result: dict[str, yt.Node] = {}
    for key, value in node.pairs:
        key = yt.resolve(key)
        name = key.value if isinstance(key, yt.Scalar) else None
        if name not in keys:
            raise _error(path, key, _unknown_key(name, keys, what))
        if name in result:
            raise _error(path, key, f"duplicate key {name!r} in {what}")
        result[name] = value
    return result


def system_problem(value: str) -> str | None:
    """Why `value` is not a Nix system double such as `x86_64-linux` (None: it is one)."""
    if not _SYSTEM_RE.fullmatch(value):
        return f"system {value!r} is not like 'x86_64-linux'"
    return None


def check_system_option(value: str) -> str:
    """`--system VALUE`, or a ConfigError naming the option."""
    problem = system_problem(value)
    if problem:
        raise _option_error("--system", problem)
    return value


def _system(path: str, node: yt.Node) -> str:
    value = _string(path, node, "system")
    problem = system_problem(value)
    if problem:
        raise _error(path, node, problem)
    return value


def _boolean(path: str, node: yt.Node, key: str) -> bool:
    node = yt.resolve(node)
    value = node.value if isinstance(node, yt.Scalar) and not node.style else ""
    if value not in ("true", "True", "TRUE", "false", "False", "FALSE"):
        raise _error(path, node, f"{key} must be true or false")
    return value.lower() == "true"


def _image(path: str, root: str, node: yt.Node, system: str) -> ImageSpec:
    keys = _mapping(path, node, _IMAGE_KEYS, "an image")
    if "name" not in keys:
        raise _error(path, node, "an image needs 'name' (the repository as written in manifests)")
    name = _string(path, keys["name"], "name")
    try:
        repository = parse_repository(name)
    except ReferenceError as exc:
        raise _error(path, keys["name"], f"{exc} (give the repository, no tag)") from None
    tag = _string(path, keys["tag"], "tag") if "tag" in keys else "auto"
    if tag not in TAG_SOURCES:
        raise _error(path, keys["tag"], f"tag must be one of {', '.join(TAG_SOURCES)}")
    if "system" in keys:
        system = _system(path, keys["system"])
    required = _boolean(path, keys["required"], "required") if "required" in keys else True
    dependent = "checkout-dependent" in keys and _boolean(path, keys["checkout-dependent"],
                                                          "checkout-dependent")
    line = node.line + 1
    if ("nix" in keys) == ("flake" in keys):
        raise _error(path, node, f"image {name}: give exactly one of 'nix' and 'flake'")
    if "flake" in keys:
        for key in ("attr", "args"):
            if key in keys:
                raise _error(path, keys[key], f"'{key}' goes with 'nix', not 'flake'")
        ref = _string(path, keys["flake"], "flake")
        try:
            flake, attr = split_flake_ref(ref, root)
        except ValueError as exc:
            raise _error(path, keys["flake"], str(exc)) from None
        _check_flake_dir(flake, path, keys["flake"])
        return ImageSpec(name, repository, tag, system, attr, ref, flake=flake,
                         required=required, checkout_dependent=dependent, line=line)
    nix = _string(path, keys["nix"], "nix")
    nix_path = os.path.normpath(os.path.join(root, nix))
    if os.path.isdir(nix_path):
        nix_path = os.path.join(nix_path, "default.nix")
    if not os.path.isfile(nix_path):
        raise _error(path, keys["nix"], f"Nix file {nix!r} does not exist")
    attr_text = _string(path, keys["attr"], "attr") if "attr" in keys else ""
    try:
        attr = parse_attr_path(attr_text)
    except ValueError as exc:
        raise _error(path, keys["attr"], str(exc)) from None
    args: tuple[tuple[str, str], ...] = ()
    if "args" in keys:
        arg_nodes = yt.resolve(keys["args"])
        if not isinstance(arg_nodes, yt.Mapping):
            raise _error(path, arg_nodes, "args must be a mapping of strings")
        args = tuple(
            (_string(path, k, "an argument name"), _arg_value(path, v)) for k, v in arg_nodes.pairs
        )
    source = nix + (f"#{attr_text}" if attr_text else "")
    return ImageSpec(name, repository, tag, system, attr, source, nix=nix_path, args=args,
                     required=required, checkout_dependent=dependent, line=line)


def _arg_value(path: str, node: yt.Node) -> str:
    node = yt.resolve(node)
    if not isinstance(node, yt.Scalar):
        raise _error(path, node, "an argument value must be a string")
    return node.value


def _check_flake_dir(flake: str, path: str, node: yt.Node) -> None:
    local = flake[5:] if flake.startswith("path:") else flake
    if local.startswith("/") and not os.path.isfile(os.path.join(local, "flake.nix")):
        raise _error(path, node, f"no flake.nix in {local}")


def _insecure(path: str, node: yt.Node) -> tuple[str, ...]:
    """Registry hosts (`host` or `host:port`) that --registry may reach without verified TLS."""
    if not isinstance(yt.resolve(node), yt.Sequence | yt.Scalar):
        raise _error(path, node, "insecure-registries must be a list of hosts")
    hosts = _strings(path, node, "insecure-registries")
    for host in hosts:
        if not registry_host_re().fullmatch(host):
            raise _error(path, node, f"insecure-registries: {host!r} is not a "
                              "registry host (host or host:port, no scheme or path)")
    return hosts


def load(path: str, parse: Callable[[str], list[yt.Node]] = yt.parse) -> Config:
    """Read and check a config file; every problem is a ConfigError naming its line."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path=path) from None
    try:
        text = raw.decode("utf-8")
        roots = parse(text)  # yaml_tree.parse, or a remembered tree of the same text
    except UnicodeDecodeError:
        raise ConfigError("config is not UTF-8 text", 1, path=path) from None
    except YamlSyntaxError as exc:
        raise ConfigError(exc.message, exc.line, path=path) from None
    root_dir = os.path.dirname(os.path.abspath(path))
    if not roots or (isinstance(roots[0], yt.Scalar) and roots[0].value == ""):
        raise ConfigError("config is empty: list your images under 'images:'", 1, path=path)
    if len(roots) > 1:
        raise _error(path, roots[1], "config must be a single YAML document")
    keys = _mapping(path, roots[0], _TOP_KEYS, "the config")
    system = _system(path, keys["system"]) if "system" in keys else DEFAULT_SYSTEM
    if "images" not in keys:
        raise ConfigError("no 'images:' in config", 1, path=path)
    image_nodes = yt.resolve(keys["images"])
    if not isinstance(image_nodes, yt.Sequence) or not image_nodes.items:
        raise _error(path, image_nodes, "'images' must be a non-empty list")
    images: list[ImageSpec] = []
    for node in image_nodes.items:
        image = _image(path, root_dir, node, system)
        if any(other.repository == image.repository for other in images):
            raise _error(path, node, f"duplicate image name {image.name}")
        images.append(image)
    max_size = DEFAULT_MAX_FILE_SIZE
    if "max-file-size" in keys:
        value = _string(path, keys["max-file-size"], "max-file-size")
        if not value.isdigit() or int(value) <= 0:
            raise _error(path, keys["max-file-size"], "max-file-size is bytes (> 0)")
        max_size = int(value)
    globs = _strings(path, keys["files"], "files") if "files" in keys else ()
    insecure = _insecure(path, keys["insecure-registries"]) if "insecure-registries" in keys \
        else ()
    sources = _string(path, keys["sources"], "sources") if "sources" in keys else "tracked"
    if sources not in SOURCES:
        raise _error(path, keys["sources"], f"sources must be one of {', '.join(SOURCES)}")
    return Config(
        root=root_dir,
        path=os.path.abspath(path),
        images=tuple(images),
        files=globs,
        file_lines=_glob_lines(keys["files"]) if "files" in keys else (),
        exclude=_strings(path, keys["exclude"], "exclude") if "exclude" in keys else (),
        system=system,
        max_file_size=max_size,
        insecure_registries=insecure,
        sources=sources,
        text=raw,
    )


def image_option(value: str, base: str, system: str) -> ImageSpec:
    """`NAME=NIXFILE[#ATTR]` or `NAME=FLAKEREF` from the command line."""
    name, sep, target = value.partition("=")
    if not sep or not name or not target:
        raise _option_error("--image", f"{value!r}: expected NAME=NIXFILE[#ATTR] or NAME=FLAKEREF")
    try:
        repository = parse_repository(name)
    except ReferenceError as exc:
        raise _option_error("--image", str(exc)) from None
    location, _, fragment = target.partition("#")
    candidate = os.path.normpath(os.path.join(base, location or "."))
    is_flake = os.path.isfile(os.path.join(candidate, "flake.nix")) or (
        ":" in location and not os.path.exists(candidate)
    )
    try:
        if is_flake:
            flake, attr = split_flake_ref(target, base)
            return ImageSpec(name, repository, "auto", system, attr, target, flake=flake)
        attr = parse_attr_path(fragment)
    except ValueError as exc:
        raise _option_error("--image", str(exc)) from None
    if os.path.isdir(candidate):
        candidate = os.path.join(candidate, "default.nix")
    if not os.path.isfile(candidate):
        raise _option_error("--image", f"{location!r} is neither a Nix file nor a flake")
    return ImageSpec(name, repository, "auto", system, attr, target, nix=candidate)


def from_options(images: list[str], base: str, system: str | None) -> Config:
    """A config made of `--image` options only (no file)."""
    specs: list[ImageSpec] = []
    for value in images:
        spec = image_option(value, base, system or DEFAULT_SYSTEM)
        if any(other.repository == spec.repository for other in specs):
            raise _option_error("--image", f"duplicate image name {spec.name}")
        specs.append(spec)
    text = "\0".join(images).encode("utf-8", "surrogateescape")
    return Config(base, None, tuple(specs), system=system or DEFAULT_SYSTEM, text=text)


def discovery(base: str, system: str | None) -> Config:
    """No config, no --image: images are found by evaluation (flake.nix, else default.nix)."""
    return Config(base, None, (), system=system or DEFAULT_SYSTEM, discover=True)


def with_system(config: Config, system: str) -> Config:
    """`--system` wins over the config for every image."""
    images = tuple(dataclasses.replace(image, system=system) for image in config.images)
    return dataclasses.replace(config, images=images, system=system)
