"""The Tekton example's steps, run here as Tekton runs them, on a scratch repository with real Nix.

Tekton substitutes `$(params.*)`, `$(workspaces.*)` and `$(results.*)` in each step's script, env
and workingDir, runs the steps in order and stops at the first that fails. The cluster and the
registry are not here: `kubectl` and `skopeo` are stand-ins on PATH that record their arguments.
nix-tag-check is the real tool, on PATH (the `nix-tag-check` parameter says how to run it).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, committed_copy, git
from nixtools import out_path_hash
from ruamel.yaml import YAML

TEKTON = ROOT / "examples/tekton"
VARIABLE = re.compile(r"\$\((params|workspaces|results|context)\.([^)]*)\)")
IMAGE = "registry.example.com/team/hello"


def _load(name: str) -> dict:
    return YAML(typ="safe").load((TEKTON / name).read_text())


def _stand_in(bin_dir: Path, tool: str, log: Path) -> None:
    script = bin_dir / tool
    script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


class Cluster:
    """Somewhere to run Tasks: a PATH with the tool and the stand-ins, and their logs."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.log = tmp_path / "commands.log"
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("kubectl", "skopeo"):
            _stand_in(bin_dir, tool, self.log)
        tool_dir = Path(sys.executable).parent  # holds the nix-tag-check entry point
        assert (tool_dir / "nix-tag-check").exists()
        self.path = os.pathsep.join([str(bin_dir), str(tool_dir), os.environ["PATH"]])

    def commands(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def run(self, task_file: str, workspace: Path, **given: str) -> dict[str, int]:
        """Each step's exit status, by name, up to the first that fails."""
        spec = _load(task_file)["spec"]
        params = {p["name"]: p.get("default") for p in spec.get("params", [])}
        params.update({k.replace("_", "-"): v for k, v in given.items()})
        assert None not in params.values(), f"no value for a parameter of {task_file}: {params}"
        results = self.tmp / "results"
        results.mkdir(exist_ok=True)
        values = {f"params.{k}": v for k, v in params.items()}
        for ws in spec.get("workspaces", []):
            bound = ws["name"] == "source"
            values[f"workspaces.{ws['name']}.bound"] = "true" if bound else "false"
            values[f"workspaces.{ws['name']}.path"] = str(workspace) if bound else ""
        for result in spec.get("results", []):
            values[f"results.{result['name']}.path"] = str(results / result["name"])

        def substitute(text: str) -> str:
            def one(match: re.Match[str]) -> str:
                key = f"{match.group(1)}.{match.group(2)}"
                assert key in values, f"{task_file}: Tekton has no value for $({key})"
                return str(values[key])
            return VARIABLE.sub(one, text)

        statuses: dict[str, int] = {}
        for step in spec["steps"]:
            env = {**os.environ, "PATH": self.path}
            env.update({e["name"]: substitute(e["value"]) for e in step.get("env", [])})
            # No network here: Nix must not wait for cache.nixos.org.
            env["NIX_CONFIG"] = env.get("NIX_CONFIG", "") + "\nsubstituters ="
            script = self.tmp / f"{step['name']}.sh"
            script.write_text(substitute(step["script"]))
            script.chmod(0o755)
            cwd = substitute(step.get("workingDir", str(workspace)))
            done = subprocess.run([str(script)], cwd=cwd, env=env, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL)
            statuses[step["name"]] = done.returncode
            self.output = done.stdout + done.stderr
            if done.returncode != 0:
                break
        return statuses


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


@pytest.fixture
def stale(tmp_path: Path) -> Path:
    """The hello example as a fresh clone: its manifest names a stale tag."""
    return committed_copy(ROOT / "examples/hello", tmp_path / "source")


@pytest.fixture
def fresh(stale: Path) -> Path:
    subprocess.run([sys.executable, "-m", "nix_tag_check", "--fix"], cwd=stale,
                   capture_output=True, check=False)
    git(stale, "commit", "-qam", "bump the image tag")
    return stale


def test_deploy_gate_fails_on_a_stale_repository_before_kubectl(
    cluster: Cluster, stale: Path
) -> None:
    statuses = cluster.run("task-deploy.yaml", stale, nix_tag_check="nix-tag-check")
    assert statuses == {"check-tags": 1}, cluster.output
    assert f"{IMAGE}: tag '0000000000000000000000000000000a' should be" in cluster.output
    assert cluster.commands() == []


def test_deploy_gate_passes_on_a_fresh_repository_and_applies(
    cluster: Cluster, fresh: Path
) -> None:
    statuses = cluster.run("task-deploy.yaml", fresh, nix_tag_check="nix-tag-check")
    assert statuses == {"check-tags": 0, "apply": 0}, cluster.output
    assert cluster.commands() == ["kubectl apply -f deploy/"]


def test_build_task_pushes_the_tag_the_gate_expects(
    cluster: Cluster, stale: Path, tmp_path: Path
) -> None:
    statuses = cluster.run("task-build-image.yaml", stale, image=IMAGE,
                           nix_tag_check="nix-tag-check", skopeo="skopeo")
    assert statuses == {"expected-tag": 0, "build-and-push": 0}, cluster.output
    tag = out_path_hash(stale / "default.nix", "image")
    assert (tmp_path / "results/tag").read_text() == tag
    (push,) = cluster.commands()
    assert re.fullmatch(rf"skopeo copy docker-archive:/\S+/result docker://{IMAGE}:{tag}", push)
    assert git(stale, "status", "--porcelain") == ""  # the build left the checkout clean


def test_build_task_refuses_an_image_the_config_does_not_name(
    cluster: Cluster, stale: Path
) -> None:
    statuses = cluster.run("task-build-image.yaml", stale, image="registry.example.com/team/other",
                           nix_tag_check="nix-tag-check", skopeo="skopeo")
    assert statuses == {"expected-tag": 1}
    assert "team/other is not an image of .nix-tag-check.yaml" in cluster.output


def test_pipeline_gives_every_task_the_parameters_it_requires() -> None:
    pipeline = _load("pipeline.yaml")["spec"]
    declared = {p["name"] for p in pipeline["params"]}
    for task in pipeline["tasks"]:
        name = task["taskRef"].get("name")
        local = {"nix-build-image": "task-build-image.yaml",
                 "nix-tag-checked-deploy": "task-deploy.yaml"}.get(name)
        if local is None:
            continue
        required = {p["name"] for p in _load(local)["spec"].get("params", []) if "default" not in p}
        given = {p["name"]: p["value"] for p in task.get("params", [])}
        assert required <= set(given), (name, required - set(given))
        for value in given.values():
            for used in re.findall(r"\$\(params\.([\w-]+)\)", value):
                assert used in declared
