"""A YAML stream as a light tree of nodes that remember where they stand in the text.

Built from parser events, never from constructed data: aliases stay pointers to
the anchored node (an alias bomb costs what its text costs), and every scalar
keeps its exact character span so that a fix can replace those characters only.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ruamel.yaml.error import YAMLError

from nix_tag_check.errors import (
    LocatedError as LocatedError,  # re-exported: callers catch it from here
)
from nix_tag_check.errors import YamlSyntaxError as YamlSyntaxError

# ruamel.yaml is imported on the first parse, never by a run that parses nothing.
BOM = "\ufeff"
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
MAX_DEPTH = 256


class Node:
    """A node and where it stands. Plain slotted classes: tens of thousands are made per second."""

    __slots__ = ("anchor", "column", "line", "start")

    def __init__(self, start: int, line: int, column: int, anchor: str | None) -> None:
        self.start = start  # character offset in the text given to parse()
        self.line = line  # 0-based
        self.column = column  # 0-based
        self.anchor = anchor


class Scalar(Node):
    __slots__ = ("end", "style", "value")

    def __init__(
        self, start: int, line: int, column: int, anchor: str | None, value: str, end: int,
        style: str,
    ) -> None:
        self.start, self.line, self.column, self.anchor = start, line, column, anchor
        self.value = value
        self.end = end
        self.style = style  # '' plain, "'" single, '"' double, '|' literal, '>' folded


class Mapping(Node):
    __slots__ = ("end", "flow", "pairs")

    def __init__(self, start: int, line: int, column: int, anchor: str | None, flow: bool) -> None:
        self.start, self.line, self.column, self.anchor = start, line, column, anchor
        self.pairs: list[tuple[Node, Node]] = []
        self.flow = flow
        self.end = 0


class Sequence(Node):
    __slots__ = ("flow", "items")

    def __init__(self, start: int, line: int, column: int, anchor: str | None, flow: bool) -> None:
        self.start, self.line, self.column, self.anchor = start, line, column, anchor
        self.items: list[Node] = []
        self.flow = flow


class Alias(Node):
    __slots__ = ("target",)

    def __init__(self, start: int, line: int, column: int, anchor: str, target: Node) -> None:
        self.start, self.line, self.column, self.anchor = start, line, column, anchor
        self.target: Node | None = target


def resolve(node: Node) -> Node:
    """The node an alias stands for (aliases of aliases do not exist in YAML)."""
    if isinstance(node, Alias) and node.target is not None:
        return node.target
    return node


def _c_parser(body: str) -> Any | None:
    """libyaml's parser (ruamel.yaml.clib), driven directly; None without it.

    YAML().parse() would build a loader class per call and keep a record of every
    document it ever parsed.
    """
    try:
        from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]  # not re-exported
    except ImportError:  # pragma: no cover - ruamel.yaml.clib is a dependency on CPython
        return None
    return CParser(body)


@functools.cache
def _pure_classes() -> tuple[type, type]:
    """The pure-Python scanner and parser, made once (a class statement costs more than
    reading a small document), placing an empty value where libyaml places it.

    ruamel.yaml places `k:`'s empty value at the end of the token after it, and one in
    a flow collection just past the indicator before it; libyaml just past the `:` in
    block context, at the token after it in flow context. The same spot whichever parser
    read a document: a fix writes into the same place, and a document's positions do
    not depend on whether another document of the file needed this parser.
    """
    from ruamel.yaml import events as ev
    from ruamel.yaml.parser import Parser
    from ruamel.yaml.scanner import Scanner
    from ruamel.yaml.tokens import ValueToken

    class MarkingScanner(Scanner):
        last: object = None  # the last token the parser took

        def get_token(self) -> object:
            token = super().get_token()
            if token is not None:
                self.last = token
            return token

    class LibyamlMarksParser(Parser):
        def process_empty_scalar(self, mark: Any, comment: object = None) -> ev.ScalarEvent:
            if "flow" in self.state.__name__:  # the state the caller goes on to
                mark = self.scanner.peek_token().start_mark
            elif isinstance(self.scanner.last, ValueToken):
                mark = self.scanner.last.end_mark
            return ev.ScalarEvent(None, None, (True, False), "", mark, mark)

    return MarkingScanner, LibyamlMarksParser


def _pure_events(body: str) -> Iterator[Any]:
    """Parser events from ruamel.yaml's pure-Python parser: YAML 1.2, as Kubernetes reads it.

    libyaml predates YAML 1.2 in places (`{image: ghcr.io/acme/api:1}`: a colon inside a
    plain scalar in flow context), so a document it refuses is read again here.
    """
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.Scanner, yaml.Parser = _pure_classes()
    yield from yaml.parse(body)


def _error(exc: YAMLError) -> YamlSyntaxError:
    from ruamel.yaml.error import MarkedYAMLError

    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None:
            return YamlSyntaxError(f"invalid YAML: {problem}", mark.line + 1, mark.column + 1)
        return YamlSyntaxError(f"invalid YAML: {problem}", 1, 1)
    text = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
    return YamlSyntaxError(f"invalid YAML: {text}", 1, 1)


def parse(text: str, max_depth: int = MAX_DEPTH) -> list[Node]:
    """The root node of every document in `text` (a leading BOM is allowed).

    libyaml reads first (it is fast); a document it refuses is read again by the YAML 1.2
    parser, and refused only when that one refuses it too.
    """
    from ruamel.yaml.error import YAMLError

    body = text.lstrip(BOM)  # libyaml skips every leading BOM without counting it
    skip = len(text) - len(body)
    _refuse_surrogates(body, skip)
    c_error: YAMLError | None = None
    try:
        parser = _c_parser(body)
        if parser is not None:
            try:
                return _documents(parser.get_event, body, skip, max_depth)
            except YAMLError as exc:  # perhaps YAML 1.2 that libyaml does not know
                c_error = exc
            finally:
                parser.dispose()
        events = _pure_events(body)
        return _documents(lambda: next(events, None), body, skip, max_depth)
    except YAMLError as exc:
        raise _error(exc) from None
    except AssertionError:  # the pure parser's own checks (`%YAML 1.3`): libyaml's word
        raise _error(c_error or YAMLError("invalid YAML")) from None


def _refuse_surrogates(body: str, skip: int) -> None:
    """A lone surrogate is no Unicode text (a decoder never makes one; the parsers crash on it)."""
    found = _SURROGATE_RE.search(body)
    if found is not None:
        before = body[: found.start()]
        line = before.count("\n")
        column = found.start() - (before.rfind("\n") + 1) + (skip if line == 0 else 0)
        raise YamlSyntaxError("invalid YAML: a lone surrogate is not a character", line + 1,
                              column + 1)


def _past_properties(body: str, index: int, line: int, column: int) -> tuple[int, int, int]:
    """Where a scalar's own text starts, past its `&anchor` and `!tag` (events start there)."""
    while index < len(body) and body[index] in "&!":
        while index < len(body) and body[index] not in " \t\r\n":
            index += 1
            column += 1
        while index < len(body) and body[index] in " \t\r\n#":
            if body[index] == "#":  # `&a # comment` with the value on the next line
                while index < len(body) and body[index] not in "\r\n":
                    index += 1
                continue
            if body[index] == "\n" or (body[index] == "\r" and body[index + 1 : index + 2] != "\n"):
                line, column = line + 1, 0
            else:
                column += 1
            index += 1
    return index, line, column


