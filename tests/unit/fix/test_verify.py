"""patch.verify: the fixed text must be the original with exactly the edits' meanings."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nix_tag_check.fix import local_proof
from nix_tag_check.fix import verify as patch
from nix_tag_check.scan.edits import AddKey, Edit, RemoveKey, SetPart, SetValue
from nix_tag_check.yamltree import tree as yt

ORIGINAL = "a:\n  image: x:old\n  b: [1, 2]\nk:\n  name: n\n  digest: d\n"
AT_OLD = ORIGINAL.index("x:old")
AT_K = ORIGINAL.index("name: n")
SET = Edit(AT_OLD, AT_OLD + 5, "x:new", (SetValue(AT_OLD, "x:new"),))
ADD = Edit(0, 0, "", (AddKey(AT_K, "newTag", "t"),))
REMOVE = Edit(0, 0, "", (RemoveKey(AT_K, "digest"),))


@pytest.mark.parametrize(("patched", "edits"), [
    (ORIGINAL.replace("x:old", "x:new"), [SET]),
    (ORIGINAL.replace("x:old", "x:new").replace("  digest: d\n", "  newTag: t\n"),
     [SET, ADD, REMOVE]),
    (ORIGINAL.replace("  name: n\n", "  newTag: t\n  name: n\n"), [ADD]),  # any place
])
def test_intended_changes_pass(patched: str, edits: list[Edit]) -> None:
    patch.verify(ORIGINAL, patched, edits, yt.parse(ORIGINAL))


@pytest.mark.parametrize(("patched", "edits"), [
    (ORIGINAL.replace("x:old", "x:other"), [SET]),  # not the value it meant
    (ORIGINAL.replace("x:old", "x:new").replace("[1, 2]", "[1, 3]"), [SET]),  # another value
    (ORIGINAL.replace("x:old", "x:new").replace("[1, 2]", "[1, 2, 3]"), [SET]),  # an item more
    (ORIGINAL.replace("  image: x:old\n  b: [1, 2]\n", "  b: [1, 2]\n  image: x:new\n"),
     [SET]),  # keys moved
    (ORIGINAL.replace("x:old", "x:new") + "---\nextra: doc\n", [SET]),  # a document more
    (ORIGINAL.replace("x:old", "x:new").replace("b: [", "b: &a ["), [SET]),  # an anchor more
    (ORIGINAL.replace("  digest: d\n", ""), [ADD, REMOVE]),  # the key not added
    (ORIGINAL.replace("  name: n\n", "  newTag: u\n  name: n\n"), [ADD]),  # another value
])
def test_anything_else_is_refused(patched: str, edits: list[Edit]) -> None:
    with pytest.raises(patch.PatchError):
        patch.verify(ORIGINAL, patched, edits, yt.parse(ORIGINAL))


# By piece: an edit local_proof cannot prove costs a parse of its piece of the text only.

def _config_map(i: int) -> str:
    return f"---\nkind: ConfigMap\nmetadata: {{name: cm{i}}}\ndata:\n  image: ghcr.io/a/b:old\n"


FLOW_POD = "---\nkind: Pod\nspec: {containers: [{name: app, image: ghcr.io/a/b:old}]}\n"
STREAM = _config_map(0) + _config_map(1) + FLOW_POD + _config_map(2) + _config_map(3)


def _set(text: str, nth: int, old: str, new: str, value: str | None = None) -> Edit:
    """Replace the `nth` `old` by `new` in the scalar holding it (meaning `value`)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(old, at + 1)
    node = next(n for n in yt.walk(yt.parse(text))
                if isinstance(n, yt.Scalar) and n.start <= at < n.end)
    written = node.value[: at - node.start] + new + node.value[at - node.start + len(old) :]
    return Edit(at, at + len(old), new, (SetValue(node.start, value or written),))


def test_an_edit_the_text_cannot_prove_is_proven_by_its_piece_alone() -> None:
    edits = [_set(STREAM, 1, ":old", ":new"), _set(STREAM, 2, ":old", ":new")]  # block, flow
    patched = patch.apply_edits(STREAM, edits)
    assert local_proof.unproven(STREAM, patched, edits, yt.parse(STREAM)) == edits[1:]
    assert patch.by_piece(STREAM, patched, edits, edits[1:])
    patch.verify(STREAM, patched, edits, yt.parse(STREAM))


@pytest.mark.parametrize(("new", "value"), [
    (":new", ":other"),  # not the value it meant
    (":new}]}\n---\n{x: [{y: z", None),  # a document more
    (":new, extra: 1", None),  # a key more
    (":new}]}\n%YAML 1.2\n---\n{x: [{y: z", None),  # a directive: the next cut is lost
    (":new\n", None),
])
def test_a_piece_that_does_not_read_as_meant_is_refused(new: str, value: str | None) -> None:
    edit = _set(STREAM, 2, ":old", new, value and "ghcr.io/a/b" + value)
    patched = patch.apply_edits(STREAM, [edit])
    assert not patch.by_piece(STREAM, patched, [edit], [edit])
    with pytest.raises(patch.PatchError):
        patch.verify(STREAM, patched, [edit], yt.parse(STREAM))


def test_an_edit_across_a_cut_is_left_to_the_full_proof() -> None:
    # It writes what was there, yet means another value: no piece may take it for its own.
    at = STREAM.index(FLOW_POD)
    flow_image = STREAM.index("ghcr", at)
    edit = Edit(at - 1, at + 3, "\n---", (SetValue(flow_image, "x"),))
    assert not patch.by_piece(STREAM, patch.apply_edits(STREAM, [edit]), [edit], [edit])
    with pytest.raises(patch.PatchError):
        patch.verify(STREAM, STREAM, [edit], yt.parse(STREAM))


