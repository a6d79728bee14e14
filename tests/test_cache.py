"""The cache is never wrong: one test per way a cached run could return an old tag.

Each test runs once to fill the cache, changes one thing an evaluation can depend on,
and checks that the cached run gives the tags of a `--no-cache` run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git
from nixtools import counting_nix, starts

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
IMAGE = ('{{ image = derivation {{ name = "img"; system = "x86_64-linux"; builder = "/bin/sh"; '
         "{body} }}; }}")


@pytest.fixture
def nix_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "nix-starts.log"
    monkeypatch.setenv("PATH", counting_nix(tmp_path / "bin", log))
    return log


def _image(repo: Path, body: str, name: str = "image.nix") -> None:
    """The one configured image, from a tracked Nix file whose derivation has `body`."""
    (repo / name).write_text(IMAGE.format(body=body))
    git(repo, "add", name)
    (repo / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {HELLO}\n    nix: {name}\n    attr: image\n")


def _tags(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    main(["--print-expected", *extra])
    return capsys.readouterr().out


def _assert_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    """The cached run says what an uncached one says."""
    cached = _tags(capsys)
    assert cached == _tags(capsys, "--no-cache")
    assert cached.startswith(HELLO)


def _entries(repo: Path) -> list[Path]:
    folder = repo / ".git/nix-tag-check"
    return [p for p in folder.glob("*.json") if p.name != "hashes.json"]


@pytest.mark.parametrize("odd", ["fifo", "deep", "device", "folder"])
def test_an_odd_cache_entry_is_ignored_and_rebuilt(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str], odd: str
) -> None:
    before = _tags(capsys)
    for entry in [*_entries(repo), repo / ".git/nix-tag-check/hashes.json"]:
        entry.unlink()
        if odd == "fifo":
            os.mkfifo(entry)
        elif odd == "deep":
            entry.write_text("[" * 100_000 + "]" * 100_000)
        elif odd == "device":
            entry.symlink_to("/dev/zero")
        else:
            entry.mkdir()
    nix_log.unlink()
    assert _tags(capsys) == before
    assert starts(nix_log) == ["nix-instantiate"]
    if odd != "folder":  # a folder in the way is left alone: the next run evaluates again
        assert _tags(capsys) == before
        assert starts(nix_log) == ["nix-instantiate"]


def test_a_cache_folder_that_is_a_link_is_not_used(
    repo: Path, tmp_path: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".git/nix-tag-check").symlink_to(elsewhere)
    before = _tags(capsys)
    assert _tags(capsys) == before
    assert starts(nix_log) == ["nix-instantiate", "nix-instantiate"]
    assert list(elsewhere.iterdir()) == []
