"""Run Nix to learn each image's output path, one process per Nix file or flake, never a build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from .config import Config, ImageSpec
from .files import git
from .reference import ReferenceError, is_nix_hash, parse_repository

NIX_INSTALL_HINT = (
    "install Nix (Debian/Ubuntu: apt-get install nix-bin; elsewhere: https://nixos.org/download)"
)
_TRACE = "trace: nix-tag-check-image: "
_LOCATION_RE = re.compile(r"^\s*at (/[^:\n]+):(\d+):(\d+):", re.MULTILINE)
_IFD_RE = re.compile(
    r"path '(/nix/store/[^']+\.drv)' is not valid|cannot build '(/nix/store/[^']+\.drv)"
    r"[^\n]*allow-import-from-derivation|(allow-import-from-derivation)"
)
_VERSION_RE = re.compile(r"(\d+)\.(\d+)")


class EvalError(RuntimeError):
    """Nix could not give a tag; the message is one line and says what to do."""


@dataclass(frozen=True)
class Evaluated:
    """An image's expected tag, with where it came from."""

    spec: ImageSpec
    tag: str
    out_path: str

    @property
    def warning(self) -> str | None:
        if is_nix_hash(self.tag):
            return None
        return (f"{self.spec.name}: tag '{self.tag}' ({self.spec.source}) is not a Nix hash: "
                "it is not content-addressed")


