"""Evaluation results under .git/nix-tag-check/, each stored under a key of all it depends on.

An entry's name is a digest of: this tool (state.tool_identity: its version and the
content of its files, eval.nix among them; Python's version), Nix's binaries, settings
and search path (nix_settings), the group's request (file, system, arguments, images),
the evaluated tree's mode, and every input the evaluated file can reach (inputs). An
entry is stored only when that digest is the same after Nix ran as before it started,
so nothing edited during an evaluation is ever taken as current. Whatever is found in
the folder is data: an entry that is not a regular, well-formed file of ours is ignored,
and the folder is kept within MAX_ENTRIES and MAX_FOLDER_BYTES, the oldest entries removed
first, when a run writes one (a run that only reads never lists the folder).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence

from nix_tag_check import atomic, state
from nix_tag_check.evaluate import lexer as nix_source
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.evaluate.reach import Hashes

FORMAT = 3  # 3: each result has its drv_path
MAX_BYTES = 64 << 20  # an entry (or hashes.json) at most this big is read
# At most this many entries and bytes, the oldest go first: an entry is one Nix file's images
# in one state of what it reads (about 350 bytes an image), so a monorepo of 1,000 configured
# Nix files keeps ten states of each.
MAX_ENTRIES = 10_000
MAX_FOLDER_BYTES = 256 << 20
_HASHES = "hashes.json"  # what the last run read: bounded by what one run reads


def _load(path: str) -> object | None:
    """JSON from a regular file of ours (see state.read), or None."""
    raw = state.read(path, MAX_BYTES)
    if raw is None:
        return None
    try:
        data: object = json.loads(raw)
        return data
    except (ValueError, RecursionError):
        return None


class Store:
    """The cache folder of one repository; every failure only costs an evaluation."""

    def __init__(self, git_dir: str) -> None:
        folder = state.folder(git_dir, "eval")
        self.folder = folder or ""
        self.usable = folder is not None
        self.bound = state.Bounded(self.folder, MAX_ENTRIES, MAX_FOLDER_BYTES,
                                   keep=frozenset([_HASHES]))

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def read(self, key: str) -> list[Evaluated] | None:
        data = _load(self._path(f"{key[:40]}.json")) if self.usable else None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
            return None
        results = data.get("results")
        try:
            return [Evaluated.from_json(r) for r in results] if isinstance(results, list) else None
        except ValueError:
            return None

    def write(self, key: str, evaluated: Sequence[Evaluated]) -> None:
        data = {"format": FORMAT, "key": key, "results": [e.to_json() for e in evaluated]}
        self._write(f"{key[:40]}.json", data)

    def hashes(self) -> Hashes:
        data = _load(self._path(_HASHES)) if self.usable else None
        if not isinstance(data, dict) or data.get("format") != FORMAT \
                or data.get("scanner") != _scanner():  # scans made by other code: redo them
            return Hashes()
        known, scans = data.get("files"), data.get("scans")
        if not isinstance(known, dict) or not isinstance(scans, dict):
            return Hashes()
        try:
            found = {h: nix_source.from_json(v) for h, v in scans.items()}
        except ValueError:
            found = {}
        return Hashes({k: v for k, v in known.items() if isinstance(v, list) and len(v) == 2},
                      found)

    def save_hashes(self, hashes: Hashes) -> None:
        kept = hashes.kept()
        if kept is not None:
            self._write(_HASHES, {"format": FORMAT, "scanner": _scanner(), **kept})

    def _write(self, name: str, data: object) -> None:
        if not self.usable:
            return
        raw = json.dumps(data).encode()
        with contextlib.suppress(OSError):
            os.makedirs(self.folder, exist_ok=True)
            atomic.write_then_rename(self._path(name), raw, suffix=".tmp")
            self.bound.wrote(name, len(raw))


def _scanner() -> str:
    """The tool that made the scans, the Nix source scanner among its files: a fixed scanner
    must not trust old scans."""
    return state.tool_identity()


def tool_key() -> str:
    """This tool (its version, its files, eval.nix among them, and Python's version)."""
    return f"{FORMAT}\0{state.tool_identity()}"


def entry_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
