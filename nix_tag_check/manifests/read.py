"""Reading a manifest without trusting it: size, type, encoding, whether it names an image."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from nix_tag_check.errors import FileProblem
from nix_tag_check.manifests import encoding, prefilter
from nix_tag_check.manifests.select import resolve_target


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


@dataclass(frozen=True)
class Manifest:
    path: str  # the real file (symlinks inside the repository resolved)
    raw: bytes
    text: str  # decoded; a BOM stays its first character
    codec: str = encoding.UTF8  # write the fixed text back in this encoding

    def encode(self, text: str) -> bytes:
        return encoding.encode(text, self.codec)


def _decode(raw: bytes) -> tuple[str, str]:
    """(text, codec) of a manifest, or a FileProblem at the first byte that is not text."""
    codec, bom = encoding.detect(raw[:4])
    if codec == encoding.UTF8 and b"\0" in raw:
        where = _position(raw, raw.index(b"\0"))
        raise FileProblem("binary file (contains NUL bytes); exclude it", *where)
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        if codec != encoding.UTF8 and not bom:  # NULs that do not make UTF-16/32 text
            raise FileProblem("binary file (contains NUL bytes); exclude it",
                              *_position(raw, raw.index(b"\0"))) from None
        line, column = _text_position(raw[: exc.start].decode(codec, "replace"))
        raise FileProblem(f"not {encoding.name(codec)} text", line, column) from None
    if "\0" in text:
        raise FileProblem("binary file (contains NUL characters); exclude it",
                          *_text_position(text[: text.index("\0")]))
    return text, codec


def _text_position(before: str) -> tuple[int, int]:
    """1-based line and column just after `before`."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def read(
    path: str, boundary: str, needles: Sequence[str], max_size: int,
    known: tuple[str, os.stat_result] | None = None,
) -> Manifest | None:
    """The manifest's text, None when it cannot reference any image (never parsed then).

    A file that mentions an image but cannot be handled safely is a FileProblem. `known`:
    the real file behind `path` and its stat, when the caller has just taken them.
    """
    real, st = _locate(path, boundary) if known is None else known
    try:
        if not stat.S_ISREG(st.st_mode):
            return None  # a folder, a device, a FIFO: nothing to check, nothing to block on
        size = st.st_size
        if size > max_size:
            if prefilter.mentions_file(real, needles):
                raise FileProblem(
                    f"file is {size} bytes, over the limit of {max_size} (max-file-size in "
                    "the config or --max-file-size); raise it or exclude the file"
                )
            return None
        with open(real, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror}") from None
    if not prefilter.mentions(raw, needles):
        return None
    text, codec = _decode(raw)
    return Manifest(real, raw, text, codec)


def _locate(path: str, boundary: str) -> tuple[str, os.stat_result]:
    """The real file behind `path` and its stat (raises FileProblem)."""
    if not os.path.lexists(path):
        raise FileProblem("no such file")
    real = resolve_target(path, boundary)
    try:
        return real, os.stat(real)
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror}") from None
