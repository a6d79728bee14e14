"""Say what was found, for a person (text), a program (json) or a CI runner (github)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from .scan import Finding

if TYPE_CHECKING:
    from .registry_gate import Problem as RegistryProblem

FORMATS = ("text", "json", "github")


def describe(finding: Finding, fixed: bool) -> str:
    """`image: tag 'old' should be 'new' (source)`, or what --fix did."""
    found = f"tag '{finding.found}'" if finding.found is not None else "no tag"
    verb = "->" if fixed else "should be" if finding.found is not None else ", should be"
    text = f"{finding.image}: {found} {verb} '{finding.expected}' ({finding.source})"
    text = text.replace(" , ", ", ")
    if finding.found == finding.expected and finding.digest:
        text = (f"{finding.image}: tag '{finding.found}' is right but digest {finding.digest} "
                f"cannot be checked without building ({finding.source})")
    if finding.digest and finding.unfixable is None:
        done, todo = ("emptied", "empties") if finding.digest_emptied else ("removed", "removes")
        text += f"; digest {done}" if fixed else f"; --fix {todo} the digest"
    if finding.unfixable is not None:
        text += f"; --fix cannot: {finding.unfixable.message}"
    return text


def _escape_github(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


@dataclass
class Reporter:
    """Collects findings and problems; prints them as it goes (text/github) or at the end."""

    format: str = "text"
    fixing: bool = False
    quiet: bool = False
    verbose: bool = False
    color: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    records: list[dict[str, object]] = field(default_factory=list)
    stale: int = 0  # findings reported
    changed: int = 0  # files they are in
    _last_path: str | None = None
    errors: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    registry: list[dict[str, object]] = field(default_factory=list)
    registry_checked: bool = False  # --registry: json output then always has "registry"

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def finding(self, path: str, finding: Finding, fixed: bool) -> None:
        record = {
            "path": path, "line": finding.line, "column": finding.column,
            "image": finding.image, "found": finding.found, "expected": finding.expected,
            "digest": finding.digest, "source": finding.source, "kind": finding.kind,
            "fixed": fixed,
            "unfixable": finding.unfixable.message if finding.unfixable is not None else None,
        }
        self.stale += 1
        if path != self._last_path:  # a file's findings come together
            self.changed += 1
            self._last_path = path
        if self.format == "json":  # only JSON prints them at the end: keep nothing else
            self.records.append(record)
        message = describe(finding, fixed)
        if self.format == "text" and not self.quiet:
            where = self._paint(f"{path}:{finding.line}:{finding.column}:", "1")
            print(f"{where} {message}", file=self.out)
        elif self.format == "github":
            level = "warning" if fixed else "error"
            props = (f"file={_escape_github(path, True)},line={finding.line},"
                     f"col={finding.column},title=nix-tag-check")
            print(f"::{level} {props}::{_escape_github(message)}", file=self.out)

    def registry_problem(self, problem: RegistryProblem) -> None:
        """A reference the registry does not confirm; an error when it could not say."""
        place = problem.place
        if problem.is_error:
            self.error(problem.message, place.path, place.line, place.column)
            return
        self.registry.append({
            "path": place.path, "line": place.line or None, "column": place.column or None,
            "image": place.image, "tag": place.tag, "problem": problem.kind,
            "digest": problem.digest,
        })
        where = f"{place.path}:{place.line}:{place.column}: " if place.path else ""
        if self.format == "text" and not self.quiet:
            print(f"{self._paint(where, '1') if where else ''}{problem.message}",
                  file=self.out if place.path else self.err)
        elif self.format == "github":
            props = (f" file={_escape_github(place.path, True)},line={place.line},"
                     f"col={place.column},title=nix-tag-check" if place.path else "")
            print(f"::error{props}::{_escape_github(problem.message)}", file=self.out)

    def error(self, message: str, path: str | None = None, line: int = 0, column: int = 0) -> None:
        where = path or ""
        if path and line:
            where += f":{line}" + (f":{column}" if column else "")
        self.errors.append({"path": path, "line": line or None, "column": column or None,
                            "message": message})
        text = f"{where}: {message}" if where else message
        if self.format == "github":
            props = ""
            if path:
                props = f" file={_escape_github(path, True)}" + (f",line={line}" if line else "")
                props += f",col={column}" if line and column else ""
            print(f"::error{props}::{_escape_github(text)}", file=self.out)
        if self.format != "json":
            print(self._paint("error: ", "31") + text, file=self.err)

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        if self.format == "github":
            print(f"::warning::{_escape_github(message)}", file=self.out)
        if self.format != "json" and not self.quiet:
            print(self._paint("warning: ", "33") + message, file=self.err)

    def info(self, message: str) -> None:
        if self.verbose and self.format != "json":
            print(message, file=self.err)

    def finish(self, files: int) -> None:
        if self.format == "json":
            result = {"findings": self.records, "errors": self.errors, "warnings": self.warnings}
            if self.registry_checked:
                result["registry"] = self.registry
            json.dump(result, self.out, indent=2)
            self.out.write("\n")
            return
        if self.quiet or self.format != "text":
            return
        stale, changed = self.stale, self.changed
        if self.fixing and stale:
            print(f"fixed {stale} reference(s) in {changed} file(s)", file=self.err)
        elif stale:
            print(f"{stale} stale reference(s) in {changed} file(s); "
                  "run `nix-tag-check --fix` to update them", file=self.err)
        if self.registry:
            print(f"{len(self.registry)} reference(s) not confirmed by the registry",
                  file=self.err)
        elif not stale and not self.errors:
            self.info(f"{files} file(s) checked, every reference is up to date")


def use_color(stream: TextIO) -> bool:
    """Colour only for a person at a terminal who has not asked for none."""
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def unified_diff(path: str, before: str, after: str) -> Iterator[str]:
    """A diff `patch -p1` and `git apply` accept, with CRLF and a missing final newline kept."""
    import difflib

    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", lineterm="\n")
    for line in lines:
        if line.endswith("\n"):
            yield line
        else:
            yield line + "\n"
            yield "\\ No newline at end of file\n"
