"""paths: the one spelling of "below" and "relative to"."""

from __future__ import annotations

import pytest

from nix_tag_check.paths import below, is_inside, named, relative


@pytest.mark.parametrize(("path", "folder", "expected"), [
    ("/repo", "/repo", ""),
    ("/repo/a/b.nix", "/repo", "a/b.nix"),
    ("/repo/a", "/repo/", "a"),
    ("/repo-other/a", "/repo", None),
    ("/elsewhere", "/repo", None),
    ("/", "/repo", None),
])
def test_below(path: str, folder: str, expected: str | None) -> None:
    assert below(path, folder) == expected


@pytest.mark.parametrize(("path", "folder", "expected"), [
    ("/repo/a/b.yaml", "/repo", "a/b.yaml"),
    ("/other/b.yaml", "/repo", "../other/b.yaml"),
])
def test_relative(path: str, folder: str, expected: str) -> None:
    assert relative(path, folder) == expected


@pytest.mark.parametrize(("path", "folder", "expected"), [
    ("/repo", "/repo", True),
    ("/repo/a", "/repo", True),
    ("/repository", "/repo", False),
])
def test_is_inside(path: str, folder: str, expected: bool) -> None:
    assert is_inside(path, folder) is expected


@pytest.mark.parametrize(("path", "folder", "expected"), [
    ("/repo", "/repo", "."),
    ("/repo/a/default.nix", "/repo", "a/default.nix"),
    ("/repo/..data/default.nix", "/repo", "..data/default.nix"),  # inside, for all its dots
    ("/repository/default.nix", "/repo", "/repository/default.nix"),
    ("/nix/store/x-nixpkgs/lib.nix", "/repo", "/nix/store/x-nixpkgs/lib.nix"),
    ("github:acme/deploy", "/repo", "github:acme/deploy"),  # not read as a path below the cwd
    ("", "/repo", ""),
])
def test_named(path: str, folder: str, expected: str) -> None:
    assert named(path, folder) == expected
