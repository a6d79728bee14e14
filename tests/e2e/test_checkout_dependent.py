"""A tag that depends on where the repository is checked out is said, never guessed (issue 20
§2), against real Nix: each shape is evaluated as the tool's private tree and as another clone
would see it (checkout.py).

Flakes are independent by construction: Nix copies a flake's tracked files, never `.git`,
into the store as `source` and evaluates them there, so `./.`, `self` and `toString ./.` are
content-addressed store paths wherever the checkout lies (the flake tests below move it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, git
from nixtools import alive, out_path_hash, pid_logging_nix

from nix_tag_check.main import main

IMAGE = "registry.example.com/team/app"
DERIVATION = """\
{{ image = derivation {{
  name = "app"; system = "x86_64-linux"; builder = "/bin/sh";
  {body}
}}; }}
"""
FIX_COPY = "copy the source by name and without .git: `lib.cleanSource ./.`"
PATH_CAUSE = "it changes with its absolute path, as a path made a string does"
NAME = "it changes with the checkout folder's name"
GIT = "its `.git`"
CLEAN_SOURCE = ('builtins.path { path = ./.; name = "source"; '
                'filter = p: t: baseNameOf p != ".git" && baseNameOf p != "result"; }')


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository named `app`, its cwd: src/main.go, and default.nix written by each test."""
    root = tmp_path / "app"
    (root / "src").mkdir(parents=True)
    (root / "src/main.go").write_text("package main\n")
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    return root


