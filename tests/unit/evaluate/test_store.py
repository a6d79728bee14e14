"""The evaluation cache's folder: within its bounds, the newest entries kept, listed only by a
run that writes; its key names the tool by content."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nix_tag_check import state
from nix_tag_check.config.load import ImageSpec
from nix_tag_check.config.reference import parse_repository
from nix_tag_check.evaluate import store
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.evaluate.reach import Hashes

HELLO = "registry.example.com/team/hello"


def _evaluated(tag: str) -> list[Evaluated]:
    spec = ImageSpec(HELLO, parse_repository(HELLO), "auto", "x86_64-linux", ("x",), "d.nix#x")
    return [Evaluated(spec, tag, f"/nix/store/{tag}-x")]


def _key(i: int) -> str:
    return store.entry_key("entry", i)


@pytest.fixture
def git_dir(tmp_path: Path) -> Path:
    (tmp_path / "nix-tag-check").mkdir()
    return tmp_path


def _fill(git_dir: Path, count: int) -> store.Store:
    """`count` entries written one after another (a second apart, the first the oldest)."""
    cache = store.Store(str(git_dir))
    for i in range(count):
        cache.write(_key(i), _evaluated(f"t{i}"))
        os.utime(git_dir / f"nix-tag-check/eval/{_key(i)[:40]}.json", ns=(0, i * 10**9))
    return cache


def test_the_newest_entries_are_kept_within_the_count(
    git_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_ENTRIES", 3)
    _fill(git_dir, 5)
    cache = store.Store(str(git_dir))
    assert [i for i in range(5) if cache.read(_key(i)) is not None] == [2, 3, 4]


def test_the_newest_entries_are_kept_within_the_bytes(
    git_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = len(store.json.dumps({"format": store.FORMAT, "key": _key(0),
                                 "results": [e.to_json() for e in _evaluated("t0")]}))
    monkeypatch.setattr(store, "MAX_FOLDER_BYTES", 2 * size)
    _fill(git_dir, 5)
    cache = store.Store(str(git_dir))
    assert [i for i in range(5) if cache.read(_key(i)) is not None] == [3, 4]


def test_a_new_run_keeps_the_bound_over_what_earlier_runs_wrote(
    git_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_ENTRIES", 3)
    _fill(git_dir, 3)
    store.Store(str(git_dir)).write(_key(9), _evaluated("t9"))
    cache = store.Store(str(git_dir))
    assert [i for i in (0, 1, 2, 9) if cache.read(_key(i)) is not None] == [1, 2, 9]


def test_the_remembered_hashes_are_never_pruned(
    git_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_ENTRIES", 1)
    cache = store.Store(str(git_dir))
    hashes = Hashes({"/repo/a.nix": [[1, 2, 3, 4, 5], "0" * 64]})
    hashes.changed, hashes.used = True, {"/repo/a.nix"}  # a hash this run used
    cache.save_hashes(hashes)
    os.utime(git_dir / "nix-tag-check/eval/hashes.json", ns=(0, 0))
    _fill(git_dir, 3)
    assert (git_dir / "nix-tag-check/eval/hashes.json").is_file()
    assert store.Store(str(git_dir)).hashes().known == hashes.known


def test_a_run_that_only_reads_never_lists_the_folder(
    git_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(git_dir, 3)
    listings: list[int] = []
    monkeypatch.setattr(state.Bounded, "_list", lambda self, fd: listings.append(fd) or {})
    cache = store.Store(str(git_dir))
    cache.hashes()
    assert all(cache.read(_key(i)) is not None for i in range(3))
    assert listings == []


def test_the_tool_key_names_the_tool_by_content(monkeypatch: pytest.MonkeyPatch) -> None:
    before = store.tool_key()
    monkeypatch.setattr(state, "tool_identity", lambda: "another build of the tool")
    assert store.tool_key() != before


def test_an_entry_written_before_drv_path_existed_is_evaluated_again(git_dir: Path) -> None:
    cache = store.Store(str(git_dir))
    cache.write(_key(0), _evaluated("t0"))
    entry = git_dir / f"nix-tag-check/eval/{_key(0)[:40]}.json"
    data = store.json.loads(entry.read_text())
    del data["results"][0]["drv_path"]
    entry.write_text(store.json.dumps(data))
    assert cache.read(_key(0)) is None
