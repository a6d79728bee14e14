"""Ask real Nix directly, independently of nix-tag-check, what a tag must be, and which Nix
this is where its own messages differ between versions."""

from __future__ import annotations

import functools
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

# Lets `builtins.exec` run: what `held_until_closed` needs (tests only; the tool never sets it).
ALLOW_EXEC = "allow-unsafe-native-code-during-evaluation = true"


def held_until_closed(fifo: Path) -> str:
    """Nix code whose evaluation waits until a writer has opened `fifo` and closed it again.

    Not `builtins.readFile`: Nix 2.26 reads as many bytes as the file's size, 0 for a FIFO, so
    it returns as soon as a writer opens it, and the writer then gets EPIPE. Needs NIX_CONFIG
    set to ALLOW_EXEC in the tool's environment (`allow_exec`)."""
    return f'builtins.exec [ "/bin/sh" "-c" "cat {fifo} >/dev/null; echo 1" ]'


def allow_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set NIX_CONFIG for `held_until_closed`, in this process and the tools it starts."""
    monkeypatch.setenv("NIX_CONFIG", ALLOW_EXEC)


def out_path_hash(nix_file: Path, attr: str, system: str = "x86_64-linux") -> str:
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--option", "system", system,
         "-A", f"{attr}.outPath", str(nix_file)],
        check=True, capture_output=True, text=True, env={**os.environ, "NIX_CONFIG": ""},
    ).stdout
    return Path(json.loads(out)).name[:32]


def attribute(nix_file: Path, attr: str, system: str = "x86_64-linux") -> str:
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--option", "system", system,
         "-A", attr, str(nix_file)],
        check=True, capture_output=True, text=True,
    ).stdout
    return str(json.loads(out))


def counting_nix(bin_dir: Path, log: Path) -> str:
    """A PATH whose nix and nix-instantiate log each start, then run the real ones."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("nix", "nix-instantiate"):
        real = subprocess.run(["which", tool], check=True, capture_output=True, text=True)
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\necho {tool} >> "{log}"\nexec {real.stdout.strip()} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def starts(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@functools.cache
def nix_version() -> tuple[int, int, int]:
    """The Nix the tests run, from `nix-instantiate --version` ("... (Nix) 2.26.3"), asked once."""
    out = subprocess.run(["nix-instantiate", "--version"], check=True, capture_output=True,
                         text=True).stdout
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    assert found, f"no version in {out!r}"
    return int(found[1]), int(found[2]), int(found[3] or 0)


def traces_builtin_calls() -> bool:
    """Whether --show-trace has a frame "while calling the 'throw' builtin" at the call, the
    innermost frame: from Nix 2.14 (NixOS/nix#6204; in 2.13.0 too, reverted in 2.13.1). Before,
    the innermost frame of `name = throw "...";` is the attribute's."""
    return nix_version() >= (2, 14) or nix_version() == (2, 13, 0)


def pid_logging_nix(bin_dir: Path, log: Path) -> str:
    """A PATH whose nix-instantiate writes its process id, then becomes the real one."""
    bin_dir.mkdir()
    real = subprocess.run(["which", "nix-instantiate"], check=True, capture_output=True,
                          text=True).stdout.strip()
    wrapper = bin_dir / "nix-instantiate"
    wrapper.write_text(f'#!/bin/sh\necho $$ >> "{log}"\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False
