"""The command line: arguments to frozen Options, standard streams, signals, the exit status.

Everything else is run.py's: this module only turns argv into Options and a RunResult into
a status, and makes a closed pipe or an interrupt end the way a Unix tool ends.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import signal
import sys
from collections.abc import Sequence

from nix_tag_check import __version__, report
from nix_tag_check.config import load as cfg
from nix_tag_check.report import color
from nix_tag_check.report.mode import Action, Mode
from nix_tag_check.run import DEFAULT_TIMEOUT, Options, run

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
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="leave out the manifests matching GLOB (repeatable; relative to "
                        "the config's folder, as its exclude: globs, which still apply)")
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
    parser.add_argument("--strict", action="store_true",
                        help="warnings (a tag that is not a Nix hash, an occurrence no rule "
                        "reads) fail the run with exit 1: pre-commit shows a passing hook's "
                        "output only when it fails")
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


def options(args: argparse.Namespace) -> Options:
    """The parsed command line as the run's frozen Options."""
    action: Action = ("fix" if args.fix else "diff" if args.diff
                      else "print-expected" if args.print_expected else "check")
    verbosity = -1 if args.quiet else 1 if args.verbose else 0
    mode = Mode(action, args.format, verbosity, color.wanted(args.color, sys.stdout),
                registry=args.registry or bool(args.registry_digest),
                color_err=color.wanted(args.color, sys.stderr),
                pre_commit=bool(os.environ.get("PRE_COMMIT")))
    return Options(
        mode=mode, files=tuple(args.files), exclude=tuple(args.exclude), config=args.config,
        images=tuple(args.image),
        system=args.system, use_cache=not args.no_cache, timeout=args.timeout,
        max_file_size=args.max_file_size, registry_digests=tuple(args.registry_digest),
        registry_timeout=args.registry_timeout, strict=args.strict,
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse has printed them
        return exc.code if isinstance(exc.code, int) else 2
    _safe_stdio()
    chosen = options(args)
    refused = _refused(chosen)
    if refused:
        print(f"nix-tag-check: error: {refused}", file=sys.stderr)
        return 2
    try:
        return run(chosen, report.reporter(chosen.mode)).status(chosen.strict)
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM while Nix ran (processes.Interrupted):
        # Nix processes are stopped; a file is whole or untouched
        signum = getattr(exc, "signum", signal.SIGINT)
        with contextlib.suppress(OSError):
            print("interrupted", file=sys.stderr)
        return 128 + signum


def _refused(chosen: Options) -> str | None:
    """Options that make no sense together: refused, never silently ignored."""
    mode = chosen.mode
    if mode.registry and mode.writing:
        return ("--registry checks the committed references; run it without --fix or "
                "--diff")
    if mode.action == "diff" and mode.format != "text":
        return f"--diff prints a patch for `git apply`, not {mode.format}: drop --format"
    if mode.action == "print-expected" and mode.format == "github":
        return ("--print-expected checks no file, so there is nothing to annotate: use "
                "--format text or json")
    return None


def _safe_stdio() -> None:
    """Text from the OS (file names, Nix's messages) may not be UTF-8: never a crash. Each line
    goes out when written, as stderr's do: a reader that left is met by the write that failed,
    not by the flush at exit, and stdout and stderr sent to one log keep their order."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace", line_buffering=True)


def _closed_pipe() -> int:
    """`nix-tag-check | head`: the reader left. Stop quietly, as a C tool killed by SIGPIPE
    would (the shell shows 128 + 13); files already fixed were each written whole."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):  # the exit-time flush must not fail again
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, stream.fileno())
    return 128 + signal.SIGPIPE