def test_an_edit_that_moves_a_cut_is_left_to_the_full_proof() -> None:
    # Each piece would read as before, but the `---` no longer starts a line of the text.
    at = STREAM.index(FLOW_POD)
    image = STREAM.rindex("ghcr", 0, at)
    edit = Edit(at - 1, at, " ", (SetValue(image, "ghcr.io/a/b:old"),))
    patched = patch.apply_edits(STREAM, [edit])
    assert not patch.by_piece(STREAM, patched, [edit], [edit])
    with pytest.raises(patch.PatchError):
        patch.verify(STREAM, patched, [edit], yt.parse(STREAM))


_JUNK = st.text(alphabet=st.sampled_from(list("ab:,-{}[] #%.'\"\n")), max_size=8)
_PIECE_TEXT = st.one_of(st.sampled_from([":new", "x", "a:b", "1", ""]), _JUNK)
_OFTEN = st.sampled_from([True, True, True, False])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_the_piece_proof_accepts_only_what_the_full_proof_accepts(data: st.DataObject) -> None:
    documents = data.draw(st.lists(st.sampled_from([FLOW_POD, _config_map(0), "---\nk: [a, b]\n",
                                                    "---\nk: |\n  x\n  --- y\n"]),
                                   min_size=2, max_size=4))
    text = "".join(documents)
    scalars = [n for n in yt.walk(yt.parse(text)) if isinstance(n, yt.Scalar) and n.value]
    edits = []
    for node in data.draw(st.lists(st.sampled_from(scalars), min_size=1, max_size=2,
                                   unique_by=id)):
        low, high = (node.start, node.end) if data.draw(_OFTEN) else (node.start - 1,
                                                                       node.end + 1)
        start = data.draw(st.integers(low, high))
        end = data.draw(st.integers(start, high))
        new = data.draw(_PIECE_TEXT)
        written = text[node.start : start] + new + text[end : node.end]
        value = written if data.draw(_OFTEN) else data.draw(_PIECE_TEXT)
        edits.append(Edit(start, end, new, (SetValue(node.start, value),)))
    try:
        patched = patch.apply_edits(text, edits)
    except patch.PatchError:  # overlapping
        assume(False)
        raise
    if patch.by_piece(text, patched, edits, edits):
        patch.verify(text, patched, edits)  # the full proof: raises if it disagrees


def test_pieces_that_are_most_of_the_text_are_left_to_the_full_proof() -> None:
    text = FLOW_POD + "---\na: 1\n"
    edit = _set(text, 0, ":old", ":new")
    assert not patch.by_piece(text, patch.apply_edits(text, [edit]), [edit], [edit])
    patch.verify(text, patch.apply_edits(text, [edit]), [edit], yt.parse(text))
# A part of one value: a tag inside a string, a line of a script, Helm values in a string.
SCRIPT = "s: |\n  run x:old\n  run y:v1\nv: |\n  tag: old\n  k: 1\n"
AT_S, AT_V = SCRIPT.index("|"), SCRIPT.index("|", SCRIPT.index("v:"))
RUN = SCRIPT.index("x:old") + 2  # `old`, in the text
IN_S = len("run x:")  # `old`, in the first value
PART = Edit(RUN, RUN + 3, "new", (SetPart(AT_S, IN_S, IN_S + 3, "new"),))
TAG = SCRIPT.index("tag: old") + 5
INNER = "tag: old\nk: 1\n"
WITHIN = Edit(TAG, TAG + 3, "new", (SetPart(AT_V, 5, 8, "new", (SetValue(5, "new"),)),))


@pytest.mark.parametrize(("patched", "edits"), [
    (SCRIPT.replace("x:old", "x:new"), [PART]),
    (SCRIPT.replace("tag: old", "tag: new"), [WITHIN]),
    (SCRIPT.replace("x:old", "x:new").replace("tag: old", "tag: new"), [PART, WITHIN]),
])
def test_a_part_of_a_value_changes_as_meant(patched: str, edits: list[Edit]) -> None:
    patch.verify(SCRIPT, patched, edits, yt.parse(SCRIPT))


@pytest.mark.parametrize(("patched", "edits"), [
    (SCRIPT.replace("x:old", "x:other"), [PART]),  # not the part it meant
    (SCRIPT.replace("x:old", "x:new").replace("y:v1", "y:v2"), [PART]),  # another part too
    (SCRIPT.replace("tag: old", "tag: new"),  # a part that means nothing inside YAML
     [Edit(TAG, TAG + 3, "new", (SetPart(AT_V, 5, 8, "new"), SetPart(AT_V, 0, 0, "",
                                                                   (SetValue(5, "new"),))))]),
    (SCRIPT.replace("tag: old", "tag: new"),  # the YAML inside means another value
     [Edit(TAG, TAG + 3, "new", (SetPart(AT_V, 5, 8, "new", (SetValue(5, "other"),)),))]),
    (SCRIPT.replace("tag: old\n  k: 1", "tag: new\n  k: [1"),  # inside, it would not parse
     [Edit(TAG, TAG + 10, "new\n  k: [1",
           (SetPart(AT_V, 5, 11, "new\nk: [1", (SetValue(5, "new"),)),))]),
    (SCRIPT.replace("x:old", "x:new"),  # two parts of one value that overlap
     [PART, Edit(RUN, RUN, "", (SetPart(AT_S, IN_S + 1, IN_S + 2, "e"),))]),
])
def test_a_part_that_changes_anything_else_is_refused(patched: str, edits: list[Edit]) -> None:
    with pytest.raises(patch.PatchError):
        patch.verify(SCRIPT, patched, edits, yt.parse(SCRIPT))
