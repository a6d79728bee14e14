"""The tool's state folder: cache files read only as regular files of a bounded size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from nix_tag_check import state

GUARD_S = 120  # a FIFO read blocks forever: the guard turns that into a failure, no speed limit
LIMIT = 100


def _read_in_a_fresh_process(path: Path) -> str:
    code = f"from nix_tag_check import state; print(state.read({str(path)!r}, {LIMIT}))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True, timeout=GUARD_S).stdout.strip()


def test_a_fifo_is_not_read_and_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    assert _read_in_a_fresh_process(tmp_path / "fifo") == "None"


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: p.write_bytes(b"x" * LIMIT), b"x" * LIMIT),
    (lambda p: p.write_bytes(b""), b""),
    (lambda p: p.write_bytes(b"x" * (LIMIT + 1)), None),  # over the cap
    (lambda p: p.mkdir(), None),
    (lambda p: p.symlink_to("/dev/zero"), None),
    (lambda p: p.symlink_to(p.with_name("regular")), None),  # never through a link
    (lambda p: None, None),  # missing
])
def test_read(tmp_path: Path, make: object, expected: bytes | None) -> None:
    (tmp_path / "regular").write_bytes(b"a regular file")
    path = tmp_path / "entry"
    make(path)  # type: ignore[operator]
    assert state.read(str(path), LIMIT) == expected


def test_a_huge_sparse_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge"
    with open(path, "wb") as handle:
        handle.truncate(1 << 40)  # a terabyte of nothing: reading it would never end
    assert state.read(str(path), 64 << 20) is None
