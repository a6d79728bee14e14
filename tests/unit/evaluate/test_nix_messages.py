"""Nix's messages about this machine, mapped to what to do: a unit test of the mapping.

Real Nix is not run here. A stand-in `nix-instantiate` prints what Nix 2.8 prints (the
text copied from Debian 12's nix-bin, run as a user outside nix-users, and as one inside
it with no daemon running) and fails as Nix does; tests/e2e/test_discovery.py replays
the message real Nix prints on this machine the same way, where it can produce it.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from nix_tag_check.errors import EvalError
from nix_tag_check.evaluate import nix as nix_eval
from nix_tag_check.evaluate.groups import Group, GroupKey

DENIED = "error: getting status of /nix/var/nix/daemon-socket/socket: Permission denied\n"
NO_DAEMON = ("error: could not set permissions on '/nix/var/nix/profiles/per-user' to 755: "
             "Operation not permitted\n")
USER = pwd.getpwuid(os.getuid()).pw_name


def failing_nix(folder: Path, stderr: str) -> str:
    """A PATH whose nix-instantiate prints `stderr` and fails, as Nix does."""
    folder.mkdir()
    (folder / "message").write_text(stderr)
    fake = folder / "nix-instantiate"
    fake.write_text(f'#!/bin/sh\ncat "{folder / "message"}" >&2\nexit 1\n')
    fake.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def discovery_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stderr: str) -> str:
    monkeypatch.setenv("PATH", failing_nix(tmp_path / "bin", stderr))
    target = str(tmp_path / "default.nix")
    group = Group(GroupKey("file", target, "x86_64-linux"), (), discover=True)
    with pytest.raises(EvalError) as caught:
        nix_eval.run([nix_eval.Job(group, target)], str(tmp_path), 60)
    return str(caught.value)


def test_a_remote_flake_is_named_as_written_from_a_subfolder_of_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = failing_nix(tmp_path / "bin", "error: cannot fetch the input\n")
    (tmp_path / "bin/nix").write_text('#!/bin/sh\n[ "$1" = --version ] && echo "nix (Nix) 2.26.3" '
                                      f'&& exit 0\nexec "{tmp_path}/bin/nix-instantiate"\n')
    (tmp_path / "bin/nix").chmod(0o755)
    monkeypatch.setenv("PATH", path)
    (tmp_path / "deploy").mkdir()
    monkeypatch.chdir(tmp_path / "deploy")
    flake = "github:acme/deploy"
    group = Group(GroupKey("flake", flake, "x86_64-linux"), (), discover=True)
    with pytest.raises(EvalError) as caught:
        nix_eval.run([nix_eval.Job(group, flake)], str(tmp_path), 60)
    assert str(caught.value) == f"{flake}: cannot fetch the input (while discovering images)"


def test_a_user_outside_nix_users_is_told_how_to_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert discovery_error(tmp_path, monkeypatch, DENIED) == (
        "default.nix: getting status of /nix/var/nix/daemon-socket/socket: Permission denied "
        f"(while discovering images); you ({USER}) are neither root nor in the nix-users "
        f"group, so Nix cannot reach its daemon: `sudo adduser {USER} nix-users`, then log in "
        "again (groups are read at login), or run the tool as root")


def test_a_user_without_a_running_daemon_is_told_to_start_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the message is a non-root user's
    assert discovery_error(tmp_path, monkeypatch, NO_DAEMON) == (
        "default.nix: could not set permissions on '/nix/var/nix/profiles/per-user' to 755: "
        "Operation not permitted (while discovering images); a user who is not root reaches "
        "the Nix store through the Nix daemon, and it is not running: start it "
        "(`sudo systemctl start nix-daemon`)")


def test_root_is_not_told_about_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert discovery_error(tmp_path, monkeypatch, NO_DAEMON).endswith(
        "Operation not permitted (while discovering images)")


@pytest.mark.parametrize("stderr", [
    "error: getting status of '/nix/var/nix/daemon-socket/socket': Permission denied\n",
    "error:\n       … while fetching the input\n\n       error: getting status of "
    "'/nix/var/nix/daemon-socket/socket': Permission denied\n",
])
def test_later_nix_versions_spellings_of_the_denied_socket_get_the_same_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stderr: str
) -> None:
    assert f"`sudo adduser {USER} nix-users`, then log in again" in discovery_error(
        tmp_path, monkeypatch, stderr)


API = "ghcr.io/acme/api"
CONFIG = f"images:\n  - name: {API}\n    nix: default.nix\n    attr: api\n"
TRACES = f"trace: nix-tag-check-file: 0\ntrace: nix-tag-check-image: {API}\n"
SYNTAX = ("error: syntax error, unexpected end of file\n\n       at {root}/default.nix:1:24:\n\n"
          "            1| { api = derivation {\n")
UNPLACED = "error: attribute 'hello' missing\n\n       at /nix/store/" + "a" * 32 + \
    "-nixpkgs/lib.nix:3:4:\n"


def _run_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str], stderr: str, *args: str) -> str:
    """main(args) in a folder whose Nix fails with `stderr`: its stdout, or stderr without args."""
    from nix_tag_check.main import main

    work = tmp_path / "work"
    work.mkdir()
    (work / ".nix-tag-check.yaml").write_text(CONFIG)
    (work / "default.nix").write_text("{ api = derivation {\n")
    monkeypatch.setenv("PATH", failing_nix(tmp_path / "bin", TRACES + stderr.replace(
        "{root}", os.path.realpath(work))))
    monkeypatch.chdir(work)
    assert main(list(args) or ["--print-expected"]) == 2
    return capsys.readouterr().out if args else capsys.readouterr().err


def test_a_syntax_error_names_its_file_and_line_and_every_image_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_failing(tmp_path, monkeypatch, capsys, SYNTAX) == (
        "error: default.nix:1:24: syntax error, unexpected end of file "
        "(while parsing default.nix: every image that reads it fails)\n")


@pytest.mark.parametrize(("stderr", "place"), [
    (SYNTAX, {"path": "default.nix", "line": 1, "column": 24}),
    (UNPLACED, {"path": ".nix-tag-check.yaml", "line": 2, "column": None}),
    (DENIED, {"path": ".nix-tag-check.yaml", "line": 2, "column": None}),
])
def test_a_nix_error_in_json_is_placed_in_the_nix_file_or_on_the_config_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    stderr: str, place: dict[str, object],
) -> None:
    import json

    [error] = json.loads(_run_failing(tmp_path, monkeypatch, capsys, stderr,
                                      "--print-expected", "--format", "json"))["errors"]
    assert {key: error[key] for key in place} == place


@pytest.mark.parametrize(("stderr", "annotation"), [
    (SYNTAX, "::error file=default.nix,line=1,col=24::default.nix:1:24: syntax error"),
    (DENIED, "::error file=.nix-tag-check.yaml,line=2::.nix-tag-check.yaml:2: default.nix: "),
])
def test_a_nix_error_in_github_format_is_an_annotation_on_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    stderr: str, annotation: str,
) -> None:
    out = _run_failing(tmp_path, monkeypatch, capsys, stderr, "--format", "github")
    assert out.startswith(annotation)


def test_a_nix_error_outside_the_repository_keeps_nix_s_place_in_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_failing(tmp_path, monkeypatch, capsys, UNPLACED).startswith(
        f"error: .nix-tag-check.yaml:2: /nix/store/{'a' * 32}-nixpkgs/lib.nix:3:4: "
        f"attribute 'hello' missing (while evaluating image {API})")
