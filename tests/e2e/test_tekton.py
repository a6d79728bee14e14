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
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, committed_copy, git
from nixtools import out_path_hash
from registry_server import Registry, oci_layout
from ruamel.yaml import YAML

TEKTON = ROOT / "examples/tekton"
VARIABLE = re.compile(r"\$\((params|workspaces|results|context)\.([^)]*)\)")
IMAGE = "registry.example.com/team/hello"
PUSHED_DIGEST = "sha256:" + "5" * 64


def _load(name: str) -> dict:
    return YAML(typ="safe").load((TEKTON / name).read_text())


def _stand_in(bin_dir: Path, tool: str, log: Path) -> None:
    """Records its arguments; as `skopeo copy --digestfile F`, writes PUSHED_DIGEST to F."""
    script = bin_dir / tool
    script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n'
                      'while [ $# -gt 0 ]; do\n'
                      f'  [ "$1" = --digestfile ] && printf {PUSHED_DIGEST} > "$2"\n'
                      '  shift\n'
                      'done\n')
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
def registry(tmp_path: Path, no_user_credentials: Path) -> Iterator[Registry]:
    """The registry the cluster pulls from, on 127.0.0.1, empty until a test pushes."""
    server = Registry(tmp_path / "registry")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def local(stale: Path, registry: Registry) -> Path:
    """The stale clone, its image named on the local registry (the gate asks it)."""
    for rel in (".nix-tag-check.yaml", "deploy/deployment.yaml"):
        path = stale / rel
        path.write_text(path.read_text().replace("registry.example.com", registry.host))
    git(stale, "commit", "-qam", "images on the local registry")
    return stale


@pytest.fixture
def fresh(local: Path) -> Path:
    subprocess.run([sys.executable, "-m", "nix_tag_check", "--fix"], cwd=local,
                   capture_output=True, check=False)
    git(local, "commit", "-qam", "bump the image tag")
    return local


def _push(registry: Registry, repo: Path) -> str:
    """Push a small image under the tag the commit expects, as the build task would."""
    tag = out_path_hash(repo / "default.nix", "image")
    return registry.push(oci_layout(registry.root / "layout"), "team/hello", tag)


def test_deploy_gate_fails_on_a_stale_repository_before_kubectl(
    cluster: Cluster, local: Path, registry: Registry
) -> None:
    statuses = cluster.run("task-deploy.yaml", local, nix_tag_check="nix-tag-check")
    assert statuses == {"check-tags": 1}, cluster.output
    assert (f"{registry.host}/team/hello: tag '0000000000000000000000000000000a' should be"
            in cluster.output)
    assert cluster.commands() == []


def test_deploy_gate_fails_before_kubectl_while_the_image_is_not_pushed(
    cluster: Cluster, fresh: Path, registry: Registry
) -> None:
    statuses = cluster.run("task-deploy.yaml", fresh, nix_tag_check="nix-tag-check")
    assert statuses == {"check-tags": 1}, cluster.output
    tag = out_path_hash(fresh / "default.nix", "image")
    assert (f"deploy/deployment.yaml:21:18: {registry.host}/team/hello:{tag} not found in the "
            "registry") in cluster.output
    assert cluster.commands() == []


def test_deploy_gate_passes_once_the_image_is_pushed_and_applies(
    cluster: Cluster, fresh: Path, registry: Registry
) -> None:
    _push(registry, fresh)
    statuses = cluster.run("task-deploy.yaml", fresh, nix_tag_check="nix-tag-check")
    assert statuses == {"check-tags": 0, "apply": 0}, cluster.output
    assert cluster.commands() == ["kubectl apply -f deploy/"]


def test_deploy_gate_checks_the_digest_the_build_pushed(
    cluster: Cluster, fresh: Path, registry: Registry
) -> None:
    digest = _push(registry, fresh)
    name = f"{registry.host}/team/hello"
    statuses = cluster.run("task-deploy.yaml", fresh, nix_tag_check="nix-tag-check",
                           image_digest=f"{name}@{digest}")
    assert statuses == {"check-tags": 0, "apply": 0}, cluster.output
    statuses = cluster.run("task-deploy.yaml", fresh, nix_tag_check="nix-tag-check",
                           image_digest=f"{name}@{PUSHED_DIGEST}")
    assert statuses == {"check-tags": 1}, cluster.output
    assert f"is {digest} in the registry, not {PUSHED_DIGEST}" in cluster.output
    assert cluster.commands() == ["kubectl apply -f deploy/"]  # the first run's only


def test_deploy_gate_is_an_error_when_the_registry_cannot_be_reached(
    cluster: Cluster, fresh: Path, registry: Registry
) -> None:
    registry.stop()
    statuses = cluster.run("task-deploy.yaml", fresh, nix_tag_check="nix-tag-check")
    assert statuses == {"check-tags": 2}, cluster.output
    assert f"registry {registry.host} cannot be reached" in cluster.output
    assert cluster.commands() == []


def test_build_task_pushes_the_tag_the_gate_expects(
    cluster: Cluster, stale: Path, tmp_path: Path
) -> None:
    statuses = cluster.run("task-build-image.yaml", stale, image=IMAGE,
                           nix_tag_check="nix-tag-check", skopeo="skopeo")
    assert statuses == {"expected-tag": 0, "build-and-push": 0}, cluster.output
    tag = out_path_hash(stale / "default.nix", "image")
    assert (tmp_path / "results/tag").read_text() == tag
    (push,) = cluster.commands()
    assert re.fullmatch(rf"skopeo copy --digestfile /\S+ docker-archive:/\S+/result "
                        rf"docker://{IMAGE}:{tag}", push)
    assert (tmp_path / "results/image-digest").read_text() == f"{IMAGE}@{PUSHED_DIGEST}"
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
