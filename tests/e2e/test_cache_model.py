"""Differential proof of the cache: random repository operations, then cached == --no-cache.

After every step the cached run must print exactly what an uncached run prints (tags,
or the same error), and a step that touches no input of any image must start no Nix.
CI runs a few short programs (see STEPS); NIX_TAG_CHECK_MODEL_EXAMPLES=50 runs a long one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from nixtools import counting_nix, starts

from nix_tag_check.main import main

EXAMPLES = int(os.environ.get("NIX_TAG_CHECK_MODEL_EXAMPLES", "6"))
STEPS = 12
DERIVATION = ('{{ image = derivation {{ name = "{name}"; system = "x86_64-linux"; '
              'builder = "/bin/sh"; {body} }}; }}\n')
FILES = {
    "a.nix": DERIVATION.format(name="a", body='src = ./src; d = builtins.readFile ./data.txt; '
                               'e = builtins.getEnv "FLAVOUR";'),
    "b.nix": DERIVATION.format(name="b", body="l = import ./lib.nix; "
                               "t = builtins.readFile ./linked.txt; dep = import <dep>; "
                               "c = import ./current/lib.nix; m = import <mylib>;"),
    "lib.nix": '"lib one"\n',
    "data.txt": "data one\n",
    "other.txt": "other one\n",
    "src/main.go": "package main\n",
    "v2/lib.nix": '"v2"\n',
    "v3/lib.nix": '"v3"\n',
    "notes/todo.md": "nothing Nix reads\n",
}
# c.nix fetches what sources.json says, as niv and npins do, in one of builtins' spellings
SPELLINGS = ["builtins.fetchTarball s.pin", "(with builtins; fetchTarball s.pin)",
             "(let inherit (builtins) fetchTarball; in fetchTarball s.pin)",
             "(let b = builtins; in b.fetchTarball s.pin)", "(builtins . fetchTarball s.pin)",
             "(let f = builtins.fetchTarball; in f s.pin)"]
FETCHING = ("let s = builtins.fromJSON (builtins.readFile ./sources.json); in "
            + DERIVATION.format(name="c", body="v = {spelling};").replace("{{", "{").replace(
                "}}", "}"))
PINS = ["one", "two", "unpinned"]
CONFIG = """images:
  - name: registry.example.com/team/a
    nix: a.nix
    attr: image
  - name: registry.example.com/team/b
    nix: b.nix
    attr: image
  - name: registry.example.com/team/c
    nix: c.nix
    attr: image
