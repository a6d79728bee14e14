"""What is found under .git/nix-tag-check/ is data: an odd file there never hangs a run, never
exhausts its memory and never changes its answer; it is ignored and written anew.

Each run is a fresh process with a timeout: the timeout is a guard that turns a hang into a
failure (a FIFO read blocks forever), not a speed limit.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, git

from nix_tag_check.scan import records

GUARD_S = 300  # far beyond any run here: only a run that hangs reaches it
STATE = ".git/nix-tag-check"
ONE_GIB = 1 << 30


def _run(repo: Path, *args: str, before: str = "",
         limit: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    """The tool in a fresh process (`before`: Python run first, in that process)."""
    code = (f"import sys\n{before}\nfrom nix_tag_check.main import main\n"
            f"sys.exit(main({list(args)!r}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=GUARD_S, preexec_fn=limit)


def _answer(done: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def _files_read(repo: Path) -> list[Path]:
    """Every file a cached run reads under .git/nix-tag-check/ (after one run filled them)."""
    found = sorted((repo / STATE).glob("eval/*.json")) + sorted((repo / STATE).glob("scan/*"))
    assert {p.parent.name for p in found} == {"eval", "scan"}
    return found


@pytest.fixture
def filled(repo: Path) -> tuple[int, str, str]:
    """The repository with both caches filled; what an uncached run answers."""
    uncached = _answer(_run(repo, "--no-cache"))
    assert _answer(_run(repo)) == uncached
    return uncached


def test_a_fifo_in_place_of_any_cache_file_neither_hangs_nor_changes_the_answer(
    repo: Path, filled: tuple[int, str, str]
) -> None:
    replaced = _files_read(repo)
    for path in replaced:
        path.unlink()
        os.mkfifo(path)
    assert _answer(_run(repo)) == filled
    assert all(path.is_file() for path in replaced)  # written anew
    assert _answer(_run(repo)) == filled


@pytest.mark.parametrize("folder", ["", "eval", "scan", "trees"])
def test_a_stray_fifo_in_any_cache_folder_does_not_hang_a_run(
    repo: Path, filled: tuple[int, str, str], folder: str
) -> None:
    (repo / STATE / folder).mkdir(parents=True, exist_ok=True)
    for name in ("x.json", "x.scan", "tree-x", "tmp1-0.tmp", "scan-1-0.tmp"):
        os.mkfifo(repo / STATE / folder / name)
    assert _answer(_run(repo)) == filled
    git(repo, "commit", "-q", "--allow-empty", "-m", "a new commit: evaluated again")
    assert _answer(_run(repo)) == filled


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _file(path: Path) -> None:
    path.write_text("not a folder\n")


@pytest.mark.parametrize("make", [_fifo, _file])
@pytest.mark.parametrize("folder", ["eval", "scan", "trees", "elsewhere", ""])
def test_a_fifo_or_file_in_place_of_a_cache_folder_only_costs_its_cache(
    repo: Path, filled: tuple[int, str, str], folder: str, make: Callable[[Path], None]
) -> None:
    path = repo / STATE / folder
    if path.exists():
        shutil.rmtree(path)
    make(path)
    assert _answer(_run(repo)) == filled
    assert _answer(_run(repo)) == filled


def _one_gib() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ONE_GIB, ONE_GIB))


def test_a_cache_file_that_links_to_dev_zero_is_not_read_under_a_memory_limit(
    repo: Path, filled: tuple[int, str, str]
) -> None:
    replaced = _files_read(repo)
    for path in replaced:
        path.unlink()
        path.symlink_to("/dev/zero")
    assert _answer(_run(repo, limit=_one_gib)) == filled
    assert not any(path.is_symlink() for path in replaced)


def test_a_huge_scan_cache_file_is_not_read_and_is_written_anew(
    repo: Path, filled: tuple[int, str, str]
) -> None:
    (scan_file,) = (repo / STATE).glob("scan/*.scan")
    with open(scan_file, "r+b") as handle:  # sparse: costs no disk
        handle.truncate(records.MAX_BYTES + 1)
    assert _answer(_run(repo, limit=_one_gib)) == filled
    assert scan_file.stat().st_size < 1 << 20


def test_a_huge_evaluation_entry_is_not_read_and_is_written_anew(
    repo: Path, filled: tuple[int, str, str]
) -> None:
    from nix_tag_check.evaluate import store

    entries = [p for p in (repo / STATE).glob("eval/*.json") if p.name != "hashes.json"]
    for path in [*entries, repo / STATE / "eval/hashes.json"]:
        with open(path, "r+b") as handle:
            handle.truncate(store.MAX_BYTES + 1)
    assert _answer(_run(repo, limit=_one_gib)) == filled
    assert all(path.stat().st_size < 1 << 20 for path in entries)


def test_a_folder_where_the_scan_cache_file_should_be_only_costs_a_scan(
    repo: Path, filled: tuple[int, str, str]
) -> None:
    (scan_file,) = (repo / STATE).glob("scan/*.scan")
    scan_file.unlink()
    (scan_file / "inside").mkdir(parents=True)
    assert _answer(_run(repo)) == filled
    assert _answer(_run(repo)) == filled
    assert (scan_file / "inside").is_dir()  # not ours to remove


NO_C_PARSER = ("sys.modules['_ruamel_yaml'] = None\n"  # an import of either now fails
               "sys.modules['_ruamel_yaml_clibz'] = None")
LIBYAML_ONLY = "---\nnote: x\t[\n"  # libyaml reads a tab in a plain scalar; YAML 1.2 refuses it


def test_a_run_with_the_pure_parser_parses_again_what_libyaml_read(repo: Path) -> None:
    _answer(_run(repo, "--fix"))
    manifest = repo / "deploy/hello.yaml"
    manifest.write_text(manifest.read_text() + LIBYAML_ONLY)
    with_libyaml = _answer(_run(repo))
    assert with_libyaml[0] == 0
    pure = _answer(_run(repo, before=NO_C_PARSER))
    assert pure == _answer(_run(repo, "--no-cache", before=NO_C_PARSER))
    assert pure[0] == 2
    assert "deploy/hello.yaml" in pure[2]
    assert _answer(_run(repo)) == with_libyaml  # and back: libyaml's result is libyaml's
