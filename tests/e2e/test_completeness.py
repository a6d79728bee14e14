"""A gate that checked nothing never passes: each gap is a located error and exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, git

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
LEGACY = "registry.example.com/team/legacy"
CONFIG = ".nix-tag-check.yaml"
SEARCHED = ("4 file(s) checked: files: deploy/**/*.yaml, charts/**/*.yaml; "
            "exclude: charts/*/templates/**")


def _add_image(repo: Path, text: str) -> None:
    config = repo / CONFIG
    config.write_text(config.read_text().replace("files:", text + "files:"))


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def test_configured_image_that_no_file_references_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_image(repo, f"  - name: {LEGACY}\n    nix: default.nix\n    attr: legacy\n")
    main(["--fix"])
    capsys.readouterr()
    assert main([]) == 2
    assert _errors(capsys) == [
        f"error: {CONFIG}:9: {LEGACY}: no checked file references this image ({SEARCHED}); "
        "check its name and files:, or set `required: false` for an image deployed from "
        "elsewhere"
    ]


def test_misspelt_image_name_is_an_error_naming_the_closest_even_with_stale_references(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / CONFIG
    config.write_text(config.read_text().replace("team/worker", "team/wroker"))
    assert main([]) == 2
    errors = _errors(capsys)
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {CONFIG}:6: registry.example.com/team/wroker: no checked")
    assert "; did you mean 'registry.example.com/team/worker'? check its name" in errors[0]


def test_required_false_lets_an_image_go_unreferenced(repo: Path) -> None:
    _add_image(repo, f"  - name: {LEGACY}\n    nix: default.nix\n    attr: legacy\n"
               "    required: false\n")
    assert main(["--fix"]) == 1
    assert main([]) == 0


@pytest.mark.parametrize("value", ["no", "0", "'false'", "[]"])
def test_required_is_a_boolean(
    repo: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    _add_image(repo, f"  - name: {LEGACY}\n    nix: default.nix\n    required: {value}\n")
    assert main([]) == 2
    assert _errors(capsys) == [f"error: {CONFIG}:11: required must be true or false"]


def test_file_arguments_check_a_subset_without_requiring_every_image(repo: Path) -> None:
    _add_image(repo, f"  - name: {LEGACY}\n    nix: default.nix\n    attr: legacy\n")
    assert main(["--fix", "deploy/hello.yaml"]) == 1
    assert main(["deploy/hello.yaml"]) == 0


def test_image_option_that_no_file_references_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--image", f"{LEGACY}=default.nix#legacy"]) == 2
    errors = _errors(capsys)
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {LEGACY}: no checked file references this image (")
    assert errors[0].endswith("; check the name given to --image")


def test_discovered_image_that_no_file_references_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "rm", "-q", CONFIG, "charts/app/templates/deployment.yaml")
    assert main(["--fix"]) == 2
    assert _errors(capsys) == [
        f"error: {LEGACY}: no checked file references this image (5 file(s) checked: every "
        "Git-tracked *.yaml, *.yml, *.json file); discovered in default.nix#legacy; list the "
        f"images to check in {CONFIG} (with `required: false` for one deployed elsewhere)"
    ]


def test_files_glob_that_matches_nothing_is_an_error_on_its_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / CONFIG
    config.write_text(config.read_text().replace(
        "files: [deploy/**/*.yaml, charts/**/*.yaml]",
        "files:\n  - deploy/**/*.yaml\n  - k8s/**/*.yml\n  - charts/**/*.yaml"))
    before = (repo / "deploy/hello.yaml").read_bytes()
    assert main(["--fix"]) == 2
    assert _errors(capsys) == [
        f"error: {CONFIG}:11: files: glob 'k8s/**/*.yml' matches no file (or only files that "
        "exclude: leaves out); fix or remove it"
    ]
    assert (repo / "deploy/hello.yaml").read_bytes() == before


def test_files_glob_whose_every_file_is_excluded_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / CONFIG
    config.write_text(config.read_text().replace("charts/**/*.yaml]", "charts/*/templates/*]"))
    assert main([]) == 2
    assert _errors(capsys)[0].startswith(
        f"error: {CONFIG}:9: files: glob 'charts/*/templates/*' matches no file")


def test_empty_glob_is_located_in_json_and_github_formats(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / CONFIG
    config.write_text(config.read_text().replace("charts/**/*.yaml]", "k8s/*.yaml]"))
    assert main(["--format", "json"]) == 2
    error = json.loads(capsys.readouterr().out)["errors"][0]
    assert (error["path"], error["line"]) == (CONFIG, 9)
    assert main(["--format", "github"]) == 2
    assert capsys.readouterr().out.startswith(f"::error file={CONFIG},line=9::")


def test_system_option_is_validated_as_the_config_key_is(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--system", 'x86_64-linux"; builtins.abort "x']) == 2
    assert _errors(capsys) == [
        "error: --system: system 'x86_64-linux\"; builtins.abort \"x' is not like 'x86_64-linux'"
    ]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "1e999"])
def test_timeout_is_a_finite_positive_number(
    repo: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert main([f"--timeout={value}"]) == 2
    assert f"argument --timeout: '{value}': give a finite number of seconds above 0" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("tag", ["1.2.3+abc", "a:b", "-x", "x" * 129, "ünï"])
def test_image_tag_that_no_registry_accepts_is_an_error_naming_the_image(
    repo: Path, capsys: pytest.CaptureFixture[str], tag: str
) -> None:
    nix = repo / "default.nix"
    written = json.dumps(tag, ensure_ascii=False)
    nix.write_text(nix.read_text().replace('imageTag = "latest"', f"imageTag = {written}"))
    _add_image(repo, f"  - name: {LEGACY}\n    nix: default.nix\n    attr: legacy\n")
    (repo / "deploy/legacy.yaml").write_text(f"image: {LEGACY}:old\n")
    assert main(["--fix"]) == 2
    assert _errors(capsys) == [
        f"error: {LEGACY}: tag {tag!r} (default.nix#legacy) is not a valid image tag (letters, "
        "digits, '_', '.', '-', at most 128, not starting with '.' or '-'); change the image's "
        "imageTag, or use `tag: outPath`"
    ]
    assert (repo / "deploy/legacy.yaml").read_text() == f"image: {LEGACY}:old\n"
    assert main(["--print-expected"]) == 2


def _flake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packages: str) -> Path:
    root = tmp_path / "flake-repo"
    shutil.copytree(FIXTURES / "repo/flake", root)
    flake = root / "flake.nix"
    flake.write_text(flake.read_text().replace("forSystem = system: {", f"forSystem = system: "
                                               f"rec {{\n{packages}"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    monkeypatch.chdir(root)
    return root


def test_discovery_that_finds_no_image_says_what_it_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "default.nix").write_text(
        '{ nested = { img = derivation { name = "x"; system = "x86_64-linux"; builder = "/b"; }'
        ' // { imageName = "x"; }; }; }\n')
    monkeypatch.chdir(root)
    assert main([]) == 2
    assert _errors(capsys) == [
        "error: default.nix: no image found: looked for derivations with an imageName "
        "attribute in the value of default.nix, and one level down in attribute sets that set "
        "recurseForDerivations = true; set that on a nested set, or list the images in "
        ".nix-tag-check.yaml (or give --image NAME=SOURCE)"
    ]


def test_flake_discovery_that_finds_no_image_names_the_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _flake(tmp_path, monkeypatch, "")
    assert main(["--system", "aarch64-linux"]) == 2
    assert _errors(capsys)[0].startswith(
        "error: flake.nix: no image found: looked for derivations with an imageName attribute "
        "in packages.aarch64-linux of flake.nix,")


def test_same_derivation_discovered_twice_is_one_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _flake(tmp_path, monkeypatch, "default = api;\n")
    assert main(["--print-expected"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(["--fix"]) == 1
    assert main([]) == 0


def test_one_image_name_discovered_with_two_tags_is_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _flake(tmp_path, monkeypatch, 'other = api // { imageTag = "v2"; };\n')
    assert main([]) == 2
    errors = _errors(capsys)
    assert len(errors) == 1
    assert errors[0].startswith("error: image ghcr.io/acme/api is discovered twice with "
                                "different tags: .#api gives '")
    assert errors[0].endswith("', .#other gives 'v2'; list the "
                              "one to check in .nix-tag-check.yaml")


def test_tracked_file_deleted_from_the_work_tree_is_not_checked(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "deploy/worker-cronjob.yaml").unlink()
    assert main(["--fix"]) == 1
    assert _errors(capsys) == []


def test_marker_for_an_image_that_is_not_configured_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / "deploy/config.yaml"
    path.write_text("data:\n  API_TAG: v1  # nix-tag-check: ghcr.io/acme/api\n")
    assert main(["--fix"]) == 2
    assert _errors(capsys) == [
        "error: deploy/config.yaml:2:16: marker names ghcr.io/acme/api, which is not a "
        "configured image (configured: registry.example.com/team/hello, "
        "registry.example.com/team/worker): configure it, or fix the marker"
    ]
    assert path.read_text() == "data:\n  API_TAG: v1  # nix-tag-check: ghcr.io/acme/api\n"


@pytest.mark.parametrize("comment", [
    f"# nix-tag-check {HELLO}", f"# Nix-Tag-Check: {HELLO}", f"# nix-tag-check : {HELLO}",
    f"#  nix_tag_check: {HELLO}",
])
def test_comment_that_is_almost_a_marker_is_an_error_never_ignored(
    repo: Path, capsys: pytest.CaptureFixture[str], comment: str
) -> None:
    (repo / "deploy/config.yaml").write_text(f"data:\n  TAG: v1  {comment}\n")
    assert main(["--format", "github"]) == 2
    out = capsys.readouterr().out
    assert "::error file=deploy/config.yaml,line=2" in out
    assert "deploy/config.yaml:2:12: this comment looks like a marker but is not one" in out
