"""What the CI gate reads: text, json, github annotations, --diff, --print-expected."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from nixtools import out_path_hash

from nix_tag_check import __version__
from nix_tag_check.main import main
from nix_tag_check.report import color

HELLO = "registry.example.com/team/hello"
OLD = "1dq4d2v2l6f3n5p8r0s9x7y4z1a2b3c4"


def test_json_format_lists_findings_with_stable_keys(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = out_path_hash(repo / "default.nix", "hello")
    assert main(["--format", "json", "deploy/hello.yaml"]) == 1
    assert json.loads(capsys.readouterr().out) == {
        "findings": [{
            "path": "deploy/hello.yaml", "line": 16, "column": 18, "image": HELLO,
            "found": OLD, "expected": new, "digest": None, "source": "default.nix#hello",
            "kind": "image", "fixed": False, "unfixable": None,
        }],
        "errors": [],
        "warnings": [],
    }


def test_json_format_reports_errors_too(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "deploy/bad.yaml").write_text(f"image: [{HELLO}\n")
    assert main(["--format", "json", "deploy/bad.yaml"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["errors"] == [{
        "path": "deploy/bad.yaml", "line": 2, "column": 1,
        "message": "invalid YAML: expected ',' or ']', but got '<stream end>'",
    }]
    assert captured.err == ""


def test_github_format_is_workflow_annotations(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = out_path_hash(repo / "default.nix", "hello")
    assert main(["--format", "github", "deploy/hello.yaml"]) == 1
    assert capsys.readouterr().out == (
        "::error file=deploy/hello.yaml,line=16,col=18,title=nix-tag-check::"
        f"{HELLO}: tag '{OLD}' should be '{new}' (default.nix#hello)\n"
    )


def test_diff_applies_with_git_apply_to_the_fix_result(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--diff"]) == 1
    diff = capsys.readouterr().out
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout == ""  # --diff wrote nothing
    (tmp_path / "fix.patch").write_text(diff, newline="")
    subprocess.run(["git", "apply", str(tmp_path / "fix.patch")], cwd=repo, check=True)
    applied = {p: p.read_bytes() for p in sorted(repo.rglob("*.yaml"))}
    subprocess.run(["git", "checkout", "--", "."], cwd=repo, check=True)
    main(["--fix"])
    assert {p: p.read_bytes() for p in sorted(repo.rglob("*.yaml"))} == applied


def test_diff_applies_with_patch_and_keeps_crlf(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--diff", "deploy/worker-cronjob.yaml"]) == 1
    (tmp_path / "fix.patch").write_text(capsys.readouterr().out, newline="")
    subprocess.run(["patch", "-s", "-p1", "-i", str(tmp_path / "fix.patch")], cwd=repo,
                   check=True)
    patched = (repo / "deploy/worker-cronjob.yaml").read_bytes()
    assert patched.count(b"\r\n") == patched.count(b"\n") == 14
    assert main(["deploy/worker-cronjob.yaml"]) == 0


def test_diff_of_a_file_without_final_newline_applies(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = repo / "deploy/last.yaml"
    path.write_bytes(f"image: {HELLO}:old".encode())
    assert main(["--diff", "deploy/last.yaml"]) == 1
    diff = capsys.readouterr().out
    assert "\\ No newline at end of file" in diff
    (tmp_path / "fix.patch").write_text(diff, newline="")
    subprocess.run(["git", "apply", "--unsafe-paths", str(tmp_path / "fix.patch")], cwd=repo,
                   check=True)
    assert not path.read_bytes().endswith(b"\n")
    assert main(["deploy/last.yaml"]) == 0


def test_diff_is_empty_and_exit_0_when_fresh(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--fix"])
    capsys.readouterr()
    assert main(["--diff"]) == 0
    assert capsys.readouterr().out == ""


def test_fix_output_says_a_digest_was_removed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = out_path_hash(repo / "default.nix", "hello")
    (repo / "deploy/pinned.yaml").write_text(f"image: {HELLO}:{new}@sha256:{'a' * 64}\n")
    assert main(["deploy/pinned.yaml"]) == 1
    assert "cannot be checked without building" in capsys.readouterr().out
    assert main(["--fix", "deploy/pinned.yaml"]) == 1
    assert capsys.readouterr().out.rstrip().endswith("; digest removed")
    assert (repo / "deploy/pinned.yaml").read_text() == f"image: {HELLO}:{new}\n"


def test_quiet_prints_only_errors(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q"]) == 1
    assert capsys.readouterr() == ("", "")


def test_verbose_says_what_was_evaluated(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["-v", "--no-cache"])
    err = capsys.readouterr().err
    assert "evaluation: default.nix: 2 image(s) evaluated with Nix over the Git-tracked" in err
    assert f"{HELLO}:{out_path_hash(repo / 'default.nix', 'hello')} (default.nix#hello)" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"nix-tag-check {__version__}\n"


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "nix-tag-check --fix" in out and "exit status: 0 up to date" in out


def test_fix_and_diff_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fix", "--diff"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_bad_option_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--timeout", "soon"]) == 2
    assert "argument --timeout: 'soon' is not a number of seconds" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert color.wanted("auto", _Terminal()) is True
    assert color.wanted("auto", io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert color.wanted("auto", _Terminal()) is False


def test_piped_output_has_no_escape_codes(repo: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "nix_tag_check"], cwd=repo,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "\033[" not in result.stdout + result.stderr
