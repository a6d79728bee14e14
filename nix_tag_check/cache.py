"""Remember evaluation results under .git/, and trust them only when no input can have moved.

Inputs: every tracked or untracked-not-ignored file of the repository except the
manifests (files that hold a reference to a configured image: rewriting their
tags cannot change a tag), the config, the Nix binaries, Nix's settings and search path, the system.
A file's identity is its stat (size, mtime, ctime, inode), as Git's index uses.
When anything cannot be pinned down (a submodule, a URL in NIX_PATH, no Git),
there is no cache: a wrong tag is worse than a slow one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from . import __version__
from .config import Config, ImageSpec
from .files import GitTree, is_manifest_name
from .nix_eval import Evaluated, eval_nix_file
from .reference import parse_repository

FORMAT = 1
_NIX_CONF_FILES = ("/etc/nix/nix.conf",)
_MAX_SEARCH_PATH_FILES = 200_000


def _b(text: str) -> bytes:
    """Paths and environment values as the OS gave them: not always UTF-8."""
    return text.encode("utf-8", "surrogateescape")


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode]


def _tree(path: str, digest: hashlib._Hash) -> bool:
    """Fold a folder's file stats into `digest`; False when it is too big to pin down."""
    count = 0
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            digest.update(_b(f"{full}\0{_stat(full)}\0"))
            count += 1
            if count > _MAX_SEARCH_PATH_FILES:
                return False
    return True


def _search_path(digest: hashlib._Hash) -> bool:
    """NIX_PATH and what each entry resolves to; False when an entry is not local."""
    for entry in filter(None, os.environ.get("NIX_PATH", "").split(":")):
        target = entry.split("=", 1)[-1]
        if "://" in target or target.startswith(("channel:", "flake:")):
            return False
        real = os.path.realpath(target)
        digest.update(_b(f"{entry}\0{real}\0"))
        if not real.startswith("/nix/store/") and os.path.isdir(real) and not _tree(real, digest):
            return False
        if not real.startswith("/nix/store/"):
            digest.update(_b(f"{_stat(real)}"))
    return True


def environment_key(config: Config) -> str | None:
    """Everything but the repository's files that can change a tag; None: do not cache."""
    digest = hashlib.sha256()
    digest.update(_b(f"{FORMAT}\0{__version__}\0"))
    with open(eval_nix_file(), "rb") as handle:
        digest.update(handle.read())
    digest.update(_b(json.dumps([config.path, config.root, config.system, config.discover])))
    digest.update(config.text)
    for image in config.images:
        digest.update(_b(repr(image)))
        for path in (image.nix, image.flake):
            if path and os.path.exists(path):
                digest.update(_b(f"{path}\0{_stat(path)}\0"))
    for tool in ("nix-instantiate", "nix"):
        found = shutil.which(tool)
        real = os.path.realpath(found) if found else ""
        digest.update(_b(f"{tool}\0{found}\0{real}\0{_stat(real) if real else None}\0"))
    for name in sorted(os.environ):
        if name.startswith(("NIX", "XDG_CONFIG")) or name in ("HOME", "USER"):
            digest.update(_b(f"{name}={os.environ[name]}\0"))
    config_home = os.environ.get("XDG_CONFIG_HOME", os.path.expanduser("~/.config"))
    for path in (*_NIX_CONF_FILES, os.path.join(config_home, "nix", "nix.conf")):
        digest.update(_b(f"{path}\0{_stat(path)}\0"))
    nixpkgs_home = os.path.join(config_home, "nixpkgs")
    if os.path.isdir(nixpkgs_home) and not _tree(nixpkgs_home, digest):
        return None
    if not _search_path(digest):
        return None
    return digest.hexdigest()


@dataclass(frozen=True)
class Repo:
    root: str
    git_dir: str
    files: list[str]  # relative to root


def open_repo(tree: GitTree | None) -> Repo | None:
    if tree is None or os.path.exists(os.path.join(tree.root, ".gitmodules")):
        return None  # files inside submodules are not listed: cannot pin them down
    return Repo(tree.root, tree.git_dir, list(tree.files))


