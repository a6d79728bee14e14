"""Manifests in UTF-16 and UTF-32 (YAML allows them) are read and fixed like UTF-8 ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
TEXT = f"# café: the hello service\nimage: {HELLO}:old\n"
BOMS = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-32-le": b"\xff\xfe\0\0",
        "utf-32-be": b"\0\0\xfe\xff", "utf-8": b"\xef\xbb\xbf"}


def _fixed(repo: Path, text: str) -> str:
    """What --fix must make of `text`: hello.yaml's reference, fixed, says the tag."""
    assert main(["--fix", "deploy/hello.yaml"]) == 1
    tag = (repo / "deploy/hello.yaml").read_text().split(f"{HELLO}:")[1].split()[0]
    return text.replace(":old", f":{tag}")


@pytest.mark.parametrize("bom", [True, False], ids=["bom", "detected"])
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_manifest_in_utf16_or_utf32_is_checked_and_fixed_in_its_own_encoding(
    repo: Path, capsys: pytest.CaptureFixture[str], codec: str, bom: bool
) -> None:
    data = (BOMS[codec] if bom else b"") + TEXT.encode(codec)
    path = repo / "deploy/wide.yaml"
    path.write_bytes(data)
    assert main(["deploy/wide.yaml"]) == 1
    assert capsys.readouterr().out.startswith(f"deploy/wide.yaml:2:8: {HELLO}: tag 'old'")
    assert main(["--fix", "deploy/wide.yaml"]) == 1
    assert path.read_bytes() == (BOMS[codec] if bom else b"") + _fixed(repo, TEXT).encode(codec)
    assert main(["deploy/wide.yaml"]) == 0


def test_utf8_bom_is_kept(repo: Path) -> None:
    path = repo / "deploy/bom.yaml"
    path.write_bytes(BOMS["utf-8"] + TEXT.encode())
    assert main(["--fix", "deploy/bom.yaml"]) == 1
    assert path.read_bytes() == BOMS["utf-8"] + _fixed(repo, TEXT).encode()


def test_invalid_utf16_is_a_located_error_and_left_as_it_is(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = BOMS["utf-16-le"] + TEXT.encode("utf-16-le") + "\ud800x".encode(
        "utf-16-le", "surrogatepass")
    path = repo / "deploy/bad.yaml"
    path.write_bytes(data)
    assert main(["--fix", "deploy/bad.yaml"]) == 2
    assert capsys.readouterr().err == "error: deploy/bad.yaml:3:1: not UTF-16LE text\n"
    assert path.read_bytes() == data


def test_check_of_the_configured_files_reads_a_utf16_manifest(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--fix"])
    (repo / "deploy/wide.yaml").write_bytes(BOMS["utf-16-le"] + TEXT.encode("utf-16-le"))
    capsys.readouterr()
    assert main([]) == 1
    assert capsys.readouterr().out.startswith("deploy/wide.yaml:2:8:")


def test_utf16_file_over_the_size_limit_is_refused_not_skipped(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = BOMS["utf-16-le"] + (TEXT * 50).encode("utf-16-le")
    (repo / "deploy/wide.yaml").write_bytes(data)
    assert main(["--max-file-size", "1000", "deploy/wide.yaml"]) == 2
    assert f"deploy/wide.yaml: file is {len(data)} bytes, over" in capsys.readouterr().err


def test_diff_of_a_utf16_manifest_is_refused_as_git_apply_would_not_take_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = BOMS["utf-16-le"] + TEXT.encode("utf-16-le")
    (repo / "deploy/wide.yaml").write_bytes(data)
    assert main(["--diff", "deploy/wide.yaml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("error: deploy/wide.yaml: --diff shows UTF-8 files only and this one "
                            "is UTF-16LE: run --fix to rewrite it\n")
    assert (repo / "deploy/wide.yaml").read_bytes() == data
