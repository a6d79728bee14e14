"""The command line: config -> evaluation -> expected tags -> scan -> report or patch."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import (
    __version__,
    check,
    color,
    coverage,
    evaluation,
    files,
    nix_eval,
    report,
    scan,
    tree_memo,
)
from . import config as cfg
from . import encoding as enc
from . import yaml_tree as yt
from .errors import ChangedOnDisk, ConfigError, EvalError, LocatedError
from .mode import Action, Mode

if TYPE_CHECKING:
    from . import registry_gate, writer

EXAMPLES = """\
configuration:
  Images come from .nix-tag-check.yaml (here or at the repository root) or from --image.
  With neither, none is needed: nix-tag-check evaluates flake.nix (the packages of the
  system) or else default.nix, and checks every derivation that has an imageName attribute,
  as dockerTools and nix2container images do; --print-expected shows what it found.

examples:
  nix-tag-check                       check the files of .nix-tag-check.yaml
  nix-tag-check --fix                 rewrite stale tags in place
  nix-tag-check --diff | git apply    the same, as a patch
  nix-tag-check --print-expected      name:tag of every image, for scripts
  nix-tag-check --registry            also check each reference exists in its registry
  nix-tag-check --image registry.example.com/team/hello=default.nix#image deploy/app.yaml
  nix-tag-check --image ghcr.io/acme/api=.#api --format github

exit status: 0 up to date, 1 stale references found (or fixed) or missing from the
registry, 2 could not check.
"""
DEFAULT_TIMEOUT = 300.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nix-tag-check",
        description="Check (or fix) that Kubernetes manifests reference the image tags that "
        "Nix computes for your images, without building them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="manifests to check (default: files: of the config, else all "
                        "Git-tracked *.yaml, *.yml, *.json); other files are ignored")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fix", action="store_true", help="rewrite stale tags in place")
    mode.add_argument("--diff", action="store_true",
                      help="print a unified diff of what --fix would change; write nothing")
    mode.add_argument("--print-expected", action="store_true",
                      help="print name:tag of every image, one per line, and check no file")
    parser.add_argument("--config", metavar="PATH",
                        help=f"config file (default: {cfg.CONFIG_NAME} here or at the "
                        "repository root)")
    parser.add_argument("--image", action="append", default=[], metavar="NAME=SOURCE",
                        help="an image as NAME=NIXFILE[#ATTR] or NAME=FLAKEREF (repeatable); "
                        "no config file is read then, unless --config names one (for its "
                        "files:, exclude: and system:)")
    parser.add_argument("--system", help="system the images are built for (default: the "
                        "config's system:, else x86_64-linux)")
    parser.add_argument("--format", choices=report.FORMATS, default="text",
                        help="text: one line per stale reference, for people and pre-commit "
                        "(default); json: one document with findings, errors and warnings, for "
                        "scripts; github: workflow annotations on the stale lines, for GitHub "
                        "Actions")
    parser.add_argument("--color", choices=color.CHOICES, default="auto",
                        help="colour the text output: auto (default) colours for a terminal "
                        "or if FORCE_COLOR is set; always also through a pipe; never with "
                        "NO_COLOR set, whatever the choice")
    parser.add_argument("--no-cache", action="store_true", help="always evaluate")
    parser.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"bound on Nix evaluation (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--max-file-size", type=int, metavar="BYTES",
                        help="refuse manifests larger than this (default: 5 MiB)")
    _registry_options(parser)
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    verbosity.add_argument("-v", "--verbose", action="store_true",
                           help="also list every file scanned, every reference found (fresh "
                           "ones too) and the files that reference each image")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _registry_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry (the other half of a CI gate)")
    group.add_argument("--registry", action="store_true",
                       help="also ask the registry whether each up-to-date reference exists "
                       "(name:tag); with --print-expected, print only images whose tag exists")
    group.add_argument("--registry-digest", action="append", default=[],
                       metavar="NAME@sha256:...",
                       help="the digest the build pushed for an image (repeatable; a bare "
                       "sha256:... with one image); the registry's must match. Implies "
                       "--registry")
    group.add_argument("--registry-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                       help="bound on each registry request (default: 10)")


def _seconds(text: str) -> float:
    """--timeout: a finite number of seconds above zero (nan, inf and 0 would never end or
    never start)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds above 0")
    return value


