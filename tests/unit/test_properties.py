"""Hypothesis properties of --fix over generated manifests.

The manifests mix every shape the scanner knows (container `image:` fields in Deployments,
CronJobs and Pods, Helm values, kustomization `images:` entries, marker comments) with
quoting styles, trailing comments, anchors, aliases and merge keys, `!!str` tags, several
documents, LF or CRLF line endings, a BOM and a missing final newline.

The generator builds each manifest from literal text and *holes*: the places that hold a
tag. A hole knows its original text and the exact text a fix must leave there, so the
generator also knows the exact fixed file and where every finding must point.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from conftest import API, API_TAG, HELLO, HELLO_TAG, expected_map
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from nix_tag_check.fix.apply import fix_text
from nix_tag_check.scan.find import Finding, ScanError, scan

EXPECTED = expected_map()
FRESH = {HELLO: HELLO_TAG, API: API_TAG}
BOM = "\ufeff"
PATH = "manifest.yaml"

PROPERTIES = settings(max_examples=120, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DRAW = st.DrawFn


def fix(text: str, path: str = PATH) -> str:
    """What `nix-tag-check --fix` writes: every stale edit, proven by the self-check."""
    return fix_text(text, EXPECTED, path)


def stale_findings(text: str, path: str = PATH) -> list[Finding]:
    return [f for f in scan(text, path, EXPECTED) if f.stale]


# --- building blocks ---------------------------------------------------------------------


@dataclass(frozen=True)
class Hole:
    """Text that holds a tag: what the manifest says, and what the fix must write instead."""

    orig: str
    fixed: str
    slot: bool = False  # a finding must point at the start of this text
    stale: bool | None = None  # the finding at this slot is stale (default: orig != fixed)
    insert_line: bool = False  # a line the fix adds (kustomize newTag)

    @property
    def is_stale(self) -> bool:
        return self.orig != self.fixed if self.stale is None else self.stale


Seg = Union[str, Hole]  # noqa: UP007 - a runtime alias, Python 3.10 has no `type` statement


@dataclass
class Manifest:
    text: str
    fixed: str  # the exact text a fix must produce
    slots: dict[tuple[int, int], bool] = field(default_factory=dict)  # (line, col) -> stale

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return f"Manifest(text={self.text!r})"


class Doc:
    """One YAML document under construction: segments, and names for its anchors."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.segs: list[Seg] = []
        self.counter = 0
        self.image_anchors: list[str] = []
        self.container_anchors: list[str] = []
        self.helm_anchors: list[tuple[str, str | None]] = []  # (anchor, image)

    def name(self, kind: str) -> str:
        self.counter += 1
        return f"{self.prefix}{kind}{self.counter}"

    def line(self, *parts: Seg) -> None:
        self.segs.extend(parts)
        self.segs.append("\n")


tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
# A tag inside free text ends in a letter or digit: `repo:v1.` ends a sentence there.
text_tags = st.from_regex(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,19}[A-Za-z0-9_])?", fullmatch=True)
digests = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}")
configured = st.sampled_from([HELLO, API])
UNCONFIGURED = ["ghcr.io/acme/api-gateway", "registry.example.com/hello", "nginx",
                "registry.example.com/team/hello-worker", "ghcr.io/acme/api/migrations"]
repositories = st.one_of(configured, configured, st.sampled_from(UNCONFIGURED))
quotes = st.sampled_from(["", "'", '"'])
MARKER_SPELLINGS = ["  # nix-tag-check: {}", " #nix-tag-check:{}", "\t#  nix-tag-check:\t{}",
                    "  # nix-tag-check: {}  # and a remark"]


def comment(draw: DRAW, image: str | None) -> str:
    """An optional trailing comment; a marker naming `image` only when it names a configured one
    (a marker for another image is an error, as is a comment that is almost a marker).

    (A marker for a configured image on a line whose value is neither a reference to it nor a
    tag is an error the scanner reports; it has its own tests.)
    """
    choices = ["", "", "  # pinned by CI", " # ghcr.io/acme/api:old", "\t# a tab before",
               "  # nix-tag-check runs in CI"]
    if image in FRESH:
        choices += [draw(st.sampled_from(MARKER_SPELLINGS)).format(image)]
    return draw(st.sampled_from(choices))


@st.composite
def tag_states(draw: DRAW, repo: str) -> tuple[str | None, str | None]:
    """(tag, digest): stale, tagless, digest-pinned, fresh, fresh and pinned."""
    fresh = FRESH.get(repo, "1.25")
    tag = draw(st.one_of(st.none(), tags, st.just(fresh)))
    digest = draw(st.one_of(st.none(), st.none(), digests))
    return tag, digest


def reference_hole(draw: DRAW, repo: str, *, flow: bool, quote: str | None = None) -> Hole:
    """A whole image reference, as the scanner rewrites it: `name:tag`, digest dropped."""
    tag, digest = draw(tag_states(repo))
    value = repo + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    plain_ok = not flow or (tag is None and digest is None)  # ':' ends a plain scalar in flow
    if quote is None or (quote == "" and not plain_ok):
        quote = draw(quotes if plain_ok else st.sampled_from(["'", '"']))
    orig = f"{quote}{value}{quote}"
    if repo not in FRESH:
        return Hole(orig, orig)
    if tag == FRESH[repo] and digest is None:
        return Hole(orig, orig, slot=True)
    new = f"{repo}:{FRESH[repo]}"
    if flow and quote == "":  # `{image: repo}` -> `{image: "repo:tag"}`
        return Hole(orig, f'"{new}"', slot=True)
    return Hole(orig, f"{quote}{new}{quote}", slot=True)


