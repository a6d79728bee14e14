"""The private tree, against real Nix and git: what the evaluation reaches, copied, at one path.

A Nix expression that reads a FIFO outside the repository holds Nix inside its evaluation
until the test writes to it: the tree can be looked at while Nix runs, and a second run or a
kill can be placed exactly, with no timing.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from nixtools import allow_exec, held_until_closed, out_path_hash

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
TRACKED = {
    "src/main.go": "package main\n",
    "src/sub/util.go": "package sub\n",
    "src/run.sh": "#!/bin/sh\n",
    "shared/x.txt": "shared\n",
    "modules/a.nix": '"module a"\n',
    "modules/b.nix": '"module b"\n',
    "conf/one.yaml": "one: 1\n",
    "conf/two.yaml": "two: 2\n",
    "real/data.txt": "data\n",
    "v2/default.nix": "import ../common.nix\n",
    "common.nix": '"common"\n',
    "other/unreached.txt": "nobody names me\n",
}
LINKS = {"src/out": "../shared/x.txt", "data.txt": "real/data.txt", "current": "v2"}
UNTRACKED = ["src/wip.go", "conf/untracked.yaml", "modules/c.nix", "other/untracked.txt"]
SHAPES = {
    "a folder": "src = ./src;",
    "builtins.path of a folder": 'src = builtins.path { path = ./src; name = "source"; };',
    "an interpolated path": 'v = let n = "a"; in import ./modules/${n}.nix;',
    "readDir": 'v = builtins.concatStringsSep "," (builtins.attrNames (builtins.readDir ./conf));',
    "every module of a folder": 'v = map (n: import (./modules + "/${n}")) '
                                "(builtins.attrNames (builtins.readDir ./modules));",
    "a link to a file": "v = builtins.readFile ./data.txt;",
    "a link to a folder whose code imports beside it": "v = import ./current;",
    "readDir of dirOf": 'v = builtins.concatStringsSep "," '
                        "(builtins.attrNames (builtins.readDir (dirOf ./src/sub)));",
    "a string climbing out of a folder": 'v = builtins.pathExists (toString ./src + '
                                         '"/../other/unreached.txt");',
    "a path assembled from strings": 'v = builtins.readFile (./conf + builtins.concatStringsSep '
                                     '"/" [ "" ".." "real" "data.txt" ]);',
}


def _image(body: str) -> str:
    return ('{ image = derivation { name = "img"; system = "x86_64-linux"; builder = "/bin/sh"; '
            f"{body} }}; }}\n")


def _make(repo: Path, body: str, opt_out: bool = False) -> Path:
    """The shapes' repository, committed, with untracked files beside the tracked ones.

    `opt_out`: the image accepts a tag that depends on where the checkout lies, so it is not
    evaluated a second time in another clone (checkout.py), which would also read a FIFO again.
    """
    for rel, text in TRACKED.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "src/run.sh").chmod(0o755)
    for rel, target in LINKS.items():
        (repo / rel).symlink_to(target)
    (repo / "default.nix").write_text(_image(body))
    (repo / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {HELLO}\n    nix: default.nix\n    attr: image\n"
        + ("    checkout-dependent: true\n" if opt_out else ""))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "shapes")
    for rel in UNTRACKED:
        (repo / rel).write_text("not in the commit\n")
    return repo


@pytest.fixture
def shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "work" / "shapes"
    repo.mkdir(parents=True)
    monkeypatch.chdir(repo)
    allow_exec(monkeypatch)  # for the gated shapes (_gated)
    return repo


def _clean_clone_tag(repo: Path, tmp_path: Path) -> str:
    clone = tmp_path / "clone" / repo.name  # the same folder name, as the pipeline's checkout
    clone.parent.mkdir()
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    return out_path_hash(clone / "default.nix", "image")


def _printed(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip().rsplit(":", 1)[-1]


@pytest.mark.parametrize("body", SHAPES.values(), ids=SHAPES.keys())
def test_the_tag_is_a_clean_clone_s_for_every_reach_shape(
    shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    _make(shapes, body)
    assert main(["--print-expected", "--no-cache"]) == 0
    assert _printed(capsys) == _clean_clone_tag(shapes, tmp_path)


def test_a_file_the_reach_misses_is_read_from_every_tracked_file_and_said(
    shapes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _make(shapes, SHAPES["a path assembled from strings"])  # no literal names real/data.txt
    assert main(["--print-expected", "--no-cache", "-v"]) == 0
    assert ("evaluation: Nix read real/data.txt, which the private tree left out (no path literal "
            "names it): evaluating again over every tracked file") in capsys.readouterr().err


def _identities(repo: Path) -> dict[str, tuple[int, ...]]:
    found = {}
    for folder, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in [*names, *dirs]:
            st = os.lstat(os.path.join(folder, name))
            found[os.path.join(folder, name)] = (
                st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_nlink)
    return found


@pytest.mark.parametrize("shape", ["a folder", "readDir of dirOf"])
def test_an_evaluation_leaves_every_repository_file_as_it_was(shapes: Path, shape: str) -> None:
    _make(shapes, SHAPES[shape])
    before = _identities(shapes)
    assert main(["--print-expected"]) == 0
    assert _identities(shapes) == before


def test_a_tag_that_embeds_its_path_is_the_same_on_every_run(
    shapes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _make(shapes, "p = toString ./src;", opt_out=True)  # else an error: see test_checkout_dependent
    tags = set()
    for _ in range(2):
        assert main(["--print-expected", "--no-cache"]) == 0
        tags.add(_printed(capsys))
    assert len(tags) == 1


def _gated(repo: Path, tmp_path: Path, body: str = "src = ./src;") -> Path:
    """The repository, its image reading a FIFO: Nix waits in it until the test writes."""
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    _make(repo, f"{body} gate = {held_until_closed(gate)};", opt_out=True)
    return gate


def _tool(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nix_tag_check", "--print-expected", "--no-cache", *args],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _open_gate(gate: Path) -> None:
    """Let one Nix process through; returns once it has opened the FIFO (it is running)."""
    with open(gate, "w") as handle:
        handle.write("open")


def _tree(repo: Path) -> Path:
    return repo / ".git/nix-tag-check/trees/a" / repo.name


def test_the_tree_holds_a_reached_tracked_file_and_not_an_unreached_one(
    shapes: Path, tmp_path: Path
) -> None:
    gate = _gated(shapes, tmp_path)
    tool = _tool(shapes)
    with open(gate, "w") as handle:  # Nix is inside its evaluation, in the tree
        present = {rel: (_tree(shapes) / rel).exists()
                   for rel in ["default.nix", "src/main.go", "src/sub/util.go",
                               "other/unreached.txt", "src/wip.go", "common.nix"]}
        handle.write("open")
    assert tool.communicate()[1] == "" and tool.returncode == 0
    assert present == {"default.nix": True, "src/main.go": True, "src/sub/util.go": True,
                       "other/unreached.txt": False, "src/wip.go": False, "common.nix": False}


def test_a_second_run_waits_for_the_first_and_sees_the_same_path(
    shapes: Path, tmp_path: Path
) -> None:
    gate = _gated(shapes, tmp_path, "p = toString ./src;")
    first = _tool(shapes)
    with open(gate, "w") as handle:  # the first run's Nix is running in the tree
        second = _tool(shapes, "-v")
        assert second.stderr is not None
        ready, _, _ = select.select([second.stderr], [], [], 120)  # a bound against a hang
        assert ready and second.stderr.readline().startswith(
            "evaluation: waiting for another nix-tag-check run in this repository")
        handle.write("open")
    first_out = first.communicate()[0]
    _open_gate(gate)  # now the second run's Nix
    second_out = second.communicate()[0]
    assert first.returncode == second.returncode == 0
    assert second_out == first_out
    assert not _tree(shapes).exists()


def test_a_killed_run_s_tree_is_removed_by_the_next_run(shapes: Path, tmp_path: Path) -> None:
    gate = _gated(shapes, tmp_path)
    pids = tmp_path / "nix-pids"
    tool = _tool(shapes, env={**os.environ, "PATH": _pid_logging_nix(tmp_path / "bin", pids)})
    with open(gate, "w"):
        assert (_tree(shapes) / "src/main.go").exists()
        for pid in [tool.pid, *map(int, pids.read_text().split())]:  # nothing cleans up
            os.kill(pid, signal.SIGKILL)
        tool.wait()
    (shapes / "default.nix").write_text(_image(SHAPES["a folder"]))
    assert main(["--print-expected", "--no-cache"]) == 0
    assert sorted(p.name for p in (shapes / ".git/nix-tag-check/trees").iterdir()) == ["a.lock"]


def _pid_logging_nix(bin_dir: Path, log: Path) -> str:
    """A PATH whose nix-instantiate writes its process id, then becomes the real one."""
    bin_dir.mkdir()
    wrapper = bin_dir / "nix-instantiate"
    real = shutil.which("nix-instantiate")
    wrapper.write_text(f'#!/bin/sh\necho $$ >> "{log}"\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
