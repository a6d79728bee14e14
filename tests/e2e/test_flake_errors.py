"""A flake that fails to evaluate: one line on stderr, at flake.nix:LINE:COL, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import API, git

from nix_tag_check.main import main

BROKEN = [  # (what replaces `name = "api";` in the fixture's flake, Nix's message)
    pytest.param('name = 1 + "api";', "cannot add a string to an integer", id="type-error"),
    pytest.param('name = throw "api is not ready";', "api is not ready", id="throw"),
    pytest.param('name = abort "no api";', "error message: 'no api'", id="abort"),
    pytest.param("name = apiName;", "undefined variable 'apiName'", id="undefined-variable"),
    pytest.param('name = assert false; "api";', "assertion 'false' failed", id="assertion"),
    pytest.param('name = "api" ++;', "syntax error", id="syntax-error"),
]
NAME_LINE = '          name = "api";'


@pytest.mark.parametrize("replacement, message", BROKEN)
@pytest.mark.parametrize("mode", [["--print-expected"], [], ["--fix"]])
def test_a_failing_flake_is_one_line_at_flake_nix_line_col(
    repo: Path, replacement: str, message: str, mode: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    flake = repo / "flake/flake.nix"
    lines = flake.read_text().splitlines()
    line = lines.index(NAME_LINE) + 1
    flake.write_text(flake.read_text().replace(NAME_LINE.strip(), replacement))
    git(repo, "add", "-A")
    assert main(["--image", f"{API}=./flake#api", *mode, "flake/app.yaml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n")
    assert captured.err.startswith(f"error: flake/flake.nix:{line}:")
    column = captured.err.split(":")[2]
    assert column.isdigit() and 1 <= int(column) <= len(NAME_LINE) + 20
    assert message in captured.err
    assert "/nix/store/" not in captured.err
