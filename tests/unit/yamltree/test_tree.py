"""The YAML reader: YAML 1.2 documents libyaml refuses are read, with the same positions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]
from ruamel.yaml.error import YAMLError

from nix_tag_check.yamltree import tree as yt


def _scalars(text: str) -> list[tuple[str, int, int, int]]:
    return [(n.value, n.start, n.line, n.column)
            for n in yt.walk(yt.parse(text)) if isinstance(n, yt.Scalar)]


@pytest.mark.parametrize(("text", "value"), [
    ("{name: api, image: ghcr.io/acme/api:1}\n", "ghcr.io/acme/api:1"),
    ("- [a, ghcr.io/acme/api:1]\n", "ghcr.io/acme/api:1"),
    ("x: {note: a:b}\n", "a:b"),
])
def test_colon_in_flow_plain_scalar_is_read(text: str, value: str) -> None:
    found = [v for v, start, _, _ in _scalars(text) if v == value]
    assert found == [value]
    assert text[text.index(value):].startswith(value)


@pytest.mark.parametrize(("text", "before"), [
    ("a: {x: 1}\nb:\nc: {y: a:b}\n", ["b:"]),  # libyaml refuses the last line
    ("c: {y: a:b}\nb:   # note\nd:", ["b:", "d:"]),
    ("a: {x: 1}\nb:\n", ["b:"]),  # libyaml reads it: the positions to agree with
])
def test_empty_value_is_placed_just_past_its_colon_by_either_parser(
    text: str, before: list[str]
) -> None:
    empty = [start for value, start, _, _ in _scalars(text) if value == ""]
    assert [text[at - 2 : at] for at in empty] == before


def _libyaml_refuses(text: str) -> bool:
    parser = CParser(text)
    try:
        while parser.get_event() is not None:
            pass
    except YAMLError:
        return True
    finally:
        parser.dispose()
    return False


@pytest.mark.parametrize(("document", "refused"), [
    ("k:\n", "zz: {f: g:h}\n"),
    ("k:   # note\nj: 1\n", "zz: {f: g:h}\n"),
    ("? a\n? b\nc:\n", "zz: {f: g:h}\n"),
    ("? &d\n? x\n", "zz: {f: g:h}\n"),
    ("a: &x\nb: !!str\n", "zz: {f: g:h}\n"),
    ("x: {a: }\n", "zz: {f: g:h}\n"),
    ("x: {a:\n  }\n", "zz: {f: g:h}\n"),
    ("x: {a: , b: 1}\n", "zz: {f: g:h}\n"),
    ("x: {? }\n", "zz: {f: g:h}\n"),
    ("x: {? a}\n", "zz: {f: g:h}\n"),
    ("x: [a: ]\n", "zz: {f: g:h}\n"),
    ("x: [a: , b]\n", "zz: {f: g:h}\n"),
    ("x: { &x : &y }\n", "zz: {f: g:h}\n"),
    ("- \n- \n-\n", "- {f: g:h}\n"),
    ("---\n...\n", "{f: g:h}\n"),
    ("--- # empty\n...\n", "{f: g:h}\n"),
])
def test_an_empty_value_stands_where_libyaml_puts_it_whichever_parser_reads_it(
    document: str, refused: str
) -> None:
    assert _libyaml_refuses(document + refused) and not _libyaml_refuses(document)
    libyaml = _scalars(document)
    assert _scalars(document + refused)[: len(libyaml)] == libyaml


def test_same_positions_as_libyaml_where_both_read() -> None:
    text = "a: &x {k: v}\nb: [1, 'two', \"three\"]\nc: *x\nd:\n"
    libyaml = _scalars(text)
    assert _scalars(text + "e: {f: g:h}\n")[: len(libyaml)] == libyaml


def test_unknown_yaml_version_is_a_located_error() -> None:
    with pytest.raises(yt.YamlSyntaxError) as caught:
        yt.parse("%YAML 1.3\n---\n{a: b:c}\n")
    assert caught.value.line >= 1


def test_every_leading_bom_is_skipped_and_offsets_stay_exact() -> None:
    text = "\ufeff\ufeffimage: x\n"
    (root,) = yt.parse(text)
    assert isinstance(root, yt.Mapping)
    value = root.pairs[0][1]
    assert isinstance(value, yt.Scalar)
    assert text[value.start : value.end] == "x"


@pytest.mark.parametrize(("text", "line", "column"), [
    ("\ud800", 1, 1),
    ("a: 1\nb: x\udfff\n", 2, 5),
    ("\ufeffa: \ud800", 1, 5),
])
def test_a_lone_surrogate_is_a_located_error(text: str, line: int, column: int) -> None:
    with pytest.raises(yt.YamlSyntaxError) as raised:
        yt.parse(text)
    assert (raised.value.line, raised.value.column) == (line, column)


# Only the piece of a stream that libyaml refuses is read again by the YAML 1.2 parser.

FLOW_COLON = "{f: g:h}"  # libyaml refuses a colon inside a flow scalar; YAML 1.2 reads it


def _yaml12_alone(text: str) -> list[yt.Node]:
    """The whole text as the YAML 1.2 parser alone reads it: what parse() did, at the
    price of the whole text, when libyaml refused any of it."""
    body = text.lstrip(yt.BOM)
    stream = yt._Stream(body, len(text) - len(body), yt.MAX_DEPTH)
    stream._pure(0, len(body))
    return stream.roots


def _tree(roots: list[yt.Node]) -> list[tuple[object, ...]]:
    """Kinds, values and positions of every node, in document order, per document."""
    out: list[tuple[object, ...]] = []
    for number, root in enumerate(roots):
        for node in yt.walk([root]):
            row: tuple[object, ...] = (number, type(node).__name__, node.start, node.line,
                                       node.column, node.anchor)
            if isinstance(node, yt.Scalar):
                row += (node.value, node.end, node.style)
            elif isinstance(node, yt.Mapping):
                row += (node.end, node.flow, len(node.pairs))
            elif isinstance(node, yt.Sequence):
                row += (node.flow, len(node.items))
            elif isinstance(node, yt.Alias):
                row += (node.target.start if node.target is not None else None,)
            out.append(row)
    return out


@pytest.mark.parametrize(("text", "expected"), [
    ("a: 1\n", [0]),
    ("a: 1\n---\nb: 2\n", [0, 5]),
    ("---\na: 1\n---\nb: 2\n", [0, 9]),
    ("a: 1\n--- b\n", [0, 5]),
    ("a: 1\n---\tb\n", [0, 5]),
    ("a: 1\n---", [0, 5]),
    ("a: 1\r\n---\r\nb\r\n", [0, 6]),
    ("a: 1\r---\rb\r", [0, 5]),
    ("a: 1\n...\n---\nb\n", [0, 9]),
    ("%YAML 1.2\n---\na\n---\nb\n", [0, 16]),
])
def test_a_stream_is_cut_where_a_document_starts_with_a_marker(
    text: str, expected: list[int]
) -> None:
    assert yt.cuts(text) == expected


@pytest.mark.parametrize("text", [
    "a: 1\n----\nb\n",  # not a marker
    "a: 1\n---b\n",
    "a: |\n  ---\n",  # indented: a line of the block scalar
    "a: 1\n ---\n",
    "a: 1\n...\n%YAML 1.2\n---\nb\n",  # the directive is the next document's
    "a: 1\n...\n%TAG !e! tag:example.com,2000:\n---\nb\n",
    "--- |\n%x\n---\nb\n",  # a `%` line of a block scalar only costs a cut
    "a: 1\u2028---\u2028b\n",  # U+2028 is no line break in YAML 1.2
    "a: 1\x85---\nb\n",
])
def test_a_stream_is_not_cut_where_the_next_document_may_depend_on_what_precedes(
    text: str,
) -> None:
    assert yt.cuts(text) == [0]


@pytest.mark.parametrize("text", [
    f"a: 1\n---\n{FLOW_COLON}\n---\nb: 2\n",
    f"{FLOW_COLON}\n---\nb: 2\n",
    f"a: 1\n---\n{FLOW_COLON}",
    f"a: 1\n--- {FLOW_COLON}\n--- b\n",
    f"a: 1\n...\n---\n{FLOW_COLON}\n...\n---\nb: 2\n",
    f"a: 1\n...\n{FLOW_COLON}\n...\nb: 2\n",  # bare documents: one piece
    f"a: 1\n...\n%YAML 1.2\n---\n{FLOW_COLON}\n...\n%YAML 1.2\n---\nb: 2\n",
    f"%TAG !e! tag:example.com,2000:\n---\nx: !e!foo {FLOW_COLON}\n...\n"
    "%TAG !e! tag:example.net,2000:\n---\ny: !e!bar z\n",
    f"a: |\n  text\n  --- not a marker\n---\n{FLOW_COLON}\n---\nb: >\n  x\n\n",
    f"--- |\n  text\n---\n{FLOW_COLON}\n--- |+\n  kept\n\n\n",
    "a: 1\n--- |\n%text\n---\nb: 2\n",  # libyaml ends the scalar at `%`, then refuses
    f"a: \"quoted\n  ... not the end\"\n---\n{FLOW_COLON}\n",
    f"a: 'x --- y'\n---\nb: \"{FLOW_COLON}\"\nc: {FLOW_COLON}\n",
    f"# comment\n---\n# c\n{FLOW_COLON}\n# c\n---\n# c\nb: 2\n",
    f"a: 1\r\n---\r\n{FLOW_COLON}\r\n---\r\nb: 2\r\n",
    f"\ufeffa: 1\n---\n{FLOW_COLON}\n---\nb: 2\n",
    f"\ufeff{FLOW_COLON}\n---\nb: 2\n",
    f"a: 1\n---\n---\n{FLOW_COLON}\n---\n---\n",  # empty documents
    f"a: &x 1\nb: *x\n---\nc: &x {FLOW_COLON}\nd: *x\n---\ne: &x 2\nf: *x\n",
    f"x: [a,\n  {FLOW_COLON}]\n---\ny: 2\n",
    "k: {image: ghcr.io/acme/api:1}\n---\nk: [ghcr.io/acme/api:2]\n---\nk: v\n",
])
def test_documents_around_the_refused_one_read_as_the_yaml_1_2_parser_reads_them(
    text: str,
) -> None:
    assert _libyaml_refuses(text)
    assert _tree(yt.parse(text)) == _tree(_yaml12_alone(text))


@pytest.mark.parametrize("text", [
    "a: 1\n---\n{f: g:h\n---\nb: 2\n",  # a bracket still open where the next document starts
    "a: 1\n---\nx: \"{f: g:h}\n---\nb: 2\n",  # a quote, likewise
    "a: 1\n---\n[f:g, *nope]\n---\nb: 2\n",
    "a: 1\n---\n{f: g:h}\n  bad: indent\n---\nb: 2\n",
    "a: 1\n---\nb: 2\n---\n{f: g:h}\n\x01\n",
])
def test_a_document_both_parsers_refuse_is_the_error_the_yaml_1_2_parser_gives(
    text: str,
) -> None:
    with pytest.raises(yt.YamlSyntaxError) as alone:
        _yaml12_alone(text)
    with pytest.raises(yt.YamlSyntaxError) as raised:
        yt.parse(text)
    assert (raised.value.message, raised.value.line, raised.value.column) == (
        alone.value.message, alone.value.line, alone.value.column)


def test_an_unknown_yaml_version_after_other_documents_is_located_where_it_stands() -> None:
    with pytest.raises(yt.YamlSyntaxError) as caught:
        yt.parse("a: 1\n...\n%YAML 1.3\n---\n{a: b:c}\n")
    assert caught.value.line >= 3


def test_a_document_libyaml_reads_is_not_read_again_when_another_needs_yaml_1_2() -> None:
    # libyaml reads a comment right after `>`; the YAML 1.2 parser refuses it, and used to
    # refuse the whole file for the sake of the other document.
    lenient = "block: ># comment\n  scalar\n"
    with pytest.raises(yt.YamlSyntaxError):
        _yaml12_alone(lenient)
    roots = yt.parse(f"{lenient}---\n{FLOW_COLON}\n")
    assert _tree(roots)[: len(_tree(yt.parse(lenient)))] == _tree(yt.parse(lenient))
    assert len(roots) == 2


# Documents every reader reads alike, in the shapes manifests take, with the markers
# (`---`, `...`, `%`) inside their text where a careless cut would see a boundary.
_WORD = st.sampled_from(["a", "app", "x-y", "ghcr.io/acme/api", "1", "true", "~", "v1.2"])
_DOCUMENTS = st.one_of(
    st.builds(lambda k, v, w: f"{k}: {v}\n{k}2:\n  - {w}\n  - {{n: {v}, m: [{w}]}}\n",
              _WORD, _WORD, _WORD),
    st.builds(lambda k, v: f"{k}: |\n  line\n  --- {v}\n  ...\n  %{v}\n{k}x: >-\n  {v}\n",
              _WORD, _WORD),
    st.builds(lambda k, v: f"{k}: \"a\n  ... {v} ---\"\n{k}y: 'b\n  --- {v}'\n", _WORD, _WORD),
    st.builds(lambda k, v: f"{k}: &anchor {v}\nother: *anchor\nempty:\n", _WORD, _WORD),
    st.builds(lambda v: f"- {v}\n-\n- [{v}, {{}}]\n", _WORD),
    st.builds(lambda v: f"# a comment\nk: {v}  # and another\n", _WORD),
    st.just(""),
)
_REFUSED = st.sampled_from([
    "spec: {image: ghcr.io/acme/api:1}\n",
    "k: [a:b, c]\n",
    "{f: g:h}\n",
    "k:\n  x: {y: z:1, w: }\n",
])
_SEPARATORS = st.sampled_from(
    ["---\n", "--- # next\n", "...\n---\n", "...\n%YAML 1.2\n---\n", "---\n# comment\n"])


@st.composite
def _streams(draw: st.DrawFn) -> str:
    documents: list[str] = draw(st.lists(_DOCUMENTS, max_size=6))
    for _ in range(draw(st.integers(1, 3))):
        documents.insert(draw(st.integers(0, len(documents))), draw(_REFUSED))
    start = draw(st.sampled_from(["", "---\n", "%YAML 1.2\n---\n"]))
    text = (start or ("" if documents[0] else "---\n")) + documents[0]  # not `...` first
    for document in documents[1:]:
        text += draw(_SEPARATORS) + document
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    bom: str = draw(st.sampled_from(["", yt.BOM]))
    return bom + text


@settings(max_examples=150, deadline=None)
@given(_streams())
def test_a_stream_with_refused_documents_reads_as_the_yaml_1_2_parser_reads_it(
    text: str,
) -> None:
    assert _libyaml_refuses(text.lstrip(yt.BOM))
    assert _tree(yt.parse(text)) == _tree(_yaml12_alone(text))