def _fingerprint(repo: Repo, excluded: Iterable[str]) -> str:
    skip = set(excluded)
    digest = hashlib.sha256()
    for rel in repo.files:
        if rel not in skip:
            digest.update(_b(f"{rel}\0{_stat(os.path.join(repo.root, rel))}\0"))
    return digest.hexdigest()


def _cache_file(repo: Repo, config: Config) -> str:
    name = hashlib.sha256(_b(f"{config.path}\0{config.root}")).hexdigest()[:16]
    return os.path.join(repo.git_dir, "nix-tag-check", f"{name}.json")


IsManifest = Callable[[str], bool]


def manifests_of(repo: Repo, is_manifest: IsManifest) -> dict[str, list[int] | None]:
    """Files that hold a reference to an image: outside the key, so fixing them keeps it.

    Merely naming an image is not enough: a JSON file that Nix reads may list image
    names, and leaving it out of the key would serve stale tags after it changes.
    """
    found: dict[str, list[int] | None] = {}
    for rel in repo.files:
        path = os.path.join(repo.root, rel)
        if is_manifest_name(rel) and not os.path.islink(path) and is_manifest(path):
            found[rel] = _stat(path)
    return found


@dataclass(frozen=True)
class Entry:
    results: list[dict[str, object]]
    manifests: dict[str, list[int] | None]
    files: str


def read(repo: Repo, env_key: str, config: Config) -> Entry | None:
    """The stored entry for these settings; None when missing, corrupt or for other settings."""
    try:
        with open(_cache_file(repo, config), encoding="utf-8") as handle:
            data = json.load(handle)
        if data["format"] != FORMAT or data["env"] != env_key:
            return None
        entry = Entry(data["results"], dict(data["manifests"]), str(data["files"]))
        if not isinstance(entry.results, list):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return entry


def still_valid(repo: Repo, entry: Entry, is_manifest: IsManifest) -> bool:
    """True when no file outside the entry's manifests changed, and those are still manifests."""
    for rel, stat in entry.manifests.items():
        path = os.path.join(repo.root, rel)
        now = _stat(path)
        if now is None or os.path.islink(path):
            return False
        if now != stat and not is_manifest(path):
            return False  # no longer holds a reference: it may be an input now
    return _fingerprint(repo, entry.manifests) == entry.files


def store(
    repo: Repo, env_key: str, config: Config, results: list[dict[str, object]],
    is_manifest: IsManifest,
) -> None:
    """Save results; failure to save only costs the next run an evaluation."""
    import tempfile  # only a miss writes: keep it off the start-up of a cached run

    manifests = manifests_of(repo, is_manifest)
    data = {
        "format": FORMAT,
        "env": env_key,
        "manifests": manifests,
        "files": _fingerprint(repo, manifests),
        "results": results,
    }
    path = _cache_file(repo, config)
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def to_json(evaluated: Sequence[Evaluated]) -> list[dict[str, object]]:
    return [
        {
            "name": e.spec.name, "tag": e.tag, "out_path": e.out_path, "tag_source": e.spec.tag,
            "system": e.spec.system, "attr": list(e.spec.attr), "source": e.spec.source,
            "nix": e.spec.nix, "flake": e.spec.flake, "args": [list(a) for a in e.spec.args],
        }
        for e in evaluated
    ]


def from_json(results: list[dict[str, object]]) -> list[Evaluated] | None:
    """Evaluated images from a cache entry; None if the entry is not what we wrote."""
    try:
        return [
            Evaluated(
                ImageSpec(
                    str(r["name"]), parse_repository(str(r["name"])), str(r["tag_source"]),
                    str(r["system"]), tuple(str(a) for a in r["attr"]),  # type: ignore[attr-defined]
                    str(r["source"]), r["nix"], r["flake"],  # type: ignore[arg-type]
                    tuple((str(k), str(v)) for k, v in r["args"]),  # type: ignore[attr-defined]
                ),
                str(r["tag"]), str(r["out_path"]),
            )
            for r in results
        ]
    except (KeyError, TypeError, ValueError):
        return None
