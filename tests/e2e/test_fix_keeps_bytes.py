"""`--fix` changes the tag's bytes and no other: a BOM, CRLF endings, no final newline."""

from __future__ import annotations

from pathlib import Path

from conftest import git
from test_several_nix_files import WEB, nix_tags, several

from nix_tag_check.main import main

__all__ = ["several"]  # the fixture: a repository of three images in three .nix files


def test_fix_keeps_a_bom_crlf_and_a_missing_final_newline(several: Path) -> None:
    web = several / "deploy/web.yaml"
    stale = "0" * 31 + "a"
    original = b"\xef\xbb\xbf" + web.read_bytes().rstrip(b"\n").replace(b"\n", b"\r\n")
    web.write_bytes(original)
    git(several, "commit", "-qam", "a manifest written on Windows")
    assert main(["--fix"]) == 1
    fixed = original.replace(stale.encode(), nix_tags(several)[WEB].encode())
    assert web.read_bytes() == fixed
    assert fixed.startswith(b"\xef\xbb\xbf") and fixed.count(b"\r\n") == 8
    assert not fixed.endswith(b"\n")
    assert main(["--fix"]) == 0
    assert web.read_bytes() == fixed
    assert main([]) == 0
