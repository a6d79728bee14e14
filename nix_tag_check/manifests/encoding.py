"""A manifest's Unicode encoding as YAML 1.2 detects it (section 5.2), and back to bytes.

YAML streams may be UTF-8, UTF-16 or UTF-32, with a byte order mark or recognised by
where the NUL bytes of an ASCII first character fall. A manifest is read in its encoding
and written back in the same one, BOM included (the BOM stays the text's first character).
"""

from __future__ import annotations

UTF8 = "utf-8"
_BOMS = (  # longest first: a UTF-32LE BOM starts like a UTF-16LE one
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xef\xbb\xbf", UTF8),
)


def detect(head: bytes) -> tuple[str, bool]:
    """(codec, whether a BOM says so) from a stream's first four bytes."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, True
    if len(head) >= 4 and head[:3] == b"\0\0\0":
        return "utf-32-be", False
    if len(head) >= 4 and head[1:4] == b"\0\0\0":
        return "utf-32-le", False
    if len(head) >= 2 and head[0] == 0:
        return "utf-16-be", False
    if len(head) >= 2 and head[1] == 0:
        return "utf-16-le", False
    return UTF8, False


def name(codec: str) -> str:
    """As users write it: UTF-16LE."""
    return codec.upper().replace("-LE", "LE").replace("-BE", "BE")


def encode(text: str, codec: str) -> bytes:
    """`text` (BOM kept as its first character) in the manifest's own encoding."""
    return text.encode(codec)