def _find_config(explicit: str | None, top: str | None) -> str | None:
    if explicit:
        return explicit
    if os.path.isfile(cfg.CONFIG_NAME):
        return cfg.CONFIG_NAME
    if top and os.path.isfile(os.path.join(top, cfg.CONFIG_NAME)):
        return os.path.join(top, cfg.CONFIG_NAME)
    return None


def load_config(
    top: str | None, *, config: str | None = None, images: Sequence[str] = (),
    system: str | None = None, max_file_size: int | None = None,
    parse: tree_memo.Parse = yt.parse,
) -> cfg.Config:
    """The config file, --image options, or discovery; `top` is the Git work tree, if any."""
    base = os.getcwd()
    if system:
        cfg.check_system_option(system)
    if images:
        path = _find_config(config, top) if config else None
        loaded = cfg.load(path, parse) if path else None
        result = cfg.from_options(list(images), base, system or (loaded.system if loaded else None))
        if loaded:  # --image replaces the images; the file still says which files, for what
            result = dataclasses.replace(
                loaded, images=result.images, text=loaded.text + result.text
            )
    else:
        path = _find_config(config, top)
        result = (cfg.discovery(top or base, system) if path is None
                  else cfg.load(path, parse))
    if system:
        result = cfg.with_system(result, system)
    if max_file_size is not None:
        if max_file_size <= 0:
            raise ConfigError("--max-file-size: must be a positive number of bytes")
        result = dataclasses.replace(result, max_file_size=max_file_size)
    return result


def _cache_folder(tree: files.GitTree | None, name: str) -> str | None:
    """`.git/nix-tag-check/NAME`, unless it (or the folder) is a link: never write through one."""
    if tree is None:
        return None
    parent = os.path.join(tree.git_dir, "nix-tag-check")
    folder = os.path.join(parent, name)
    return None if os.path.islink(parent) or os.path.islink(folder) else folder


def _scan_cache_file(config: cfg.Config, tree: files.GitTree | None) -> str | None:
    """Beside the evaluation cache, one file per config (see scan_cache.py)."""
    folder = _cache_folder(tree, "scan")
    if folder is None:
        return None
    import hashlib

    name = hashlib.sha256(f"{config.path}\0{config.root}".encode()).hexdigest()[:16]
    return os.path.join(folder, f"{name}.scan")


def expected_tags(
    config: cfg.Config, use_cache: bool, timeout: float, tree: files.GitTree | None,
    boundary: str, out: report.Reporter,
) -> tuple[list[nix_eval.Evaluated], check.Checker]:
    """Evaluate, or reuse the cache entries whose inputs are all unchanged."""
    evaluated = evaluation.expected(config, tree, timeout, use_cache, out.info)
    scan_file = _scan_cache_file(config, tree) if use_cache else None
    return evaluated, check.Checker(evaluated, boundary, config.max_file_size, scan_file)


WRITER_AFTER = 64  # files written in place before a helper process takes the writes over


