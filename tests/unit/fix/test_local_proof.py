"""local_proof: what it proves from the text must be what the full re-parse proves.

Every case it accepts is also run through patch.verify's full proof (a parse of the fixed
text, both trees walked); the property test does the same over generated documents and
edits with every character that could end, start or escape something.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nix_tag_check.errors import PatchError
from nix_tag_check.fix import local_proof
from nix_tag_check.fix import verify as patch
from nix_tag_check.scan.edits import AddKey, Edit, SetValue
from nix_tag_check.yamltree import tree as yt


def _scalar_holding(roots: list[yt.Node], text: str, at: int) -> yt.Scalar:
    return next(n for n in yt.walk(roots) if isinstance(n, yt.Scalar) and n.start <= at < n.end)


def edit_of(text: str, old: str, new: str, nth: int = 0) -> tuple[Edit, yt.Scalar]:
    """An edit replacing the `nth` `old` by `new` inside its scalar, meaning what it writes."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(old, at + 1)
    node = _scalar_holding(yt.parse(text), text, at)
    inner = node.start + (1 if node.style in ("'", '"') else 0)
    value = node.value[: at - inner] + new + node.value[at - inner + len(old) :]
    return Edit(at, at + len(old), new, (SetValue(node.start, value),)), node


def proven(text: str, edits: list[Edit]) -> bool:
    return local_proof.proves(text, patch.apply_edits(text, edits), edits, yt.parse(text))


def full_proof_passes(text: str, edits: list[Edit]) -> bool:
    try:
        patch.verify(text, patch.apply_edits(text, edits), edits)  # no tree: the full proof
    except PatchError:
        return False
    return True


@pytest.mark.parametrize(("source", "old", "new"), [
    ("image: ghcr.io/acme/api:stale\n", ":stale", ":2f8ab3c1"),
    ("image: ghcr.io/acme/api:stale  # pinned by nix\n", ":stale", ":2f8ab3c1"),
    ("image: ghcr.io/acme/api:stale", ":stale", ":2f8ab3c1"),  # no final newline
    ("a:\r\n  image: ghcr.io/acme/api:stale\r\n  b: 1\r\n", ":stale", ":v"),
    ("image: 'ghcr.io/acme/api:stale'\n", ":stale", ":2f8ab3c1"),
    ('image: "ghcr.io/acme/api:stale" # c\n', ":stale", ":2f8ab3c1"),
    ("image: localhost:5000/api:stale\n", ":stale", ":v2"),
    ("image: ghcr.io/acme/api:stale@sha256:0a1b\n", ":stale@sha256:0a1b", ":v2"),
    ("tag: v1.2\n", "v1.2", "v1.3"),  # the whole value, first character too
    ("tag: &t v1\nother: *t\n", "v1", "v2"),
    ("tag: !!str v1\n", "v1", "v2"),
    ("images: [\n  ghcr.io/acme/api:stale\n]\n", ":stale", ":v2"),  # flow, ending its line
    ("- ghcr.io/acme/api:stale\n", ":stale", ":v2"),
    ("? ghcr.io/acme/api:stale\n: v\n", ":stale", ":v2"),
    ("api@sha256:0a1b\n", "1b", "2c"),  # a top-level scalar; a colon not moved
])
def test_a_tag_swapped_inside_a_scalar_ending_its_line_is_proven(
    source: str, old: str, new: str
) -> None:
    edit, _ = edit_of(source, old, new)
    assert proven(source, [edit])
    assert full_proof_passes(source, [edit])


def test_edits_on_several_lines_are_proven_together() -> None:
    source = "a: x:old\nb: 'y:old'\nc: z:old\n"
    edits = [edit_of(source, ":old", ":new", n)[0] for n in range(3)]
    assert proven(source, edits)
    assert full_proof_passes(source, edits)


@pytest.mark.parametrize(("source", "old", "new"), [
    ("tag: v1\n", "v1", "-v1"),  # a new first character that may be an indicator
    ("tag: v1\n", "v1", ".v1"),
    ("image: api:v1\n", "v1", ""),  # a colon would end the scalar
    ("image: api@sha256:0a1b\n", "@sha256:0a1b", ":v2"),  # the first colon moves
    ("image: api\n", "api", "api:v2"),  # a colon where there was none
    ("image: a:b:c\n", "b:c", "b: c"),  # a blank
    ("image: api:v1\n", ":v1", ":v1#x"),
    ("image: api:v1\n", ":v1", ":v1,"),
    ("image: api:v1\n", "api", "a'i"),
    ("image: 'api:v1'\n", "v1", "v'2"),  # a quote in a quoted scalar
    ('image: "api:v1"\n', "v1", "v\\n"),  # an escape
    ('image: "ap\\x69:v1"\n', "v1", "v2"),  # escapes already there: value != text
    ("image: 'it''s:v1'\n", "v1", "v2"),
    ("image: api:v1\n  continued\n", "v1", "v2"),  # a scalar over two lines
    ("image: |\n  api:v1\n", "v1", "v2"),  # a block scalar
    ("images: [api:v1, b]\n", "v1", "v2"),  # a token after it on its line
    ("api:v1: value\n", "v1", "v2"),  # a key: ': ' follows
    ("image: api:v1 # a\x85b: c\n", "v1", "v2"),  # a line break YAML 1.1 knows, in a comment
    ("image: api:v1\ttail\n", "v1", "v2"),
    ("image: " + "a" * 995 + ":v1\n", "v1", "v2"),  # over 1,000: a key may be forgotten
    ("image: " + "a" * 980 + ":v1\n", "v1", "v2" * 10),  # it grows too long
])
def test_what_is_not_provably_local_goes_to_the_full_proof(
    source: str, old: str, new: str
) -> None:
    edit, _ = edit_of(source, old, new)
    assert not proven(source, [edit])


