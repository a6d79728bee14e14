"""Reporters by name: each format's own output for the same events."""

from __future__ import annotations

import io
import json

import pytest

from nix_tag_check import report
from nix_tag_check.config.load import ImageSpec
from nix_tag_check.config.reference import parse_repository
from nix_tag_check.errors import ConfigError, EvalError, FileProblem, LocatedError, ScanError
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.report.github import GithubReporter
from nix_tag_check.report.json import JsonReporter
from nix_tag_check.report.mode import Mode
from nix_tag_check.report.text import DiffReporter, TextReporter
from nix_tag_check.scan.rules import Finding

FINDING = Finding(3, 8, "ghcr.io/acme/api", "old", "new", "default.nix#api", "image")


def _run(mode: Mode) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    reporter = report.reporter(mode, out, err)
    reporter.finding("deploy/a.yaml", FINDING)
    reporter.problem(ConfigError("no 'images:' in config", 1, path=".nix-tag-check.yaml"))
    reporter.diff("deploy/a.yaml", "a: 1\n", "a: 2\n")
    reporter.finish(1)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("mode", "kind"), [
    (Mode(), TextReporter),
    (Mode(format="json"), JsonReporter),
    (Mode(format="github"), GithubReporter),
    (Mode("diff", format="json"), DiffReporter),
])
def test_a_reporter_is_chosen_by_format_name_and_diff_by_action(mode: Mode, kind: type) -> None:
    assert type(report.reporter(mode)) is kind


def test_diff_reporter_keeps_stdout_for_the_patch_alone() -> None:
    out, err = _run(Mode("diff"))
    assert out == "--- a/deploy/a.yaml\n+++ b/deploy/a.yaml\n@@ -1 +1 @@\n-a: 1\n+a: 2\n"
    assert err.startswith("deploy/a.yaml:3:8: ghcr.io/acme/api: tag 'old' should be 'new'")
    assert "error: .nix-tag-check.yaml:1: no 'images:' in config\n" in err


def test_fix_mode_says_what_was_done_once_for_every_reporter() -> None:
    out, err = _run(Mode("fix"))
    assert out.startswith("deploy/a.yaml:3:8: ghcr.io/acme/api: tag 'old' -> 'new'")
    assert err.endswith("fixed 1 reference(s) in 1 file(s)\n")
    assert _run(Mode("fix", format="github"))[0].startswith("::warning file=deploy/a.yaml")


def _expected(format: str) -> str:
    out = io.StringIO()
    reporter = report.reporter(Mode("print-expected", format=format), out, io.StringIO())
    spec = ImageSpec("ghcr.io/acme/api", parse_repository("ghcr.io/acme/api"), "auto",
                     "x86_64-linux", ("api",), "default.nix#api", "default.nix")
    reporter.expected(Evaluated(spec, "new", "/nix/store/new-api.tar.gz",
                                drv_path="/nix/store/new-api.tar.gz.drv"))
    reporter.finish(0)
    return out.getvalue()


def test_print_expected_lines_are_plain_name_and_tag() -> None:
    assert _expected("text") == "ghcr.io/acme/api:new\n"


def test_print_expected_as_json_says_what_a_pipeline_builds() -> None:
    assert json.loads(_expected("json")) == {
        "expected": [{"name": "ghcr.io/acme/api", "tag": "new",
                      "reference": "ghcr.io/acme/api:new", "source": "default.nix#api",
                      "out_path": "/nix/store/new-api.tar.gz",
                      "drv_path": "/nix/store/new-api.tar.gz.drv", "system": "x86_64-linux"}],
        "errors": [], "warnings": [],
    }


@pytest.mark.parametrize(("error", "text"), [
    (ConfigError("bad", 3, path="c.yaml"), "c.yaml:3: bad"),
    (FileProblem("bad", 3, 5, path="m.yaml"), "m.yaml:3:5: bad"),
    (EvalError("bad", path="default.nix"), "default.nix: bad"),
    (ScanError("bad", 3, 5), "bad"),
])
def test_an_error_reads_as_one_located_line(error: LocatedError, text: str) -> None:
    assert str(error) == text
