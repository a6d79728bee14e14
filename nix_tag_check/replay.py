"""Answer a run whose every input is unchanged with the output it gave last time.

A run with nothing to do is dominated by starting Python and importing the package. So the
command line records what a check run consulted (recording.py): the exact command line,
working directory, environment and terminal; every path it stat'ed, opened, listed or
followed, with what it saw; the output of every git command; the tool's own module files.
This module, which imports nothing beyond the interpreter's built-ins, checks each of those
again and, only when every one is identical, writes the recorded output and returns its
status. Any difference, doubt or surprise returns None and the run happens for real.

A file's identity (type, mode, inode, device, size, mtime and ctime in nanoseconds) stands
for its content: ctime cannot be set back, and a recording is refused when any file it
depends on changed too recently for its timestamps to tell two versions apart.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

FORMAT = 1
KIND_MASK = 0o170000
DIRECTORY = 0o040000
SYMLINK = 0o120000
REV_PARSE = ("rev-parse", "--show-toplevel", "--absolute-git-dir")
# A file changed less than this before a run keeps it from being recorded (recording.py).
RACY_NS = 50_000_000
# Set by git for each commit, read by no part of a check (Nix runs with its own environment).
VOLATILE_ENV = frozenset({"_", "OLDPWD", "SHLVL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"})
# Runs that are never recorded: not worth a git process to look for their recording.
NEVER = frozenset({"--fix", "--diff", "--no-cache", "--registry", "--help", "-h", "--version"})
Summary = Any  # a tuple of ints, strs and bools (marshal's types)


def replay(argv: Sequence[str]) -> int | None:
    """The status of the recorded run, after writing its output; None: run for real."""
    if any(arg in NEVER or arg.startswith("--registry") for arg in argv):
        return None
    try:
        memo = _matching_memo(argv)
    except KeyboardInterrupt:
        _say("interrupted\n")
        return 130
    except Exception:  # whatever went wrong, the real run decides
        return None
    return None if memo is None else _write_output(memo[4], memo[5])


def key(argv: Sequence[str]) -> tuple[Any, ...]:
    """Everything outside the file system that a run's output depends on; the environment
    as a digest, so that no token in it is written to disk."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k not in VOLATILE_ENV))
    return (FORMAT, sys.version, sys.executable, tuple(sys.flags), tuple(argv), os.getcwd(),
            os.getuid(), os.getgid(), os.isatty(1), os.isatty(2), _sha256(_canonical(env)))


def _canonical(value: object) -> bytes:
    """Bytes that equal values always give (marshal's depend on how objects are shared)."""
    return repr(value).encode("utf-8", "backslashreplace")


def _sha256(data: bytes) -> str:
    try:  # CPython's own module: hashlib would load OpenSSL first
        module = __import__("_sha256")
    except ImportError:
        module = __import__("hashlib")
    return str(module.sha256(data).hexdigest())


def memo_path(git_dir: str, run_key: tuple[Any, ...]) -> str | None:
    """Where a run's recording lives: under .git/nix-tag-check/, never through a link."""
    import binascii  # a collision is only a miss: the recording holds its whole key

    parent = os.path.join(git_dir, "nix-tag-check")
    folder = os.path.join(parent, "replay")
    if os.path.islink(parent) or os.path.islink(folder):
        return None
    return os.path.join(folder, f"{binascii.crc32(_canonical(run_key)):08x}.run")


def git_dir_of(rev_parse_output: bytes) -> str | None:
    lines = rev_parse_output.decode("utf-8", "surrogateescape").splitlines()
    return lines[1] if len(lines) >= 2 else None


def summary(op: str, path: str, arg: int = 0) -> Summary:
    """What `op` sees at `path` now: s(tat), l(stat), d (scandir), n (listdir), k (readlink),
    a(ccess)."""
    try:
        if op in ("s", "l"):
            return identity(os.stat(path) if op == "s" else os.lstat(path))
        if op == "d":
            with os.scandir(path) as entries:
                return listing(entries)
        if op == "n":
            return tuple(sorted(os.listdir(path)))
        if op == "k":
            return os.readlink(path)
        if op == "a":
            return os.access(path, arg)
    except OSError as exc:
        return ("E", exc.errno)
    except ValueError:
        return ("V",)
    raise ValueError(op)


