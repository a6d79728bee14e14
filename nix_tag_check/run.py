"""One run, top to bottom: config -> expected tags -> manifests -> scan -> fix -> gate -> report.

`run` returns a RunResult, which alone decides the exit status: each step returns what it
found (stale or not, how many errors), and the reporter only says things.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nix_tag_check import git, paths, state
from nix_tag_check.config import find
from nix_tag_check.config import load as cfg
from nix_tag_check.errors import ChangedOnDisk, ConfigError, EvalError, LocatedError, located
from nix_tag_check.evaluate import expected as evaluation
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.gate import completeness
from nix_tag_check.manifests import encoding as enc
from nix_tag_check.manifests import select
from nix_tag_check.report import Reporter, describe, unread_warning
from nix_tag_check.report.mode import Mode
from nix_tag_check.scan import checker as check
from nix_tag_check.scan.find import Finding

if TYPE_CHECKING:
    from nix_tag_check.gate.registry import gate as registry_gate

DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Options:
    """What the command line asked for, decided once."""

    mode: Mode = Mode()  # noqa: RUF009 (frozen: one shared default is safe)
    files: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # --exclude: globs beside the config's exclude:
    config: str | None = None
    images: tuple[str, ...] = ()
    system: str | None = None
    use_cache: bool = True
    timeout: float = DEFAULT_TIMEOUT
    max_file_size: int | None = None
    registry_digests: tuple[str, ...] = ()
    registry_timeout: float = 10.0
    strict: bool = False  # warnings fail the run (pre-commit hides them when a hook passes)


@dataclass(frozen=True)
class RunResult:
    """How the run went: the exit status follows from it alone."""

    errors: int = 0
    stale: bool = False  # stale references found (or fixed), or missing from the registry
    warnings: int = 0  # fail the run only with --strict

    def status(self, strict: bool = False) -> int:
        """2: could not check; 1: stale (or fixed), or a warning under --strict; 0: fresh."""
        if self.errors:
            return 2
        return 1 if self.stale or (strict and self.warnings) else 0

    def __add__(self, other: RunResult) -> RunResult:
        return RunResult(self.errors + other.errors, self.stale or other.stale,
                         self.warnings + other.warnings)


@dataclass(frozen=True)
class _Prepared:
    config: cfg.Config
    selection: select.Selection | None  # None: --print-expected checks no file
    evaluated: list[Evaluated]
    checker: check.Checker


def run(options: Options, out: Reporter) -> RunResult:
    try:
        prepared = _prepare(options, out)
    except (ConfigError, EvalError) as exc:  # the config's path as the reader sees paths
        out.problem(exc, out.shown(os.path.abspath(exc.path)) if exc.path else None)
        out.finish(0)
        return RunResult(errors=1)
    config, selection, evaluated = prepared.config, prepared.selection, prepared.evaluated
    gaps = completeness.invalid_tags(evaluated)
    if selection is not None:
        gaps = completeness.empty_globs(config, selection) + gaps
    if gaps:  # the expected tags or the files are wrong: write nothing
        _report_gaps(gaps, out)
        out.finish(0)
        return RunResult(errors=len(gaps))
    out.images(evaluated)
    warned = RunResult(warnings=_warn(evaluated, out))
    if selection is None:
        return warned + _print_expected(options, config, evaluated, out)
    for item in evaluated:
        out.info(f"{item.spec.name}:{item.tag} ({item.spec.source})")
    return warned + _check(options, prepared, selection, out)


def _warn(evaluated: Sequence[Evaluated], out: Reporter) -> int:
    """Say each expected tag's warning (a tag that is not a Nix hash); how many there were."""
    warnings = [item.warning for item in evaluated if item.warning]
    for warning in warnings:
        out.warning(warning)
    return len(warnings)


def _on_config_line(exc: EvalError, config: cfg.Config) -> EvalError:
    """An error Nix places in no file of the repository, on its image's line of the config:
    an annotation and a JSON record then point at what the user wrote."""
    lines = [spec.line for spec in config.images if spec.name == exc.image and spec.line]
    if exc.path is not None or config.path is None or not lines:
        return exc
    placed = EvalError(exc.message, lines[0], path=config.path)
    placed.image = exc.image
    return placed