class _Writes:
    """--fix's writes: in place, then (past WRITER_AFTER files) by writer.Writer while the
    next file is read; the file in flight is reported before anything of the next one."""

    def __init__(self, out: report.Reporter) -> None:
        self.out = out
        self.count = 0
        self.writer: writer.Writer | None = None
        self.in_place = False  # no helper could be started
        self.pending: tuple[str, str, Callable[[], None]] | None = None
        self.stale = False  # a file written by the helper had stale references

    def write(self, path: str, data: bytes, original: bytes, shown: str,
              then: Callable[[], None]) -> bool | None:
        """True or False: written in place (or not); None: in flight, `then` reports it."""
        self.count += 1
        if self.count > WRITER_AFTER and self.writer is None and not self.in_place:
            from .writer import Writer

            try:
                self.writer = Writer()
            except OSError:  # no process to be had: as fast as a fix was before
                self.in_place = True
        if self.writer is None:
            from .writer import outcome

            return self._reported(path, shown, *outcome(path, data, original))
        self.writer.submit(path, data, original)
        self.pending = (path, shown, then)
        return None

    def settle(self) -> None:
        """Report the file in flight, now that the helper says how its write went."""
        if self.pending is None:
            return
        path, shown, then = self.pending
        self.pending = None
        assert self.writer is not None
        if self._reported(path, shown, *self.writer.result()):
            self.stale = True
            then()

    def _reported(self, path: str, shown: str, kind: str, message: str) -> bool:
        """Whether the write went through; else its one error line (or the interrupt)."""
        if kind == "ok":
            return True
        if kind == "changed":
            self.out.problem(ChangedOnDisk(message, path=path), shown)
        elif kind == "oserror":
            self.out.error(_cannot_write(message), shown)
        elif kind == "interrupted":
            raise KeyboardInterrupt
        else:
            self.out.error(f"internal error, file left as it was: {message}", shown)
        return False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _cannot_write(why: str) -> str:
    return (f"cannot write: {why}; left as it was (--fix writes a new file beside it, then "
            "renames it over: the folder must be writable)")


def _fix_file(
    analysis: check.Analysis, checker: check.Checker, shown: str, out: report.Reporter,
    writes: _Writes, then: Callable[[], None],
) -> bool | None:
    """Write (or show, with --diff) the fixed file; False when nothing could be written,
    None when it is being written (see _Writes)."""
    manifest = analysis.manifest
    assert manifest is not None  # analysed with need_edits: parsed, not restored
    try:
        fixed = checker.fixed_text(analysis)
    except LocatedError as exc:
        out.error(f"internal error, file left as it was: {exc.message}", shown)
        return False
    if out.mode.action == "diff" and manifest.codec != enc.UTF8:  # git apply: text only
        out.error(f"--diff shows UTF-8 files only and this one is {enc.name(manifest.codec)}"
                  ": run --fix to rewrite it", shown)
        return False
    if out.mode.action == "diff":
        rel = files.relative(manifest.path, checker.boundary).replace(os.sep, "/")
        out.diff(rel, manifest.text, fixed)
        return True
    checker.forget(manifest.path)
    return writes.write(manifest.path, manifest.encode(fixed), manifest.raw, shown, then)


def _check_file(
    path: str, analysis: check.Analysis, checker: check.Checker, out: report.Reporter,
    writes: _Writes,
) -> bool:
    """Check (and fix) one manifest; True when it had stale references (a file whose write
    is in flight counts in writes.stale once written)."""
    shown = out.shown(path)
    if analysis.error is not None:
        out.problem(analysis.error, shown)
        return False
    stale = analysis.stale
    if not stale:
        return False
    writing = out.mode.writing

    def report_stale() -> None:
        for finding in stale:
            if writing and finding.unfixable is not None:  # the others are fixed; not this
                out.error(report.describe(finding, False), shown, finding.line, finding.column)
            elif out.mode.action != "diff":
                out.finding(shown, finding)

    if writing and any(f.edits for f in stale):
        written = _fix_file(analysis, checker, shown, out, writes, report_stale)
        if not written:  # None: in flight, reported by writes.settle()
            return False
    report_stale()
    return True


def _list_file(
    path: str, analysis: check.Analysis, out: report.Reporter
) -> tuple[str, list[scan.Finding]]:
    """-v: the file and every reference in it, before its findings are reported."""
    shown = out.shown(path)
    error = analysis.error.message if analysis.error is not None else None
    from . import inventory  # only -v lists

    for line in inventory.file_lines(shown, analysis.findings, error):
        out.info(line)
    return shown, analysis.findings


