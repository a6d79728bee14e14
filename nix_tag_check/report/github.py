"""For a GitHub Actions runner: workflow annotations on stdout, on the lines they concern."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nix_tag_check.errors import located
from nix_tag_check.report.base import Reporter, show_path

if TYPE_CHECKING:  # types only: a report imports no scanning code
    from nix_tag_check.gate.registry.gate import Problem as RegistryProblem
    from nix_tag_check.scan.rules.context import Finding


def _escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


class GithubReporter(Reporter):
    def shown(self, path: str) -> str:
        """GitHub places annotations relative to the workspace, whatever folder the step ran in."""
        return show_path(path, os.environ.get("GITHUB_WORKSPACE") or os.getcwd())

    def show_finding(self, path: str, finding: Finding, message: str) -> None:
        level = "warning" if self.mode.fixing else "error"
        props = (f"file={_escape(path, True)},line={finding.line},"
                 f"col={finding.column},title=nix-tag-check")
        self.out.write(f"::{level} {props}::{_escape(message)}\n")  # one write per line

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

    def show_warning(self, message: str) -> None:
        print(f"::warning::{_escape(message)}", file=self.out)
        if not self.mode.quiet:
            print(self.paint_err("warning: ", "33") + message, file=self.err)
