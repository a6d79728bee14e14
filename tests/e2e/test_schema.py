"""nix_tag_check/config/schema.json says what the config loader says, key for key."""

from __future__ import annotations

import fnmatch
import json
import re
from importlib import resources
from pathlib import Path

import config_log
import pytest
from conftest import ROOT
from jsonschema import Draft7Validator
from ruamel.yaml import YAML

from nix_tag_check.config import load as cfg

SCHEMA = json.loads(resources.files("nix_tag_check.config").joinpath("schema.json").read_text())
VALIDATOR = Draft7Validator(SCHEMA)
BEHIND = (
    "nix_tag_check/config/schema.json is out of step with the loader (config/load.py). "
    "Whoever lands later updates the schema: add or change the key there, with a description, "
    "then run tests/test_schema.py. "
)
CONFIGS = sorted([*ROOT.glob("examples/**/.nix-tag-check.yaml"),
                  *ROOT.glob("tests/fixtures/**/.nix-tag-check.yaml")])
IMAGE = "images:\n  - name: registry.example.com/team/hello\n    nix: default.nix\n"


def _data(text: str | bytes) -> object:
    """What an editor's YAML language server validates: the document as JSON types (YAML 1.2)."""
    return YAML(typ="safe", pure=True).load(text)


def _schema_errors(text: str | bytes) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(_data(text))]


def _misspellings(keys: set[str]) -> list[str]:
    """Two slips per key: its last letter dropped, its second and third letters swapped."""
    slips = {slip for key in keys for slip in (key[:-1], key[0] + key[2] + key[1] + key[3:])}
    return sorted(slips - keys)


def _write(tmp_path: Path, text: str) -> str:
    (tmp_path / "default.nix").write_text("{ }\n")
    path = tmp_path / cfg.CONFIG_NAME
    path.write_text(text)
    return str(path)


def test_schema_is_a_valid_draft_7_schema() -> None:
    Draft7Validator.check_schema(SCHEMA)


def test_schema_is_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["nix_tag_check"]
    assert any(fnmatch.fnmatch("config/schema.json", glob) for glob in globs)


def _differences(schema: set[str], loader: set[str]) -> str:
    return f"{BEHIND}Loader only: {loader - schema}; schema only: {schema - loader}"


def test_schema_knows_exactly_the_loaders_top_level_keys() -> None:
    schema, loader = set(SCHEMA["properties"]), cfg._TOP_KEYS
    assert schema == loader, _differences(schema, loader)


def test_schema_knows_exactly_the_loaders_image_keys() -> None:
    schema, loader = set(SCHEMA["definitions"]["image"]["properties"]), cfg._IMAGE_KEYS
    assert schema == loader, _differences(schema, loader)


@pytest.mark.parametrize(("slip", "text"), [
    *((slip, f"{slip}: x\n{IMAGE}") for slip in _misspellings(cfg._TOP_KEYS)),
    *((slip, f"{IMAGE}    {slip}: x\n") for slip in _misspellings(cfg._IMAGE_KEYS)),
])
def test_a_misspelt_key_is_rejected_by_both(tmp_path: Path, slip: str, text: str) -> None:
    with pytest.raises(cfg.ConfigError, match="unknown key"):
        cfg.load(_write(tmp_path, text))
    unexpected = f"Additional properties are not allowed ('{slip}' was unexpected)"
    assert unexpected in _schema_errors(text), BEHIND


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_loads_and_validates(path: Path) -> None:
    cfg.load(str(path))
    assert _schema_errors(path.read_bytes()) == [], BEHIND


@pytest.mark.parametrize(("text", "loader_says"), [
    (f"{IMAGE}    flake: .#hello\n", "exactly one of 'nix' and 'flake'"),
    ("images:\n  - name: registry.example.com/team/hello\n", "exactly one of 'nix' and 'flake'"),
    (f"{IMAGE}    tag: latest\n", "tag must be one of"),
    (f"{IMAGE}    required: maybe\n", "required must be true or false"),
    (f"{IMAGE}    checkout-dependent: 'yes'\n", "checkout-dependent must be true or false"),
    (f"system: linux\n{IMAGE}", "is not like 'x86_64-linux'"),
    (f"sources: everything\n{IMAGE}", "sources must be one of"),
    ("images: []\n", "non-empty list"),
    ("files: [deploy/*.yaml]\n", "no 'images:'"),
])
def test_a_wrong_value_is_rejected_by_both(tmp_path: Path, text: str, loader_says: str) -> None:
    with pytest.raises(cfg.ConfigError, match=re.escape(loader_says)):
        cfg.load(_write(tmp_path, text))
    assert _schema_errors(text), BEHIND


def test_a_config_with_every_key_validates(tmp_path: Path) -> None:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    text = (
        "system: aarch64-linux\nfiles: [deploy/**/*.yaml]\nexclude: charts/**\n"
        "max-file-size: 1048576\ninsecure-registries: [localhost:5000]\nsources: worktree\n"
        f"{IMAGE}    attr: images.hello\n    args: {{version: '1', debug: true}}\n"
        "    tag: imageTag\n    system: x86_64-linux\n    required: false\n"
        "    checkout-dependent: true\n"
        "  - name: ghcr.io/acme/api\n    flake: .#api\n"
    )
    cfg.load(_write(tmp_path, text))
    assert _schema_errors(text) == [], BEHIND


def test_readme_and_example_name_the_schema_for_editors() -> None:
    modeline = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)
    (url,) = modeline.findall((ROOT / "README.md").read_text())
    assert url.endswith("/nix_tag_check/config/schema.json")
    example = ROOT / "examples/hello/.nix-tag-check.yaml"
    (relative,) = modeline.findall(example.read_text())
    assert (example.parent / relative).resolve() == ROOT / "nix_tag_check/config/schema.json"


@pytest.mark.after_all_others
def test_every_config_the_tests_loaded_agrees_with_the_schema() -> None:
    assert config_log.LOADED, "no config was loaded: the recorder in tests/config_log.py is off"
    problems = []
    for path, raw, error in config_log.LOADED:
        try:
            errors = _schema_errors(raw)
        except Exception:  # not YAML at all: the loader said so, nothing to compare
            continue
        if error is None and errors:
            problems.append(f"{path}: the loader accepts it, the schema says {errors[0]}")
        if error is not None and "unknown key" in error and not errors:
            problems.append(f"{path}: the loader says {error}, the schema accepts it")
    assert not problems, BEHIND + "\n".join(problems)