def test_a_value_other_than_the_written_one_is_not_proven() -> None:
    edit, node = edit_of("image: api:v1\n", "v1", "v2")
    lying = Edit(edit.start, edit.end, edit.text, (SetValue(node.start, "api:v3"),))
    assert not proven("image: api:v1\n", [lying])


def test_an_edit_reaching_outside_its_scalar_is_not_proven() -> None:
    source = "image: api:v1\n"
    _, node = edit_of(source, "v1", "v2")
    edit = Edit(node.start - 1, node.end, " api:v2", (SetValue(node.start, "api:v2"),))
    assert not proven(source, [edit])


def test_an_added_key_or_two_edits_of_one_scalar_are_not_proven() -> None:
    source = "k:\n  name: api:v1\n"
    first, node = edit_of(source, "api", "apj")
    second, _ = edit_of(source, "v1", "v2")
    both = [first, Edit(second.start, second.end, "v2", (SetValue(node.start, "apj:v2"),))]
    assert not proven(source, both)
    add = Edit(first.start, first.end, "apj", (AddKey(node.start, "newTag", "v2"),))
    assert not proven(source, [add])


def test_a_filled_empty_value_is_not_proven() -> None:
    source = "tag:\nx: 1\n"
    at = source.index(":") + 1
    node = next(n for n in yt.walk(yt.parse(source)) if isinstance(n, yt.Scalar) and n.value == ""
                and n.start == at)
    assert not proven(source, [Edit(at, at, " v2", (SetValue(node.start, "v2"),))])


# --- the property: whatever the local proof accepts, the full proof accepts -------------

LINES = [
    "key: {S}", "- {S}", "{S}", "a:\n  b: {S}  # note\n  c: d", "k: &anc {S}\nref: *anc",
    "k: !!str {S}", "[\n  {S}\n]", "{{k:\n  {S}\n}}", "[x, {S}]", "{{k: {S}}}", "{S}: v",
    "? {S}\n: v", "k: {S}\n  more", "k: {S}{tail}", "- - {S}", "k:\n- {S}\n- {S}",
    "---\nk: {S}\n...\n---\n{S}", "x" * 990 + ": {S}",
]
SAFE = "ab19:._/-@+"
RISKY = SAFE + " \t#,[]{}?!&*|>'\"%`\\\r\n\x85\u2028=:"


OFTEN = st.sampled_from([True, True, True, False])


def _content(draw: st.DrawFn) -> str:
    alphabet = draw(st.sampled_from([SAFE, SAFE, RISKY]))
    return draw(st.text(alphabet=alphabet, max_size=10))


@st.composite
def documents(draw: st.DrawFn) -> str:
    style = draw(st.sampled_from(["", "", "'", '"']))
    scalar = f"{style}{_content(draw)}{style}"
    tail = draw(st.sampled_from(["", " ", " # c", "#c", ": x", ",", "\t# c", " # \x85x: 1"]))
    text = draw(st.sampled_from(LINES)).format(S=scalar, tail=tail) + "\n"
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.filter_too_much])
@given(st.data())
def test_local_proof_accepts_only_what_the_full_proof_accepts(data: st.DataObject) -> None:
    text = data.draw(documents())
    try:
        roots = yt.parse(text)
    except yt.YamlSyntaxError:
        assume(False)
        raise
    scalars = [n for n in yt.walk(roots) if isinstance(n, yt.Scalar)]
    assume(scalars)
    edits = []
    for node in data.draw(st.lists(st.sampled_from(scalars), min_size=1, max_size=2,
                                   unique_by=id)):
        inner = node.start + (1 if node.style in ("'", '"') else 0)
        inner_end = node.end - (inner - node.start)
        low, high = (inner, inner_end) if data.draw(OFTEN) else (node.start - 1, node.end + 1)
        start = data.draw(st.integers(max(0, low), max(0, min(len(text), high))))
        end = data.draw(st.integers(start, max(start, min(len(text), high))))
        new = _content(data.draw)
        written = text[inner:start] + new + text[end:inner_end]
        value = written if data.draw(OFTEN) else _content(data.draw)
        edits.append(Edit(start, end, new, (SetValue(node.start, value),)))
    try:
        patch.apply_edits(text, edits)
    except PatchError:  # overlapping
        assume(False)
    if local_proof.proves(text, patch.apply_edits(text, edits), edits, roots):
        assert full_proof_passes(text, edits)


@pytest.mark.parametrize("change", [
    lambda fixed: fixed + "x: 1\n", lambda fixed: fixed.replace("b: 1", "b: 2"),
    lambda fixed: fixed[:-1], lambda fixed: fixed.replace(":v2", ":v3"),
])
def test_a_fixed_text_other_than_the_edits_splice_is_not_proven(
    change: Callable[[str], str]
) -> None:
    source = "image: api:v1\nb: 1\n"
    edit, _ = edit_of(source, ":v1", ":v2")
    fixed = change(patch.apply_edits(source, [edit]))
    assert not local_proof.proves(source, fixed, [edit], yt.parse(source))


def test_each_edit_is_proven_on_its_own_and_the_others_are_named() -> None:
    source = "a: api:v1\nb: {image: api:v1}\nc: api:v1  # c\n"
    edits = [edit_of(source, ":v1", ":v2", nth)[0] for nth in range(3)]
    fixed = patch.apply_edits(source, edits)
    assert local_proof.unproven(source, fixed, edits, yt.parse(source)) == [edits[1]]
    assert local_proof.unproven(source, fixed + "x", edits, yt.parse(source)) is None
