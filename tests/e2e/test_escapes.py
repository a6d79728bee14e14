"""Names written with escapes are found; a value --fix cannot rewrite hides nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nixtools import out_path_hash

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
NAME_ESCAPED = [
    ('{"image": "registry.example.com\\/team\\/hello:old"}\n', "1:11"),  # JSON \/
    ('{"image": "registry.example.com/te\\u0061m/hello:old"}\n', "1:11"),  # JSON \u0061
    ('image: "registry.example.com/te\\x61m/hello:old"\n', "1:8"),  # YAML \x61
    ('image: "registry.example.com/team/\\\n  hello:old"\n', "1:8"),  # an escaped break
]


@pytest.fixture
def new(repo: Path) -> str:
    return out_path_hash(repo / "default.nix", "hello")


@pytest.mark.parametrize(("text", "where"), NAME_ESCAPED)
def test_name_written_with_escapes_is_found_and_its_plain_tag_fixed(
    repo: Path, capsys: pytest.CaptureFixture[str], new: str, text: str, where: str
) -> None:
    path = repo / "deploy/escaped.json"
    path.write_text(text)
    assert main(["deploy/escaped.json"]) == 1
    assert capsys.readouterr().out.startswith(f"deploy/escaped.json:{where}: {HELLO}: tag 'old'")
    assert main(["--fix", "deploy/escaped.json"]) == 1
    assert path.read_text() == text.replace(":old", f":{new}")
    assert main(["deploy/escaped.json"]) == 0


def test_configured_files_run_reads_a_file_that_names_the_image_only_escaped(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--fix"])
    (repo / "deploy/escaped.json").write_text(NAME_ESCAPED[1][0])
    (repo / ".nix-tag-check.yaml").write_text(
        (repo / ".nix-tag-check.yaml").read_text().replace("deploy/**/*.yaml", "deploy/**"))
    capsys.readouterr()
    assert main([]) == 1
    assert capsys.readouterr().out.startswith("deploy/escaped.json:1:11:")


UNFIXABLE = [
    ('image: "registry.example.com/team/hello:\\x6fld"\n', "cannot rewrite this tag in place: "
     "it is written with escapes or over lines; write the tag plainly"),
    ('image: "registry.example.com/team/hello:o\\\n  ld"\n', "cannot rewrite this tag in place: "
     "it is written with escapes or over lines; write the tag plainly"),
]


@pytest.mark.parametrize(("value", "why"), UNFIXABLE)
def test_check_reports_every_stale_reference_around_an_unfixable_one(
    repo: Path, capsys: pytest.CaptureFixture[str], new: str, value: str, why: str
) -> None:
    text = f"a:\n  image: {HELLO}:one\nb:\n  {value.replace(chr(10) + '  ', chr(10) + '    ')}"
    text += f"c:\n  image: {HELLO}:two\n"
    (repo / "deploy/mixed.yaml").write_text(text)
    assert main(["deploy/mixed.yaml"]) == 1
    out = capsys.readouterr().out.splitlines()
    last = len(text.splitlines())
    assert [line.split(": ", 1)[0] for line in out] == [
        "deploy/mixed.yaml:2:10", "deploy/mixed.yaml:4:10", f"deploy/mixed.yaml:{last}:10"]
    assert out[1].endswith(f"; --fix cannot: {why}")


@pytest.mark.parametrize(("value", "why"), UNFIXABLE)
def test_fix_rewrites_the_others_and_reports_the_unfixable_one(
    repo: Path, capsys: pytest.CaptureFixture[str], new: str, value: str, why: str
) -> None:
    text = f"image: {HELLO}:one\nother:\n  {value.replace(chr(10) + '  ', chr(10) + '    ')}"
    path = repo / "deploy/mixed.yaml"
    path.write_text(text)
    assert main(["--fix", "deploy/mixed.yaml"]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(f"deploy/mixed.yaml:1:8: {HELLO}: tag 'one' -> '{new}'")
    assert captured.err.splitlines()[0] == (
        f"error: deploy/mixed.yaml:3:10: {HELLO}: tag 'old' should be '{new}' "
        f"(default.nix#hello); --fix cannot: {why}")
    assert path.read_text() == text.replace(":one", f":{new}")
    assert main(["--fix", "deploy/mixed.yaml"]) == 2  # and stays reported


def test_unfixable_reference_is_in_the_json_findings_with_why(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "deploy/mixed.yaml").write_text(UNFIXABLE[0][0])
    assert main(["--format", "json", "deploy/mixed.yaml"]) == 1
    finding = json.loads(capsys.readouterr().out)["findings"][0]
    assert finding["unfixable"] == UNFIXABLE[0][1]
    assert main(["--format", "json", "--fix", "deploy/mixed.yaml"]) == 2
    error = json.loads(capsys.readouterr().out)["errors"][0]
    assert (error["path"], error["line"], error["column"]) == ("deploy/mixed.yaml", 1, 8)


def test_diff_shows_the_others_and_reports_the_unfixable_one(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"image: {HELLO}:one\nother:\n  {UNFIXABLE[0][0]}"
    (repo / "deploy/mixed.yaml").write_text(text)
    assert main(["--diff", "deploy/mixed.yaml"]) == 2
    captured = capsys.readouterr()
    assert f"+image: {HELLO}:" in captured.out
    assert "--fix cannot: cannot rewrite this tag in place" in captured.err
