"""The reporter interface: what a run tells its user, whatever the format."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

from nix_tag_check.errors import LocatedError
from nix_tag_check.paths import relative
from nix_tag_check.report.mode import Mode

if TYPE_CHECKING:  # types only: a report imports no scanning code
    from nix_tag_check.evaluate.groups import Evaluated
    from nix_tag_check.gate.registry.gate import Problem as RegistryProblem
    from nix_tag_check.scan.finding import Finding, Unread


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


def unread_warning(path: str, unread: Unread) -> str:
    """A configured image named where no tag is read, in a file with no reference to it."""
    return (f"{path}:{unread.line}:{unread.column}: {unread.image} is named here "
            f"('{unread.written}') with no tag that can be checked, and no reference to it in "
            f"this file is read: if it deploys the image, write the tag there, or mark the "
            f"value with `# nix-tag-check: {unread.image}`; if not, end the line with "
            "`# nix-tag-check: ignore`")


def record(path: str, finding: Finding, fixed: bool) -> dict[str, object]:
    """A finding as JSON data, with stable keys."""
    return {
        "path": path, "line": finding.line, "column": finding.column,
        "image": finding.image, "found": finding.found, "expected": finding.expected,
        "digest": finding.digest, "source": finding.source, "kind": finding.kind,
        "fixed": fixed,
        "unfixable": finding.unfixable.message if finding.unfixable is not None else None,
    }


class Reporter:
    """Collects what a run found and says it; each format overrides the `show_` methods."""

    def __init__(self, mode: Mode, out: TextIO, err: TextIO) -> None:
        self.mode = mode
        self.out = out
        self.err = err
        self.stale = 0  # findings reported
        self.changed = 0  # files they are in
        self._last_path: str | None = None
        self.errors: list[dict[str, object]] = []
        self.warnings: list[str] = []
        self.registry: list[dict[str, object]] = []  # references the registry did not confirm
        self._cwd: str | None = None  # a run never changes folder: asked once, not per file

    def shown(self, path: str) -> str:
        """A file's path as this output's reader wants it (see show_path)."""
        if self._cwd is None:
            self._cwd = os.getcwd()
        return show_path(path, self._cwd)

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.mode.color else text

    def paint_err(self, text: str, code: str) -> str:
        """paint() for standard error, which is coloured only when it is a terminal itself."""
        return f"\033[{code}m{text}\033[0m" if self.mode.color_err else text

    def finding(self, path: str, finding: Finding) -> None:
        self.stale += 1
        if path != self._last_path:  # a file's findings come together
            self.changed += 1
            self._last_path = path
        self.show_finding(path, finding, describe(finding, self.mode.fixing))

    def problem(self, exc: LocatedError, path: str | None = None) -> None:
        """An error at the place it carries (`path` names the file as the user sees it)."""
        self.error(exc.message, path or exc.path, exc.line, exc.column)

    def error(self, message: str, path: str | None = None, line: int = 0, column: int = 0) -> None:
        self.errors.append({"path": path, "line": line or None, "column": column or None,
                            "message": message})
        self.show_error(message, path, line, column)

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
        self.show_registry_problem(problem)

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        self.show_warning(message)

    def info(self, message: str) -> None:
        if self.mode.verbose:
            print(message, file=self.err)

    @contextlib.contextmanager
    def progress(self, text: str) -> Iterator[None]:
        """While Nix runs: -v says `text` before it starts; otherwise a terminal shows it once
        the evaluation has lasted a second, until it ends (report/progress.py)."""
        from nix_tag_check.report import progress  # only when Nix runs

        if self.mode.verbose:
            self.info(text)
        if self.mode.quiet or self.mode.verbose or not progress.is_terminal(self.err):
            yield
            return
        with progress.line(self.err, text):
            yield

    def images(self, evaluated: Sequence[Evaluated]) -> None:
        """The expected tags, once known (nothing by default; a CI summary lists them)."""

    def expected(self, item: Evaluated) -> None:
        """One image of --print-expected: a plain `name:tag` line, for scripts."""
        print(f"{item.spec.name}:{item.tag}", file=self.out)

    def diff(self, path: str, before: str, after: str) -> None:
        self.out.writelines(unified_diff(path, before, after))

    def finish(self, files: int) -> None:
        """The run is over: `files` manifests were checked."""

    def show_finding(self, path: str, finding: Finding, message: str) -> None:
        """Say one stale reference as it is found (nothing by default)."""

    def show_error(self, message: str, path: str | None, line: int, column: int) -> None:
        """Say one error as it happens (nothing by default)."""

    def show_registry_problem(self, problem: RegistryProblem) -> None:
        """Say one reference the registry did not confirm (nothing by default)."""

    def show_warning(self, message: str) -> None:
        """Say one warning as it happens (nothing by default)."""


def show_path(path: str, base: str) -> str:
    """Relative to `base` when inside it, as pre-commit users read paths.

    A name that is not UTF-8 shows its odd bytes as `\\xe9`: printable everywhere.
    """
    rel = relative(path, base)
    shown = path if rel.startswith("..") else rel.replace(os.sep, "/")
    return shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
