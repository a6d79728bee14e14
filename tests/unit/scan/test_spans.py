"""spans.offsets: each value character is placed where the text writes it, in every style."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nix_tag_check.errors import YamlSyntaxError
from nix_tag_check.scan import spans
from nix_tag_check.yamltree import tree as yt

WORDS = st.text("abcxyz019:/.-_@=", min_size=1, max_size=8).filter(
    lambda w: not w.startswith(("-", ":", "@")) and ": " not in w and not w.endswith(":"))
LINES = st.lists(st.one_of(st.lists(WORDS, min_size=1, max_size=4).map(" ".join), st.just("")),
                 min_size=1, max_size=5)


def _written(text: str, mapped: list[int], value: str) -> None:
    for index, offset in enumerate(mapped):
        if offset >= 0:
            char = text[offset]
            assert char == value[index] or (value[index] == "\n" and char in "\r\n"), index


@st.composite
def scalars(draw: st.DrawFn) -> str:
    """A document of one key whose value spans lines, in any style."""
    lines = draw(LINES)
    if not lines[0]:
        lines[0] = "first"
    style = draw(st.sampled_from(["plain", "'", '"', "|", "|-", "|+", ">", ">-"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    indent = " " * draw(st.integers(1, 4))
    if style in ("'", '"'):
        body = (newline + indent).join(lines)
        return f"k: {style}{body}{style}{newline}"
    if style == "plain":
        body = (newline + indent).join(line or "" for line in lines)
        return f"k: {body.rstrip()}{newline}"
    return f"k: {style}{newline}" + "".join(f"{indent}{line}{newline}" for line in lines)


@settings(max_examples=400, deadline=None)
@given(scalars())
def test_each_placed_character_is_the_one_the_text_writes(text: str) -> None:
    try:
        [root] = yt.parse(text)
    except YamlSyntaxError:
        return  # the generator wrote no YAML (a plain line that starts an indicator)
    assert isinstance(root, yt.Mapping)
    [(_, node)] = root.pairs
    assert isinstance(node, yt.Scalar)
    mapped = spans.offsets(text, node)
    if node.style == ">":
        lines = [line for line in text[node.start : node.end].splitlines()[1:] if line.strip()]
        assert (mapped is None) is (len(lines) > 1)  # folded lines are never placed
        if mapped is None:
            return
    assert mapped is not None, (node.style, node.value)
    assert len(mapped) == len(node.value)
    _written(text, mapped, node.value)


@pytest.mark.parametrize(("text", "placed"), (
    ('k: "a\\x41b"\n', [4, -1, 9]),
    ("k: 'it''s'\n", [4, 5, -1, 8]),
    ("k: a\n  b\n", [3, -1, 7]),
    ("k: |\n  a\n   b\n", [7, 8, 11, 12, 13]),
    ('k: "a \\\n   b"\n', [4, 5, 11]),
))
def test_places(text: str, placed: list[int]) -> None:
    [root] = yt.parse(text)
    assert isinstance(root, yt.Mapping)
    node = root.pairs[0][1]
    assert isinstance(node, yt.Scalar)
    assert spans.offsets(text, node) == placed


@pytest.mark.parametrize(("start", "end", "span"), (
    (0, 1, (4, 5)), (0, 2, None), (2, 3, (9, 10)), (1, 1, None), (3, 3, (10, 10)),
))
def test_a_span_must_be_written_side_by_side(start: int, end: int,
                                             span: tuple[int, int] | None) -> None:
    assert spans.span([4, -1, 9], start, end) == span