def tag_hole(draw: DRAW, repo: str | None, *, flow: bool, empty_ok: bool = True) -> Hole:
    """A bare tag (Helm `tag:`, kustomize `newTag:`, a marked value); `repo` None: not ours."""
    fresh = FRESH.get(repo or "")
    options: list[str] = ["stale", "stale", "fresh"] + (["empty", "null"] if empty_ok else [])
    kind = draw(st.sampled_from(options))
    if kind == "null" and not flow:
        # `tag:` with nothing after it: the fix writes ` TAG` after the colon.
        return Hole("", f" {fresh}" if fresh else "", slot=fresh is not None)
    if kind in ("empty", "null"):
        quote = draw(st.sampled_from(["'", '"']))
        value = ""
    else:
        quote = draw(quotes)
        value = fresh if kind == "fresh" and fresh else draw(tags)
    orig = f"{quote}{value}{quote}"
    if fresh is None:
        return Hole(orig, orig)
    return Hole(orig, f"{quote}{fresh}{quote}", slot=True)


def properties(draw: DRAW, doc: Doc, anchors: list[str]) -> str:
    """Optional `&anchor` and `!!str` before a scalar."""
    kind = draw(st.sampled_from(["", "", "", "anchor", "str", "anchor str", "str anchor"]))
    out = []
    for word in kind.split():
        if word == "anchor":
            name = doc.name("a")
            anchors.append(name)
            out.append(f"&{name} ")
        else:
            out.append("!!str ")
    return "".join(out)


# --- documents ----------------------------------------------------------------------------


def container(draw: DRAW, doc: Doc, ind: str, number: int) -> None:
    shapes = ["block", "block", "flow"]
    if doc.container_anchors:
        shapes.append("merge")
    if doc.image_anchors:
        shapes.append("alias")
    shape = draw(st.sampled_from(shapes))
    repo = draw(repositories)
    if shape == "flow":
        props = properties(draw, doc, doc.image_anchors)
        hole = reference_hole(draw, repo, flow=True)
        doc.line(f"{ind}- {{name: c{number}, image: {props}", hole, "}", comment(draw, repo))
        return
    if shape == "merge":
        doc.line(f"{ind}- <<: *{draw(st.sampled_from(doc.container_anchors))}")
        doc.line(f"{ind}  name: c{number}")
        return
    if draw(st.booleans()):
        anchor = doc.name("c")
        doc.container_anchors.append(anchor)
        doc.line(f"{ind}- &{anchor}")
        doc.line(f"{ind}  name: c{number}")
    else:
        doc.line(f"{ind}- name: c{number}")
    if shape == "alias":
        alias = draw(st.sampled_from(doc.image_anchors))
        doc.line(f"{ind}  image: *{alias}", comment(draw, None))
    else:
        props = properties(draw, doc, doc.image_anchors)
        hole = reference_hole(draw, repo, flow=False)
        doc.line(f"{ind}  image: {props}", hole, comment(draw, repo))
    if draw(st.integers(0, 3)) == 0:  # references in a script and in a flag
        doc.line(f"{ind}  args:")
        doc.line(f"{ind}    - |")
        doc.line(f"{ind}      docker run --rm ", text_hole(draw, API), " --version")
        doc.line(f"{ind}      # nix-tag-check: {HELLO}")  # a line of the script: no marker
        doc.line(f"{ind}    - \"--image=", text_hole(draw, HELLO), "\"")
    if draw(st.integers(0, 3)) == 0:  # a marked reference in an environment variable
        image = draw(configured)
        doc.line(f"{ind}  env:")
        doc.line(f"{ind}    - name: MARKED_{number}")
        hole = reference_hole(draw, image, flow=False)
        doc.line(f"{ind}      value: ", hole, draw(st.sampled_from(MARKER_SPELLINGS)).format(image))


def workload(draw: DRAW, doc: Doc) -> None:
    kind = draw(st.sampled_from(["Deployment", "CronJob", "Pod"]))
    api = {"Deployment": "apps/v1", "CronJob": "batch/v1", "Pod": "v1"}[kind]
    doc.line(f"apiVersion: {api}")
    doc.line(f"kind: {kind}")
    doc.line("metadata:")
    doc.line(f"  name: {kind.lower()}-{doc.prefix}")
    path = {
        "Pod": ["spec:"],
        "Deployment": ["spec:", "  replicas: 2", "  template:", "    spec:"],
        "CronJob": ["spec:", '  schedule: "*/5 * * * *"', "  jobTemplate:", "    spec:",
                    "      template:", "        spec:"],
    }[kind]
    for text in path:
        doc.line(text)
    pad = " " * (2 * (len([p for p in path if p.rstrip().endswith(":")])))
    number = 0
    for key in draw(st.sampled_from([["containers"], ["initContainers", "containers"]])):
        doc.line(f"{pad}{key}:")
        ind = pad + draw(st.sampled_from(["  ", ""]))  # indented or indentless sequence
        for _ in range(draw(st.integers(1, 3))):
            number += 1
            container(draw, doc, ind, number)


HELM_REPOSITORY_KEYS = ["repository", "repository", "image", "name"]
HELM_NAMES = [  # (registry, repository, configured image)
    (None, HELLO, HELLO), (None, API, API), ("registry.example.com", "team/hello", HELLO),
    ("ghcr.io/", "acme/api", API), ("", API, API), ("docker.io", "bitnami/redis", None),
    (None, "ghcr.io/acme/api-gateway", None),
]