def eval_nix_file() -> str:
    """Path of our eval.nix (an ordinary file inside the installed package)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval.nix")


def nix_version(nix: str) -> tuple[int, int]:
    try:
        out = subprocess.run([nix, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        raise EvalError(f"cannot run {nix}: {NIX_INSTALL_HINT}") from None
    match = _VERSION_RE.search(out.stdout)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _common_options(system: str) -> list[str]:
    # system: the tag is for the pipeline's platform, never the host's (a Mac must
    # compute the x86_64-linux tag). IFD off: evaluation must never build.
    return ["--option", "system", system, "--option", "allow-import-from-derivation", "false"]


@dataclass(frozen=True)
class _Group:
    """Images evaluated together: one Nix process."""

    key: tuple[str, ...]
    images: tuple[ImageSpec, ...]
    discover: bool = False

    @property
    def is_flake(self) -> bool:
        return self.key[0] == "flake"

    @property
    def target(self) -> str:
        return self.key[1]

    @property
    def system(self) -> str:
        return self.key[2]


def _groups(specs: Sequence[ImageSpec]) -> list[_Group]:
    grouped: dict[tuple[str, ...], list[ImageSpec]] = {}
    for spec in specs:
        if spec.flake is not None:
            key: tuple[str, ...] = ("flake", spec.flake, spec.system)
        else:
            assert spec.nix is not None
            key = ("file", spec.nix, spec.system, json.dumps(spec.args))
        grouped.setdefault(key, []).append(spec)
    return [_Group(key, tuple(images)) for key, images in grouped.items()]


def _command(group: _Group) -> list[str]:
    request: dict[str, object] = {"system": group.system}
    if group.is_flake:
        request["flake"] = flake_url(group.target)
    else:
        request["file"] = group.target
        request["args"] = dict(json.loads(group.key[3]))
    request["images"] = [
        {"name": i.name, "attr": list(i.attr), "tag": i.tag} for i in group.images
    ]
    request["discover"] = group.discover
    common = [*_common_options(group.system), "--argstr", "request", json.dumps(request)]
    if group.is_flake:
        nix = shutil.which("nix")
        if nix is None:
            raise EvalError(f"{group.images[0].source if group.images else group.target}: "
                            f"the 'nix' command is not on PATH: {NIX_INSTALL_HINT}")
        if nix_version(nix) < (2, 4):
            raise EvalError(f"{group.target}: flakes need Nix 2.4 or newer")
        return [nix, "--extra-experimental-features", "nix-command flakes", "eval", "--json",
                "--impure", "--file", eval_nix_file(), "result", *common]
    nix_instantiate = shutil.which("nix-instantiate")
    if nix_instantiate is None:
        raise EvalError(f"nix-instantiate is not on PATH: {NIX_INSTALL_HINT}")
    return [nix_instantiate, "--eval", "--strict", "--json", *common, "-A", "result",
            eval_nix_file()]


def flake_url(flake: str) -> str:
    """A local flake as `nix build .#x` sees it: in a Git work tree, only tracked files.

    builtins.getFlake "/abs/dir" would take a `path:` flake, whose source (and so every
    output path built from `self` or `./.`) includes untracked files: a tag no pipeline
    checking out the commit would compute.
    """
    if not flake.startswith("/"):
        return flake
    top = git(["rev-parse", "--show-toplevel"], flake) if os.path.isdir(flake) else None
    if not top:
        return f"path:{flake}"
    top = top.strip()
    sub = os.path.relpath(os.path.realpath(flake), os.path.realpath(top))
    url = f"git+file://{top}"
    return url if sub == "." else f"{url}?dir={urllib.parse.quote(sub)}"


def _relative(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _explain(group: _Group, stderr: str, root: str) -> str:
    """One line from Nix's error output: location, Nix's own message, the image."""
    image = None
    lines: list[str] = []
    for line in stderr.splitlines():
        if line.startswith(_TRACE):
            image = line[len(_TRACE):].strip()
        elif not line.startswith("trace: "):
            lines.append(line)
    text = "\n".join(lines)
    messages = [ln.strip()[6:].strip() for ln in lines if ln.strip().startswith("error:")]
    message = messages[-1] if messages else (text.strip().splitlines() or ["Nix failed"])[-1]
    if not messages and "(use '--show-trace'" in message:
        message = "Nix failed"
    what = f"image {image}" if image else (
        "images" if group.discover else f"image {group.images[0].name}" if group.images else "")
    ifd = _IFD_RE.search(text)
    if ifd:
        drv = ifd[1] or ifd[2]
        return (f"{_relative(group.target, root)}: {what}: import-from-derivation refused: "
                f"evaluating it would build {drv or 'a derivation'}; nix-tag-check never builds")
    where = _relative(group.target, root)
    location = [m for m in _LOCATION_RE.finditer(text) if "nix_tag_check" not in m[1]]
    if location:
        last = location[-1]
        where = f"{_relative(last[1], root)}:{last[2]}:{last[3]}"
    hint = ""
    if group.is_flake:
        hint = _untracked_hint(group.target)
    return f"{where}: {message} (while evaluating {what}){hint}"


def _untracked_hint(flake: str) -> str:
    if not os.path.isdir(flake):
        return ""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "--", "."],
            cwd=flake, capture_output=True, text=True, check=False,
        )
    except OSError:
        return ""
    files = out.stdout.split()
    if out.returncode != 0 or not files:
        return ""
    shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
    return (f"; note: a flake sees only files Git tracks, and these are untracked: {shown} "
            "(git add them)")


def _tag(spec: ImageSpec, result: dict[str, object]) -> Evaluated:
    out_path = str(result.get("path", ""))
    base = os.path.basename(out_path)
    image_tag = result.get("imageTag")
    if spec.tag == "imageTag" or (spec.tag == "auto" and image_tag is not None):
        if not isinstance(image_tag, str) or not image_tag:
            raise EvalError(f"{spec.source}: image {spec.name} has no imageTag attribute "
                            "(use tag: auto or tag: outPath)")
        return Evaluated(spec, image_tag, out_path)
    if not out_path.startswith("/") or not is_nix_hash(base[:32]) or base[32:33] != "-":
        raise EvalError(f"{spec.source}: image {spec.name}: {out_path!r} is not a Nix store path")
    return Evaluated(spec, base[:32], out_path)


def _parse(group: _Group, stdout: str, root: str) -> list[Evaluated]:
    try:
        results = json.loads(stdout)
    except ValueError:
        raise EvalError(f"{group.target}: Nix printed something that is not JSON") from None
    if group.discover:
        return [_discovered(group, item, root) for item in results]
    evaluated = []
    for spec, result in zip(group.images, results, strict=True):
        if "error" in result:
            raise EvalError(f"{_relative(group.target, root)}: {result['error']} "
                            f"(image {spec.name}, {spec.source})")
        evaluated.append(_tag(spec, result))
    return evaluated


def _discovered(group: _Group, item: dict[str, object], root: str) -> Evaluated:
    attr = tuple(str(a) for a in item["attr"])  # type: ignore[union-attr]
    name = str(item.get("imageName", ""))
    where = _relative(group.target, root)
    source = f"{where}#{'.'.join(attr)}" if attr else where
    try:
        repository = parse_repository(name)
    except ReferenceError as exc:
        raise EvalError(f"{source}: imageName: {exc}") from None
    spec = ImageSpec(
        name, repository, "auto", group.system, attr, source,
        flake=group.target if group.is_flake else None,
        nix=None if group.is_flake else group.target,
    )
    return _tag(spec, item)


def evaluate(config: Config, timeout: float) -> list[Evaluated]:
    """Every configured (or discovered) image's expected tag, in config order."""
    groups = [_discovery_group(config)] if config.discover else _groups(config.images)
    commands = [(group, _command(group)) for group in groups]
    running = []
    for group, command in commands:
        try:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                stdin=subprocess.DEVNULL, cwd=config.root,
            )
        except OSError as exc:
            message = f"cannot run {command[0]}: {exc.strerror}; {NIX_INSTALL_HINT}"
            raise EvalError(message) from None
        running.append((group, process))
    deadline = time.monotonic() + timeout
    outputs: list[tuple[_Group, str]] = []
    try:
        for group, process in running:
            try:
                stdout, stderr = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise EvalError(
                    f"{_relative(group.target, config.root)}: evaluation took longer than "
                    f"{timeout:g}s (--timeout)"
                ) from None
            if process.returncode != 0:
                raise EvalError(_explain(group, stderr, config.root))
            outputs.append((group, stdout))
    finally:
        for _, process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    by_name: dict[str, Evaluated] = {}
    found: list[Evaluated] = []
    for group, stdout in outputs:
        for item in _parse(group, stdout, config.root):
            by_name[item.spec.name] = item
            found.append(item)
    if config.discover:
        return _one_per_repository(found, groups[0], config)
    return [by_name[spec.name] for spec in config.images]


def _one_per_repository(found: list[Evaluated], group: _Group, config: Config) -> list[Evaluated]:
    """Discovered images, each repository once: `packages.default` is often `packages.image`."""
    if not found:
        if group.is_flake:
            where = _relative(os.path.join(group.target, "flake.nix"), config.root)
            looked = f"packages.{config.system} of {where}"
        else:
            where = _relative(group.target, config.root)
            looked = f"the value of {where}"
        raise EvalError(
            f"{where}: no image found: looked for derivations with an imageName attribute in "
            f"{looked}, and one level down in attribute sets that set "
            "recurseForDerivations = true; set that on a nested set, or list the images in "
            ".nix-tag-check.yaml (or give --image NAME=SOURCE)"
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


def _discovery_group(config: Config) -> _Group:
    flake = os.path.join(config.root, "flake.nix")
    if os.path.isfile(flake):
        return _Group(("flake", config.root, config.system), (), discover=True)
    default = os.path.join(config.root, "default.nix")
    if os.path.isfile(default):
        return _Group(("file", default, config.system, "{}"), (), discover=True)
    raise EvalError(
        f"{config.root}: no .nix-tag-check.yaml, no --image, and no flake.nix or default.nix "
        "to discover images from"
    )

