"""Every shape of reference the scanner knows, as exact findings and exact fixed bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

from nix_tag_check.fix.apply import fix_text
from nix_tag_check.scan.find import scan

SHAPES = FIXTURES / "shapes"
INPUTS = sorted(
    p for p in SHAPES.iterdir() if p.suffix in (".yaml", ".json") and ".fixed." not in p.name
)


def _fixed_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.fixed{path.suffix}")


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_findings_are_exactly_the_stale_places(path: Path, expected: dict) -> None:
    text = path.read_bytes().decode()
    found = [f"{f.line}:{f.column} {f.image}" for f in scan(text, path.name, expected) if f.stale]
    want = path.with_suffix(".findings").read_text().split("\n")
    assert found == [line for line in want if line]


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_fix_writes_exactly_the_expected_bytes(path: Path, expected: dict) -> None:
    text = path.read_bytes().decode()
    assert fix_text(text, expected, path.name).encode() == _fixed_path(path).read_bytes()


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_fixed_file_has_no_stale_reference(path: Path, expected: dict) -> None:
    fixed = _fixed_path(path).read_bytes().decode()
    assert [f for f in scan(fixed, path.name, expected) if f.stale] == []
