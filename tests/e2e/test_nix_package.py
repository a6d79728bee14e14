"""flake.nix, nix/package.nix and the README's git-hooks.nix snippet, checked by real Nix.

nixpkgs cannot be fetched here, so they are evaluated against tests/nix/stand-in-nixpkgs.nix,
whose python3Packages holds only the requirements pyproject.toml lists.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

STAND_IN = Path(__file__).parents[1] / "nix"
STORE = "/nix/store/00000000000000000000000000000000"


def _pypi_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return match.group()


def _nixpkgs_attr(pypi_name: str) -> str:
    """nixpkgs' python3Packages naming: lower case, runs of `.`, `_`, `-` become one `-`."""
    return re.sub(r"[-_.]+", "-", pypi_name).lower()


def _requirements() -> tuple[list[str], list[str]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = [_pypi_name(r) for r in pyproject["project"]["dependencies"]]
    build = [_pypi_name(r) for r in pyproject["build-system"]["requires"]]
    return runtime, build


def _readme_hook_module() -> str:
    """The README's git-hooks.nix snippet, in a module that gives its free names."""
    (snippet,) = re.findall(r"```nix\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    return "{ inputs, system, lib }: {\n" + snippet + "}\n"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    wrapped = tmp_path_factory.mktemp("snippet") / "hook.nix"
    wrapped.write_text(_readme_hook_module())
    runtime, build = _requirements()
    names = {_nixpkgs_attr(n): n for n in runtime + build}
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", str(STAND_IN / "evaluate.nix"),
         "--arg", "root", str(ROOT), "--argstr", "pythonNamesJSON", json.dumps(names),
         "--arg", "snippet", str(wrapped)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("path", ["flake.nix", "nix/package.nix"])
def test_nix_file_parses(path: str) -> None:
    subprocess.run(["nix-instantiate", "--parse", str(ROOT / path)], check=True,
                   capture_output=True)


def test_readme_git_hooks_snippet_parses() -> None:
    subprocess.run(["nix-instantiate", "--parse", "-E", _readme_hook_module()], check=True,
                   capture_output=True)


def test_package_depends_on_exactly_the_requirements_of_pyproject(evaluated: dict) -> None:
    runtime, build = _requirements()
    assert sorted(evaluated["package"]["dependencies"]) == sorted(runtime)
    assert sorted(evaluated["package"]["build-system"]) == sorted(build)


def test_package_takes_name_version_and_licence_from_pyproject(evaluated: dict) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    package = evaluated["package"]
    assert (package["pname"], package["version"]) == (project["name"], project["version"])
    assert package["pyproject"] is True
    assert package["meta"]["license"] == project["license"]["text"] == "MIT"
    assert package["meta"]["mainProgram"] == "nix-tag-check"


def test_package_source_holds_what_pip_needs_to_build(evaluated: dict) -> None:
    shipped = {Path(p).relative_to(ROOT).as_posix() for p in evaluated["package"]["src"]["source"]}
    assert shipped == {"pyproject.toml", "README.md", "LICENSE", "nix_tag_check"}


def test_package_puts_nix_last_on_path(evaluated: dict) -> None:
    assert evaluated["package"]["makeWrapperArgs"] == ["--suffix", "PATH", ":", f"{STORE}-nix/bin"]


def test_flake_packages_apps_and_overlay_are_the_package(evaluated: dict) -> None:
    built = f"{STORE}-nix-tag-check-0.1.0"
    for system, packages in evaluated["packages"].items():
        assert packages == {"default": built, "nix-tag-check": built}, system
        app = {"type": "app", "program": f"{built}/bin/nix-tag-check"}
        assert evaluated["apps"][system] == {"default": app, "nix-tag-check": app}
    assert set(evaluated["packages"]) >= {"x86_64-linux", "aarch64-darwin"}
    assert evaluated["overlay"] == built


def test_readme_git_hooks_snippet_runs_the_flake_package(evaluated: dict) -> None:
    hook = evaluated["hook"]
    assert hook["entry"] == f"{STORE}-nix-tag-check-0.1.0/bin/nix-tag-check"
    assert (hook["pass_filenames"], hook["always_run"], hook["enable"]) == (False, True, True)
