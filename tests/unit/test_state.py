"""The tool's state folder: cache files read only as regular files of a bounded size, and
the tool's identity that keys every cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from nix_tag_check import __version__, state

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


@pytest.fixture
def package(tmp_path: Path) -> Path:
    copy = tmp_path / "nix_tag_check"
    shutil.copytree(ROOT / "nix_tag_check", copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_package_digest_follows_content_not_mtimes(package: Path) -> None:
    before = state.package_digest(str(package))
    module = package / "scan/checker.py"
    st = module.stat()
    text = module.read_bytes()
    module.write_bytes(text[:-1] + b"#")  # the same size
    os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert module.stat().st_size == st.st_size and module.stat().st_mtime_ns == st.st_mtime_ns
    assert state.package_digest(str(package)) != before


def test_every_mtime_at_1_as_in_the_nix_store_does_not_change_the_package_digest(
    package: Path
) -> None:
    before = state.package_digest(str(package))
    for path in package.rglob("*"):
        os.utime(path, (1, 1))
    assert state.package_digest(str(package)) == before


def test_the_package_digest_covers_eval_nix_and_ignores_compiled_files(package: Path) -> None:
    before = state.package_digest(str(package))
    (package / "__pycache__").mkdir()
    (package / "__pycache__/state.cpython-311.pyc").write_bytes(b"compiled")
    (package / ".state.py.swp").write_bytes(b"an editor's")
    assert state.package_digest(str(package)) == before
    with open(package / "evaluate/eval.nix", "a") as handle:
        handle.write("\n")
    assert state.package_digest(str(package)) != before


def test_the_tool_identity_names_the_version_the_package_and_python() -> None:
    identity = state.tool_identity()
    assert identity.startswith(f"{__version__} {state.package_digest(state._PACKAGE)} ")
    assert identity.endswith(sys.version)