def _scalar(event: Any, body: str, skip: int) -> Scalar:
    mark = event.start_mark
    index, line, column = mark.index, mark.line, mark.column
    anchor = event.anchor
    if anchor is not None or event.tag is not None:
        index, line, column = _past_properties(body, index, line, column)
        if index > event.end_mark.index:  # `k: &a` with no value: it is empty where `&a` ends
            index, line, column = (event.end_mark.index, event.end_mark.line,
                                   event.end_mark.column)
    return Scalar(index + skip, line, column, anchor, event.value, event.end_mark.index + skip,
                  event.style or "")


def _documents(
    get: Callable[[], Any], body: str, skip: int, max_depth: int
) -> list[Node]:
    """The tree of each document, from parser events (`get` gives None after the last);
    the hot loop of every scan."""
    from ruamel.yaml import events as ev

    scalar_event, alias_event = ev.ScalarEvent, ev.AliasEvent
    mapping_start, sequence_start = ev.MappingStartEvent, ev.SequenceStartEvent
    ends = (ev.MappingEndEvent, ev.SequenceEndEvent)
    # ruamel.yaml >= 0.17.22 keeps the tag in `ctag` (`tag` makes a string of it, a call
    # per scalar): None in one is None in the other.
    tag = "ctag" if "ctag" in getattr(scalar_event, "__slots__", ()) else "tag"
    roots: list[Node] = []
    anchors: dict[str, Node] = {}
    stack: list[Any] = []  # open collections
    pending: list[Node | None] = []  # per open collection: a key waiting for its value
    top: Any = None
    event = get()
    while event is not None:
        kind = type(event)
        node: Node
        if kind is scalar_event:
            if event.anchor is None and getattr(event, tag) is None:  # no properties
                mark = event.start_mark
                node = Scalar(mark.index + skip, mark.line, mark.column, None, event.value,
                              event.end_mark.index + skip, event.style or "")
            else:
                node = _scalar(event, body, skip)
        elif kind is mapping_start or kind is sequence_start:
            node = _collection(event, kind is mapping_start, skip, len(stack), max_depth)
        elif kind in ends:
            done = stack.pop()
            pending.pop()
            if kind is ends[0]:
                done.end = event.end_mark.index + skip
            top = stack[-1] if stack else None
            if top is None:
                roots.append(done)
            event = get()
            continue
        elif kind is alias_event:
            node = _alias(event, anchors, skip)
        else:
            if kind is ev.DocumentStartEvent:
                anchors = {}
            event = get()
            continue
        if node.anchor is not None and kind is not alias_event:
            anchors[node.anchor] = node
        if top is None:
            if kind is scalar_event or kind is alias_event:
                roots.append(node)
        elif type(top) is Mapping:
            key = pending[-1]
            if key is None:
                pending[-1] = node
            else:
                top.pairs.append((key, node))
                pending[-1] = None
        else:
            top.items.append(node)
        if kind is mapping_start or kind is sequence_start:
            stack.append(node)
            pending.append(None)
            top = node
        event = get()
    return roots


