"""Properties of --fix over generated manifests, and fuzzing of the scanner and patcher."""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path

import pytest
from conftest import API, API_TAG, FIXTURES, HELLO, HELLO_TAG, expected_map
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from nix_tag_check import yaml_tree as yt
from nix_tag_check.patch import apply_edits, verify
from nix_tag_check.scan import Finding, scan

EXPECTED = expected_map()
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
DIGEST = "sha256:" + "0123456789abcdef" * 4
TAG_CHARS = re.compile(r"[\w.:@-]*")  # a tag, its colon, a digest

tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
repos = st.sampled_from([HELLO, API, "ghcr.io/acme/api-gateway", "registry.example.com/hello"])


@st.composite
def references(draw: st.DrawFn) -> str:
    repo = draw(repos)
    fresh = {HELLO: HELLO_TAG, API: API_TAG}.get(repo)
    tag = draw(st.one_of(st.none(), tags, st.just(fresh or "v1")))
    digest = draw(st.booleans())
    return repo + (f":{tag}" if tag else "") + (f"@{DIGEST}" if digest else "")


def _quoted(draw: st.DrawFn, value: str) -> str:
    style = draw(st.sampled_from(["", "'", '"']))
    return f"{style}{value}{style}"


def _comment(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "  # pinned by CI", " # registry.example.com/team/hello:x"]))


@st.composite
def deployment(draw: st.DrawFn) -> list[str]:
    lines = ["apiVersion: apps/v1", "kind: Deployment", "metadata:", "  name: app", "spec:",
             "  template:", "    spec:", "      containers:"]
    for i in range(draw(st.integers(1, 3))):
        ref = draw(references())
        lines += [f"        - name: c{i}", f"          image: {_quoted(draw, ref)}{_comment(draw)}"]
    if draw(st.booleans()):
        init = draw(references())
        lines += ["      initContainers:", f'        - {{name: init, image: "{init}"}}']
    return lines


@st.composite
def helm_values(draw: st.DrawFn) -> list[str]:
    registry = draw(st.booleans())
    repo = "team/hello" if registry else HELLO
    lines = ["image:"]
    if registry:
        lines.append("  registry: registry.example.com")
    lines += [f"  repository: {repo}", f"  tag: {_quoted(draw, draw(tags))}{_comment(draw)}"]
    return lines


@st.composite
def markers(draw: st.DrawFn) -> list[str]:
    bare = draw(tags)
    return ["apiVersion: v1", "kind: ConfigMap", "data:",
            f"  HELLO_TAG: {_quoted(draw, bare)} # nix-tag-check: {HELLO}",
            f"  API_IMAGE: \"{API}:{draw(tags)}\"  # nix-tag-check: {API}"]


@st.composite
def anchored(draw: st.DrawFn) -> list[str]:
    ref = draw(references())
    return [f"x-image: &img {_quoted(draw, ref)}", "services:",
            "  web: {image: *img}", "  worker:", "    image: *img"]


@st.composite
def manifests(draw: st.DrawFn) -> str:
    documents = draw(st.lists(st.one_of(deployment(), helm_values(), markers(), anchored()),
                              min_size=1, max_size=4))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    body = newline.join(f"---{newline}" + newline.join(d) if i or draw(st.booleans())
                        else newline.join(d) for i, d in enumerate(documents))
    if draw(st.booleans()):
        body += newline
    return ("\ufeff" if draw(st.booleans()) else "") + body


def fix(text: str) -> str:
    """What --fix writes: every stale edit, proven by the self-check."""
    stale = [f for f in scan(text, "m.yaml", EXPECTED) if f.stale]
    fixed = apply_edits(text, [e for f in stale for e in f.edits])
    verify(text, fixed, stale)
    return fixed


def _stale(text: str) -> list[Finding]:
    return [f for f in scan(text, "m.yaml", EXPECTED) if f.stale]


@SETTINGS
@given(manifests())
def test_after_fix_every_reference_is_fresh(text: str) -> None:
    assert _stale(fix(text)) == []


@SETTINGS
@given(manifests())
def test_fix_twice_is_fix_once(text: str) -> None:
    once = fix(text)
    assert fix(once) == once


_REF_RE = re.compile(rf"({re.escape(HELLO)}|{re.escape(API)})(:[\w.-]+)?(@sha256:[0-9a-f]+)?")


