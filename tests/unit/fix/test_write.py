"""write.write_atomic: the file is replaced whole, keeps its mode, and is never written over
someone else's change; its temporary file takes no name that is not free."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from nix_tag_check import atomic
from nix_tag_check.errors import ChangedOnDisk
from nix_tag_check.fix import write

OLD = b"image: api:v1\n"
NEW = b"image: api:v2\n"


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(atomic, "_numbers", itertools.count())
    path = tmp_path / "m.yaml"
    path.write_bytes(OLD)
    return path


def _first_temporary(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}-0.nix-tag-check"


def _others(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def test_the_new_content_replaces_the_file_and_no_temporary_file_stays(manifest: Path) -> None:
    write.write_atomic(str(manifest), NEW, OLD)
    assert manifest.read_bytes() == NEW
    assert _others(manifest) == []


def test_the_mode_is_kept_with_its_set_group_id_bit(manifest: Path) -> None:
    manifest.chmod(0o2640)
    write.write_atomic(str(manifest), NEW, OLD)
    assert manifest.stat().st_mode & 0o7777 == 0o2640


def test_a_name_someone_holds_is_skipped_and_left_alone(manifest: Path) -> None:
    squatter = _first_temporary(manifest)
    squatter.write_bytes(b"theirs")
    write.write_atomic(str(manifest), NEW, OLD)
    assert manifest.read_bytes() == NEW
    assert squatter.read_bytes() == b"theirs"


def test_a_link_at_the_temporary_name_is_never_followed(manifest: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    _first_temporary(manifest).symlink_to(target)
    write.write_atomic(str(manifest), NEW, OLD)
    assert manifest.read_bytes() == NEW
    assert target.read_bytes() == b"keep"


def test_when_every_name_tried_is_taken_a_random_one_is_drawn(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "_TRIES", 1)
    _first_temporary(manifest).write_bytes(b"theirs")
    write.write_atomic(str(manifest), NEW, OLD)
    assert manifest.read_bytes() == NEW
    assert _others(manifest) == [_first_temporary(manifest).name]


@pytest.mark.parametrize("change", [
    lambda path: path.write_bytes(OLD + b"more: 1\n"),  # grew
    lambda path: path.write_bytes(OLD[:-1]),  # shrank
    lambda path: path.write_bytes(OLD.replace(b"v1", b"v0")),  # same size
    lambda path: (path.with_name("x").write_bytes(b"other: 1\n"),
                  os.replace(path.with_name("x"), path)),  # replaced by a rename
])
def test_a_file_changed_since_it_was_read_is_left_as_it_is(
    manifest: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[Path], object]
) -> None:
    real = write._current
    left: list[bytes] = []

    def someone_changes_it_first(path: str, limit: int) -> tuple[bytes, os.stat_result]:
        change(manifest)  # after our temporary file is written, before it is renamed
        left.append(manifest.read_bytes())
        return real(path, limit)

    monkeypatch.setattr(write, "_current", someone_changes_it_first)
    with pytest.raises(ChangedOnDisk):
        write.write_atomic(str(manifest), NEW, OLD)
    assert manifest.read_bytes() == left[0]
    assert _others(manifest) == []