def helm_values(draw: DRAW, doc: Doc) -> None:
    doc.line("# Default values for the chart.")
    doc.line("replicaCount: 2")
    for section in ["image", "worker", "sidecar"][: draw(st.integers(1, 3))]:
        if doc.helm_anchors and draw(st.booleans()):
            # Merge an earlier mapping: with a tag of its own, or sharing the base's.
            anchor, image = draw(st.sampled_from(doc.helm_anchors))
            doc.line(f"{section}:")
            doc.line(f"  <<: *{anchor}")
            if draw(st.booleans()):
                doc.line("  pullPolicy: Always")
            else:
                doc.line("  tag: ", tag_hole(draw, image, flow=False, empty_ok=False))
            continue
        registry, repository, image = draw(st.sampled_from(HELM_NAMES))
        repo_key = draw(st.sampled_from(HELM_REPOSITORY_KEYS))
        if draw(st.integers(0, 4)) == 0:  # flow style
            hole = tag_hole(draw, image, flow=True, empty_ok=False)
            reg = f"registry: {quoted(draw, registry)}, " if registry is not None else ""
            doc.line(f"{section}: {{{reg}{repo_key}: {repository}, tag: ", hole, "}",
                     comment(draw, None))
            continue
        anchored = draw(st.booleans())
        if anchored:  # (a merged base's digest is emptied where the base is reported)
            name = doc.name("h")
            doc.helm_anchors.append((name, image))
            doc.line(f"{section}: &{name}")
        else:
            doc.line(f"{section}:")
        digest = None if anchored else draw(st.sampled_from([None, None, "digest", "sha"]))
        keys = [repo_key, "tag", "pullPolicy"] + (["registry"] if registry is not None else [])
        for key in draw(st.permutations(keys + ([digest] if digest else []))):
            if key == "tag":
                hole = tag_hole(draw, image, flow=False)
                if digest and image is not None:  # pinned: stale whatever the tag says
                    hole = Hole(hole.orig, hole.fixed, slot=True, stale=True)
                gap = "" if hole.orig == "" else " "
                doc.line(f"  tag:{gap}", hole, comment(draw, None))
            elif key == "registry":
                doc.line(f"  registry: {quoted(draw, registry or '')}")
            elif key == repo_key:
                doc.line(f"  {repo_key}: {quoted(draw, repository)}")
            elif key == digest:
                doc.line(f"  {digest}: ", digest_hole(draw, digest, image), comment(draw, None))
            else:
                doc.line("  pullPolicy: IfNotPresent")


def digest_hole(draw: DRAW, key: str, image: str | None) -> Hole:
    """A Helm digest (`sha:` holds the hex alone): emptied when it pins one of our images."""
    value = draw(digests)
    value = value.removeprefix("sha256:") if key == "sha" else value
    quote = draw(st.sampled_from(["", "'", '"']))
    orig = f"{quote}{value}{quote}"
    if image is None:
        return Hole(orig, orig)
    return Hole(orig, f"{quote or chr(34)}{quote or chr(34)}")


def quoted(draw: DRAW, value: str) -> str:
    quote = draw(quotes) if value else draw(st.sampled_from(["'", '"']))
    return f"{quote}{value}{quote}"


KUSTOMIZE_NAMES = [  # (name, newName or None, configured image)
    (HELLO, None, HELLO), (API, None, API), ("hello", HELLO, HELLO), ("api", API, API),
    (API, "ghcr.io/acme/api-gateway", None), ("docker.io/library/redis", None, None),
]


def kustomization(draw: DRAW, doc: Doc) -> None:
    doc.line("apiVersion: kustomize.config.k8s.io/v1beta1")
    doc.line("kind: Kustomization")
    doc.line("resources:")
    doc.line("  - deployment.yaml")
    doc.line("images:")
    ind = draw(st.sampled_from(["  ", ""]))
    for _ in range(draw(st.integers(1, 4))):
        kustomize_entry(draw, doc, ind)


def kustomize_entry(draw: DRAW, doc: Doc, ind: str) -> None:
    name, new_name, image = draw(st.sampled_from(KUSTOMIZE_NAMES))
    has_tag, has_digest = draw(st.booleans()), draw(st.integers(0, 2)) == 0
    tag = tag_hole(draw, image, flow=False, empty_ok=False) if has_tag else None
    digest = draw(digests) if has_digest else None
    # Stale when the tag is not the new one, or the entry is pinned by digest.
    stale = image is not None and (tag is None or tag.is_stale or digest is not None)
    keys = draw(st.permutations(
        [k for k, on in (("newName", new_name), ("newTag", tag), ("digest", digest)) if on]))
    flow = draw(st.integers(0, 3)) == 0
    # The finding stands at newTag's value, else at the (new) name.
    slot_key = "newTag" if tag is not None else ("newName" if new_name else "name")
    # A missing newTag takes the place of a digest (`digest: D` -> `newTag: T`), else goes
    # on a line of its own after the last of name and newName.
    last_name = "newName" if new_name else "name"
    replaces_digest = image is not None and tag is None and digest is not None

    def value(key: str, text: str, hole: Hole | None = None) -> Hole:
        if hole is None:
            hole = Hole(text, text)
        if image is not None and key == slot_key:
            return Hole(hole.orig, hole.fixed, slot=True, stale=stale)
        return hole

    if flow:
        parts: list[Seg] = [f"{ind}- {{name: ", value("name", quoted(draw, name))]
        for key in keys:
            if key == "digest" and replaces_digest:
                assert image is not None
                parts += [", ", Hole(f'digest: "{digest}"', f"newTag: {FRESH[image]}")]
            elif key == "digest" and image is not None:
                text = f', digest: "{digest}"'
                parts.append(Hole(text, ""))
            elif key == "digest":
                parts.append(f', digest: "{digest}"')
            elif key == "newTag":
                assert tag is not None
                parts += [", newTag: ", value("newTag", "", tag)]
            else:
                parts += [", newName: ", value("newName", quoted(draw, new_name or ""))]
        if image is not None and tag is None and not replaces_digest:
            parts.append(Hole("", f", newTag: {FRESH[image]}"))
        doc.line(*parts, "}", comment(draw, None))
        return
    doc.line(f"{ind}- name: ", value("name", quoted(draw, name)), comment(draw, None))
    inserted = False

    def insert_after(key: str) -> None:
        nonlocal inserted
        if (image is not None and tag is None and key == last_name and not inserted
                and not replaces_digest):
            inserted = True
            doc.segs.append(Hole("", f"{ind}  newTag: {FRESH[image]}\n", insert_line=True))

    insert_after("name")
    for key in keys:
        if key == "digest":
            text = f"{ind}  digest: {quoted(draw, digest or '')}\n"
            if replaces_digest:
                assert image is not None
                doc.segs.append(Hole(text, f"{ind}  newTag: {FRESH[image]}\n"))
            else:
                doc.segs.append(Hole(text, "") if image is not None else text)
        elif key == "newTag":
            assert tag is not None
            doc.line(f"{ind}  newTag: ", value("newTag", "", tag), comment(draw, None))
        else:
            doc.line(f"{ind}  newName: ", value("newName", quoted(draw, new_name or "")),
                     comment(draw, None))
            insert_after("newName")


