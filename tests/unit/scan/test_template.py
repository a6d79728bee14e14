"""Chart templates read as text: `(source, fixed)` one-liners, texts left alone, references
reported as not fixable, names listed, and markers and pragmas in their comments."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import expected_map

from nix_tag_check.config.reference import parse_repository
from nix_tag_check.errors import PatchError, ScanError
from nix_tag_check.fix import verify
from nix_tag_check.fix.apply import fix_template
from nix_tag_check.manifests.select import is_chart_template
from nix_tag_check.scan import edits
from nix_tag_check.scan.find import Expected, read_template

EXPECTED = expected_map(hello="h2", api="a2")
A = "ghcr.io/acme/api"
D = "sha256:" + "ab" * 32


def fixed(text: str) -> str:
    return fix_template(text, read_template(text, EXPECTED).findings)


@pytest.mark.parametrize(("source", "result"), (
    (f"image: {A}:old\n", f"image: {A}:a2\n"),
    (f'image: "{A}:old"\n', f'image: "{A}:a2"\n'),
    (f"{{{{- if .Values.on }}}}\n  image: {A}:old\n{{{{- end }}}}\n",
     f"{{{{- if .Values.on }}}}\n  image: {A}:a2\n{{{{- end }}}}\n"),
    (f"args: [--image={A}:old, {{{{ .Values.x | quote }}}}]\n",
     f"args: [--image={A}:a2, {{{{ .Values.x | quote }}}}]\n"),
    (f"image: {A}:old@{D}\r\n", f"image: {A}:a2\r\n"),
    (f"image: {A}@{D}", f"image: {A}:a2"),
    (f"  value: 'a #b {A}:old'\n", f"  value: 'a #b {A}:a2'\n"),
    (f"x: a#b {A}:old\n", f"x: a#b {A}:a2\n"),
))
def test_fixes(source: str, result: str) -> None:
    assert fixed(source) == result


@pytest.mark.parametrize("source", (
    f"# image: {A}:old\n",
    f"x: 1 # {A}:old\n",
    f"{{{{/* {A}:old */}}}}\n",
    f"{{{{- /* the default: {A}:old */ -}}}}\n",
    'image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
    f"image: {A}-gw:old\n",
    "labels:\n  app: hello-world\n  {{- include \"x.labels\" . | nindent 4 }}\n",
))
def test_leaves_alone(source: str) -> None:
    found = read_template(source, EXPECTED)
    assert [f for f in found.findings if f.stale] == []
    assert fixed(source) == source


def test_a_reference_inside_an_action_is_reported_not_fixed() -> None:
    [item] = read_template(f'image: {{{{ default "{A}:old" .Values.image }}}}\n',
                           EXPECTED).findings
    assert (item.line, item.column, item.found) == (1, 20, "old")
    assert item.unfixable is not None and "inside a template action" in item.unfixable.message


@pytest.mark.parametrize(("source", "unread"), (
    (f"image: {A}:{{{{ .Values.image.tag }}}}\n", [(1, 8, f"{A}:{{{{")]),
    (f'image: "{A}:{{{{ .Chart.AppVersion }}}}"\n', [(1, 9, f"{A}:{{{{")]),
    (f"image: {A}\n", [(1, 8, A)]),
    (f"# image: {A}:{{{{ .x }}}}\n", []),
))
def test_names_with_no_tag_are_listed(source: str, unread: list[tuple[int, int, str]]) -> None:
    found = read_template(source, EXPECTED)
    assert [(u.line, u.column, u.written) for u in found.unread] == unread


def test_a_short_docker_hub_name_in_a_label_is_nothing() -> None:
    hello = {parse_repository("hello-world"): Expected(
        "hello-world", parse_repository("hello-world"), "h2", "x")}
    found = read_template("metadata:\n  labels:\n    app: hello-world\n", hello)
    assert found.findings == [] and found.unread == []


def test_a_pragma_leaves_its_line_alone() -> None:
    source = f"image: {A}:old  # nix-tag-check: ignore\nx: {A}:old\n"
    assert [f.ignored for f in read_template(source, EXPECTED).findings] == [True, False]
    assert fixed(source) == source.replace(f"x: {A}:old", f"x: {A}:a2")


@pytest.mark.parametrize("source", (
    f"tag: old  # nix-tag-check: {A}\n",
    f"image: {A}:old  # nix-tag-check {A}\n",
    "tag: old  # nix-tag-check: ghcr.io/acme/other\n",
))
def test_a_marker_that_marks_nothing_is_an_error(source: str) -> None:
    with pytest.raises(ScanError, match="marks nothing"):
        read_template(source, EXPECTED)


def test_a_marker_beside_a_reference_it_names_is_accepted() -> None:
    source = f"image: {A}:old  # nix-tag-check: {A}\n"
    assert fixed(source) == source.replace(":old", ":a2")


@pytest.mark.parametrize(("edit", "why"), (
    (edits.set_text(7, 9, "a2"), "not a tag"),  # `ghcr` is no tag
    (edits.Edit(24, 27, "a2", (edits.SetPart(edits.TEXT, 24, 27, "a3"),)), "not a tag"),
    (edits.Edit(24, 27, "a2", (edits.SetValue(0, "x"),)), "not a tag"),
    (edits.set_text(24, 27, "a b"), "not a tag"),
))
def test_the_text_proof_refuses_what_is_not_a_tag_swap(edit: edits.Edit, why: str) -> None:
    text = f"image: {A}:old\n"
    with pytest.raises(PatchError, match=why):
        verify.verify_text(text, text[: edit.start] + edit.text + text[edit.end :], [edit])


def test_the_text_proof_refuses_a_text_other_than_the_edits() -> None:
    text = f"image: {A}:old\n"
    edit = edits.set_text(24, 27, "a2")
    with pytest.raises(PatchError, match="more than its tags"):
        verify.verify_text(text, f"image: {A}:a3\n", [edit])


@pytest.mark.parametrize(("files", "path", "template"), (
    (["c/Chart.yaml"], "c/templates/d.yaml", True),
    (["c/Chart.yaml"], "c/templates/sub/d.yaml", True),
    (["c/Chart.yaml"], "c/values.yaml", False),
    ([], "c/templates/d.yaml", False),
    (["Chart.yaml"], "templates/d.yaml", True),
    (["c/Chart.yaml"], "c/x/templates/d.yaml", False),
    (["c/Chart.yaml", "c/charts/s/Chart.yaml"], "c/charts/s/templates/d.yaml", True),
))
def test_a_chart_template_is_a_file_under_templates_beside_chart_yaml(
    tmp_path: Path, files: list[str], path: str, template: bool
) -> None:
    for name in [*files, path]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x: 1\n")
    assert is_chart_template(str(tmp_path / path)) is template


def test_a_cached_scan_is_not_reused_when_a_chart_yaml_comes(tmp_path: Path) -> None:
    from nix_tag_check.config.load import ImageSpec
    from nix_tag_check.evaluate.groups import Evaluated
    from nix_tag_check.scan.checker import Checker

    evaluated = [Evaluated(ImageSpec(e.name, e.repository, "auto", "x86_64-linux", (), e.source),
                           e.tag, "/nix/store/x") for e in EXPECTED.values()]
    template = tmp_path / "chart/templates/deployment.yaml"
    template.parent.mkdir(parents=True)
    template.write_text(f"{{{{- if .Values.on }}}}\nimage: {A}:old\n{{{{- end }}}}\n")
    cache = str(tmp_path / "scan.cache")
    first = Checker(evaluated, str(tmp_path), 1 << 20, cache)
    assert first.analyse(str(template)).error is not None  # no Chart.yaml: YAML, and invalid
    first.save(keep_unseen=False)
    (tmp_path / "chart/Chart.yaml").write_text("name: chart\n")
    again = Checker(evaluated, str(tmp_path), 1 << 20, cache).analyse(str(template))
    assert again.error is None and again.template
    assert [(f.line, f.found) for f in again.findings] == [(2, "old")]
