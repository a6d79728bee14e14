"""Every occurrence of a configured image is read, or said: Argo CD (parameters, values
strings, kustomize.images strings, `.argocd-source-*.yaml`), strings and flags, scripts, a
Flux HelmRelease, compose, and a chart's templates, through main() and real Nix.

tests/fixtures/occurrences/repo is the repository, fixed/ what `--fix` must write (the
files it holds; every other file stays as it is), findings what a check prints. The images
have fixed tags (default.nix), so the expected bytes never depend on Nix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, committed_copy, git

from nix_tag_check.main import main

HERE = FIXTURES / "occurrences"
API, API_TAG = "ghcr.io/acme/api", "0c3vh8lmz4ld1rq5jr0yb9xq7fxsxk3w"
HELLO = "registry.example.com/team/hello"


@pytest.fixture
def occurrences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = committed_copy(HERE / "repo", tmp_path / "repo")
    monkeypatch.chdir(root)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_check_reports_every_stale_occurrence(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 1
    assert capsys.readouterr().out == (HERE / "findings").read_text()


def test_fix_writes_exactly_the_expected_bytes(occurrences: Path) -> None:
    before = _files(occurrences)
    assert main(["--fix"]) == 1
    fixed = HERE / "fixed"
    assert _files(occurrences) == {
        path: (fixed / path).read_bytes() if (fixed / path).exists() else data
        for path, data in before.items()
    }


def test_check_after_fix_passes_and_fix_again_changes_nothing(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--fix"])
    once = _files(occurrences)
    capsys.readouterr()
    assert main([]) == 0
    assert capsys.readouterr().out == ""
    assert main(["--fix"]) == 0
    assert _files(occurrences) == once


def test_a_name_without_a_literal_tag_is_warned_about_where_nothing_else_reads_it(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main([])
    warnings = [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("warning:")]
    assert warnings == [
        f"warning: compose.yaml:3:12: {API} is named here ('{API}:${{API_TAG:-latest}}') with "
        "no tag that can be checked, and no reference to it in this file is read: if it "
        "deploys the image, write the tag there, or mark the value with "
        f"`# nix-tag-check: {API}`; if not, end the line with `# nix-tag-check: ignore`",
        f"warning: deploy/task.yaml:16:45: {HELLO} is named here ('{HELLO}:$(params.tag)') "
        "with no tag that can be checked, and no reference to it in this file is read: if it "
        "deploys the image, write the tag there, or mark the value with "
        f"`# nix-tag-check: {HELLO}`; if not, end the line with `# nix-tag-check: ignore`",
    ]


def test_verbose_lists_each_name_no_rule_reads_with_its_place(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["-v"])
    unread = [line.strip() for line in capsys.readouterr().err.splitlines()
              if line.endswith("[unread]")]
    assert unread == [
        f"argocd/appset.yaml:24:22: {API}: named as '{API}', no tag read [unread]",
        f"compose.yaml:3:12: {API}: named as '{API}:${{API_TAG:-latest}}', no tag read [unread]",
        f"deploy/task.yaml:16:45: {HELLO}: named as '{HELLO}:$(params.tag)', no tag read "
        "[unread]",
    ]


def test_a_marked_name_is_no_longer_warned_about(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compose = occurrences / "compose.yaml"
    compose.write_text(compose.read_text().replace(
        "latest}\n", "latest}  # nix-tag-check: ignore\n"))
    main([])
    assert "compose.yaml" not in "".join(
        line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:"))


def test_a_folded_block_scalar_is_reported_as_not_fixable(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = occurrences / "deploy/note.yaml"
    note.write_text(f"note: >\n  Run\n  {API}:v1.4.0 first.\n")
    git(occurrences, "add", "deploy/note.yaml")
    assert main(["--fix"]) == 2
    err = capsys.readouterr().err
    assert (f"error: deploy/note.yaml:3:3: {API}: tag 'v1.4.0' should be '{API_TAG}' "
            "(default.nix#api); --fix cannot: cannot rewrite a tag inside a folded block "
            "scalar (`>`)") in err
    assert note.read_text() == f"note: >\n  Run\n  {API}:v1.4.0 first.\n"
    assert (occurrences / "compose.yaml").read_bytes() == (HERE / "fixed/compose.yaml").read_bytes()


def test_a_chart_template_is_never_parsed_as_yaml(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = occurrences / "charts/app/templates/deployment.yaml"
    assert main([str(template)]) == 1
    assert capsys.readouterr().out == (
        f"charts/app/templates/deployment.yaml:13:18: {HELLO}: tag 'v0.9.1' should be "
        "'bhvhf4ndzxgqnlwzv5s272i5xs2qs6v0' (default.nix#hello)\n")


def test_a_template_that_only_names_a_docker_hub_image_in_a_label_passes(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = occurrences / "charts/app/templates/service.yaml"
    template.write_text("{{- if .Values.service }}\nkind: Service\nmetadata:\n  labels:\n"
                        "    app: hello-world\n{{- end }}\n")
    assert main([str(template)]) == 0
    assert capsys.readouterr().err == ""


def test_without_chart_yaml_a_template_folder_is_yaml_as_any_other(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (occurrences / "charts/app/Chart.yaml").unlink()
    assert main(["charts/app/templates/deployment.yaml"]) == 2
    assert "invalid YAML" in capsys.readouterr().err


def test_exclude_on_the_command_line_leaves_files_out(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--exclude", "argocd/**", "--exclude", "deploy/*", "--exclude",
                 "charts/**"]) == 1
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [
        "compose.yaml", "flux/release.yaml"]


def test_exclude_applies_to_file_arguments_too(occurrences: Path) -> None:
    assert main(["--exclude", "deploy/**", "deploy/task.yaml"]) == 0


def test_exclude_adds_to_the_config(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = occurrences / ".nix-tag-check.yaml"
    config.write_text(config.read_text() + "exclude: [argocd/**]\n")
    main(["--exclude", "deploy/**"])
    shown = {line.split(":")[0] for line in capsys.readouterr().out.splitlines()}
    assert shown == {"charts/app/templates/deployment.yaml", "charts/app/values.yaml",
                     "compose.yaml", "flux/release.yaml"}


def test_a_file_in_error_makes_one_error_not_one_per_image(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in list(occurrences.rglob("*.yaml")):
        if path.name not in (".nix-tag-check.yaml", "Chart.yaml", "deployment.yaml"):
            path.unlink()
    (occurrences / "charts").joinpath("app/templates/deployment.yaml").unlink()
    deployment = occurrences / "deploy/deployment.yaml"
    deployment.write_text(deployment.read_text().replace(
        "- name: api\n", f"- name: api  # nix-tag-check {API}\n", 1).replace(
        "--gateway-image", f"--hello={HELLO}:v1 --gateway-image"))
    assert main([]) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: deploy/deployment.yaml:9:22: this comment looks like a marker but is not one: "
        "write `# nix-tag-check: IMAGE` (lowercase, a colon, then the image), or reword the "
        "comment"]
    assert (f"warning: .nix-tag-check.yaml:2: {API}: not known to be up to date: "
            "deploy/deployment.yaml names it but could not be checked (see its error)") in err
    assert f"warning: .nix-tag-check.yaml:5: {HELLO}: not known to be up to date" in err
    assert "no checked file references" not in err


def test_json_says_the_file_error_once_and_the_images_it_hid_as_warnings(
    occurrences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    (occurrences / "deploy/task.yaml").write_text(
        f"x: {API}:v1  # nix-tag-check {API}\ny: {HELLO}:v1\n")
    for path in ("compose.yaml", "deploy/configmap.yaml", "deploy/deployment.yaml",
                 "argocd/application.yaml", "charts/app/templates/deployment.yaml"):
        (occurrences / path).unlink()
    for path in ("argocd/appset.yaml", "argocd/.argocd-source-api.yaml", "flux/release.yaml",
                 "charts/app/values.yaml"):
        (occurrences / path).unlink()
    assert main(["--format", "json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert [(e["path"], e["line"]) for e in document["errors"]] == [("deploy/task.yaml", 1)]
    assert [w.split(": not known")[0] for w in document["warnings"]] == [
        f".nix-tag-check.yaml:2: {API}", f".nix-tag-check.yaml:5: {HELLO}"]
