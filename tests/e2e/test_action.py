"""action.yml, run as a GitHub runner runs a composite action, in a scratch repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, committed_copy, copy_of_this_repository, git
from ruamel.yaml import YAML

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _action() -> dict:
    return YAML(typ="safe").load((ROOT / "action.yml").read_text())


def _evaluate(text: str, inputs: dict[str, str]) -> str:
    """The only expressions action.yml may use outside `run:`: `inputs.NAME`."""
    def one(match: re.Match[str]) -> str:
        name = re.fullmatch(r"inputs\.([\w-]+)", match.group(1))
        assert name and name.group(1) in inputs, f"unsupported expression {match.group(0)}"
        return inputs[name.group(1)]
    return EXPRESSION.sub(one, text)


def _clean_path() -> str:
    """The machine's PATH without any nix-tag-check already installed (as on a fresh runner)."""
    dirs = os.environ["PATH"].split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not (Path(d) / "nix-tag-check").exists())


def run_action(workspace: Path, tmp_path: Path, **given: str) -> subprocess.CompletedProcess[str]:
    """Each `run` step with `shell: bash` as GitHub runs it; stops at the first failing step."""
    action = _action()
    assert action["runs"]["using"] == "composite"
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(given) - set(inputs)
    assert not unknown, f"action.yml has no input {unknown}"
    inputs.update(given)
    action_path = copy_of_this_repository(tmp_path / "action-checkout")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    files = {name: temp / name.lower()
             for name in ("GITHUB_PATH", "GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for path in files.values():
        path.touch()
    env = {**os.environ, **{k: str(v) for k, v in files.items()}, "PATH": _clean_path(),
           "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": str(workspace),
           "GITHUB_ACTION_PATH": str(action_path), "RUNNER_TEMP": str(temp)}
    env.pop("VIRTUAL_ENV", None)
    result = None
    for index, step in enumerate(action["runs"]["steps"]):
        assert step.get("shell") == "bash", "composite run steps must name their shell"
        assert "${{" not in step["run"], "pass inputs to run: through env, never as expressions"
        script = temp / f"step{index}.sh"
        script.write_text(step["run"])
        step_env = {**env, **{k: _evaluate(str(v), inputs) for k, v in step.get("env", {}).items()}}
        added = files["GITHUB_PATH"].read_text().split()
        step_env["PATH"] = os.pathsep.join([*reversed(added), env["PATH"]])
        cwd = workspace / _evaluate(step.get("working-directory", "."), inputs)
        # GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                                cwd=cwd, env=step_env, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            break
    assert result is not None
    return result


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The caller's repository, checked out by actions/checkout: stale tags, committed."""
    return committed_copy(FIXTURES / "repo", tmp_path / "workspace")


def test_action_annotates_a_stale_tag_and_fails(workspace: Path, tmp_path: Path) -> None:
    result = run_action(workspace, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"^::error file=deploy/hello\.yaml,line=16,col=18,title=nix-tag-check::"
                     r"registry\.example\.com/team/hello: tag '\w+' should be '\w{32}'",
                     result.stdout, re.MULTILINE), result.stdout


def test_action_writes_a_summary_of_stale_references_and_images(
    workspace: Path, tmp_path: Path
) -> None:
    run_action(workspace, tmp_path)
    summary = (tmp_path / "runner-temp/github_step_summary").read_text()
    assert summary.startswith("### nix-tag-check: 5 stale reference(s)\n"), summary
    assert re.search(r"^\| `deploy/hello\.yaml:16` \| `registry\.example\.com/team/hello` \| "
                     r"`\w+` \| `\w{32}` \|$", summary, re.MULTILINE), summary
    assert "| `registry.example.com/team/worker` | `" in summary


def test_action_outputs_the_expected_references(workspace: Path, tmp_path: Path) -> None:
    run_action(workspace, tmp_path)
    output = (tmp_path / "runner-temp/github_output").read_text()
    expected = subprocess.run([sys.executable, "-m", "nix_tag_check", "--print-expected"],
                              cwd=workspace, capture_output=True, text=True, check=True).stdout
    delimiter = "NIX_TAG_CHECK_EXPECTED_END"
    assert output == f"expected<<{delimiter}\n{expected}{delimiter}\n"
    assert _action()["outputs"]["expected"]["value"] == "${{ steps.check.outputs.expected }}"
    (check,) = [step for step in _action()["runs"]["steps"] if step.get("id") == "check"]
    assert "nix-tag-check --format github" in check["run"]


def test_action_passes_on_an_up_to_date_repository(workspace: Path, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "nix_tag_check", "--fix", "--no-cache"], cwd=workspace,
                   check=False, capture_output=True)
    git(workspace, "commit", "-qam", "fix tags")
    result = run_action(workspace, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::error" not in result.stdout


def test_action_runs_in_working_directory_with_args(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "repo", tmp_path / "tree/services/app")
    workspace = committed_copy(tmp_path / "tree", tmp_path / "monorepo")
    result = run_action(workspace, tmp_path, **{"working-directory": "services/app",
                                               "args": "--fix  deploy/hello.yaml"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(  # GitHub reads annotation paths from the workspace root
        "::warning file=services/app/deploy/hello.yaml,line=16,"), result.stdout
    assert "worker" not in result.stdout  # only the file given in args was checked
    changed = git(workspace, "status", "--porcelain").split()
    assert changed == ["M", "services/app/deploy/hello.yaml"]


def test_example_workflow_uses_the_action_after_installing_nix() -> None:
    workflow = YAML(typ="safe").load((ROOT / "examples/github-actions.yml").read_text())
    steps = workflow["jobs"]["nix-tag-check"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    nix = next(i for i, u in enumerate(uses) if u.startswith("cachix/install-nix-action@"))
    ours = next(i for i, u in enumerate(uses) if re.fullmatch(r"[\w-]+/nix-tag-check@\S+", u))
    assert nix < ours
    assert set(steps[ours].get("with", {})) <= set(_action()["inputs"])
