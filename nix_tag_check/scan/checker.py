"""One manifest against the expected tags: its references, and the text that would fix them.

Nothing of a file is kept once it is done but its scan result in the scan cache (see
records.py), which also answers when the evaluation cache and the check ask about the
same file in one run: each file is parsed at most once, unless a fix needs its tree again.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nix_tag_check import state
from nix_tag_check.config.reference import Repository
from nix_tag_check.errors import FileProblem, LocatedError, YamlSyntaxError
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.manifests import prefilter
from nix_tag_check.manifests.select import is_chart_template, resolve_target
from nix_tag_check.scan import find as scan
from nix_tag_check.scan import records as scan_cache
from nix_tag_check.yamltree import tree as yt

if TYPE_CHECKING:  # read only by a scan: a run whose every file is cached never imports it
    from nix_tag_check.manifests import read as files

TEMPLATE_HINT = ("; this looks like a template: exclude it in the config, or mark its values "
                 "with `# nix-tag-check: IMAGE`")


@dataclass
class Analysis:
    manifest: files.Manifest | None  # None: names no image, never parsed
    findings: list[scan.Finding] = field(default_factory=list)
    roots: list[yt.Node] = field(default_factory=list)
    error: LocatedError | None = None
    unread: list[scan.Unread] = field(default_factory=list)  # images named, no tag read
    template: bool = False  # a chart template: read as text, never parsed as YAML
    named: tuple[str, ...] = ()  # with an error: the images its text names

    @property
    def stale(self) -> list[scan.Finding]:
        return [f for f in self.findings if f.stale]

    def unheeded(self) -> list[scan.Unread]:
        """Names to warn about: no reference of their image is read in the file."""
        read = {f.image for f in self.findings if not f.ignored}
        return [u for u in self.unread if not u.ignored and u.image not in read]


class Checker:
    def __init__(
        self, evaluated: Sequence[Evaluated], boundary: str, max_file_size: int,
        cache_file: str | None = None,
    ) -> None:
        self.expected: dict[Repository, scan.Expected] = {
            e.spec.repository: scan.Expected(e.spec.name, e.spec.repository, e.tag, e.spec.source)
            for e in evaluated
        }
        self.needles = scan.needles(self.expected)
        self.boundary = boundary
        self.max_file_size = max_file_size
        self.memory: scan_cache.ScanCache | None = None
        if cache_file:
            key = scan_cache.key([
                sorted([str(e.repository), e.name, e.tag, e.source]
                       for e in self.expected.values()),
                list(self.needles), max_file_size, boundary,
            ])
            self.memory = scan_cache.ScanCache(cache_file, key)

    def analyse(self, path: str, need_edits: bool = False, real: str | None = None) -> Analysis:
        """The file's findings; from the scan cache when its content is the one scanned.

        `need_edits`: the caller will fix a stale file, so it needs its text and tree.
        `real`: resolve_target(path), when the caller has it already.
        """
        if self.memory is None:
            return self._analyse(path)
        started = scan_cache.clock_ns()
        try:
            real = real or resolve_target(path, self.boundary)
            st = os.lstat(real)  # a link here was made since it was resolved: read it anew
        except (FileProblem, OSError):
            return self._analyse(path)  # which says what is wrong
        if not stat.S_ISREG(st.st_mode) or st.st_size > self.max_file_size:
            return self._analyse(path)
        outcome = self.memory.lookup(real, st)
        kept = scan_cache.restore(outcome) if outcome is not None else None
        if kept is not None and (kept.template is None  # names no image
                                 or kept.template is is_chart_template(real)):  # else a
            # `Chart.yaml` came or went: the file is read the other way now
            restored = Analysis(None, kept.findings, error=kept.error, unread=kept.unread,
                                template=bool(kept.template), named=kept.named)
            if not (need_edits and restored.stale):
                return restored
        analysis = self._analyse(path, (real, st))
        self._remember(real, st, analysis, started)
        return analysis

    def _remember(self, real: str, st: os.stat_result, analysis: Analysis, started: int) -> None:
        assert self.memory is not None
        if analysis.manifest is not None:
            if analysis.manifest.path == real:
                self.memory.record(real, st, analysis.manifest.raw, scan_cache.outcome(
                    analysis.findings, analysis.error, analysis.unread, analysis.template,
                    analysis.named), started)
            return
        if analysis.error is not None:
            return  # cannot read it, or binary: cheap to find again, and rare
        raw = state.read(real, st.st_size)
        if raw is not None and not prefilter.mentions(raw, self.needles):  # names no image
            self.memory.record(real, st, raw, scan_cache.NONE, started)

    def forget(self, path: str) -> None:
        """A file we rewrote: its record is of the old content."""
        if self.memory is not None:
            self.memory.forget(path)

    def save(self, keep_unseen: bool) -> None:
        if self.memory is not None:
            self.memory.save(keep_unseen)

    def _analyse(self, path: str, known: tuple[str, os.stat_result] | None = None) -> Analysis:
        """A fresh scan of the file (`known`: its real path and stat, just taken)."""
        from nix_tag_check.manifests import read as files

        try:
            manifest = files.read(path, self.boundary, self.needles, self.max_file_size, known)
        except FileProblem as exc:
            return Analysis(None, error=exc)
        if manifest is None:
            return Analysis(None)
        template = is_chart_template(manifest.path)
        try:
            if template:
                found = scan.read_template(manifest.text, self.expected)
                return Analysis(manifest, found.findings, unread=found.unread, template=True)
            roots = yt.parse(manifest.text)
            found = scan.read_tree(manifest.text, roots, manifest.path, self.expected)
            return Analysis(manifest, found.findings, roots, unread=found.unread)
        except LocatedError as exc:
            if isinstance(exc, YamlSyntaxError) and "{{" in manifest.text:
                exc = YamlSyntaxError(exc.message + TEMPLATE_HINT, exc.line, exc.column)
            return Analysis(manifest, error=exc, template=template,
                            named=self.named(manifest.text))

    def named(self, text: str) -> tuple[str, ...]:
        """The configured images a text names, however (a file that could not be checked)."""
        from nix_tag_check.scan.rules import occurrence  # only a file in error needs it

        needles = occurrence.needle_re(self.expected)
        return tuple(sorted({o.exp.name for o in occurrence.find(text, self.expected, needles)}))

    def fixed_text(self, analysis: Analysis) -> str:
        """The manifest with its stale references fixed (see fix.fix_scanned)."""
        from nix_tag_check.fix import (
            apply as fix,  # edits and the self-check: only --fix and --diff need them
        )
        assert analysis.manifest is not None
        if analysis.template:
            return fix.fix_template(analysis.manifest.text, analysis.findings)
        return fix.fix_scanned(analysis.manifest.text, analysis.roots, analysis.findings)
