from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import config_log
import pytest

from nix_tag_check.config.reference import parse_repository
from nix_tag_check.errors import ScanError
from nix_tag_check.fix.apply import fix_text
from nix_tag_check.scan.find import Expected

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
HELLO = "registry.example.com/team/hello"
API = "ghcr.io/acme/api"
HELLO_TAG = "bhvhf4ndzxgqnlwzv5s272i5xs2qs6v0"
API_TAG = "0c3vh8lmz4ld1rq5jr0yb9xq7fxsxk3w"

config_log.install()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_all_others: run once every other test has run")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("after_all_others") is not None)


def expected_map(**tags: str) -> dict:
    """The expected tags the shape fixtures are written for (no Nix needed: scanner only)."""
    pairs = {HELLO: tags.get("hello", HELLO_TAG), API: tags.get("api", API_TAG)}
    return {
        parse_repository(name): Expected(name, parse_repository(name), tag, "default.nix#x")
        for name, tag in pairs.items()
    }


def fix_error(source: str, expected: dict, path: str = "") -> str:
    """`line:column: message` of the ScanError that fixing `source` must raise."""
    with pytest.raises(ScanError) as caught:
        fix_text(source, expected, path)
    return f"{caught.value.line}:{caught.value.column}: {caught.value.message}"


@pytest.fixture
def expected() -> dict:
    return expected_map()


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env=env).stdout


def imported_by_a_run(repo: Path, which: str) -> str:
    """The modules (`which`: a test on a module's name `m`) that `main(['-q'])` imported, in
    a fresh process: a list's repr."""
    code = ("import sys; from nix_tag_check.main import main; main(['-q']); "
            f"print(sorted(m for m in sys.modules if {which}))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run([sys.executable, "-c", code], cwd=repo, env=env,
                          capture_output=True, text=True, check=True).stdout.splitlines()[-1]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway Git repository holding a copy of tests/fixtures/repo, as the cwd."""
    root = committed_copy(FIXTURES / "repo", tmp_path / "repo")
    monkeypatch.chdir(root)
    return root


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Counts of the YAML test suite's cases by outcome (test_yaml_suite.py records them)."""
    counts: Counter[str] = Counter()
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == "yaml_suite" and getattr(report, "when", "") == "call":
                    counts[str(value)] += 1
    if counts:
        terminalreporter.write_sep("-", f"YAML test suite: {sum(counts.values())} cases")
        for outcome, count in sorted(counts.items()):
            terminalreporter.write_line(f"{count:5d}  {outcome}")


def committed_copy(source: Path, dest: Path) -> Path:
    """A new Git repository at `dest` holding `source`'s files, all committed on `main`."""
    shutil.copytree(source, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "init")
    return dest


def copy_of_this_repository(dest: Path) -> Path:
    """This working tree's files (tracked or not ignored), as a checkout of the tool would have."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for rel in filter(None, listed.split("\0")):
        if (ROOT / rel).is_file() and not rel.startswith(("tests/", "benchmarks/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


@pytest.fixture
def no_user_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of its own: no registry test reads the credentials of whoever runs it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return home


def quiet_pass(capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """main([])'s status and all it wrote to stderr, subprocesses' writes included."""
    from nix_tag_check.main import main

    capfd.readouterr()
    return main([]), capfd.readouterr().err


def quiet_process(cwd: Path) -> tuple[int, str]:
    """The tool run as a real process in `cwd`: its status and stderr."""
    done = subprocess.run([sys.executable, "-m", "nix_tag_check"], cwd=cwd,
                          capture_output=True, text=True, check=False)
    return done.returncode, done.stderr
