"""The tag is the one a clean clone of the commit gives: untracked and ignored files never count."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import git
from nixtools import out_path_hash

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"


def _clean_clone_tag(repo: Path, tmp_path: Path) -> str:
    """What the pipeline computes: raw Nix in a fresh clone of the committed tree."""
    clone = tmp_path / "clone" / repo.name  # same folder name: `./.` copies are named by it
    clone.parent.mkdir()
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    return out_path_hash(clone / "default.nix", "hello")


def _printed(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip().split(":")[-1]


@pytest.mark.parametrize("ignored", [False, True])
def test_an_extra_file_in_a_source_folder_does_not_change_the_tag(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ignored: bool
) -> None:
    if ignored:
        (repo / ".gitignore").write_text("result\n")
        git(repo, "add", ".gitignore")
        git(repo, "commit", "-qm", "ignore")
    (repo / "src" / ("result" if ignored else "wip.go")).write_text("not in the commit\n")
    assert main(["--print-expected", "--no-cache", "--image", f"{HELLO}=default.nix#hello"]) == 0
    assert _printed(capsys) == _clean_clone_tag(repo, tmp_path)


def test_an_empty_folder_does_not_change_the_tag(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "src" / "empty").mkdir()
    assert main(["--print-expected", "--no-cache", "--image", f"{HELLO}=default.nix#hello"]) == 0
    assert _printed(capsys) == _clean_clone_tag(repo, tmp_path)


def test_tracked_edits_not_yet_committed_do_count(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "src/main.go").write_text("package main // edited\n")
    assert main(["--print-expected", "--no-cache", "--image", f"{HELLO}=default.nix#hello"]) == 0
    printed = _printed(capsys)
    git(repo, "commit", "-qam", "edit")
    assert printed == _clean_clone_tag(repo, tmp_path)


def test_sources_worktree_evaluates_the_files_as_they_lie(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text() + "sources: worktree\n")
    (repo / "src/generated.go").write_text("package main // generated before evaluating\n")
    assert main(["--print-expected", "-v"]) == 0
    captured = capsys.readouterr()
    assert f"{HELLO}:{out_path_hash(repo / 'default.nix', 'hello')}" in captured.out
    assert "evaluated with Nix in the work tree (sources: worktree" in captured.err


def test_verbose_says_which_tree_was_evaluated(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--print-expected", "-v"]) == 0
    err = capsys.readouterr().err
    assert "default.nix: 2 image(s) evaluated with Nix over the Git-tracked files only" in err


def test_sources_must_be_tracked_or_worktree(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text() + "sources: everything\n")
    assert main([]) == 2
    assert capsys.readouterr().err == (
        "error: .nix-tag-check.yaml:11: sources must be one of tracked, worktree\n")


def test_the_private_copy_is_removed_and_only_its_lock_stays(repo: Path) -> None:
    main(["--no-cache"])
    assert [p.name for p in (repo / ".git/nix-tag-check/trees").iterdir()] == ["a.lock"]


def test_a_random_copy_an_older_version_abandoned_is_removed(repo: Path) -> None:
    trees = repo / ".git/nix-tag-check/trees"
    (trees / "tree-killed/repo").mkdir(parents=True)
    os.utime(trees / "tree-killed", (0, 0))
    (trees / "tree-running").mkdir()
    main(["--no-cache"])
    assert sorted(p.name for p in trees.iterdir()) == ["a.lock", "tree-running"]
