"""For a person: one line per stale reference, errors and a summary on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from nix_tag_check.errors import located
from nix_tag_check.report.base import Reporter, unified_diff
from nix_tag_check.report.mode import Mode

if TYPE_CHECKING:  # types only: a report imports no scanning code
    from nix_tag_check.gate.registry.gate import Problem as RegistryProblem
    from nix_tag_check.scan.finding import Finding


class TextReporter(Reporter):
    def show_finding(self, path: str, finding: Finding, message: str) -> None:
        if not self.mode.quiet:
            where = self.paint(f"{path}:{finding.line}:{finding.column}:", "1")
            self.out.write(f"{where} {message}\n")  # one write: stdout may be unbuffered

    def show_error(self, message: str, path: str | None, line: int, column: int) -> None:
        print(self.paint_err("error: ", "31") + located(message, path, line, column), file=self.err)

    def show_registry_problem(self, problem: RegistryProblem) -> None:
        place = problem.place
        if self.mode.quiet:
            return
        if place.path:
            where = self.paint(f"{place.path}:{place.line}:{place.column}: ", "1")
            print(f"{where}{problem.message}", file=self.out)
        else:
            print(problem.message, file=self.err)

    def show_warning(self, message: str) -> None:
        if not self.mode.quiet:
            print(self.paint_err("warning: ", "33") + message, file=self.err)

    def finish(self, files: int) -> None:
        if self.mode.quiet:
            return
        stale, changed = self.stale, self.changed
        if self.mode.fixing and stale:
            print(f"fixed {stale} reference(s) in {changed} file(s)", file=self.err)
        elif stale:
            print(f"{stale} stale reference(s) in {changed} file(s); {self._fix_hint()}",
                  file=self.err)
        if self.registry:
            print(f"{len(self.registry)} reference(s) not confirmed by the registry",
                  file=self.err)
        elif not stale and not self.errors:
            self.info(f"{files} file(s) checked, every reference is up to date")


    def _fix_hint(self) -> str:
        """How to fix them from where the user is: under pre-commit the tool is not on PATH."""
        if self.mode.pre_commit:
            return ("to update them, use the `nix-tag-check-fix` hook (`pre-commit run "
                    "nix-tag-check-fix --all-files`) or add `args: [--fix]` to this hook")
        return "run `nix-tag-check --fix` to update them"


class DiffReporter(TextReporter):
    """--diff: the patch alone on stdout (for `git apply`), everything else as text on stderr."""

    def __init__(self, mode: Mode, out: TextIO, err: TextIO) -> None:
        super().__init__(mode, err, err)
        self.patch = out

    def diff(self, path: str, before: str, after: str) -> None:
        self.patch.writelines(unified_diff(path, before, after))