def _report_gaps(gaps: Sequence[coverage.Gap], out: report.Reporter) -> None:
    for gap in gaps:
        out.error(gap.message, out.shown(gap.path) if gap.path else None, gap.line)


def _prepare(
    args: argparse.Namespace, out: report.Reporter
) -> tuple[cfg.Config, files.Selection | None, list[nix_eval.Evaluated], check.Checker, str]:
    """Config, the files to check and the expected tags (raises ConfigError, EvalError)."""
    tree = files.git_tree(os.getcwd())
    memo = None if args.no_cache else _cache_folder(tree, "config")
    config = load_config(tree.root if tree else None, config=args.config, images=args.image,
                         system=args.system, max_file_size=args.max_file_size,
                         parse=tree_memo.parser(memo))
    if tree is None or not tree.contains(os.path.realpath(config.root)):
        tree = files.git_tree(config.root)  # --config in another repository
    boundary = tree.root if tree else os.path.realpath(config.root)
    selection = None
    if out.mode.action != "print-expected":
        selection = files.select(
            config.root, args.files, config.files, config.exclude, config.path, tree
        )
    evaluated, checker = expected_tags(config, not args.no_cache, args.timeout, tree, boundary,
                                       out)
    return config, selection, evaluated, checker, boundary


def _run(args: argparse.Namespace, out: report.Reporter) -> int:
    try:
        config, selection, evaluated, checker, boundary = _prepare(args, out)
    except (ConfigError, EvalError) as exc:  # the config's path as the reader sees paths
        out.problem(exc, out.shown(os.path.abspath(exc.path)) if exc.path else None)
        out.finish(0)
        return 2
    gaps = coverage.invalid_tags(evaluated)
    if selection is not None:
        gaps = coverage.empty_globs(config, selection) + gaps
    if gaps:  # the expected tags or the files are wrong: write nothing
        _report_gaps(gaps, out)
        out.finish(0)
        return 2
    for item in evaluated:
        if item.warning:
            out.warning(item.warning)
    if selection is None:
        if args.registry:
            return _print_available(args, config, evaluated, out)
        for item in evaluated:
            out.expected(item.spec.name, item.tag)
        return 0
    for item in evaluated:
        out.info(f"{item.spec.name}:{item.tag} ({item.spec.source})")
    stale = False
    paths = files.distinct(selection.paths, boundary, selection.links)
    referenced: set[str] = set()
    scanned: list[tuple[str, list[scan.Finding]]] = []
    places: list[registry_gate.Place] = []
    writes = _Writes(out)
    try:
        for path, real in paths:
            analysis = checker.analyse(path, need_edits=out.mode.writing, real=real)
            writes.settle()  # the previous file, written meanwhile, is reported first
            referenced.update(f.image for f in analysis.findings if not f.ignored)
            if args.registry:
                places += _places(path, analysis.findings, config, out)
            if out.mode.verbose:
                scanned.append(_list_file(path, analysis, out))
            stale |= _check_file(path, analysis, checker, out, writes)
        writes.settle()
    finally:
        writes.close()
    stale |= writes.stale
    checker.save(keep_unseen=bool(args.files))
    if out.mode.verbose:
        from . import inventory

        for line in inventory.image_lines(evaluated, scanned):
            out.info(line)
    if not args.files:
        _report_gaps(coverage.unreferenced(config, evaluated, referenced, len(paths)), out)
    if args.registry and not out.errors:
        stale |= _registry_check(args, config, places, out)
    out.finish(len(paths))
    if out.errors:
        return 2
    return 1 if stale else 0


def _safe_stdio() -> None:
    """Text from the OS (file names, Nix's messages) may not be UTF-8: never a crash."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _closed_pipe() -> int:
    """`nix-tag-check | head`: the reader left. Stop quietly, as a C tool killed by SIGPIPE
    would (the shell shows 128 + 13); files already fixed were each written whole."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):  # the exit-time flush must not fail again
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, stream.fileno())
    return 128 + signal.SIGPIPE


