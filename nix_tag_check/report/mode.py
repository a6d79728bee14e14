"""What a run was asked to do and how to say it, decided once from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["check", "fix", "diff", "print-expected"]


@dataclass(frozen=True)
class Mode:
    action: Action = "check"
    format: str = "text"  # a reporter's name: text | json | github
    verbosity: int = 0  # -1: errors only (-q), 0, 1: say what was evaluated and skipped (-v)
    color: bool = False  # for standard output
    color_err: bool = False  # for standard error, which may go elsewhere
    registry: bool = False  # --registry: the registry is asked too (JSON then says so)
    pre_commit: bool = False  # run as a pre-commit hook: hints name what works there

    @property
    def fixing(self) -> bool:
        return self.action == "fix"

    @property
    def writing(self) -> bool:
        """--fix or --diff: the fixed text is made (and checked), written or shown."""
        return self.action in ("fix", "diff")

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    @property
    def verbose(self) -> bool:
        return self.verbosity > 0