def identity(st: os.stat_result) -> Summary:
    """A folder by what it is, not by its times (they change with every file made in it);
    anything else by everything that changes when its content does."""
    kind = st.st_mode & KIND_MASK
    if kind == DIRECTORY:
        return (kind, st.st_mode, st.st_ino, st.st_dev)
    return (kind, st.st_mode, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def listing(entries: Iterable[os.DirEntry[str]]) -> Summary:
    """A folder's entries as os.scandir gives them: names and kinds."""
    found = []
    for entry in entries:
        link = entry.is_symlink()
        found.append((entry.name, entry.is_dir(follow_symlinks=False), link,
                      link and entry.is_dir()))
    return tuple(sorted(found))


def run_git(args: Sequence[str], cwd: str) -> tuple[int, bytes]:
    """`git ARGS` in `cwd`: its status and standard output (subprocess costs an import)."""
    read, write = os.pipe()
    here = os.getcwd()
    try:
        os.chdir(cwd)
        with open(os.devnull, "rb") as null:
            pid = os.posix_spawnp("git", ["git", *args], os.environ, file_actions=[
                (os.POSIX_SPAWN_DUP2, null.fileno(), 0), (os.POSIX_SPAWN_DUP2, write, 1),
                (os.POSIX_SPAWN_CLOSE, read)])
    finally:
        os.chdir(here)
        os.close(write)
    chunks = []
    with open(read, "rb", buffering=0) as out:
        while chunk := out.read(1 << 16):
            chunks.append(chunk)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return status, b"".join(chunks)


def _matching_memo(argv: Sequence[str]) -> tuple[Any, ...] | None:
    cwd = os.getcwd()
    status, out = run_git(REV_PARSE, cwd)
    git_dir = git_dir_of(out) if status == 0 else None
    run_key = key(argv)
    path = memo_path(git_dir, run_key) if git_dir else None
    if path is None:
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as handle:
        memo = marshal.loads(handle.read())
    if memo[0] != FORMAT or memo[1] != run_key:
        return None
    known = {(REV_PARSE, cwd): (status, out)}
    for op, dep, arg, seen in memo[2]:
        now = summary(op, dep, arg)
        if now != seen:
            _note_miss(op, now)
            return None
    for args, where, seen in memo[3]:
        got = known.get((args, where))
        if got is None:
            got = known[(args, where)] = run_git(args, where)
        if got != seen:
            return None
    return tuple(memo)


# Whether the last miss was a file changed just now: the run it leads to cannot be recorded.
_just_changed = [False]


def just_changed() -> bool:
    """Whether the last replay missed on a file changed within RACY_NS: the real run that
    follows would be refused a recording (see recording.py), so it need not be traced."""
    return _just_changed[0]


def _note_miss(op: str, now: Summary) -> None:
    if op in ("s", "l") and len(now) == 7:
        import time

        _just_changed[0] = max(now[5], now[6]) >= time.time_ns() - RACY_NS


def _write_output(chunks: Sequence[tuple[int, str | None]], status: int) -> int:
    """The recorded writes, in their order, through the same streams: the same bytes."""
    streams = {1: sys.stdout, 2: sys.stderr}
    try:
        for stream in streams.values():
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")
        for fd, text in chunks:
            if text is None:
                streams[fd].flush()
            else:
                streams[fd].write(text)
        for stream in streams.values():
            stream.flush()
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        _say("interrupted\n")
        return 130
    return status


def _closed_pipe() -> int:
    """As the full run does: the reader left; stop quietly with 128 + SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):
        return 141
    return 141


def _say(text: str) -> None:
    try:
        sys.stderr.write(text)
    except (OSError, ValueError):
        return
