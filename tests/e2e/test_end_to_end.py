"""The whole tool against real Nix and a real Git repository (tests/fixtures/repo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from nixtools import attribute, out_path_hash

from nix_tag_check.main import main

OLD_HELLO = "1dq4d2v2l6f3n5p8r0s9x7y4z1a2b3c4"
HELLO = "registry.example.com/team/hello"
WORKER = "registry.example.com/team/worker"


def _tags(repo: Path) -> tuple[str, str]:
    return out_path_hash(repo / "default.nix", "hello"), attribute(
        repo / "default.nix", "worker.imageTag", "x86_64-linux"
    )


def test_check_reports_every_stale_reference_and_exits_1(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hello, worker = _tags(repo)
    assert main([]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"charts/app/values.yaml:5:8: {HELLO}: tag 'old' should be '{hello}' (default.nix#hello)",
        f"deploy/hello.yaml:16:18: {HELLO}: tag '{OLD_HELLO}' should be '{hello}' "
        "(default.nix#hello)",
        f"deploy/kustomization.yaml:8:13: {HELLO}: tag '{OLD_HELLO}' should be '{hello}' "
        "(default.nix#hello)",
        f"deploy/kustomization.yaml:10:14: {WORKER}: no tag, should be '{worker}' "
        "(default.nix#worker)",
        f"deploy/worker-cronjob.yaml:14:22: {WORKER}: tag 'v1.2.3' should be '{worker}' "
        "(default.nix#worker)",
    ]


def test_check_writes_nothing(repo: Path) -> None:
    before = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout
    main([])
    after = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                           text=True, check=True).stdout
    assert after == before == ""


def test_fix_changes_only_the_tag_characters(repo: Path) -> None:
    hello, worker = _tags(repo)
    before = {p: (repo / p).read_bytes() for p in ("deploy/hello.yaml",
                                                   "deploy/worker-cronjob.yaml")}
    assert main(["--fix"]) == 1
    assert (repo / "deploy/hello.yaml").read_bytes() == before["deploy/hello.yaml"].replace(
        OLD_HELLO.encode(), hello.encode()
    )
    assert (repo / "deploy/worker-cronjob.yaml").read_bytes() == before[
        "deploy/worker-cronjob.yaml"
    ].replace(b"worker:v1.2.3", f"worker:{worker}".encode())


def test_fix_adds_a_missing_kustomize_new_tag(repo: Path) -> None:
    _, worker = _tags(repo)
    main(["--fix"])
    assert (repo / "deploy/kustomization.yaml").read_text().endswith(
        f"  - name: worker\n    newName: {WORKER}\n    newTag: {worker}\n"
    )


def test_check_after_fix_exits_0(repo: Path) -> None:
    main(["--fix"])
    assert main([]) == 0


def test_fix_twice_is_fix_once(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--fix"])
    once = {p: p.read_bytes() for p in repo.rglob("*.yaml")}
    capsys.readouterr()
    assert main(["--fix"]) == 0
    assert capsys.readouterr().out == ""
    assert {p: p.read_bytes() for p in repo.rglob("*.yaml")} == once


def test_fix_keeps_the_file_mode(repo: Path) -> None:
    (repo / "deploy/hello.yaml").chmod(0o640)
    main(["--fix"])
    assert (repo / "deploy/hello.yaml").stat().st_mode & 0o777 == 0o640


def test_fix_leaves_no_temporary_file(repo: Path) -> None:
    main(["--fix"])
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout
    assert ".nix-tag-check" not in status.replace(".nix-tag-check.yaml", "")


def test_source_change_makes_a_fixed_repository_stale(repo: Path) -> None:
    main(["--fix"])
    with (repo / "src/main.go").open("a") as handle:
        handle.write("// a change that is not in any manifest\n")
    assert main([]) == 1


def test_tag_is_computed_for_the_target_system_not_the_host(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    linux = out_path_hash(repo / "default.nix", "hello", "x86_64-linux")
    assert linux != out_path_hash(repo / "default.nix", "hello", "aarch64-darwin")
    monkeypatch.setenv("NIX_CONFIG", "system = aarch64-darwin")  # a Mac runs the hook
    assert main(["--print-expected", "--no-cache"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{HELLO}:{linux}"


def test_system_option_selects_the_pipeline_platform(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    darwin = out_path_hash(repo / "default.nix", "hello", "aarch64-darwin")
    assert main(["--print-expected", "--system", "aarch64-darwin"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{HELLO}:{darwin}"


def test_print_expected_lists_images_in_config_order(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hello, worker = _tags(repo)
    assert main(["--print-expected"]) == 0
    assert capsys.readouterr().out == f"{HELLO}:{hello}\n{WORKER}:{worker}\n"


def test_image_option_configures_without_a_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".nix-tag-check.yaml").unlink()
    hello, _ = _tags(repo)
    code = main(["--image", f"{HELLO}=default.nix#hello", "deploy/hello.yaml"])
    assert code == 1
    assert capsys.readouterr().out == (
        f"deploy/hello.yaml:16:18: {HELLO}: tag '{OLD_HELLO}' should be '{hello}' "
        "(default.nix#hello)\n"
    )


def test_file_arguments_of_other_types_are_ignored(repo: Path) -> None:
    assert main(["src/main.go", "default.nix", ".nix-tag-check.yaml"]) == 0


def test_excluded_file_argument_is_not_touched(repo: Path) -> None:
    assert main(["--fix", "charts/app/templates/deployment.yaml"]) == 0


def test_helm_template_names_image_is_an_error_with_a_hint(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text().replace("exclude: [charts/*/templates/**]\n", ""))
    before = (repo / "charts/app/templates/deployment.yaml").read_bytes()
    assert main(["--fix"]) == 2
    err = capsys.readouterr().err
    assert "charts/app/templates/deployment.yaml:1:3: invalid YAML" in err
    assert "exclude it in the config" in err
    assert (repo / "charts/app/templates/deployment.yaml").read_bytes() == before


def test_bad_manifest_does_not_stop_the_others_from_being_fixed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "deploy/broken.yaml").write_text(f"image: [{HELLO}:x\n")
    assert main(["--fix"]) == 2
    assert "deploy/broken.yaml:2:1: invalid YAML: expected ',' or ']'" in capsys.readouterr().err
    assert main([]) == 2  # still broken, but everything else is fresh
    assert "should be" not in capsys.readouterr().out


def test_without_git_the_tool_still_checks(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["rm", "-rf", str(repo / ".git")], check=True)
    assert main([]) == 1
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_module_entry_point_runs(repo: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nix_tag_check", "--print-expected"], cwd=repo, capture_output=True,
        text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{HELLO}:")
