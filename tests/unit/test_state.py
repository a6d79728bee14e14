"""The tool's state folder: cache files read only as regular files of a bounded size, folders
kept within bounds (the oldest go first), and the tool's identity that keys every cache."""

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


def _files(folder: Path, names: list[str], size: int = 1) -> None:
    """Files named `names`, the first the oldest (an hour apart)."""
    for age, name in enumerate(reversed(names), 1):
        (folder / name).write_bytes(b"x" * size)
        os.utime(folder / name, ns=(0, (10**6 - age * 3600) * 10**9))


def _write(folder: Path, bound: state.Bounded, name: str, size: int = 1) -> None:
    (folder / name).write_bytes(b"x" * size)
    bound.wrote(name, size)


def test_the_newest_files_are_kept_within_the_count(tmp_path: Path) -> None:
    _files(tmp_path, ["a", "b", "c", "d"])
    bound = state.Bounded(str(tmp_path), 3, 1 << 20)
    _write(tmp_path, bound, "e")
    assert sorted(os.listdir(tmp_path)) == ["c", "d", "e"]
    _write(tmp_path, bound, "f")
    assert sorted(os.listdir(tmp_path)) == ["d", "e", "f"]


def test_the_newest_files_are_kept_within_the_bytes(tmp_path: Path) -> None:
    _files(tmp_path, ["a", "b", "c"], size=40)
    _write(tmp_path, state.Bounded(str(tmp_path), 100, 100), "d", size=30)
    assert sorted(os.listdir(tmp_path)) == ["c", "d"]


def test_a_file_over_the_bytes_by_itself_is_kept_alone(tmp_path: Path) -> None:
    _files(tmp_path, ["a"])
    _write(tmp_path, state.Bounded(str(tmp_path), 100, 10), "big", size=20)
    assert os.listdir(tmp_path) == ["big"]


def test_a_file_written_again_counts_once_and_is_the_newest(tmp_path: Path) -> None:
    _files(tmp_path, ["a", "b", "c"])
    bound = state.Bounded(str(tmp_path), 3, 1 << 20)
    _write(tmp_path, bound, "a")
    _write(tmp_path, bound, "a")
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "c"]
    _write(tmp_path, bound, "d")
    assert sorted(os.listdir(tmp_path)) == ["a", "c", "d"]


def test_kept_names_and_folders_are_never_removed_nor_counted(tmp_path: Path) -> None:
    _files(tmp_path, ["hashes.json", "a", "b"])
    (tmp_path / "folder").mkdir()
    os.utime(tmp_path / "folder", ns=(0, 0))
    _write(tmp_path, state.Bounded(str(tmp_path), 2, 1 << 20, frozenset(["hashes.json"])), "c")
    assert sorted(os.listdir(tmp_path)) == ["b", "c", "folder", "hashes.json"]


def test_odd_entries_count_and_the_oldest_go(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("/dev/zero")
    for name in ("fifo", "link"):
        os.utime(tmp_path / name, ns=(0, 0), follow_symlinks=False)
    _files(tmp_path, ["a"])
    _write(tmp_path, state.Bounded(str(tmp_path), 2, 1 << 20), "b")
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
    assert os.path.exists("/dev/zero")


def test_nothing_is_removed_through_a_folder_that_is_a_link(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    _files(tmp_path / "real", ["a", "b", "c"])
    (tmp_path / "link").symlink_to("real")
    state.Bounded(str(tmp_path / "link"), 1, 1 << 20).wrote("c", 1)
    assert sorted(os.listdir(tmp_path / "real")) == ["a", "b", "c"]


def test_the_folder_is_listed_once_however_many_files_a_run_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listings = []
    real = state.Bounded._list
    monkeypatch.setattr(state.Bounded, "_list",
                        lambda self, fd: listings.append(fd) or real(self, fd))
    bound = state.Bounded(str(tmp_path), 2, 1 << 20)
    for name in "abcde":
        _write(tmp_path, bound, name)
    assert len(listings) == 1
    assert sorted(os.listdir(tmp_path)) == ["d", "e"]


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
