"""What the other clone shares with the tree (checkout.py), without Nix: a file that cannot
see where it lies is a link to the tree's own, so that Nix evaluates it once for both."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nix_tag_check.evaluate import checkout
from nix_tag_check.evaluate.groups import Group, GroupKey
from nix_tag_check.evaluate.nix import Job
from nix_tag_check.evaluate.reach import Hashes
from nix_tag_check.evaluate.tracked_tree import View

SEES = [  # (a .nix file's text, whether its value may name where it lies)
    ("import ./pkgs.nix", True),
    ("{ src = ../src; }", True),
    ('{ p = "${./.}"; }', True),
    ("{ p = a/b; }", True),  # a relative path without ./
    ("{ p = builtins.unsafeGetAttrPos \"x\" { x = 1; }; }", True),
    ("{ p = __curPos; }", True),
    ("import <nixpkgs> { }", False),
    ('import (fetchTarball { url = "https://example.invalid/x"; sha256 = "0"; }) { }', False),
    ('{ builder = "/bin/sh"; home = ~/x; abs = /etc/hosts; }', False),
    ('# a comment naming ./x\n{ s = "./not-a-path"; }', False),
]


@pytest.mark.parametrize("text, sees", SEES)
def test_whether_a_file_can_see_where_it_lies(tmp_path: Path, text: str, sees: bool) -> None:
    (tmp_path / "f.nix").write_text(text)
    probe = checkout.Probe(None, Hashes(), frozenset(), print)
    assert probe._sees_where_it_lies(str(tmp_path / "f.nix")) is sees


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree/app"
    for rel, text in [("nix/pkgs.nix", "import <nixpkgs> { }"), ("svc/default.nix", "./src"),
                      ("svc/src/lib.nix", "{ }"), ("data.json", "{}"), (".git/HEAD", "x")]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "link").symlink_to("nix/pkgs.nix")
    return root


def _mirror(tree: Path, observed: frozenset[str], repository: Path | None = None
            ) -> tuple[Path, Path]:
    """The probe's mirror of `tree`, a private tree of `repository` (itself: the work tree)."""
    probe = checkout.Probe(str(tree.parent.parent / "mirrors"), Hashes(), observed, print)
    view = View.of(str(tree), None)
    target = str(tree / "svc/default.nix")
    job = Job(Group(GroupKey("file", target, "x86_64-linux"), ()), target)
    subject = checkout.Subject(job, str(tree), "svc/default.nix", view,
                               str(repository or tree))
    made = probe._mirror(subject, "probe")
    assert made is not None
    return tree, Path(made)


def test_the_other_clone_links_only_files_that_cannot_see_where_they_lie(tree: Path) -> None:
    source, mirror = _mirror(tree, frozenset({"svc/src"}), tree.parent / "repository")
    assert mirror.name == "moved-app" and mirror.parent.parent != source.parent
    assert os.readlink(mirror / "nix/pkgs.nix") == str(source / "nix/pkgs.nix")
    for rel in ("svc/default.nix", "svc/src/lib.nix", "data.json"):  # hard links
        assert not (mirror / rel).is_symlink()
        assert (mirror / rel).stat().st_ino == (source / rel).stat().st_ino
    assert os.readlink(mirror / "link") == "nix/pkgs.nix"  # the tree's own link, as it is
    assert sorted(p.name for p in (mirror / ".git").iterdir()) == []  # a .git, not the tree's


def test_a_file_below_a_folder_the_code_copies_is_never_a_link(tree: Path) -> None:
    _, mirror = _mirror(tree, frozenset({""}))
    assert not (mirror / "nix/pkgs.nix").is_symlink()


def test_the_work_tree_is_copied_never_hard_linked(tree: Path) -> None:
    """A hard link would change the user's files' ctime and link count."""
    source, mirror = _mirror(tree, frozenset({"svc/src"}))
    for rel in ("svc/default.nix", "data.json"):
        assert (mirror / rel).read_bytes() == (source / rel).read_bytes()
        assert (mirror / rel).stat().st_ino != (source / rel).stat().st_ino
        assert (source / rel).stat().st_nlink == 1
