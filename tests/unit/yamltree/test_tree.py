"""The YAML reader: YAML 1.2 documents libyaml refuses are read, with the same positions."""

from __future__ import annotations

import pytest
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
