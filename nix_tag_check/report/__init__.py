"""Say what a run found: one reporter per output format, chosen by its name.

text: for a person; json: for a program; github: workflow annotations. `--diff` has its
own reporter whatever the format: stdout carries the patch and nothing else. A run imports
only the reporter it uses.
"""

from __future__ import annotations

import importlib
import sys
from typing import TextIO

from nix_tag_check.report.base import Reporter, describe, unified_diff, unread_warning
from nix_tag_check.report.mode import Mode

__all__ = ["FORMATS", "Reporter", "describe", "reporter", "unified_diff", "unread_warning"]

# format -> (module of nix_tag_check.report, class)
REPORTERS: dict[str, tuple[str, str]] = {
    "text": ("text", "TextReporter"),
    "json": ("json", "JsonReporter"),
    "github": ("github", "GithubReporter"),
}
FORMATS = tuple(REPORTERS)


def reporter(mode: Mode, out: TextIO | None = None, err: TextIO | None = None) -> Reporter:
    """The reporter of a run (stdout and stderr unless told otherwise)."""
    module, name = ("text", "DiffReporter") if mode.action == "diff" else REPORTERS[mode.format]
    kind: type[Reporter] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return kind(mode, out or sys.stdout, err or sys.stderr)