def _prepare(options: Options, out: Reporter) -> _Prepared:
    """Config, the files to check and the expected tags (raises ConfigError, EvalError)."""
    tree = git.git_tree(os.getcwd())
    config = find.load_config(tree.root if tree else None, config=options.config,
                              images=options.images, system=options.system,
                              max_file_size=options.max_file_size)
    if options.exclude:
        config = dataclasses.replace(config, exclude=config.exclude + options.exclude)
    if tree is None or not tree.contains(os.path.realpath(config.root)):
        tree = git.git_tree(config.root)  # --config in another repository
    boundary = tree.root if tree else os.path.realpath(config.root)
    selection = None
    if options.mode.action != "print-expected":
        selection = select.select(config.root, options.files, config.files, config.exclude,
                                  config.path, tree)
    try:
        evaluated = evaluation.expected(config, tree, options.timeout, options.use_cache,
                                        out.info, out.progress)
    except EvalError as exc:
        raise _on_config_line(exc, config) from None
    scan_file = _scan_cache_file(config, tree) if options.use_cache else None
    checker = check.Checker(evaluated, boundary, config.max_file_size, scan_file)
    return _Prepared(config, selection, evaluated, checker)


def _scan_cache_file(config: cfg.Config, tree: git.GitTree | None) -> str | None:
    """Beside the evaluation cache, one file per config (see scan/records.py)."""
    folder = state.folder(tree.git_dir, "scan") if tree is not None else None
    if folder is None:
        return None
    name = hashlib.sha256(f"{config.path}\0{config.root}".encode()).hexdigest()[:16]
    return os.path.join(folder, f"{name}.scan")


def _check(
    options: Options, prepared: _Prepared, selection: select.Selection, out: Reporter
) -> RunResult:
    """Scan (and fix) every selected manifest, then the gates: completeness, registry."""
    config, checker = prepared.config, prepared.checker
    result = RunResult()
    paths_ = select.distinct(selection.paths, checker.boundary, selection.links)
    referenced: set[str] = set()
    unchecked: dict[str, list[str]] = {}  # image -> files naming it that had an error
    scanned: list[tuple[str, list[Finding]]] = []
    places: list[registry_gate.Place] = []
    for path, real in paths_:
        analysis = checker.analyse(path, need_edits=out.mode.writing, real=real)
        referenced.update(f.image for f in analysis.findings if not f.ignored)
        for name in analysis.named:
            unchecked.setdefault(name, []).append(out.shown(path))
        if out.mode.registry:
            places += _places(path, analysis.findings, config, out)
        if out.mode.verbose:
            scanned.append(_list_file(path, analysis, out))
        result += _check_file(path, analysis, checker, out)
    checker.save(keep_unseen=bool(options.files))
    if out.mode.verbose:
        from nix_tag_check.report import inventory

        for line in inventory.image_lines(prepared.evaluated, scanned):
            out.info(line)
    if not options.files:
        gaps = completeness.unreferenced(config, prepared.evaluated, referenced, len(paths_),
                                         [real for _, real in paths_ if real is not None],
                                         unchecked)
        result += RunResult(errors=_report_gaps(gaps, out))
    if out.mode.registry and not result.errors:
        result += _registry_check(options, config, places, out)
    out.finish(len(paths_))
    return result


def _check_file(path: str, analysis: check.Analysis, checker: check.Checker,
                out: Reporter) -> RunResult:
    """Check (and fix) one manifest."""
    shown = out.shown(path)
    if analysis.error is not None:
        out.problem(analysis.error, shown)
        return RunResult(errors=1)
    unheeded = analysis.unheeded()
    for unread in unheeded:
        out.warning(unread_warning(shown, unread))
    said = RunResult(warnings=len(unheeded))  # --strict: they fail the run
    stale = analysis.stale
    if not stale:
        return said
    writing = out.mode.writing
    if writing and any(f.edits for f in stale):
        failed = _fix_file(analysis, checker, shown, out)
        if failed:
            return said + RunResult(errors=failed)
    errors = 0
    for finding in stale:
        if writing and finding.unfixable is not None:  # the others are fixed; not this
            out.error(describe(finding, False), shown, finding.line, finding.column)
            errors += 1
        elif out.mode.action != "diff":
            out.finding(shown, finding)
    return said + RunResult(errors, stale=True)