def configmap(draw: DRAW, doc: Doc) -> None:
    doc.line("apiVersion: v1")
    doc.line("kind: ConfigMap")
    doc.line("metadata:")
    doc.line(f"  name: images-{doc.prefix}")
    doc.line("data:")
    for number in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["tag", "reference", "other", "plain"]))
        image = draw(configured)
        marker = draw(st.sampled_from(MARKER_SPELLINGS)).format(image)
        if kind == "tag":
            hole = tag_hole(draw, image, flow=False, empty_ok=False)
            doc.line(f"  MARKED_{number}: ", hole, marker)
        elif kind == "reference":
            doc.line(f"  MARKED_{number}: ", reference_hole(draw, image, flow=False), marker)
        elif kind == "other":  # prose that starts with the tool's name: no marker
            doc.line(f"  OTHER_{number}: {quoted(draw, 'v1')}"
                     "  # nix-tag-check sets this")
        else:  # a reference in a string without a marker: read wherever it stands
            string_value(draw, doc, f"PLAIN_{number}", image)


def text_hole(draw: DRAW, repo: str) -> Hole:
    """A reference inside a string or a script: the fix writes the new tag after its name
    (a digest goes); the finding points at the name."""
    tag = draw(st.one_of(text_tags, st.just(FRESH.get(repo, "v1"))))
    digest = draw(st.one_of(st.none(), st.none(), st.none(), digests))
    orig = repo + f":{tag}" + (f"@{digest}" if digest else "")
    if repo not in FRESH:
        return Hole(orig, orig)
    return Hole(orig, f"{repo}:{FRESH[repo]}", slot=True,
                stale=tag != FRESH[repo] or digest is not None)


def untouched(draw: DRAW, repo: str) -> str:
    """Text that names an image but holds no tag of it to read: left as it is."""
    tag = draw(text_tags)
    return draw(st.sampled_from([
        f"{repo}-gw:{tag}", f"{repo}/migrations:{tag}", f"{repo}:${{TAG}}", f"{repo}:$TAG",
        f"{repo}:{{{{ .Values.image.tag }}}}", f"mirror.example.com/{repo}:{tag}",
        f"x{repo}:{tag}",
    ]))


def string_value(draw: DRAW, doc: Doc, key: str, image: str) -> None:
    """`key: ...` holding references as strings do: whole, in a flag, a URL, JSON, a script."""
    hole = text_hole(draw, image)
    other = untouched(draw, draw(configured))
    shape = draw(st.sampled_from(["whole", "flag", "url", "json", "double", "script",
                                  "script", "flow"]))
    if shape == "whole":
        doc.line(f"  {key}: ", hole)
    elif shape == "flag":
        doc.line(f"  {key}: --sidecar-image=", hole, f" --other={other}")
    elif shape == "url":
        doc.line(f"  {key}: docker://", hole)
    elif shape == "json":
        doc.line(f"  {key}: '{{\"image\": \"", hole, f"\", \"other\": \"{other}\"}}'")
    elif shape == "double":
        doc.line(f'  {key}: "{{\\"image\\":\\"', hole, '\\"}"')
    elif shape == "flow":
        doc.line(f"  {key}: [--a, '--image=", hole, "', \"", text_hole(draw, image), "\"]")
    else:
        header = draw(st.sampled_from(["|", "|-", "|+", "|2"]))
        doc.line(f"  {key}: {header}")
        doc.line("    #!/bin/sh")
        doc.line("    crane digest ", hole, " && crane copy ", text_hole(draw, image),
                 f" {other}")
        doc.line(f"    echo {other} \"# not a comment: ", text_hole(draw, image), '"')
        if header == "|+":
            doc.line("")


ARGO_GROUPS = [  # (parameter names: repository, tag, registry or None), repository or None
    (("image.repository", "image.tag", None), None), (("imageRepository", "imageTag", None), None),
    (("worker.image.name", "worker.image.tag", None), None),
    (("sidecar.image", "sidecar.image.tag", None), None),
    (("repository", "tag", "registry"), "split"),
    (("proxy.image.repository", "proxy.image.tag", None), "nginx"),
    ((None, "lonely.image.tag", None), None),
]


def argocd(draw: DRAW, doc: Doc) -> None:
    """An Argo CD Application, an ApplicationSet or a `.argocd-source-APP.yaml` file."""
    kind = draw(st.sampled_from(["Application", "ApplicationSet", "source file"]))
    base = ""
    if kind != "source file":
        doc.line("apiVersion: argoproj.io/v1alpha1")
        doc.line(f"kind: {kind}")
        doc.line("metadata:")
        doc.line(f"  name: app-{doc.prefix}")
        doc.line("spec:")
        base = "  "
        if kind == "ApplicationSet":
            doc.line("  generators: [{list: {elements: []}}]")
            doc.line("  template:")
            doc.line("    spec:")
            base = "      "
        doc.line(f"{base}source:")
        doc.line(f"{base}  repoURL: https://example.com/deploy.git")
        base += "  "
    parts = draw(st.lists(st.sampled_from(["parameters", "values", "kustomize"]), min_size=1,
                          max_size=3, unique=True))
    if "parameters" in parts or "values" in parts:
        doc.line(f"{base}helm:")
    for part in parts:
        if part == "parameters":
            argo_parameters(draw, doc, base + "  ")
        elif part == "values":
            argo_values(draw, doc, base + "  ")
    if "kustomize" in parts:
        doc.line(f"{base}kustomize:")
        doc.line(f"{base}  images:")
        for _ in range(draw(st.integers(1, 3))):
            doc.line(f"{base}  - ", kustomize_string_hole(draw))


