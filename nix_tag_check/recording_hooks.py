"""The functions a recorded run reaches the file system and other programs through, wrapped.

Each wrapper calls the real function and tells the Recorder what was asked and what came
back. A call the recording cannot describe (a path relative to an open folder, a program other
than git, git with its own environment) makes the run one that is not recorded.
"""

from __future__ import annotations

import builtins
import io
import os
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import replay
from .replay import Summary

if TYPE_CHECKING:
    from .recording import Recorder

Wrapper = Callable[..., Any]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
WRITERS = ("replace", "rename", "unlink", "remove", "mkdir", "rmdir", "link", "symlink",
           "utime", "chmod", "chown", "truncate", "makedirs")


def wrappers(rec: Recorder) -> list[tuple[Any, str, Wrapper]]:
    stat = _stat(rec, os.stat)
    found: list[tuple[Any, str, Wrapper]] = [
        (os, "stat", stat),
        (os, "lstat", _lstat(stat)),
        (os, "open", _os_open(rec, os.open)),
        (os, "listdir", _listdir(rec, os.listdir)),
        (os, "scandir", _scandir(rec, os.scandir)),
        (os, "readlink", _readlink(rec, os.readlink)),
        (os, "access", _access(rec, os.access)),
        (subprocess, "run", _run(rec, subprocess.run)),
        (subprocess, "Popen", _popen(rec, subprocess.Popen)),
    ]
    opener = _open(rec, builtins.open)
    found += [(builtins, "open", opener), (io, "open", opener)]
    found += [(os, name, _writer(rec, getattr(os, name))) for name in WRITERS]
    return found


