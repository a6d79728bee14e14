"""The YAML tree of a config text, remembered under .git/ by the text's exact bytes.

Every run reads the config; importing the YAML parser costs more than the rest of a run
that has nothing to do. So a config's tree is kept beside the caches, keyed on its text and
on the package's code, and rebuilt node for node (positions, anchors, styles) from there.
Anything odd in the file: parse the text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

from . import atomic, scan_cache
from . import yaml_tree as yt

FORMAT = 1
Parse = Callable[[str], list[yt.Node]]


def parser(folder: str | None) -> Parse:
    """yaml_tree.parse, remembered in `folder` (None: not remembered)."""
    if folder is None:
        return yt.parse
    return lambda text: parse(text, folder)


def parse(text: str, folder: str) -> list[yt.Node]:
    code = json.dumps([FORMAT, scan_cache.key([])])
    path = os.path.join(folder, hashlib.sha256(f"{code}\0{text}".encode()).hexdigest() + ".json")
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, IndexError), open(
            path, encoding="utf-8") as handle:
        return _rebuild(json.load(handle))
    roots = yt.parse(text)  # a YamlSyntaxError is the caller's, and nothing is stored
    _store(path, [_flatten(root) for root in roots])
    return roots


def _flatten(node: yt.Node) -> list[Any]:
    head = [node.start, node.line, node.column, node.anchor]
    if isinstance(node, yt.Scalar):
        return ["=", *head, node.value, node.end, node.style]
    if isinstance(node, yt.Alias):
        return ["*", *head]
    if isinstance(node, yt.Mapping):
        pairs = [[_flatten(key), _flatten(value)] for key, value in node.pairs]
        return ["{", *head, node.flow, node.end, pairs]
    assert isinstance(node, yt.Sequence)
    return ["[", *head, node.flow, [_flatten(item) for item in node.items]]


def _rebuild(data: list[Any]) -> list[yt.Node]:
    roots = []
    for flat in data:
        anchors: dict[str, yt.Node] = {}  # anchors are per document
        roots.append(_node(flat, anchors))
    return roots


def _node(flat: list[Any], anchors: dict[str, yt.Node]) -> yt.Node:
    kind, start, line, column, anchor = flat[:5]
    node: yt.Node
    if kind == "*":
        return yt.Alias(start, line, column, anchor, anchors[anchor])
    if kind == "=":
        node = yt.Scalar(start, line, column, anchor, flat[5], flat[6], flat[7])
        if anchor is not None:
            anchors[anchor] = node
    elif kind == "{":
        node = mapping = yt.Mapping(start, line, column, anchor, flat[5])
        mapping.end = flat[6]
        if anchor is not None:
            anchors[anchor] = node  # before its children, as the parser does
        mapping.pairs = [(_node(k, anchors), _node(v, anchors)) for k, v in flat[7]]
    elif kind == "[":
        node = sequence = yt.Sequence(start, line, column, anchor, flat[5])
        if anchor is not None:
            anchors[anchor] = node
        sequence.items = [_node(item, anchors) for item in flat[6]]
    else:
        raise ValueError(kind)
    return node


def _store(path: str, data: list[Any]) -> None:
    """Failing to store only costs the next run a parse."""
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic.write_then_rename(path, json.dumps(data).encode(), suffix=".tmp")