def _places(
    path: str, findings: Sequence[scan.Finding], config: cfg.Config, out: report.Reporter,
) -> list[registry_gate.Place]:
    """A file's up-to-date or ignored references, where written: what --registry asks."""
    from . import registry_gate

    repositories = {image.name: image.repository for image in config.images}
    return [
        registry_gate.Place(out.shown(path), f.line, f.column, f.image,
                            repositories[f.image], f.found)
        for f in findings if not f.stale and f.found is not None
    ]


def _registry_check(
    args: argparse.Namespace, config: cfg.Config, places: Sequence[registry_gate.Place],
    out: report.Reporter,
) -> bool:
    """Ask the registry; True when a reference is missing or has another digest."""
    from . import registry_gate

    try:
        digests = registry_gate.parse_digests(args.registry_digest, config.images)
    except registry_gate.DigestOptionError as exc:
        out.error(str(exc))
        return False
    problems = registry_gate.check(places, digests, config.insecure_registries,
                                   args.registry_timeout)
    for problem in problems:
        out.registry_problem(problem)
    return any(not problem.is_error for problem in problems)


def _print_available(
    args: argparse.Namespace, config: cfg.Config, evaluated: Sequence[nix_eval.Evaluated],
    out: report.Reporter,
) -> int:
    """--print-expected --registry: only the images a deploy can pull now."""
    from . import registry_gate

    places = [registry_gate.Place(None, 0, 0, item.spec.name, item.spec.repository, item.tag)
              for item in evaluated]
    unconfirmed = set()
    try:
        digests = registry_gate.parse_digests(args.registry_digest, config.images)
        problems = registry_gate.check(places, digests, config.insecure_registries,
                                       args.registry_timeout)
    except registry_gate.DigestOptionError as exc:
        problems = []
        out.error(str(exc))
    for problem in problems:
        unconfirmed.add(problem.place.image)
        out.registry_problem(problem)
    if not out.errors:
        for item in evaluated:
            if item.spec.name not in unconfirmed:
                out.expected(item.spec.name, item.tag)
    out.finish(0)
    return 2 if out.errors else 1 if problems else 0


def main(argv: Sequence[str] | None = None, *, record: bool = True) -> int:
    """`record`: a check from the command line (argv None) is recorded for a replay, unless
    the caller knows a file it reads has just changed (a recording would be refused)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse has printed them
        return exc.code if isinstance(exc.code, int) else 2
    _safe_stdio()
    if args.registry_digest:
        args.registry = True
    if args.registry and (args.fix or args.diff):
        print("nix-tag-check: error: --registry checks the committed references; run it "
              "without --fix or --diff", file=sys.stderr)
        return 2
    if argv is not None or not record or args.fix or args.diff or args.registry \
            or args.no_cache:
        return _guarded_run(args)
    from . import recording  # a check from the command line: main.py may replay it next time

    recorder = recording.Recorder(sys.argv[1:])
    recorder.start()
    try:
        status = _guarded_run(args)
    finally:
        recorder.stop()
    recorder.finish(status)
    return status


def _guarded_run(args: argparse.Namespace) -> int:
    try:
        return _run(args, report.reporter(_mode(args)))
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM while Nix ran (processes.Interrupted):
        # Nix processes are stopped; a file is whole or untouched
        signum = getattr(exc, "signum", signal.SIGINT)
        with contextlib.suppress(OSError):
            print("interrupted", file=sys.stderr)
        return 128 + signum


def _mode(args: argparse.Namespace) -> Mode:
    action: Action = ("fix" if args.fix else "diff" if args.diff
                      else "print-expected" if args.print_expected else "check")
    verbosity = -1 if args.quiet else 1 if args.verbose else 0
    return Mode(action, args.format, verbosity, color.wanted(args.color, sys.stdout),
                registry=args.registry, color_err=color.wanted(args.color, sys.stderr))
