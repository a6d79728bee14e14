"""What is being evaluated, said on a terminal while Nix runs (issue 23 §4), against real Nix.

The evaluation reads a FIFO, so it lasts until the test writes to it: the test sees the line
appear, then releases Nix and sees it cleared, with no clock deciding anything.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, git
from nixtools import allow_exec, held_until_closed

IMAGE = "registry.example.com/team/app"
SAYS = b"evaluating default.nix (1 image)..."
CLEAR = b"\r\x1b[K"


@pytest.fixture
def blocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A repository whose one image waits on a FIFO outside it, and that FIFO."""
    allow_exec(monkeypatch)
    fifo = tmp_path / "release"
    os.mkfifo(fifo)
    root = tmp_path / "app"
    root.mkdir()
    (root / "default.nix").write_text(
        f'{{ image = derivation {{ name = "app"; system = "x86_64-linux"; builder = "/bin/sh"; '
        f"r = {held_until_closed(fifo)}; }}; }}\n")
    (root / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {IMAGE}\n    nix: default.nix\n    attr: image\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "app")
    return root, fifo


def _start(root: Path, stderr: int, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "nix_tag_check", "--print-expected",
                             "--no-cache", *args], cwd=root, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=stderr)


def _read_until(fd: int, wanted: bytes, seen: bytearray) -> None:
    """Read `fd` into `seen` until `wanted` is in it (or the writer is gone)."""
    while wanted not in seen:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            return
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal's other end closed (Linux: EIO)
            return
        if not chunk:
            return
        seen += chunk


def _release(fifo: Path) -> None:
    with open(fifo, "w") as handle:
        handle.write("go")


def test_a_terminal_is_told_what_is_evaluated_and_the_line_is_cleared_at_the_end(
    blocked: tuple[Path, Path]
) -> None:
    root, fifo = blocked
    master, slave = pty.openpty()
    process = _start(root, slave)
    os.close(slave)
    seen = bytearray()
    _read_until(master, SAYS, seen)
    assert bytes(seen) == SAYS  # nothing before it: the line stands alone
    _release(fifo)
    out, _ = process.communicate()
    _read_until(master, b"\0", seen)  # to the end
    os.close(master)
    assert process.returncode == 0
    assert bytes(seen) == SAYS + CLEAR
    assert out.decode().startswith(f"{IMAGE}:")


def test_a_pipe_gets_nothing_of_it(blocked: tuple[Path, Path]) -> None:
    root, fifo = blocked
    process = _start(root, subprocess.PIPE)
    time.sleep(2)  # longer than the second after which a terminal would be told
    _release(fifo)
    out, err = process.communicate()
    assert process.returncode == 0
    assert err == b""
    assert out.decode().startswith(f"{IMAGE}:")


def test_verbose_says_it_before_nix_starts_on_any_stream(blocked: tuple[Path, Path]) -> None:
    root, fifo = blocked
    process = _start(root, subprocess.PIPE, "-v")
    assert process.stderr is not None
    seen = bytearray()
    _read_until(process.stderr.fileno(), SAYS + b"\n", seen)  # Nix waits on the FIFO still
    _release(fifo)
    _, err = process.communicate()
    assert process.returncode == 0
    text = bytes(seen) + err
    assert text.count(SAYS) == 1 and CLEAR not in text
