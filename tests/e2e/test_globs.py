"""`files:` and `exclude:` globs, as git's wildmatch reads them: a table, and no crash."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from conftest import git

from nix_tag_check.main import main
from nix_tag_check.manifests import select


@pytest.mark.parametrize(("pattern", "path", "matched"), [
    ("[a-c].yaml", "b.yaml", True),
    ("[a-c].yaml", "d.yaml", False),
    ("[z-a].yaml", "b.yaml", False),  # a range the wrong way round matches nothing
    ("[z-a].yaml", "z.yaml", False),
    ("[!a].yaml", "b.yaml", True),
    ("[!a].yaml", "a.yaml", False),
    ("[^a].yaml", "a.yaml", False),
    ("x[!a]y.yaml", "x/y.yaml", False),  # a negated set never matches a folder separator
    ("[a&&b].yaml", "&.yaml", True),  # regex set syntax is no syntax here
    ("[a--b].yaml", "b.yaml", True),  # `a--` is a range the wrong way round, then `b`
    ("[\\\\].yaml", "\\.yaml", True),
    ("[[].yaml", "[.yaml", True),
    ("deploy/[a-c]*/app.yaml", "deploy/b1/app.yaml", True),
])
def test_a_bracket_in_a_glob(pattern: str, path: str, matched: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FutureWarning from the regex engine either
        assert select.matches(path, [pattern]) is matched


def test_a_glob_that_is_a_bad_range_is_an_empty_glob_not_a_crash(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text().replace(
        "files: [deploy/**/*.yaml, charts/**/*.yaml]", "files: ['deploy/[z-a].yaml']"))
    git(repo, "commit", "-qam", "a bad range")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "glob 'deploy/[z-a].yaml' matches no file" in err and "Traceback" not in err