"""
INPUTS = ["lib.nix", "data.txt", "other.txt", "src/main.go", "src/extra.go", "a.nix",
          "v2/lib.nix", "v3/lib.nix"]
NOT_READ = ["notes/todo.md", "notes/more.md", "README.md"]
CHECKS: list[int] = []  # one per state checked; NIX_TAG_CHECK_MODEL_COUNT=path reports them
TEXTS = st.sampled_from(["one\n", "two\n", "package main\n", '"lib two"\n'])


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, check=False)


class CacheModel(RuleBasedStateMachine):
    """A repository that a developer works in, checked after every step."""

    @initialize()
    def make_repository(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="nix-tag-check-model-"))
        self.root = self.home / "repo"
        for rel, text in {**FILES, ".nix-tag-check.yaml": CONFIG}.items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_text(text)
        (self.root / "linked.txt").symlink_to("data.txt")
        (self.root / "current").symlink_to("v2")  # a link to a folder, first on the path
        self.hashes = {name: self._tarball(name) for name in ("one", "two")}
        self._fetch(SPELLINGS[0], "one")
        for name in ("dep-one", "dep-two"):
            (self.home / name).mkdir()
            (self.home / name / "default.nix").write_text(f'"{name}"\n')
        (self.home / "mylib.nix").write_text('"mylib one"\n')  # a search path entry: a file
        _git(self.root, "init", "-q", "-b", "main")
        _git(self.root, "add", "-A")
        _git(self.root, "commit", "-qm", "init")
        self.saved_env = {k: os.environ.get(k) for k in ("PATH", "NIX_PATH", "FLAVOUR", "OTHER")}
        self.log = self.home / "nix-starts.log"
        os.environ["PATH"] = counting_nix(self.home / "bin", self.log)
        self.dep = "dep-one"
        self._set_nix_path()
        self.cwd = os.getcwd()
        os.chdir(self.root)
        self.no_input_touched = False
        self.cacheable = True  # until a shape the reach refuses to key (a gitlink, a swap)
        self.worktree = False
        self.last_ok = False

    def teardown(self) -> None:
        if hasattr(self, "cwd"):
            os.chdir(self.cwd)
            for key, value in self.saved_env.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
            shutil.rmtree(self.home, ignore_errors=True)

    def _tarball(self, name: str) -> str:
        """A tarball put in the store as `source`, so that its pinned fetch is offline."""
        folder = self.home / "tarballs" / name / "top"
        folder.mkdir(parents=True)
        (folder / "f").write_text(name)
        path = self.home / "tarballs" / f"{name}.tar.gz"
        subprocess.run(["tar", "-C", folder.parent, "-czf", path, "top"], check=True)
        return subprocess.run(
            ["nix-prefetch-url", "--unpack", "--name", "source", f"file://{path}"],
            check=True, capture_output=True, text=True).stdout.strip()

    def _fetch(self, spelling: str, pin: str) -> None:
        """c.nix in `spelling`, its sources.json pinned to tarball `pin`, or unpinned."""
        (self.root / "c.nix").write_text(FETCHING.replace("{spelling}", spelling))
        url = f"file://{self.home}/tarballs/one.tar.gz"
        source = ({"url": url} if pin == "unpinned" else
                  {"url": "https://example.invalid/x", "sha256": self.hashes[pin]})
        (self.root / "sources.json").write_text(json.dumps({"pin": source}))
        self.pinned = pin != "unpinned"  # an unpinned fetch is evaluated on every run

    @rule(spelling=st.sampled_from(SPELLINGS), pin=st.sampled_from(PINS))
    def change_the_fetch(self, spelling: str, pin: str) -> None:
        self._fetch(spelling, pin)

    def _write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.is_dir():
            return
        path.write_text(text)

    @rule(rel=st.sampled_from(INPUTS), text=TEXTS)
    def edit_an_input(self, rel: str, text: str) -> None:
        self._write(rel, text)

    @rule(rel=st.sampled_from(INPUTS))
    def delete_an_input(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            (self.root / rel).unlink()

    @rule(source=st.sampled_from(INPUTS), destination=st.sampled_from(INPUTS))
    def rename(self, source: str, destination: str) -> None:
        with contextlib.suppress(OSError):
            os.replace(self.root / source, self.root / destination)

    @rule(rel=st.sampled_from(NOT_READ), text=TEXTS)
    def edit_a_file_nothing_reads(self, rel: str, text: str) -> None:
        self._write(rel, text)
        self.no_input_touched = True

    @rule(rel=st.sampled_from(["src/wip.go", "wip.nix", "src/deep/new.txt"]), text=TEXTS)
    def add_an_untracked_file(self, rel: str, text: str) -> None:
        existed = (self.root / rel).exists()
        self._write(rel, text)
        self.no_input_touched = not existed and not self._tracked(rel) and not self.worktree

    def _tracked(self, rel: str) -> bool:
        out = subprocess.run(["git", "ls-files", "--error-unmatch", rel], cwd=self.root,
                             capture_output=True, check=False)
        return out.returncode == 0

    @rule(folder=st.sampled_from(["src/empty", "empty", "src/a/b"]))
    def make_an_empty_folder(self, folder: str) -> None:
        (self.root / folder).mkdir(parents=True, exist_ok=True)

    @rule(link_to=st.sampled_from(["data.txt", "other.txt", "missing.txt"]))
    def point_the_link_elsewhere(self, link_to: str) -> None:
        link = self.root / "linked.txt"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(link_to)

    @rule(patterns=st.sampled_from(["", "src/wip.go\n", "*.txt\n", "src/\n"]))
    def change_gitignore(self, patterns: str) -> None:
        (self.root / ".gitignore").write_text(patterns)

    @rule(command=st.sampled_from([
        ["add", "-A"], ["add", "src"], ["rm", "-q", "--cached", "other.txt"],
        ["rm", "-q", "-r", "--cached", "src"], ["commit", "-qam", "c"],
        ["commit", "-q", "--allow-empty", "-m", "e"], ["checkout", "-q", "HEAD~1", "--", "."],
        ["checkout", "-q", "HEAD", "--", "."], ["stash", "-q"], ["stash", "pop", "-q"],
    ]))
    def git(self, command: list[str]) -> None:
        _git(self.root, *command)

    @rule(value=st.sampled_from(["sweet", "sour", None]))
    def set_flavour(self, value: str | None) -> None:
        os.environ.pop("FLAVOUR", None) if value is None else os.environ.__setitem__(
            "FLAVOUR", value)

    def _set_nix_path(self) -> None:
        os.environ["NIX_PATH"] = f"dep={self.home / self.dep}:mylib={self.home / 'mylib.nix'}"

    @rule(dep=st.sampled_from(["dep-one", "dep-two"]))
    def change_nix_path(self, dep: str) -> None:
        self.dep = dep
        self._set_nix_path()

    @rule(text=st.sampled_from(['"mylib one"\n', '"mylib 2"\n', '"mylib two"\n']))
    def edit_the_search_path_file(self, text: str) -> None:
        (self.home / "mylib.nix").write_text(text)

    @rule(to=st.sampled_from(["v2", "v3", "missing"]))
    def point_the_folder_link_elsewhere(self, to: str) -> None:
        (self.root / "current").unlink()
        (self.root / "current").symlink_to(to)

    @rule(rel=st.sampled_from(["data.txt", "lib.nix", "v2/lib.nix"]))
    def swap_a_file_for_a_folder(self, rel: str) -> None:
        path = self.root / rel
        if path.is_symlink() or not path.is_file():
            return
        path.unlink()
        path.mkdir()
        (path / "inside.txt").write_text("inside\n")
        self.cacheable = False

    @rule(text=TEXTS)
    def add_a_nested_repository(self, text: str) -> None:
        """src/vendor: a repository of its own, added without .gitmodules (a gitlink)."""
        nested = self.root / "src/vendor"
        nested.mkdir(parents=True, exist_ok=True)
        (nested / "code.go").write_text(text)
        _git(nested, "init", "-q", "-b", "main")
        _git(nested, "add", "-A")
        _git(nested, "commit", "-qm", "vendor")
        _git(self.root, "add", "src/vendor")
        self.cacheable = False

    @rule(extra=st.sampled_from(["", "sources: worktree\n", "sources: tracked\n"]))
    def change_config(self, extra: str) -> None:
        (self.root / ".nix-tag-check.yaml").write_text(CONFIG + extra)
        self.worktree = "worktree" in extra

    def _run(self, *extra: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--print-expected", *extra])
        return code, out.getvalue(), err.getvalue()

    @invariant()
    def cached_equals_uncached(self) -> None:
        if not hasattr(self, "root"):
            return
        CHECKS.append(1)
        with contextlib.suppress(FileNotFoundError):
            self.log.unlink()
        cached = self._run()
        started = starts(self.log)
        assert cached == self._run("--no-cache")
        if self.no_input_touched and self.last_ok and self.cacheable and self.pinned:
            assert started == [], "a step that touches no input started Nix"
        self.no_input_touched = False
        self.last_ok = cached[0] == 0


CacheModel.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
    suppress_health_check=list(HealthCheck),
)


class TestCacheModel(CacheModel.TestCase):  # type: ignore[name-defined,misc]
    @classmethod
    def tearDownClass(cls) -> None:
        report = os.environ.get("NIX_TAG_CHECK_MODEL_COUNT")
        if report:
            Path(report).write_text(f"{len(CHECKS)} states checked\n")
