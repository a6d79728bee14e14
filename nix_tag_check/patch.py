"""Apply edits to a manifest's text, prove they did only what was meant, write atomically."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import yaml_tree as yt
from .edits import Edit, Intent, intent


class PatchError(RuntimeError):
    """The patched text is not what the edits promised; nothing is written."""


class ChangedOnDisk(RuntimeError):
    """The file changed between our read and our write."""


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """`text` with each edit's range replaced; edits must not overlap."""
    out: list[str] = []
    position = 0
    for edit in sorted(edits):
        if edit.start < position:
            raise PatchError("overlapping edits")
        out.append(text[position : edit.start])
        out.append(edit.text)
        position = edit.end
    out.append(text[position:])
    return "".join(out)


def _canonical(node: yt.Node, meant: Intent) -> Any:
    """Plain data of a node, with the intended changes applied (aliases stay names)."""
    if isinstance(node, yt.Alias):
        return ("*", node.anchor)
    if isinstance(node, yt.Scalar):
        return ("=", node.anchor, meant.values.get(node.start, node.value))
    if isinstance(node, yt.Sequence):
        return ("[", node.anchor, [_canonical(i, meant) for i in node.items])
    assert isinstance(node, yt.Mapping)
    removed = meant.removed.get(node.start)
    pairs = [
        (_canonical(k, meant), _canonical(v, meant))
        for k, v in node.pairs
        if not (isinstance(k, yt.Scalar) and removed == k.value)
    ]
    if node.start in meant.added:
        key, value = meant.added[node.start]
        pairs.append((("=", None, key), ("=", None, value)))
    return ("{", node.anchor, sorted(pairs, key=repr))


def verify(
    original: str, patched: str, edits: Iterable[Edit], before: list[yt.Node] | None = None
) -> list[yt.Node]:
    """Raise PatchError unless `patched` parses to `original` with only the edits' meanings.

    `before` is the original's tree when the caller has it; returns the patched tree.
    """
    meant = intent(edits)
    try:
        after = yt.parse(patched)
    except yt.YamlSyntaxError as exc:
        raise PatchError(f"the fixed text would not parse ({exc.message})") from None
    if before is None:
        before = yt.parse(original)
    want = [_canonical(root, meant) for root in before]
    got = [_canonical(root, Intent()) for root in after]
    if want != got:
        raise PatchError("the fixed text differs from the original in more than its tags")
    return after


# A test seam: called between the final check and the rename.
before_rename: Callable[[str], None] = lambda path: None  # noqa: E731


@contextlib.contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM while a temporary file exists, then re-deliver them."""
    caught: list[int] = []
    previous: dict[int, Any] = {}

    def hold(signum: int, _frame: object) -> None:
        caught.append(signum)

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                previous[signum] = signal.signal(signum, hold)
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in caught:
            os.kill(os.getpid(), signum)


def _keep_owner(temporary: str, st: os.stat_result) -> None:
    """The original's owner and group on the new file; only the group when we may not."""
    try:
        os.chown(temporary, st.st_uid, st.st_gid)
    except PermissionError:
        with contextlib.suppress(OSError):  # a group we are not in: as `sed -i`, go on
            os.chown(temporary, -1, st.st_gid)


def write_atomic(path: str, data: bytes, original: bytes) -> None:
    """Replace `path` by `data` through a temporary file and a rename, keeping its mode,
    owner and group (as far as we may: `sed -i` does the same).

    Refuses (ChangedOnDisk) when the file no longer holds `original`.
    """
    import tempfile  # only a fix needs it: keep it off the start-up of every check

    with _signals_deferred():
        st = os.stat(path)
        directory = os.path.dirname(os.path.abspath(path))
        fd, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".nix-tag-check", dir=directory
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            _keep_owner(temporary, st)
            os.chmod(temporary, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id
            with open(path, "rb") as handle:
                if handle.read() != original:
                    raise ChangedOnDisk(path)
            before_rename(path)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