def _collection(event: Any, mapping: bool, skip: int, depth: int, max_depth: int) -> Node:
    """An empty mapping or sequence at its start event (its items come with later events)."""
    mark = event.start_mark
    if depth >= max_depth:
        raise YamlSyntaxError(
            f"nesting deeper than {max_depth} levels", mark.line + 1, mark.column + 1
        )
    return (Mapping if mapping else Sequence)(
        mark.index + skip, mark.line, mark.column, event.anchor, bool(event.flow_style))


def _alias(event: Any, anchors: dict[str, Node], skip: int) -> Alias:
    mark, anchor = event.start_mark, event.anchor
    if anchor not in anchors:
        message = f"invalid YAML: found undefined alias {anchor!r}"
        raise YamlSyntaxError(message, mark.line + 1, mark.column + 1)
    return Alias(mark.index + skip, mark.line, mark.column, anchor, anchors[anchor])


def walk(roots: list[Node]) -> Iterator[Node]:
    """Every node once, in document order; aliases are yielded, never followed."""
    todo: list[Node] = list(reversed(roots))
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, Mapping):
            for key, value in reversed(node.pairs):
                todo.append(value)
                todo.append(key)
        elif isinstance(node, Sequence):
            todo.extend(reversed(node.items))


def merged_pairs(mapping: Mapping, budget: list[int]) -> list[tuple[str, Node, Node]]:
    """(key, key node, value node) of a mapping, merge keys (`<<`) applied as YAML does.

    `budget` is shared by a whole file and bounds the work of merge chains.
    """
    own: dict[str, tuple[Node, Node]] = {}
    merges: list[Node] = []
    for key, value in mapping.pairs:
        key = resolve(key)
        if isinstance(key, Scalar) and key.value == "<<" and key.style == "":
            value = resolve(value)
            merges.extend(value.items if isinstance(value, Sequence) else [value])
        elif isinstance(key, Scalar) and key.value not in own:
            own[key.value] = (key, value)
    result = dict(own)
    seen = {id(mapping)}
    todo = [resolve(m) for m in reversed(merges)]
    while todo:
        source = todo.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise YamlSyntaxError("too many merge keys (`<<`) to follow", source.line + 1, 1)
        if not isinstance(source, Mapping) or id(source) in seen:
            continue
        seen.add(id(source))
        for key, value in source.pairs:
            key = resolve(key)
            budget[0] -= 1
            if isinstance(key, Scalar) and key.value == "<<":
                value = resolve(value)
                inner = value.items if isinstance(value, Sequence) else [value]
                todo.extend(resolve(m) for m in reversed(inner))
            elif isinstance(key, Scalar) and key.value not in result:
                result[key.value] = (key, value)
    return [(name, key, value) for name, (key, value) in result.items()]


def merged_values(mapping: Mapping, budget: list[int]) -> dict[str, Node]:
    """Key -> resolved value of merged_pairs(); one pass when there is no merge key."""
    values: dict[str, Node] = {}
    for key, value in mapping.pairs:
        key = resolve(key)
        if not isinstance(key, Scalar):
            continue
        if key.value == "<<" and key.style == "":
            return {name: resolve(value) for name, _, value in merged_pairs(mapping, budget)}
        if key.value not in values:
            values[key.value] = resolve(value)
    return values


# What YAML (libyaml) takes for a line break: marks count lines by these, so must we.
BREAK_RE = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def line_end(text: str, offset: int) -> tuple[int, str]:
    """Offset just past the line break after `offset`, and that break ('' at EOF)."""
    found = BREAK_RE.search(text, offset)
    return (found.end(), found.group()) if found else (len(text), "")


def file_newline(text: str) -> str:
    found = BREAK_RE.search(text)
    return found.group() if found else "\n"


class LineIndex:
    """Lines of a text as YAML counts them, built on first use."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] | None = None

    def starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in BREAK_RE.finditer(self.text)]
        return self._starts

    def line_of(self, offset: int) -> tuple[int, int]:
        """0-based line and 1-based column of an offset."""
        starts = self.starts()
        line = bisect.bisect_right(starts, offset) - 1
        return line, offset - starts[line] + 1