def argo_parameters(draw: DRAW, doc: Doc, ind: str) -> None:
    doc.line(f"{ind}parameters:")
    entries: list[tuple[str, Seg]] = []
    for (repo_name, tag_name, registry_name), special in draw(st.lists(
            st.sampled_from(ARGO_GROUPS), min_size=1, max_size=3, unique=True)):
        image = draw(configured)
        if special == "nginx":
            image = "nginx"
        if special == "split":
            registry, repository = image.split("/", 1)
            entries.append((registry_name or "", quoted(draw, registry)))
        else:
            repository = image
        if repo_name is not None:
            entries.append((repo_name, quoted(draw, repository)))
        known = image if repo_name is not None and image in FRESH else None
        entries.append((tag_name, tag_hole(draw, known, flow=False, empty_ok=False)))
    for name, value in draw(st.permutations(entries)):
        doc.line(f"{ind}- name: {name}")
        doc.line(f"{ind}  value: ", value)


def argo_values(draw: DRAW, doc: Doc, ind: str) -> None:
    """`values: |`: Helm values written as a string, read as the document it is."""
    image = draw(configured)
    doc.line(f"{ind}values: {draw(st.sampled_from(['|', '|-']))}")
    doc.line(f"{ind}  image:")
    doc.line(f"{ind}    repository: {image}")
    hole = tag_hole(draw, image, flow=False)
    doc.line(f"{ind}    tag:{'' if hole.orig == '' else ' '}", hole)
    doc.line(f"{ind}  sidecar:")
    doc.line(f"{ind}    args:")
    doc.line(f"{ind}    - --image=", text_hole(draw, draw(configured)))
    doc.line(f"{ind}    image: ", reference_hole(draw, draw(repositories), flow=False))


def kustomize_string_hole(draw: DRAW) -> Hole:
    """An entry of `kustomize.images`: `[old=]new[:tag][@digest]`, quoted or not."""
    repo = draw(repositories)
    alias = draw(st.sampled_from(["", "", "api=", f"{HELLO}="]))
    tag, digest = draw(tag_states(repo))
    value = repo + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    quote = draw(quotes)
    orig = f"{quote}{alias}{value}{quote}"
    if repo not in FRESH:
        return Hole(orig, orig)
    return Hole(orig, f"{quote}{alias}{repo}:{FRESH[repo]}{quote}", slot=True,
                stale=tag != FRESH[repo] or digest is not None)


DOCUMENTS: list[Callable[[DRAW, Doc], None]] = [workload, helm_values, kustomization, configmap,
                                                argocd]


def _segments(draw: DRAW) -> tuple[list[Seg], str, bool, bool]:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.booleans())
    final_newline = draw(st.integers(0, 3)) > 0
    segs: list[Seg] = [draw(st.sampled_from(["", "", "---\n", "--- # first\n", "# header\n",
                                              "# header\n---\n"]))]
    for number in range(draw(st.integers(1, 4))):
        if number:
            segs.append(draw(st.sampled_from(["---\n", "...\n---\n", "--- # next\n"])))
        doc = Doc(f"d{number}")
        draw(st.sampled_from(DOCUMENTS))(draw, doc)
        segs += doc.segs
    return segs, newline, bom, final_newline


@st.composite
def manifests(draw: DRAW) -> Manifest:
    segs, newline, bom, final_newline = _segments(draw)
    last = segs[-1]
    if isinstance(last, Hole) and last.orig.endswith("\n"):
        # A removed line at the very end: see test_removing_the_last_line_keeps_no_final_newline.
        segs.append("# end\n")
    if not final_newline:
        at = max(i for i, s in enumerate(segs) if isinstance(s, str) and s.endswith("\n"))
        assert all(isinstance(s, Hole) and s.insert_line for s in segs[at + 1:])
        segs[at] = segs[at][:-1]
        segs[at + 1:] = [Hole("", "\n" + s.fixed[:-1], insert_line=True)
                         for s in segs[at + 1:] if isinstance(s, Hole)]
    return assemble(segs, newline, bom)


def assemble(segs: list[Seg], newline: str, bom: bool) -> Manifest:
    text: list[str] = [BOM] if bom else []
    fixed: list[str] = [BOM] if bom else []
    slots: dict[tuple[int, int], bool] = {}
    line, col = 0, 0
    for seg in segs:
        orig = (seg if isinstance(seg, str) else seg.orig).replace("\n", newline)
        if isinstance(seg, Hole) and seg.slot:
            slots[(line + 1, col + 1)] = seg.is_stale
        text.append(orig)
        fixed.append(orig if isinstance(seg, str) else seg.fixed.replace("\n", newline))
        breaks = orig.count("\n")
        line += breaks
        col = len(orig) - orig.rfind("\n") - 1 if breaks else col + len(orig)
    return Manifest("".join(text), "".join(fixed), slots)


# --- what a YAML consumer sees -------------------------------------------------------------