def _normalise(node: object, key: str = "") -> object:
    """Data with every configured tag (and digest) replaced by a placeholder."""
    if isinstance(node, dict):
        return {k: _normalise(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    if key in ("tag", "HELLO_TAG"):
        return "<tag>"
    if isinstance(node, str):
        return _REF_RE.sub(lambda m: f"{m[1]}:<tag>", node) if _REF_RE.fullmatch(node) else node
    return node


def _data(text: str) -> object:
    return [_normalise(d) for d in YAML(typ="safe").load_all(io.StringIO(text.lstrip("\ufeff")))]


@SETTINGS
@given(manifests())
def test_fixed_file_parses_to_the_same_data_but_tags(text: str) -> None:
    assert _data(fix(text)) == _data(text)


@SETTINGS
@given(manifests())
@example("x-image: &img registry.example.com/team/hello\nservices:\n  web: {image: *img}\n")
def test_fix_changes_only_tag_characters(text: str) -> None:
    fixed = fix(text)
    assert fixed.startswith("\ufeff") == text.startswith("\ufeff")
    assert fixed.endswith("\n") == text.endswith("\n")
    assert fixed.count("\r\n") == text.count("\r\n")
    assert fixed.count("\n") == text.count("\n")
    matcher = difflib.SequenceMatcher(None, text, fixed, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            assert TAG_CHARS.fullmatch(text[i1:i2]) and TAG_CHARS.fullmatch(fixed[j1:j2]), op


@SETTINGS
@given(manifests())
def test_findings_point_at_the_scalar_holding_the_tag(text: str) -> None:
    lines = text.lstrip("\ufeff").split("\n")
    for finding in scan(text, "m.yaml", EXPECTED):
        at = lines[finding.line - 1].rstrip("\r")[finding.column - 1:]
        value = at[1:] if at[:1] in "'\"" else at
        if finding.kind in ("image", "marker") and value.startswith(finding.image):
            continue
        assert value.startswith(finding.found) if finding.found else value[:1] in "'\"\n"


# Fuzzing: arbitrary and mutated input never escapes as anything but a located error.

_ALPHABET = st.sampled_from([*"{}[]&*!#:-|>'\"\t \n\r,?%@`~\\", "\x00", "\x85", "\ufeff", "é",
                             "a", "1"])
_NAMES = st.sampled_from([HELLO, API, f"{HELLO}:x", f"image: {API}", "<<: *a", "&a ", "*a"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ALPHABET, _NAMES, st.text(max_size=5)), max_size=60).map("".join))
@example("image: &a [*a]\n")
@example(f"a: &a {{image: {HELLO}:x}}\nb: {{<<: [*a, *a, *a]}}\n")
def test_scanner_raises_only_located_errors_on_any_text(text: str) -> None:
    try:
        findings = scan(text, "fuzz.yaml", EXPECTED)
    except yt.LocatedError as exc:
        assert exc.line >= 0 and exc.column >= 0
        return
    stale = [f for f in findings if f.stale]
    fixed = apply_edits(text, [e for f in stale for e in f.edits])
    verify(text, fixed, stale)
    assert _stale(fixed) == []


SHAPES = sorted(p for p in (FIXTURES / "shapes").iterdir()
                if p.suffix in (".yaml", ".json") and ".fixed." not in p.name)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SHAPES)).read_bytes().decode()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "line", "crlf", "alias"]))
        if kind == "delete":
            text = text[:at] + text[at + 1:]
        elif kind == "insert":
            text = text[:at] + draw(_ALPHABET) + text[at:]
        elif kind == "line":
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif kind == "crlf":
            text = text.replace("\r\n", "\n") if "\r\n" in text else text.replace("\n", "\r\n")
        else:
            text = text[:at] + draw(st.sampled_from([" &z ", " *z", "\t", " !!str "])) + text[at:]
    return text


@settings(max_examples=300, deadline=None)
@given(mutated())
@example(f"kind: Kustomization\nimages:\n  - name: {API}\n    digest: {DIGEST}\n"
         f"    digest: {DIGEST}\n")
def test_mutated_manifests_fix_safely_or_fail_cleanly(text: str) -> None:
    try:
        yt.parse(text)
    except yt.LocatedError:
        with pytest.raises(yt.LocatedError):
            scan(text, "m.yaml", EXPECTED)
        return
    try:
        fixed = fix(text)
    except yt.LocatedError:
        return  # a reference we refuse to rewrite: reported, not written
    yt.parse(fixed)  # parsed before, parses after
    assert fix(fixed) == fixed


def test_a_large_file_is_scanned(tmp_path: Path) -> None:
    one = (FIXTURES / "shapes/deployment.yaml").read_text()
    text = "---\n".join([one] * 900)
    assert len(text.encode()) > 1_000_000
    assert len(_stale(text)) == 900 * len(_stale(one))
