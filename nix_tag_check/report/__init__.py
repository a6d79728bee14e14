"""Say what a run found: one reporter per output format, chosen by its name.

text: for a person; json: for a program; github: workflow annotations. `--diff` has its
own reporter whatever the format: stdout carries the patch and nothing else.
"""

from __future__ import annotations

import sys
from typing import TextIO

from nix_tag_check.report.base import Reporter, describe, unified_diff
from nix_tag_check.report.github import GithubReporter
from nix_tag_check.report.json import JsonReporter
from nix_tag_check.report.mode import Mode
from nix_tag_check.report.text import DiffReporter, TextReporter

__all__ = ["FORMATS", "Reporter", "describe", "reporter", "unified_diff"]

REPORTERS: dict[str, type[Reporter]] = {
    "text": TextReporter,
    "json": JsonReporter,
    "github": GithubReporter,
}
FORMATS = tuple(REPORTERS)


def reporter(mode: Mode, out: TextIO | None = None, err: TextIO | None = None) -> Reporter:
    """The reporter of a run (stdout and stderr unless told otherwise)."""
    kind = DiffReporter if mode.action == "diff" else REPORTERS[mode.format]
    return kind(mode, out or sys.stdout, err or sys.stderr)
