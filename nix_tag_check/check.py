"""One manifest against the expected tags: its references, and the text that would fix them.

Each file is read and parsed at most once per run, whether the cache (which needs to
know which files hold references) or the check asks first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import files, fix, scan
from . import yaml_tree as yt
from .nix_eval import Evaluated
from .reference import Repository

TEMPLATE_HINT = ("; this looks like a template: exclude it in the config, or mark its values "
                 "with `# nix-tag-check: IMAGE`")


@dataclass
class Analysis:
    manifest: files.Manifest | None  # None: names no image, never parsed
    findings: list[scan.Finding] = field(default_factory=list)
    roots: list[yt.Node] = field(default_factory=list)
    error: yt.LocatedError | None = None

    @property
    def stale(self) -> list[scan.Finding]:
        return [f for f in self.findings if f.stale]


class Checker:
    def __init__(self, evaluated: Sequence[Evaluated], boundary: str, max_file_size: int) -> None:
        self.expected: dict[Repository, scan.Expected] = {
            e.spec.repository: scan.Expected(e.spec.name, e.spec.repository, e.tag, e.spec.source)
            for e in evaluated
        }
        self.needles = scan.needles(self.expected)
        self.boundary = boundary
        self.max_file_size = max_file_size
        self._memo: dict[str, Analysis] = {}

    def analyse(self, path: str) -> Analysis:
        key = os.path.abspath(path)
        if key not in self._memo:
            self._memo[key] = self._analyse(path)
        return self._memo[key]

    def _analyse(self, path: str) -> Analysis:
        try:
            manifest = files.read(path, self.boundary, self.needles, self.max_file_size)
        except files.FileProblem as exc:
            return Analysis(None, error=exc)
        if manifest is None:
            return Analysis(None)
        try:
            roots = yt.parse(manifest.text)
            findings = scan.scan_tree(manifest.text, roots, manifest.path, self.expected)
            return Analysis(manifest, findings, roots)
        except yt.LocatedError as exc:
            if isinstance(exc, yt.YamlSyntaxError) and "{{" in manifest.text:
                exc = yt.YamlSyntaxError(exc.message + TEMPLATE_HINT, exc.line, exc.column)
            return Analysis(manifest, error=exc)

    def holds_reference(self, path: str) -> bool:
        """For the cache: a file whose tags we rewrite is no input of any tag."""
        analysis = self.analyse(path)
        return analysis.error is None and bool(analysis.findings)

    def fixed_text(self, analysis: Analysis) -> str:
        """The manifest with its stale references fixed (see fix.fix_scanned)."""
        assert analysis.manifest is not None
        return fix.fix_scanned(analysis.manifest.text, analysis.roots, analysis.findings,
                               analysis.manifest.path, self.expected)
