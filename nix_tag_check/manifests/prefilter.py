"""Whether a file can name a configured image at all: the one test every file gets.

A file is never parsed unless it holds a repository path (`acme/api`) as text. Two ways
of writing a name hide it from a plain byte search, and both count here: another
Unicode encoding (UTF-16, UTF-32), and escapes in a quoted scalar (JSON `\\/`,
`\\u0061`, YAML `\\x61`, an escaped line break). A false "maybe" costs a parse; a
false "no" would be a silent pass.
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Sequence

from nix_tag_check.manifests.encoding import UTF8, detect

# Escapes that can stand for a character of a repository path, and an escaped line
# break (a double-quoted scalar goes on at the next line's first non-blank).
_ESCAPE_RE = re.compile(
    rb"\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(\r?\n|\r)[ \t]*|(.))",
    re.DOTALL,
)
_MAY_HIDE_RE = re.compile(rb"\\(?:[xuU/]|\r?\n|\r)")
# A comment that starts with the tool's name: a marker (even for an image that is not
# configured) or almost one is an error, so such a file is always read.
_MARKER_LIKE_RE = re.compile(rb"#[ \t]*(?i:nix[-_ .]?tag[-_ .]?check)")


def _unescape(match: re.Match[bytes]) -> bytes:
    digits = match[1] or match[2] or match[3]
    if digits is not None:
        point = int(digits, 16)
        return bytes([point]) if point < 0x80 else b"\0"  # paths are ASCII
    if match[4] is not None:
        return b""
    return match[5] if match[5] in (b"/", b"\\") else b"\0"


def _holds(data: bytes, needles: Sequence[bytes]) -> bool:
    if any(n in data for n in needles):
        return True
    if b"\\" not in data or _MAY_HIDE_RE.search(data) is None:
        return False  # no escape that could stand for a character of a name
    return any(n in _ESCAPE_RE.sub(_unescape, data) for n in needles)


def mentions(raw: bytes, needles: Sequence[str]) -> bool:
    """Whether the bytes of a whole file may name an image (in any encoding, escaped)."""
    encoded = [n.encode() for n in needles]
    if _holds(raw, encoded) or _MARKER_LIKE_RE.search(raw):
        return True
    codec, _ = detect(raw[:4])
    if codec == UTF8:
        return False
    wide = raw.decode(codec, "replace").encode(UTF8)
    return _holds(wide, encoded) or _MARKER_LIKE_RE.search(wide) is not None


def mentions_file(path: str, needles: Sequence[str]) -> bool:
    """mentions() for a file too big to read: no more than a page in memory at a time.

    Without room to decode escapes, a file that has any that might hide a name counts.
    """
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            codec, _ = detect(data[:4])
            if codec != UTF8:
                encoded = [n.encode(codec) for n in needles] + ["\\".encode(codec)]
                return any(data.find(n) != -1 for n in encoded)
            if any(data.find(n.encode()) != -1 for n in needles):
                return True
            if _MARKER_LIKE_RE.search(data) is not None:
                return True
            return _MAY_HIDE_RE.search(data) is not None