_REF_RE = re.compile(rf"(?P<repo>{re.escape(HELLO)}|{re.escape(API)})"
                     r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?")
# A reference inside a string, as a program that reads the string would find it (a shell, a
# flag parser): the name not part of a longer one (a `docker://` scheme may come before it).
_IN_TEXT_RE = re.compile(
    rf"(?:(?<=//)|(?<![\w.@/-]))(?P<repo>{re.escape(HELLO)}|{re.escape(API)})(?![\w/-]|\.\w)"
    r"(?::(?P<tag>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?")
PLACEHOLDER = "<tag>"


def load(text: str) -> list[Any]:
    return list(YAML(typ="safe").load_all(io.StringIO(text.removeprefix(BOM))))


def _helm_image(node: dict[Any, Any]) -> str | None:
    """As charts read it: the first non-empty of repository/image/name beside `tag:`."""
    repository = next((node[k] for k in ("repository", "image", "name") if node.get(k)), None)
    if "tag" not in node or not isinstance(repository, str):
        return None
    name = repository
    registry = node.get("registry")
    if isinstance(registry, str) and registry:
        name = f"{registry.rstrip('/')}/{name}"
    return name if name in FRESH else None


def _kustomize_image(entry: dict[Any, Any]) -> str | None:
    name = entry.get("newName") or entry.get("name")
    return name if name in FRESH else None


def _walk(node: Any) -> Iterator[dict[Any, Any]]:
    todo, seen = [node], set()
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            yield item
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


def _strings(node: Any) -> Iterator[str]:
    for mapping in _walk(node):
        for value in mapping.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    yield item


def _kustomize_entries(root: Any) -> list[dict[Any, Any]]:
    if not isinstance(root, dict) or root.get("kind") != "Kustomization":
        return []
    images = root.get("images")
    return [e for e in images if isinstance(e, dict)] if isinstance(images, list) else []


def _marked(mapping: dict[Any, Any]) -> list[tuple[str, Any]]:
    """What the generator marked: `MARKED_n: v` and `{name: MARKED_n, value: v}`."""
    out = [(k, v) for k, v in mapping.items() if str(k).startswith("MARKED_")]
    if str(mapping.get("name", "")).startswith("MARKED_") and "value" in mapping:
        out.append(("value", mapping["value"]))
    return out


def _argo_tags(mapping: dict[Any, Any]) -> list[tuple[str, dict[Any, Any]]]:
    """Argo CD's `helm.parameters` as the chart gets them: (image, the tag's parameter)."""
    helm = mapping.get("helm")
    listed = helm.get("parameters") if isinstance(helm, dict) else None
    if not isinstance(listed, list):
        return []
    by_name = {p["name"]: p for p in reversed(listed) if isinstance(p, dict) and "name" in p}
    found = []
    for name, parameter in by_name.items():
        if not name.endswith(("tag", "Tag")):
            continue
        stem, camel = (name[:-3], True) if name.endswith("Tag") else (name[:-4], False)
        values = {key: by_name.get(f"{stem}{key.title()}" if camel else f"{stem}.{key}"
                                   if stem else key, {}).get("value")
                  for key in ("repository", "image", "name", "registry")}
        repository = values["repository"] or values["image"] or values["name"] or (
            by_name.get(stem, {}).get("value") if stem else None)
        registry = values["registry"]
        if isinstance(repository, str) and isinstance(registry, str) and registry:
            repository = f"{registry}/{repository}"
        if repository in FRESH:
            found.append((repository, parameter))
    return found


def _argo_images(mapping: dict[Any, Any]) -> list[str]:
    kustomize = mapping.get("kustomize")
    images = kustomize.get("images") if isinstance(kustomize, dict) else None
    return [i for i in images if isinstance(i, str)] if isinstance(images, list) else []


def _argo_values(mapping: dict[Any, Any]) -> str | None:
    helm = mapping.get("helm")
    values = helm.get("values") if isinstance(helm, dict) else None
    return values if isinstance(values, str) else None


def stale_in_data(text: str) -> list[str]:
    """Every configured reference a YAML consumer would see with an old tag or a digest."""
    problems = []
    for root in load(text):
        problems += _stale_in_document(root)
    return problems


def _stale_in_document(root: Any) -> list[str]:
    problems = []
    for mapping in _walk(root):
        image = mapping.get("image") if "tag" not in mapping else None  # a repository
        m = _REF_RE.fullmatch(image) if isinstance(image, str) else None
        if m and (m["tag"] != FRESH[m["repo"]] or m["digest"]):
            problems.append(f"image {image}")
        helm = _helm_image(mapping)
        if helm is not None and mapping["tag"] != FRESH[helm]:
            problems.append(f"helm {helm}:{mapping['tag']!r}")
        if helm is not None and (mapping.get("digest") or mapping.get("sha")):
            problems.append(f"helm {helm} pinned")
        for _, value in _marked(mapping):
            m = _REF_RE.fullmatch(str(value))
            if m and (m["tag"] != FRESH[m["repo"]] or m["digest"]):
                problems.append(f"marked {value}")
            elif not m and value not in (HELLO_TAG, API_TAG):
                problems.append(f"marked tag {value!r}")
        for repository, parameter in _argo_tags(mapping):
            if parameter.get("value") != FRESH[repository]:
                problems.append(f"parameter {repository}:{parameter.get('value')!r}")
        for entry in _argo_images(mapping):
            m = _REF_RE.fullmatch(entry.rpartition("=")[2])
            if m and (m["tag"] != FRESH[m["repo"]] or m["digest"]):
                problems.append(f"kustomize.images {entry}")
        values = _argo_values(mapping)
        if values is not None:
            problems += [f"helm.values: {p}" for doc in load(values)
                         for p in _stale_in_document(doc)]
    for string in _strings(root):
        for m in _IN_TEXT_RE.finditer(string):
            if (m["tag"] or m["digest"]) and (m["tag"] != FRESH[m["repo"]] or m["digest"]):
                problems.append(f"in a string: {m.group()}")
    for entry in _kustomize_entries(root):
        name = _kustomize_image(entry)
        if name is not None and (entry.get("newTag") != FRESH[name] or "digest" in entry):
            problems.append(f"kustomize {entry}")
    return problems


def _text(value: str) -> str:
    """A string with the tag of each reference inside it a placeholder."""
    return _IN_TEXT_RE.sub(lambda m: f"{m['repo']}:{PLACEHOLDER}" if m["tag"] or m["digest"]
                           else m.group(), value)


def normalise(text: str) -> list[Any]:
    """The data of `text` with every tag a fix may rewrite replaced by a placeholder."""
    return [_normalised(root) for root in load(text)]


def _normalised(root: Any) -> Any:
    def norm(node: Any, kustomize: bool = False) -> Any:
        if isinstance(node, str) and (m := _REF_RE.fullmatch(node)):
            return f"{m['repo']}:{PLACEHOLDER}"
        if isinstance(node, str):
            return _text(node)
        if isinstance(node, list):
            return [norm(item, kustomize) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: norm(value) for key, value in node.items()}
        if _helm_image(node):
            out["tag"] = PLACEHOLDER
            out.update({key: "" for key in ("digest", "sha") if key in node})
        for key, _ in _marked(node):
            out[key] = PLACEHOLDER
        if kustomize and _kustomize_image(node):
            out["newTag"] = PLACEHOLDER
            out.pop("digest", None)
        if node.get("kind") == "Kustomization" and isinstance(node.get("images"), list):
            out["images"] = norm(node["images"], kustomize=True)
        argo(node, out)
        return out

    def argo(node: dict[Any, Any], out: dict[Any, Any]) -> None:
        for _, parameter in _argo_tags(node):
            parameter["value"] = PLACEHOLDER  # the caller's copy: `out` was made from it
        if _argo_tags(node):
            out["helm"] = norm(node["helm"])
        images = _argo_images(node)
        if images:
            out["kustomize"]["images"] = [
                f"{old}{eq}{_REF_RE.fullmatch(new)['repo']}:{PLACEHOLDER}"
                if _REF_RE.fullmatch(new) else _text(i)
                for i in images for old, eq, new in [i.rpartition("=")]]
        values = _argo_values(node)
        if values is not None:
            out["helm"]["values"] = [_normalised(doc) for doc in load(values)]

    return norm(root)


# --- the properties ------------------------------------------------------------------------

# Minimal cases worth keeping: every shape once, CRLF, BOM, no final newline.
TAGLESS_FLOW = assemble(
    ["spec:\n  containers: [{name: a, image: ", Hole(API, f'"{API}:{API_TAG}"', slot=True),
     "}]\n"], "\n", False)
KUSTOMIZE_AT_EOF = assemble(
    ["kind: Kustomization\nimages:\n- name: ", Hole(HELLO, HELLO, slot=True, stale=True),
     Hole("", f"\n  newTag: {HELLO_TAG}", insert_line=True)], "\r\n", True)
HELM_NULL_TAG = assemble(
    ["image:\n  repository: ghcr.io/acme/api\n  tag:", Hole("", f" {API_TAG}", slot=True),
     " # set by CI\n"], "\r\n", False)


@PROPERTIES
@given(manifests())
@example(TAGLESS_FLOW)
@example(KUSTOMIZE_AT_EOF)
@example(HELM_NULL_TAG)
def test_after_fix_no_reference_is_stale(m: Manifest) -> None:
    fixed = fix(m.text)
    assert stale_findings(fixed) == []


@PROPERTIES
@given(manifests())
@example(KUSTOMIZE_AT_EOF)
def test_after_fix_a_yaml_consumer_sees_only_new_tags(m: Manifest) -> None:
    """Not the scanner's word for it: the loaded data has the new tags everywhere."""
    assert stale_in_data(fix(m.text)) == []


@PROPERTIES
@given(manifests())
@example(KUSTOMIZE_AT_EOF)
def test_fix_is_idempotent(m: Manifest) -> None:
    once = fix(m.text)
    assert fix(once) == once


@PROPERTIES
@given(manifests())
@example(TAGLESS_FLOW)
@example(KUSTOMIZE_AT_EOF)
@example(HELM_NULL_TAG)
def test_fixed_text_loads_to_the_same_data_but_its_tags(m: Manifest) -> None:
    assert normalise(fix(m.text)) == normalise(m.text)


def _lines(text: str) -> list[str]:
    return text.removeprefix(BOM).split("\n")


_TAG_TEXT = re.compile(rf"{re.escape(HELLO)}|{re.escape(API)}|{HELLO_TAG}|{API_TAG}"
                       r"|\b(newTag|digest|sha|tag|value):|sha256:")


def _changed_lines(before: list[str], after: list[str], in_place: bool) -> list[str]:
    """Lines on either side that differ: pairwise when no line came or went (a line diff of
    near-identical blocks may pair an unchanged line with a changed one), else by a diff."""
    if in_place:
        return [line for a, b in zip(before, after, strict=True) if a != b for line in (a, b)]
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [line for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"
            for line in before[i1:i2] + after[j1:j2]]


@PROPERTIES
@given(manifests())
@example(TAGLESS_FLOW)
@example(KUSTOMIZE_AT_EOF)
@example(HELM_NULL_TAG)
def test_fix_changes_only_tag_text(m: Manifest) -> None:
    text, fixed = m.text, fix(m.text)
    assert fixed.startswith(BOM) == text.startswith(BOM)
    assert fixed.endswith("\n") == text.endswith("\n")
    bare_lf = fixed.count("\n") - fixed.count("\r\n")
    assert (bare_lf == 0) == (text.count("\n") == text.count("\r\n")), "line endings mixed"
    assert fixed.count("\r") == fixed.count("\r\n")
    # Lines change only where they hold a tag; lines come and go only for kustomize's
    # newTag and digest keys.
    added = sum(1 for line in _lines(fixed) if re.match(r"\s*newTag:", line))
    added -= sum(1 for line in _lines(text) if re.match(r"\s*newTag:", line))
    removed = sum(1 for line in _lines(text) if re.match(r"\s*digest:", line))
    removed -= sum(1 for line in _lines(fixed) if re.match(r"\s*digest:", line))
    assert len(_lines(fixed)) - len(_lines(text)) == added - removed
    for line in _changed_lines(_lines(text), _lines(fixed), added == removed == 0):
        assert _TAG_TEXT.search(line), line
    # And exactly: every byte outside the holes is kept, every hole holds what it must.
    assert fixed == m.fixed


@PROPERTIES
@given(manifests())
@example(TAGLESS_FLOW)
@example(KUSTOMIZE_AT_EOF)
@example(HELM_NULL_TAG)
def test_findings_point_at_the_scalar_holding_the_reference(m: Manifest) -> None:
    findings = scan(m.text, PATH, EXPECTED)
    assert {(f.line, f.column): f.stale for f in findings} == m.slots
    lines = _lines(m.text)
    for f in findings:
        at = lines[f.line - 1].rstrip("\r")[f.column - 1:]
        value = at[1:] if at[:1] in "'\"" else at
        if f.kind == "helm" and f.found is None:
            assert at[:1] in ("", " ", "\t", "'", '"'), at  # after `tag:`
        elif f.kind == "kustomize" and f.found is None:
            assert re.match(r"[a-z./]+", value), at
        else:
            written = value.startswith(f.found or "\0") or value.startswith(f.image)
            assert written or (f.kind == "kustomize" and value[:1].isalpha()), at


# --- bugs found by these properties, pinned ------------------------------------------------

SHARED_TAG = (f"base: &b\n  repository: {API}\n  tag: v1\n"
              f"worker:\n  <<: *b\n  repository: {HELLO}\n")


@st.composite
def shared_tags(draw: DRAW) -> str:
    """One `tag:` scalar that two Helm mappings for different images share."""
    first, second = draw(st.permutations([HELLO, API]))
    tag = draw(tags)
    if draw(st.booleans()):
        return (f"base: &b\n  repository: {first}\n  tag: {tag}\n"
                f"worker:\n  <<: *b\n  repository: {second}\n")
    return (f"a:\n  repository: {first}\n  tag: &t {tag}\n"
            f"b:\n  repository: {second}\n  tag: *t\n")


@settings(max_examples=20, deadline=None)
@given(shared_tags())
@example(SHARED_TAG)
def test_a_tag_shared_by_two_images_is_refused_not_silently_set(text: str) -> None:
    try:
        fixed = fix(text)
    except ScanError:
        return  # refusing is fine: one scalar cannot hold two tags
    assert stale_in_data(fixed) == []


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["\n", "\r\n"]), st.booleans())
@example("\n", False)
def test_removing_the_last_line_keeps_no_final_newline(newline: str, tagged: bool) -> None:
    tag = f"  newTag: {HELLO_TAG}\n" if tagged else ""
    text = (f"kind: Kustomization\nimages:\n- name: {HELLO}\n{tag}"
            f"  digest: sha256:{'ab' * 32}").replace("\n", newline)
    fixed = fix(text)
    assert "digest" not in fixed
    assert not fixed.endswith("\n")