def _stat(rec: Recorder, real: Wrapper) -> Wrapper:
    def stat(path: Any, *, dir_fd: int | None = None, follow_symlinks: bool = True) -> Any:
        if isinstance(path, int):  # an open file: how it was opened is recorded
            return real(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
        if dir_fd is not None:
            rec.give_up()
        op = "s" if follow_symlinks else "l"
        try:
            st = real(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
        except (OSError, ValueError) as exc:
            rec.saw(op, path, _failure(exc))
            raise
        rec.saw(op, path, replay.identity(st))
        return st
    return stat


def _lstat(stat: Wrapper) -> Wrapper:
    """os.lstat is os.stat without following a link: one wrapper notes both."""
    def lstat(path: Any, *, dir_fd: int | None = None) -> Any:
        return stat(path, dir_fd=dir_fd, follow_symlinks=False)
    return lstat


def _failure(exc: Exception) -> Summary:
    return ("E", exc.errno) if isinstance(exc, OSError) else ("V",)


def _opened(rec: Recorder, op: str, path: Any, fd: int) -> None:
    """The identity of the file read, unless the run has just looked at that very file (not
    a link) by its path: then that look stands for it, and a change since changed it too."""
    where = path if type(path) is str and path.startswith("/") else absolute(path)
    for earlier in (("l", where or "", 0), ("s", where or "", 0)):
        known = rec.seen.get(earlier)
        if type(known) is tuple and len(known) == 7 and known[0] != replay.SYMLINK:
            return
    rec.saw(op, path, replay.identity(os.fstat(fd)))


def _open(rec: Recorder, real: Wrapper) -> Wrapper:
    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, int):
            return real(file, mode, *args, **kwargs)
        if kwargs.get("opener") is not None or set(mode) & set("wxa+"):
            rec.wrote(file)
            return real(file, mode, *args, **kwargs)
        try:
            handle = real(file, mode, *args, **kwargs)
        except OSError as exc:
            rec.saw("s", file, ("E", exc.errno))
            raise
        _opened(rec, "s", file, handle.fileno())
        return handle
    return open_


def _os_open(rec: Recorder, real: Wrapper) -> Wrapper:
    def open_(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if dir_fd is not None:
            rec.give_up()
        if flags & WRITE_FLAGS:
            rec.wrote(path)
            return int(real(path, flags, mode, dir_fd=dir_fd))
        op = "l" if flags & os.O_NOFOLLOW else "s"
        try:
            fd = int(real(path, flags, mode, dir_fd=dir_fd))
        except OSError:
            rec.saw(op, path, None)  # as the end of the run finds it
            raise
        _opened(rec, op, path, fd)
        return fd
    return open_


def _listdir(rec: Recorder, real: Wrapper) -> Wrapper:
    def listdir(path: Any = None) -> Any:
        names = _listed(rec, "n", path, real)
        rec.saw("n", path or ".", tuple(sorted(os.fsdecode(name) for name in names)))
        return names
    return listdir


def _scandir(rec: Recorder, real: Wrapper) -> Wrapper:
    def scandir(path: Any = None) -> Any:
        entries = _listed(rec, "d", path, real)
        rec.saw("d", path or ".", None)  # listed again at the end unless read through here
        return Listing(entries, lambda seen: rec.saw("d", path or ".", seen))
    return scandir


def _listed(rec: Recorder, op: str, path: Any, real: Wrapper) -> Any:
    try:
        return real() if path is None else real(path)
    except OSError as exc:
        rec.saw(op, path or ".", ("E", exc.errno))
        raise


class Listing:
    """os.scandir's iterator, telling what it gave once it is exhausted (a listing left
    unfinished is taken again at the end of the run)."""

    def __init__(self, entries: Any, done: Callable[[Summary], None]) -> None:
        self._entries, self._done = entries, done
        self._given: list[os.DirEntry[str]] = []

    def __iter__(self) -> Listing:
        return self

    def __next__(self) -> Any:
        try:
            entry = next(self._entries)
        except StopIteration:
            self._done(replay.listing(self._given))
            raise
        self._given.append(entry)
        return entry

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._entries.close()
        self._done(None)


def _readlink(rec: Recorder, real: Wrapper) -> Wrapper:
    def readlink(path: Any, *, dir_fd: int | None = None) -> Any:
        if dir_fd is not None:
            rec.give_up()
        try:
            target = real(path, dir_fd=dir_fd)
        except OSError as exc:
            rec.saw("k", path, ("E", exc.errno))
            raise
        rec.saw("k", path, os.fsdecode(target))
        return target
    return readlink


def _access(rec: Recorder, real: Wrapper) -> Wrapper:
    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if kwargs:
            rec.give_up()
        allowed = bool(real(path, mode, **kwargs))
        rec.saw("a", path, allowed, mode)
        return allowed
    return access


def _writer(rec: Recorder, real: Wrapper) -> Wrapper:
    def write(*args: Any, **kwargs: Any) -> Any:
        for arg in args:
            if isinstance(arg, (str, bytes, os.PathLike)):
                rec.wrote(arg)
        if kwargs.get("dir_fd") is not None or kwargs.get("src_dir_fd") is not None:
            rec.give_up()
        return real(*args, **kwargs)
    return write


def _run(rec: Recorder, real: Wrapper) -> Wrapper:
    """git, as files.git runs it, is recorded with its output; the replay runs it again."""
    def run(*args: Any, **kwargs: Any) -> Any:
        command = args[0] if args else kwargs.get("args")
        simple = set(kwargs) <= {"args", "cwd", "capture_output", "check", "stdin"}
        if not (isinstance(command, list) and command[:1] == ["git"] and simple
                and kwargs.get("capture_output") and len(args) <= 1):
            return real(*args, **kwargs)  # the Popen hook refuses it
        rec.allow_git += 1
        try:
            done = real(*args, **kwargs)
        except OSError:
            rec.give_up()
            raise
        finally:
            rec.allow_git -= 1
        where = replay_cwd(kwargs.get("cwd"))
        if where is None or not isinstance(done.stdout, bytes):
            rec.give_up()
        else:
            rec.gits.append((tuple(command[1:]), where, (done.returncode, done.stdout)))
        return done
    return run


def replay_cwd(cwd: Any) -> str | None:
    return absolute(cwd) if cwd is not None else os.getcwd()


def absolute(path: Any) -> str | None:
    """The path as the call meant it (relative to the working directory, links unresolved)."""
    if isinstance(path, int):
        return None
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    return text if os.path.isabs(text) else os.path.join(os.getcwd(), text)


def _popen(rec: Recorder, real: type[subprocess.Popen[Any]]) -> Wrapper:
    class Watched(real):  # type: ignore[valid-type, misc]
        """Any program but a recorded git: the run's output may depend on it."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if not rec.allow_git:
                rec.give_up()
            super().__init__(*args, **kwargs)
    return Watched
