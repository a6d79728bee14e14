"""The remembered config tree is the parsed one, and a run with nothing to do parses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, imported_by_a_run

from nix_tag_check import tree_memo
from nix_tag_check import yaml_tree as yt

TEXTS = [
    *(p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "shapes").glob("*.yaml"))),
    "a: &x {k: &y [1, *y]}\nb: *x\nc: &x 2\nd: *x\n---\n&x e: *x\n",
    "- !!str &a x\n- *a\n- {? [a, b] : c}\n- |\n  text\n- ''\n",
    "\ufeffkey: value\n",
]


def _dump(roots: list[yt.Node]) -> list[object]:
    out: list[object] = []
    for node in yt.walk(roots):
        fields = [type(node).__name__, node.start, node.line, node.column, node.anchor]
        if isinstance(node, yt.Scalar):
            fields += [node.value, node.end, node.style]
        elif isinstance(node, yt.Mapping):
            fields += [node.flow, node.end, len(node.pairs)]
        elif isinstance(node, yt.Sequence):
            fields += [node.flow, len(node.items)]
        elif isinstance(node, yt.Alias):
            assert node.target is not None
            fields += [type(node.target).__name__, node.target.start]
        out.append(fields)
    return out


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_rebuilt_tree_is_the_parsed_one(text: str, tmp_path: Path) -> None:
    parsed = tree_memo.parse(text, str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 1
    assert _dump(tree_memo.parse(text, str(tmp_path))) == _dump(parsed) == _dump(yt.parse(text))


def test_a_broken_memo_is_parsed_again(tmp_path: Path) -> None:
    tree_memo.parse("a: 1\n", str(tmp_path))
    (memo,) = tmp_path.iterdir()
    memo.write_text('[["=", 0, 0, 0, null]]')
    assert _dump(tree_memo.parse("a: 1\n", str(tmp_path))) == _dump(yt.parse("a: 1\n"))


def test_invalid_yaml_is_refused_and_not_remembered(tmp_path: Path) -> None:
    with pytest.raises(yt.YamlSyntaxError):
        tree_memo.parse("a: [\n", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_run_with_nothing_to_do_does_not_import_the_yaml_parser(repo: Path) -> None:
    assert "ruamel.yaml" in imported_by_a_run(repo, "m.startswith('ruamel')")
    assert imported_by_a_run(repo, "m.startswith('ruamel')") == "[]"
