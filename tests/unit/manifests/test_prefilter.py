"""The pre-filter: a file is skipped unparsed only when it cannot name an image at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_tag_check.manifests.prefilter import mentions, mentions_file

NEEDLES = ("team/hello",)


@pytest.mark.parametrize(("data", "expected"), (
    (b"image: registry.example.com/team/hello:x\n", True),
    (b'{"image": "registry.example.com\\/team\\/hello"}', True),  # JSON \/
    (b'{"image": "registry.example.com/te\\u0061m/hello"}', True),  # JSON \u0061
    (b'image: "registry.example.com/te\\x61m/hello"', True),  # YAML \x61
    (b'image: "registry.example.com/team/\\\n    hello"', True),  # an escaped line break
    (b'image: "registry.example.com/team/\\U00000068ello"', True),  # YAML \U
    ("# café\nimage: team/hello\n".encode("utf-16"), True),  # UTF-16 with a BOM
    ("image: team/hello\n".encode("utf-32-be"), True),  # UTF-32 recognised without a BOM
    (b"x: v1  # Nix-Tag-Check: ghcr.io/acme/api\n", True),  # almost a marker: must be read
    (b"x: v1  # nix-tag-check: ghcr.io/acme/api\n", True),  # a marker for another image
    (b'script: echo "a\\nb\\t\\\\c"\n', False),  # escapes that cannot spell a name
    (b"image: team/hellp\n", False),
    ("image: team/hellp\n".encode("utf-16"), False),
    (b"", False),
))
def test_mentions(data: bytes, expected: bool) -> None:
    assert mentions(data, NEEDLES) is expected


@pytest.mark.parametrize(("data", "expected"), (
    (b"a: 1\n" * 100 + b"image: team/hello\n", True),
    (b"a: 1\n" * 100 + b'image: "te\\x61m/hello"\n', True),  # too big to decode: any such escape
    ("a: 1\nimage: team/hello\n".encode("utf-16"), True),
    (b"a: 1\n" * 100 + b'x: "\\n"\n', False),
))
def test_mentions_file_of_a_file_too_big_to_read(
    tmp_path: Path, data: bytes, expected: bool
) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(data)
    assert mentions_file(str(path), NEEDLES) is expected
