"""Rule argocd (and embedded): Argo CD's `helm.parameters`, `kustomize.images` strings and
`helm.values: |`, in an Application, an ApplicationSet's template and `.argocd-source-*.yaml`."""

from __future__ import annotations

import pytest
from conftest import expected_map, fix_error

from nix_tag_check.config.reference import parse_repository
from nix_tag_check.fix.apply import fix_text
from nix_tag_check.scan.find import Expected, read_tree, scan
from nix_tag_check.yamltree import tree as yt

EXPECTED = expected_map(hello="h2", api="a2")
A = "ghcr.io/acme/api"
D = "sha256:" + "ab" * 32
APP = "kind: Application\nspec:\n  source:\n    helm:\n      parameters:\n"
SET = "kind: ApplicationSet\nspec:\n  template:\n    spec:\n      source:\n        helm:\n"
SOURCE_FILE = "helm:\n  parameters:\n"  # .argocd-source-APP.yaml, as Image Updater writes it


def params(*pairs: tuple[str, str], ind: str = "      ") -> str:
    return "".join(f"{ind}- name: {name}\n{ind}  value: {value}\n" for name, value in pairs)


@pytest.mark.parametrize(("source", "fixed"), (
    # an Application, an ApplicationSet's template, a .argocd-source file
    (APP + params(("image.repository", A), ("image.tag", "old")),
     APP + params(("image.repository", A), ("image.tag", "a2"))),
    (APP + params(("image.tag", "'old'"), ("image.repository", A)),
     APP + params(("image.tag", "'a2'"), ("image.repository", A))),
    (SET + "          parameters:\n"
     + params(("image.repository", A), ("image.tag", '"old"'), ind="          "),
     SET + "          parameters:\n"
     + params(("image.repository", A), ("image.tag", '"a2"'), ind="          ")),
    (SOURCE_FILE + params(("image.name", A), ("image.tag", "old"), ind="    "),
     SOURCE_FILE + params(("image.name", A), ("image.tag", "a2"), ind="    ")),
    # prefixes group a chart's images; a registry, camelCase, `image` beside `image.tag`
    (APP + params(("image.repository", "other/x"), ("image.tag", "v1"),
                  ("worker.image.repository", A), ("worker.image.tag", "old")),
     APP + params(("image.repository", "other/x"), ("image.tag", "v1"),
                  ("worker.image.repository", A), ("worker.image.tag", "a2"))),
    (APP + params(("image.registry", "ghcr.io"), ("image.repository", "acme/api"),
                  ("image.tag", "old")),
     APP + params(("image.registry", "ghcr.io"), ("image.repository", "acme/api"),
                  ("image.tag", "a2"))),
    (APP + params(("imageRepository", A), ("imageTag", "old")),
     APP + params(("imageRepository", A), ("imageTag", "a2"))),
    (APP + params(("image", A), ("image.tag", "old")),
     APP + params(("image", A), ("image.tag", "a2"))),
    (APP + params(("repository", A), ("tag", "old")),
     APP + params(("repository", A), ("tag", "a2"))),
    (APP + params(("image_repository", A), ("image_tag", "old")),
     APP + params(("image_repository", A), ("image_tag", "a2"))),
    # a pinned digest beside it is emptied, as in Helm values
    (APP + params(("image.repository", A), ("image.tag", "a2"), ("image.digest", D)),
     APP + params(("image.repository", A), ("image.tag", "a2"), ("image.digest", '""'))),
    # a tag that would read as a number stays a string
    (APP + "      - {name: image.repository, value: ghcr.io/acme/api}\n"
     "      - {name: image.tag, value: old}\n",
     APP + "      - {name: image.repository, value: ghcr.io/acme/api}\n"
     "      - {name: image.tag, value: a2}\n"),
))
def test_fixes_helm_parameters(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed


@pytest.mark.parametrize("source", (
    APP + params(("image.repository", A), ("image.tag", "a2")),
    APP + params(("image.tag", "old")),  # the repository is in a values file: mark it there
    APP + params(("image.repository", "ghcr.io/acme/api-gw"), ("image.tag", "old")),
    APP + params(("image.repository", A), ("worker.image.tag", "old")),
    APP + params(("image.repository", A), ("image.hashtag", "old")),
    APP + params(("image.repository", A), ("image.tag", '"pull-{{ .head_sha }}"')),
    "kind: Application\nspec:\n  source:\n    plugin:\n      parameters:\n"
    + params(("image.repository", A), ("image.tag", "old")),
    "spec:\n  params:\n" + params(("image.repository", A), ("image.tag", "old"), ind="  "),
))
def test_leaves_other_parameters_alone(source: str) -> None:
    assert fix_text(source, EXPECTED) == source


def test_a_parameter_holding_a_tag_of_its_own_is_not_guessed_at() -> None:
    source = APP + params(("image.repository", f"{A}:v1"), ("image.tag", "v2"))
    assert fix_error(source, EXPECTED).startswith("7:16: this repository has a tag or digest")


K = "spec:\n  source:\n    kustomize:\n      images:\n"


@pytest.mark.parametrize(("source", "fixed"), (
    (K + f"      - {A}:old\n", K + f"      - {A}:a2\n"),
    (K + f"      - api={A}:old\n", K + f"      - api={A}:a2\n"),
    (K + f"      - {A}={A}:old\n", K + f"      - {A}={A}:a2\n"),
    (K + f"      - '{A}={A}:old@{D}'\n", K + f"      - '{A}={A}:a2'\n"),
    (K + f"      - {A}\n", K + f"      - {A}:a2\n"),
    (K + f"      - api={A}\n", K + f"      - api={A}:a2\n"),
    (K + f"      - {A}@{D}\n", K + f"      - {A}:a2\n"),
    ("spec:\n  source:\n    kustomize:\n      images: [" + f"api={A}]\n",
     "spec:\n  source:\n    kustomize:\n      images: [" + f'"api={A}:a2"]\n'),
    ("kustomize:\n  images:\n" + f"  - {A}:old\n", "kustomize:\n  images:\n" + f"  - {A}:a2\n"),
))
def test_fixes_kustomize_images_strings(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed


@pytest.mark.parametrize("source", (
    K + f"      - {A}:a2\n",
    K + f"      - {A}=ghcr.io/acme/other:v1\n",
    K + "      - ghcr.io/acme/api-gw:v1\n",
    K + f"      - {A}:$TAG\n",
))
def test_leaves_other_kustomize_images_alone(source: str) -> None:
    assert fix_text(source, EXPECTED) == source


def test_a_kustomize_images_string_is_one_finding_of_its_kind() -> None:
    [item] = scan(K + f"      - api={A}:old\n", "app.yaml", EXPECTED)
    assert (item.line, item.column, item.kind, item.found) == (5, 9, "kustomize", "old")


def test_a_short_docker_hub_name_counts_in_kustomize_images() -> None:
    nginx = {parse_repository("nginx"): Expected("nginx", parse_repository("nginx"), "n2", "x")}
    source = K + "      - nginx:1.17.10\n      - memcached:1.6.10\n"
    assert fix_text(source, nginx) == source.replace("nginx:1.17.10", "nginx:n2")


V = "kind: Application\nspec:\n  source:\n    helm:\n      values: |\n"


@pytest.mark.parametrize(("source", "fixed"), (
    (V + f"        image:\n          repository: {A}\n          tag: old\n",
     V + f"        image:\n          repository: {A}\n          tag: a2\n"),
    (V + f"        image: {A}:old\n        other: 1\n",
     V + f"        image: {A}:a2\n        other: 1\n"),
    (V + f"        sidecar: {{args: ['--image={A}:old']}}\n",
     V + f"        sidecar: {{args: ['--image={A}:a2']}}\n"),
    (V + f"        image:\n          repository: {A}\n          tag:\n",
     V + f"        image:\n          repository: {A}\n          tag: a2\n"),
    (V + f"        image:\n          repository: {A}\n          tag: old  # nix-tag-check: ignore\n"
     f"        x: {A}:old\n",
     V + f"        image:\n          repository: {A}\n          tag: old  # nix-tag-check: ignore\n"
     f"        x: {A}:a2\n"),
    (V.replace("\n", "\r\n") + f"        image: {A}:old\r\n",
     V.replace("\n", "\r\n") + f"        image: {A}:a2\r\n"),
    (V.replace("|", "|-") + f"        image:\n          repository: {A}\n          tag: old",
     V.replace("|", "|-") + f"        image:\n          repository: {A}\n          tag: a2"),
    # not YAML (a template): read as text
    (V + f"        image: {{{{ .x }}}}\n        y: {A}:old\n",
     V + f"        image: {{{{ .x }}}}\n        y: {A}:a2\n"),
))
def test_fixes_helm_values_written_as_a_string(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed


def test_a_reference_in_helm_values_is_reported_where_it_stands_in_the_file() -> None:
    source = V + f"        image:\n          repository: {A}\n          tag: old\n"
    [item] = scan(source, "app.yaml", EXPECTED)
    assert (item.line, item.column, item.kind) == (8, 16, "helm")


def test_a_comment_in_helm_values_is_a_comment() -> None:
    source = V + f"        # image: {A}:old\n        x: 1\n"
    assert scan(source, "app.yaml", EXPECTED) == []


def test_a_name_in_helm_values_with_no_tag_is_listed_at_its_place() -> None:
    source = V + f"        image:\n          repository: {A}\n"
    [unread] = read_tree(source, yt.parse(source), "app.yaml", EXPECTED).unread
    assert (unread.line, unread.column, unread.written) == (7, 23, A)


@pytest.mark.parametrize(("source", "error"), (
    (V.replace("|", ">") + f"        image:\n\n          repository: {A}\n\n          tag: old\n",
     "5:15: cannot rewrite a tag inside a folded block scalar"),
    (V + f"        a: 1\n        a: 2\n        image: {A}:old\n", "7:9: duplicate key 'a'"),
))
def test_refuses_in_helm_values(source: str, error: str) -> None:
    assert fix_error(source, EXPECTED).startswith(error)


def test_a_kustomization_in_a_values_string_cannot_gain_a_line() -> None:
    source = V + f"        kind: Kustomization\n        images:\n        - name: {A}\n"
    [item] = scan(source, "app.yaml", EXPECTED)
    assert item.unfixable is not None
    assert "cannot add or remove a line inside a YAML string" in item.unfixable.message


@pytest.mark.parametrize(("source", "fixed"), (
    # Argo CD's helm.valuesObject and Flux's HelmRelease spec.values are Helm values as data
    ("spec:\n  source:\n    helm:\n      valuesObject:\n        image:\n"
     f"          repository: {A}\n          tag: old\n",
     "spec:\n  source:\n    helm:\n      valuesObject:\n        image:\n"
     f"          repository: {A}\n          tag: a2\n"),
    ("kind: HelmRelease\nspec:\n  values:\n    image:\n"
     f"      repository: {A}\n      tag: old # {{\"$imagepolicy\": \"flux-system:api:tag\"}}\n",
     "kind: HelmRelease\nspec:\n  values:\n    image:\n"
     f"      repository: {A}\n      tag: a2 # {{\"$imagepolicy\": \"flux-system:api:tag\"}}\n"),
    (f"image: {A}:old # {{\"$imagepolicy\": \"flux-system:api\"}}\n",
     f"image: {A}:a2 # {{\"$imagepolicy\": \"flux-system:api\"}}\n"),
))
def test_helm_values_as_data_are_read_and_setter_comments_stay(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed
