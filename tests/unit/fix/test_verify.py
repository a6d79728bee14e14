"""patch.verify: the fixed text must be the original with exactly the edits' meanings."""

from __future__ import annotations

import pytest

from nix_tag_check.fix import verify as patch
from nix_tag_check.scan.edits import AddKey, Edit, RemoveKey, SetValue
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
