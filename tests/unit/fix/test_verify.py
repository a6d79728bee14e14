"""patch.verify: the fixed text must be the original with exactly the edits' meanings."""

from __future__ import annotations

import pytest

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