def _fix_file(analysis: check.Analysis, checker: check.Checker, shown: str,
              out: Reporter) -> int:
    """Write (or show, with --diff) the fixed file; the number of errors (0 or 1)."""
    manifest = analysis.manifest
    assert manifest is not None  # analysed with need_edits: parsed, not restored
    try:
        fixed = checker.fixed_text(analysis)
    except LocatedError as exc:
        out.error(f"internal error, file left as it was: {exc.message}", shown)
        return 1
    if out.mode.action == "diff":
        if manifest.codec != enc.UTF8:  # git apply: text only
            out.error(f"--diff shows UTF-8 files only and this one is "
                      f"{enc.name(manifest.codec)}: run --fix to rewrite it", shown)
            return 1
        out.diff(paths.relative(manifest.path, checker.boundary).replace(os.sep, "/"),
                 manifest.text, fixed)
        return 0
    checker.forget(manifest.path)
    from nix_tag_check.fix import write

    try:
        write.write_atomic(manifest.path, manifest.encode(fixed), manifest.raw)
    except ChangedOnDisk as exc:
        out.problem(exc, shown)
    except OSError as exc:
        out.error(f"cannot write: {exc.strerror or exc}; left as it was (--fix writes a new "
                  "file beside it, then renames it over: the folder must be writable)", shown)
    except Exception as exc:  # a bug of ours: one line, and the file as it was
        out.error(f"internal error, file left as it was: {exc}", shown)
    else:
        return 0
    return 1


def _list_file(path: str, analysis: check.Analysis, out: Reporter) -> tuple[str, list[Finding]]:
    """-v: the file and every reference in it, before its findings are reported."""
    from nix_tag_check.report import inventory  # only -v lists

    shown = out.shown(path)
    error = analysis.error.message if analysis.error is not None else None
    for line in inventory.file_lines(shown, analysis.findings, error, analysis.unread):
        out.info(line)
    return shown, analysis.findings


def _report_gaps(gaps: Sequence[completeness.Gap], out: Reporter) -> int:
    """Say each gap; the number of errors (a warning says what an error elsewhere hid)."""
    for gap in gaps:
        shown = out.shown(gap.path) if gap.path else None
        if gap.warning:
            out.warning(located(gap.message, shown, gap.line))
        else:
            out.error(gap.message, shown, gap.line)
    return sum(not gap.warning for gap in gaps)


def _print_expected(options: Options, config: cfg.Config, evaluated: Sequence[Evaluated],
                    out: Reporter) -> RunResult:
    """--print-expected: every image's `name:tag`; with --registry, only those a deploy can
    pull now."""
    if not out.mode.registry:
        for item in evaluated:
            out.expected(item)
        out.finish(0)
        return RunResult()
    from nix_tag_check.gate.registry import gate as registry_gate

    places = [registry_gate.Place(None, 0, 0, item.spec.name, item.spec.repository, item.tag)
              for item in evaluated]
    try:
        digests = registry_gate.parse_digests(options.registry_digests, config.images)
    except registry_gate.DigestOptionError as exc:
        out.error(str(exc))
        out.finish(0)
        return RunResult(errors=1)
    problems = registry_gate.check(places, digests, config.insecure_registries,
                                   options.registry_timeout)
    for problem in problems:
        out.registry_problem(problem)
    errors = sum(problem.is_error for problem in problems)
    if not errors:
        unconfirmed = {problem.place.image for problem in problems}
        for item in evaluated:
            if item.spec.name not in unconfirmed:
                out.expected(item)
    out.finish(0)
    return RunResult(errors, stale=bool(problems))


def _places(path: str, findings: Sequence[Finding], config: cfg.Config,
            out: Reporter) -> list[registry_gate.Place]:
    """A file's up-to-date or ignored references, where written: what --registry asks."""
    from nix_tag_check.gate.registry import gate as registry_gate

    repositories = {image.name: image.repository for image in config.images}
    return [
        registry_gate.Place(out.shown(path), f.line, f.column, f.image,
                            repositories[f.image], f.found)
        for f in findings if not f.stale and f.found is not None
    ]


def _registry_check(options: Options, config: cfg.Config,
                    places: Sequence[registry_gate.Place], out: Reporter) -> RunResult:
    """Ask the registry: stale when a reference is missing or has another digest."""
    from nix_tag_check.gate.registry import gate as registry_gate

    try:
        digests = registry_gate.parse_digests(options.registry_digests, config.images)
    except registry_gate.DigestOptionError as exc:
        out.error(str(exc))
        return RunResult(errors=1)
    problems = registry_gate.check(places, digests, config.insecure_registries,
                                   options.registry_timeout)
    for problem in problems:
        out.registry_problem(problem)
    errors = sum(problem.is_error for problem in problems)
    return RunResult(errors, stale=len(problems) > errors)
