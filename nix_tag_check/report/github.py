"""For a GitHub Actions runner: workflow annotations on stdout, on the lines they concern."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from nix_tag_check.errors import located
from nix_tag_check.report.base import Reporter, show_path
from nix_tag_check.report.mode import Mode

if TYPE_CHECKING:  # types only: a report imports no scanning code
    from nix_tag_check.evaluate.groups import Evaluated
    from nix_tag_check.gate.registry.gate import Problem as RegistryProblem
    from nix_tag_check.scan.finding import Finding


_END = "NIX_TAG_CHECK_EXPECTED_END"  # heredoc delimiter of a multi-line step output


def _append(path: str | None, text: str) -> None:
    """Add to a file the runner reads after the step; one that cannot be written only costs
    the summary (the annotations and the exit status are the gate)."""
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        print(f"warning: cannot write {path}: {exc.strerror}", file=sys.stderr)


def _escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


class GithubReporter(Reporter):
    """Annotations on stdout; with the runner's files, a job summary and a step output."""

    def __init__(self, mode: Mode, out: TextIO, err: TextIO) -> None:
        super().__init__(mode, out, err)
        self.expected_images: list[Evaluated] = []
        self.stale_rows: list[str] = []  # the summary's table, one row per stale reference

    def images(self, evaluated: Sequence[Evaluated]) -> None:
        self.expected_images = list(evaluated)

    def shown(self, path: str) -> str:
        """GitHub places annotations relative to the workspace, whatever folder the step ran in."""
        return show_path(path, os.environ.get("GITHUB_WORKSPACE") or os.getcwd())

    def show_finding(self, path: str, finding: Finding, message: str) -> None:
        level = "warning" if self.mode.fixing else "error"
        props = (f"file={_escape(path, True)},line={finding.line},"
                 f"col={finding.column},title=nix-tag-check")
        self.out.write(f"::{level} {props}::{_escape(message)}\n")  # one write per line
        found = f"`{finding.found}`" if finding.found is not None else "no tag"
        self.stale_rows.append(f"| `{path}:{finding.line}` | `{finding.image}` | {found} | "
                               f"`{finding.expected}` |")

    def show_error(self, message: str, path: str | None, line: int, column: int) -> None:
        text = located(message, path, line, column)
        props = ""
        if path:
            props = f" file={_escape(path, True)}" + (f",line={line}" if line else "")
            props += f",col={column}" if line and column else ""
        print(f"::error{props}::{_escape(text)}", file=self.out)
        print(self.paint_err("error: ", "31") + text, file=self.err)  # for whoever reads the log

    def show_registry_problem(self, problem: RegistryProblem) -> None:
        place = problem.place
        props = (f" file={_escape(place.path, True)},line={place.line},"
                 f"col={place.column},title=nix-tag-check" if place.path else "")
        print(f"::error{props}::{_escape(problem.message)}", file=self.out)

    def finish(self, files: int) -> None:
        """The job summary (`$GITHUB_STEP_SUMMARY`) and the `expected` step output
        (`$GITHUB_OUTPUT`: `name:tag` lines), when the runner provides those files."""
        _append(os.environ.get("GITHUB_STEP_SUMMARY"), self._summary(files))
        if self.expected_images:
            lines = "".join(f"{i.spec.name}:{i.tag}\n" for i in self.expected_images)
            _append(os.environ.get("GITHUB_OUTPUT"), f"expected<<{_END}\n{lines}{_END}\n")

    def _summary(self, files: int) -> str:
        verb = "fixed" if self.mode.fixing else "stale"
        if self.stale_rows:
            head = f"### nix-tag-check: {len(self.stale_rows)} {verb} reference(s)\n\n"
            table = ["| where | image | found | expected |", "| --- | --- | --- | --- |",
                     *self.stale_rows]
        else:
            errors = f", {len(self.errors)} error(s)" if self.errors else ""
            head = f"### nix-tag-check: {files} file(s) checked, no stale reference{errors}\n\n"
            table = []
        images = ["| image | expected tag | from |", "| --- | --- | --- |",
                  *(f"| `{i.spec.name}` | `{i.tag}` | `{i.spec.source}` |"
                    for i in self.expected_images)]
        return head + "\n".join([*table, "", *images]).lstrip("\n") + "\n"

    def show_warning(self, message: str) -> None:
        print(f"::warning::{_escape(message)}", file=self.out)
        if not self.mode.quiet:
            print(self.paint_err("warning: ", "33") + message, file=self.err)