def test_a_tagless_anchor_reused_inside_flow_keeps_its_block_style() -> None:
    """Found by hypothesis: quoting follows where the scalar stands, not where an alias does."""
    text = f"x-image: &img {API}\nservices:\n  web: {{image: *img}}\n"
    assert fix(text) == f"x-image: &img {API}:{API_TAG}\nservices:\n  web: {{image: *img}}\n"


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["&a", "!!str", "&a !!str"]), quotes, tags,
       st.sampled_from(["\n", "\r\n"]))
@example("&a", "", "v1", "\n")
def test_a_value_on_the_line_after_its_anchor_and_a_comment(
    props: str, quote: str, tag: str, newline: str
) -> None:
    text = f"image: {props} # the API{newline}  {quote}{API}:{tag}{quote}{newline}"
    assert [(f.line, f.column) for f in scan(text, PATH, EXPECTED)] == [(2, 3)]
    assert fix(text) == text.replace(f"{API}:{tag}", f"{API}:{API_TAG}")


def _summary(analysis: Any) -> tuple[Any, ...]:
    error = analysis.error
    return (
        [(f.line, f.column, f.image, f.found, f.expected, f.source, f.kind, f.digest, f.stale)
         for f in analysis.findings],
        (error.message, error.line, error.column) if error is not None else None,
    )


@PROPERTIES
@given(manifests())
@example(TAGLESS_FLOW)
@example(KUSTOMIZE_AT_EOF)
def test_scan_cache_on_and_off_give_the_same_results(m: Manifest) -> None:
    """A result restored from the scan cache is the one a fresh scan gives."""
    import os
    import tempfile

    from nix_tag_check.config.load import ImageSpec
    from nix_tag_check.evaluate.groups import Evaluated
    from nix_tag_check.scan.checker import Checker

    evaluated = [Evaluated(ImageSpec(e.name, e.repository, "auto", "x86_64-linux", (), e.source),
                           e.tag, "/nix/store/x") for e in expected_map().values()]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.yaml")
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(m.text)
        cache = os.path.join(folder, "scan.json")
        off = _summary(Checker(evaluated, folder, 1 << 20).analyse(path))
        first = Checker(evaluated, folder, 1 << 20, cache)
        assert _summary(first.analyse(path)) == off
        first.save(keep_unseen=False)
        restored = Checker(evaluated, folder, 1 << 20, cache).analyse(path)
        assert _summary(restored) == off
        assert restored.manifest is None  # restored from the cache, not read and parsed