def _image(root: Path, body: str, extra: str = "", rel: str = "default.nix") -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(DERIVATION.format(body=body))
    (root / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {IMAGE}\n    nix: {rel}\n    attr: image\n{extra}")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "image")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["--print-expected"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    return lines[0]


def _tag(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert main(["--print-expected", *extra]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{IMAGE}:")
    return out.strip().rsplit(":", 1)[1]


DEPENDENT = [  # (the derivation's body, what the error says of the cause)
    ("p = toString ./.;", [PATH_CAUSE]),
    ('p = "${toString ./src}/main.go";', [PATH_CAUSE]),
    ("src = ./.;", [NAME, GIT, FIX_COPY]),
    ("src = builtins.filterSource (p: t: true) ./.;", [NAME, GIT, FIX_COPY]),
    ('src = builtins.filterSource (p: t: baseNameOf p != ".git") ./.;', [NAME, FIX_COPY]),
    ("src = builtins.path { path = ./.; };", [NAME, GIT, FIX_COPY]),
    ('src = builtins.path { path = ./.; name = "source"; };', [f"it changes with {GIT}, as"]),
    ("n = baseNameOf (toString ./.);", [NAME]),
]


@pytest.mark.parametrize("body, causes", DEPENDENT, ids=[b for b, _ in DEPENDENT])
def test_a_tag_that_depends_on_the_checkout_is_an_error_naming_image_cause_and_fix(
    app: Path, capsys: pytest.CaptureFixture[str], body: str, causes: list[str]
) -> None:
    _image(app, body)
    error = _error(capsys)
    assert error.startswith(f"error: default.nix: image {IMAGE}: the tag depends on where the "
                            "repository is checked out, so a pipeline's clone computes another: ")
    for cause in causes:
        assert cause in error
    assert error.endswith("or set `checkout-dependent: true` on the image in "
                          ".nix-tag-check.yaml to accept it")


def test_reading_pwd_is_an_error_said_before_nix_runs(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(app, 'p = builtins.getEnv "PWD";')
    assert _error(capsys) == (
        f"error: default.nix: image {IMAGE}: the tag depends on where the repository is "
        "checked out, so a pipeline's clone computes another: it reads "
        "`builtins.getEnv \"PWD\"`, the folder the pipeline runs in: name files with paths "
        "instead (`./src`); or set `checkout-dependent: true` on the image in "
        ".nix-tag-check.yaml to accept it")


def test_copying_the_checkout_from_a_sub_folder_is_an_error_too(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(app, "src = ../../.;", rel="services/app/default.nix")
    error = _error(capsys)
    assert error.startswith(f"error: services/app/default.nix: image {IMAGE}: ")
    assert NAME in error and GIT in error


INDEPENDENT = [
    "src = ./src;",
    'p = "${./src}/main.go";',
    'src = builtins.path { path = ./src; name = "src"; };',
    f"src = {CLEAN_SOURCE};",
    'src = builtins.filterSource (p: t: baseNameOf p != ".git") ./src;',
    'p = builtins.readFile ./src/main.go;',
    'e = builtins.pathExists ./src/main.go;',
]


@pytest.mark.parametrize("body", INDEPENDENT)
def test_an_independent_shape_passes_with_the_tag_nix_gives(
    app: Path, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    _image(app, body)
    assert _tag(capsys) == out_path_hash(app / "default.nix", "image")


@pytest.mark.parametrize("body", ["src = ./.;", "src = ../.;"])
def test_a_sub_folder_copied_whole_is_named_after_itself_and_passes(
    app: Path, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    _image(app, body, rel="services/app/default.nix")
    assert _tag(capsys) == out_path_hash(app / "services/app/default.nix", "image")


def test_an_independent_tag_is_the_same_in_a_clone_elsewhere(
    app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _image(app, f"src = {CLEAN_SOURCE}; p = \"${{./src}}\";")
    here = _tag(capsys)
    clone = tmp_path / "workspace/source"
    clone.parent.mkdir()
    git(tmp_path, "clone", "-q", str(app), str(clone))
    monkeypatch.chdir(clone)
    assert _tag(capsys) == here


def test_the_opt_out_accepts_a_dependent_tag_for_that_image(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(app, "src = ./.;", "    checkout-dependent: true\n")
    assert len(_tag(capsys)) == 32


def test_the_opt_out_of_one_image_leaves_the_others_of_its_file_checked(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app / "default.nix").write_text(
        DERIVATION.format(body="src = ./.;").replace("{ image =", "{ other = derivation { "
        'name = "o"; system = "x86_64-linux"; builder = "/bin/sh"; p = toString ./.; }; image ='))
    (app / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {IMAGE}\n    nix: default.nix\n    attr: image\n"
        "    checkout-dependent: true\n"
        "  - name: registry.example.com/team/other\n    nix: default.nix\n    attr: other\n")
    git(app, "add", "-A")
    git(app, "commit", "-qm", "two")
    error = _error(capsys)
    assert error.startswith("error: default.nix: image registry.example.com/team/other: ")
    assert PATH_CAUSE in error


def test_an_evaluation_that_fails_only_in_another_clone_is_an_error(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(app, 'p = assert !(builtins.pathExists ./.git); "fine";')
    error = _error(capsys)
    assert error.startswith("error: default.nix: the evaluation depends on where the repository "
                            "is checked out: as another clone would be (another path and folder "
                            "name, with .git), Nix fails: default.nix:")
    assert "assertion" in error and f"(while evaluating image {IMAGE})" in error


def test_a_shared_file_copied_alone_is_no_alarm(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """nix/lib.nix names no relative path, so the other clone links it to the tree's own; a
    copy of the link differs from a copy of the file, and that is not the checkout's doing."""
    (app / "nix").mkdir()
    (app / "nix/lib.nix").write_text('{ greeting = "hello"; }\n')
    _image(app, "src = ./nix/lib.nix; g = (import ./nix/lib.nix).greeting;")
    assert _tag(capsys) == out_path_hash(app / "default.nix", "image")


def test_a_file_that_names_no_relative_path_is_evaluated_once(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(app, 'p = "plain";')
    capsys.readouterr()
    assert main(["--print-expected", "-v"]) == 0
    info = [line for line in capsys.readouterr().err.splitlines() if "evaluated with Nix" in line]
    assert len(info) == 1 and "a clone elsewhere" not in info[0]


def test_verbose_says_the_tag_was_checked_in_a_clone_elsewhere(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(app, "src = ./src;")
    capsys.readouterr()
    assert main(["--print-expected", "-v", "--no-cache"]) == 0
    assert "; the same tag in a clone elsewhere (another path, folder name, .git)" in (
        capsys.readouterr().err)


def test_worktree_sources_are_checked_too(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(app, "src = ./.;")
    config = app / ".nix-tag-check.yaml"
    config.write_text("sources: worktree\n" + config.read_text())
    error = _error(capsys)
    assert NAME in error and GIT in error


def test_no_mirror_is_left_behind(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _image(app, "src = ./.;")
    _error(capsys)
    assert list((app / ".git/nix-tag-check/elsewhere").iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_both_clones_evaluate_stops_nix_and_leaves_no_tree(
    app: Path, tmp_path: Path, signum: int
) -> None:
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    _image(app, f'src = ./src; r = builtins.readFile "{fifo}";')
    log = tmp_path / "pids"
    env = {**os.environ, "PATH": pid_logging_nix(tmp_path / "bin", log), "PYTHONPATH": str(ROOT)}
    tool = subprocess.Popen([sys.executable, "-m", "nix_tag_check", "--print-expected",
                             "--no-cache"], cwd=app, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    mirrors = app / ".git/nix-tag-check/elsewhere"
    for _ in range(600):  # until Nix reads the FIFO in both trees (a bound, not an assertion)
        if log.exists() and log.read_text().strip() and mirrors.exists() \
                and any(mirrors.iterdir()):
            break
        time.sleep(0.1)
    nix_pid = int(log.read_text().split()[0])
    assert alive(nix_pid) and any(mirrors.iterdir())
    tool.send_signal(signum)
    _, err = tool.communicate()
    assert (tool.returncode, err) == (128 + signum, "interrupted\n")
    assert not alive(nix_pid)
    assert list(mirrors.iterdir()) == []
    trees = app / ".git/nix-tag-check/trees"
    assert [p.name for p in trees.iterdir()] == ["a.lock"]  # the empty lock stays, no tree


FLAKE = """\
{{ outputs = {{ self }}: {{ packages.x86_64-linux.default = derivation {{
  name = "app"; system = "x86_64-linux"; builder = "/bin/sh"; {body}
}}; }}; }}
"""


@pytest.mark.parametrize("body", ["src = self;", "src = ./.;", "p = toString ./.;"])
def test_a_flake_is_independent_of_the_checkout_by_construction(
    app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, body: str,
) -> None:
    (app / "flake.nix").write_text(FLAKE.format(body=body))
    (app / ".nix-tag-check.yaml").write_text(f"images:\n  - name: {IMAGE}\n    flake: .\n")
    git(app, "add", "-A")
    git(app, "commit", "-qm", "flake")
    here = _tag(capsys)
    moved = tmp_path / "workspace/source"
    moved.parent.mkdir()
    shutil.copytree(app, moved)  # another path, another name, the same .git
    monkeypatch.chdir(moved)
    assert _tag(capsys) == here
