"""Every stale classic file in one Nix process (issue 23 §1), against real Nix.

Services `svcN/default.nix` share `nix/pkgs.nix`, as repositories share `import <nixpkgs> {}`:
one process evaluates it once for all of them, while each file keeps its own cache entry.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git
from nixtools import counting_nix, out_path_hash, starts

from nix_tag_check.main import main

PKGS = ("let shared = builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 1000); "
        "in { inherit shared; }\n")
SERVICE = """\
let pkgs = import ../nix/pkgs.nix; in
{{
  image = derivation {{
    name = "svc{n}"; system = "x86_64-linux"; builder = "/bin/sh";
    shared = toString pkgs.shared; {body}
  }};
}}
"""


def _name(n: int) -> str:
    return f"registry.example.com/team/svc{n}"


@pytest.fixture
def nix_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "nix-starts.log"
    monkeypatch.setenv("PATH", counting_nix(tmp_path / "bin", log))
    return log


def _services(repo: Path, count: int, bodies: dict[int, str] | None = None,
              extra: dict[int, str] | None = None) -> None:
    """`count` services sharing nix/pkgs.nix, each its own file and image, committed."""
    (repo / "nix").mkdir(exist_ok=True)
    (repo / "nix/pkgs.nix").write_text(PKGS)
    config = ["images:"]
    for n in range(count):
        (repo / f"svc{n}").mkdir(exist_ok=True)
        (repo / f"svc{n}/default.nix").write_text(
            SERVICE.format(n=n, body=(bodies or {}).get(n, "")))
        config += [f"  - name: {_name(n)}", f"    nix: svc{n}/default.nix", "    attr: image",
                   *(["    " + (extra or {})[n]] if n in (extra or {}) else [])]
    (repo / ".nix-tag-check.yaml").write_text("\n".join(config) + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "services")


def _expected(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, str]:
    capsys.readouterr()
    assert main(["--print-expected", *extra]) == 0
    return dict(line.rsplit(":", 1) for line in capsys.readouterr().out.splitlines())


def test_every_stale_file_is_evaluated_in_one_nix_process(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _services(repo, 4)
    tags = _expected(capsys)
    assert starts(nix_log) == ["nix-instantiate"]
    assert tags == {_name(n): out_path_hash(repo / f"svc{n}/default.nix", "image")
                    for n in range(4)}


def test_an_edit_to_one_service_evaluates_only_its_file(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _services(repo, 4)
    before = _expected(capsys)
    (repo / "svc2/default.nix").write_text(SERVICE.format(n=2, body='v = "2";'))
    nix_log.unlink()
    capsys.readouterr()
    assert main(["--print-expected", "-v"]) == 0
    captured = capsys.readouterr()
    assert starts(nix_log) == ["nix-instantiate"]
    assert [line.split(":")[1] for line in captured.err.splitlines()
            if "image(s) evaluated with Nix" in line] == [" svc2/default.nix"]
    after = dict(line.rsplit(":", 1) for line in captured.out.splitlines())
    assert after[_name(2)] == out_path_hash(repo / "svc2/default.nix", "image") != before[_name(2)]
    assert {k: v for k, v in after.items() if k != _name(2)} == {
        k: v for k, v in before.items() if k != _name(2)}


def test_an_edit_to_the_shared_import_evaluates_every_file_in_one_process(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _services(repo, 3)
    before = _expected(capsys)
    (repo / "nix/pkgs.nix").write_text(PKGS.replace("1000", "1001"))
    nix_log.unlink()
    after = _expected(capsys)
    assert starts(nix_log) == ["nix-instantiate"]
    assert all(after[name] != before[name] for name in before)


def test_a_file_whose_code_names_a_variable_gets_a_process_of_its_own(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One environment per process: svc0's code cannot read what only svc1's code names."""
    monkeypatch.setenv("SVC1_FLAVOUR", "mild")
    _services(repo, 3, {1: 'flavour = builtins.getEnv "SVC1_FLAVOUR";'})
    tags = _expected(capsys, "--no-cache")
    assert sorted(starts(nix_log)) == ["nix-instantiate", "nix-instantiate"]
    assert tags[_name(1)] == out_path_hash(repo / "svc1/default.nix", "image")


def test_images_for_another_system_get_a_process_of_their_own(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _services(repo, 3, {2: "arch = builtins.currentSystem;"}, {2: "system: aarch64-linux"})
    tags = _expected(capsys)
    assert sorted(starts(nix_log)) == ["nix-instantiate", "nix-instantiate"]
    assert tags[_name(2)] == out_path_hash(repo / "svc2/default.nix", "image", "aarch64-linux")
    assert tags[_name(0)] == out_path_hash(repo / "svc0/default.nix", "image")


@pytest.mark.parametrize("mode", [[], ["--fix"]])
def test_an_error_in_the_shared_import_names_the_first_image_and_writes_nothing(
    repo: Path, mode: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _services(repo, 3)
    (repo / "deploy.yaml").write_text("".join(
        f"- image: {_name(n)}:{'0' * 32}\n" for n in range(3)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "manifest")
    (repo / "nix/pkgs.nix").write_text('{ shared = 1 + "x"; }\n')
    assert main(mode) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    where, message = captured.err.split(": ", 2)[1:]  # the column is Nix's own choice
    assert (where.rsplit(":", 1)[0], message) == (
        "nix/pkgs.nix:1",
        f"cannot add a string to an integer (while evaluating image {_name(0)})\n")
    assert (repo / "deploy.yaml").read_text().count("0" * 32) == 3


def test_an_error_in_a_later_file_of_the_shared_run_is_placed_by_its_own_trace(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`throw` has no position in Nix 2.8's message: the failed file alone runs again with
    --show-trace to place it, and only that file."""
    _services(repo, 3, {2: 'v = throw "svc2 is not ready";'})
    assert main(["--print-expected"]) == 2
    where, message = capsys.readouterr().err.split(": ", 2)[1:]  # line: Nix's own choice
    assert (where.split(":")[0], message) == (
        "svc2/default.nix", f"svc2 is not ready (while evaluating image {_name(2)})\n")
    assert where.count(":") == 2
    assert starts(nix_log) == ["nix-instantiate", "nix-instantiate"]  # the run, then the trace


def test_a_timeout_of_the_shared_run_names_its_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forever = ("v = toString (builtins.foldl' (a: b: a + b) 0 "
               "(builtins.genList (x: x) 100000000));")
    _services(repo, 3, {1: forever})
    assert main(["--print-expected", "--timeout", "0.5"]) == 2
    assert capsys.readouterr().err == (
        "error: svc0/default.nix, svc1/default.nix and 1 more: evaluation took longer than 0.5s "
        "(--timeout)\n")
