"""A YAML stream as a light tree of nodes that remember where they stand in the text.

Built from parser events, never from constructed data: aliases stay pointers to
the anchored node (an alias bomb costs what its text costs), and every scalar
keeps its exact character span so that a fix can replace those characters only.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
import sys
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


def _c_parser_class() -> Any | None:
    """libyaml's parser class (ruamel.yaml.clib), driven directly; None without it.

    YAML().parse() would build a loader class per call and keep a record of every
    document it ever parsed.
    """
    try:
        from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]  # not re-exported
    except ImportError:  # ruamel.yaml.clib is a dependency on CPython, but may be missing
        return None
    return CParser


def parsers() -> str:
    """The parsers `parse` reads with here, and their versions: libyaml and the pure parser
    refuse different texts, so a result remembered from one is no answer for the other.

    The C parser is named by its module, libyaml's version and the size of its extension
    file (which no version says). Reading a config file has imported all this already; a
    run without one pays ruamel.yaml's import here (about 15 ms).
    """
    import ruamel.yaml

    pure = f"ruamel.yaml {ruamel.yaml.__version__}"
    c_parser = _c_parser_class()
    if c_parser is None:
        return f"{pure} (pure)"
    extension = next((m for m in map(sys.modules.get, _C_MODULES)
                      if getattr(m, "CParser", None) is c_parser), None)
    version = getattr(extension, "get_version_string", lambda: "?")()
    try:
        size = os.stat(extension.__file__).st_size if extension and extension.__file__ else -1
    except OSError:
        size = -1
    return f"{pure} + {c_parser.__module__} {version} {size} bytes"


_C_MODULES = ("_ruamel_yaml", "_ruamel_yaml_clibz")  # where ruamel.yaml.cyaml takes CParser


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


def _pure_parser() -> Any:
    """ruamel.yaml's pure-Python parser: YAML 1.2, as Kubernetes reads it. libyaml
    predates YAML 1.2 in places (`{image: ghcr.io/acme/api:1}`: a colon inside a plain
    scalar in flow context), so a document it refuses is read again with this.

    One per text, reused for each piece of it (`parse()` resets it): making one looks
    for plug-ins on disk.
    """
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.Scanner, yaml.Parser = _pure_classes()
    return yaml


def _error(exc: YAMLError, lines: int = 0) -> YamlSyntaxError:
    """Our error for a parser's; `lines`: how many lines of the text precede what it read."""
    from ruamel.yaml.error import MarkedYAMLError

    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None:
            return YamlSyntaxError(f"invalid YAML: {problem}", mark.line + lines + 1,
                                   mark.column + 1)
        return YamlSyntaxError(f"invalid YAML: {problem}", 1, 1)
    text = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
    return YamlSyntaxError(f"invalid YAML: {text}", 1, 1)


def parse(text: str, max_depth: int = MAX_DEPTH) -> list[Node]:
    """The root node of every document in `text` (a leading BOM is allowed).

    libyaml reads first (it is fast); a document it refuses is read again by the YAML 1.2
    parser (seven times slower), and refused only when that one refuses it too. Only the
    piece of the text that holds it is read again, between the nearest cuts (see `cuts`):
    every other document is libyaml's reading, as in a file without the refused one.
    """
    body = text.lstrip(BOM)  # libyaml skips every leading BOM without counting it
    skip = len(text) - len(body)
    _refuse_surrogates(body, skip)
    return _Stream(body, skip, max_depth).read()


# `---` at the start of a line and followed by a blank starts a document, in every reader:
# a quoted scalar or flow collection still open there is an error, a block or plain scalar
# ends. YAML 1.2 knows only these line breaks; libyaml also takes U+0085, U+2028, U+2029.
_DOCUMENT_BREAKS = "\r\n"
_ANY_BREAK = "\r\n\x85\u2028\u2029"
_AFTER_MARKER = ("", " ", "\t", "\r", "\n")


def cuts(body: str) -> list[int]:
    """Offsets where `body` may be cut into streams whose documents read as in the whole:
    0 and each `---` at the start of a line with no `%` line since the `---` before it.

    Such a `---` starts a document for every reader, and nothing before it counts for
    what comes after: directives (`%YAML`, `%TAG`) stand before the `---` of the one
    document they are for, hence the exception (a `%` line that is text of a block scalar
    costs only a cut). A document cannot run on past such a `---`.
    """
    starts = [at for at in _line_starts(body, "---", _DOCUMENT_BREAKS)
              if body[at + 3 : at + 4] in _AFTER_MARKER]
    directives = _line_starts(body, "%", _ANY_BREAK)
    found, previous = [0], -1
    for at in starts:
        if at and bisect.bisect(directives, previous) == bisect.bisect(directives, at):
            found.append(at)
        previous = at
    return found


def _line_starts(body: str, marker: str, breaks: str) -> list[int]:
    """Offsets where a line (after one of `breaks`) starts with `marker`: a literal search
    per break, many times faster than one pattern with a look-behind."""
    found = [0] if body.startswith(marker) else []
    for brk in breaks:
        if brk in body:
            found += [m.start() + 1 for m in re.finditer(re.escape(brk + marker), body)]
    return sorted(found)


class _Stream:
    """Reads one text: libyaml all at once; once it refuses a document, piece by piece
    between cuts, each piece as libyaml reads it or else as the YAML 1.2 parser does (a
    piece reads alone as in the whole, see `cuts`). After the refused piece, libyaml
    reads on in windows of 1, 2, 4... pieces: a refusal then costs its piece and the
    window it is in, not another copy of the rest of the text, however many there are."""

    def __init__(self, body: str, skip: int, max_depth: int) -> None:
        self.body, self.skip, self.max_depth = body, skip, max_depth
        self.roots: list[Node] = []
        self.refusal: tuple[YAMLError, int] | None = None  # libyaml's last, and its lines
        self._counted = (0, 0)  # an offset and how many line breaks precede it
        self._plain_breaks: bool | None = None  # whether "\n" is the only line break
        self._yaml12: Any = None  # the pure-Python parser, made when first needed

    def read(self) -> list[Node]:
        parser_class = _c_parser_class()
        if parser_class is None:  # pragma: no cover - no libyaml: all of it in YAML 1.2
            self._pure(0, len(self.body))
            return self.roots
        ends = self._libyaml(parser_class, 0, len(self.body))
        if ends is not None:
            self._by_pieces(parser_class, [*cuts(self.body), len(self.body)], ends)
        return self.roots

    def _by_pieces(self, parser_class: Any, bounds: list[int], ends: list[int]) -> None:
        """Go on from libyaml's refusal somewhere in the text: `ends` are where the
        documents it read end (their roots were added to `roots`, perhaps with one more:
        the refused document's). bounds[i], bounds[i + 1]: the i-th piece."""
        first, base = 0, 0  # the window's first piece and first root
        refused: list[int] | None = ends
        while refused is not None:
            piece = bisect.bisect_right(bounds, refused[-1] if refused else bounds[first]) - 1
            piece = max(first, min(piece, len(bounds) - 2))  # the refused document's
            del self.roots[base + bisect.bisect_right(refused, bounds[piece]) :]
            self._pure(bounds[piece], bounds[piece + 1])
            first, size, refused = piece + 1, 1, None
            while first < len(bounds) - 1:
                last = min(first + size, len(bounds) - 1)
                base = len(self.roots)
                refused = self._libyaml(parser_class, bounds[first], bounds[last])
                if refused is not None:
                    break
                first, size = last, size * 2

    def _libyaml(self, parser_class: Any, start: int, end: int) -> list[int] | None:
        """Read body[start:end] into roots with libyaml; None if it read all of it, else
        where each document it read ends (offsets in body)."""
        from ruamel.yaml.error import YAMLError

        chunk = self.body[start:end] if start or end < len(self.body) else self.body
        lines = self.lines_before(start)
        ends: list[int] = []
        parser = parser_class(chunk)
        try:
            _documents(parser.get_event, chunk, self.skip + start, lines, self.max_depth,
                       self.roots, ends)
        except YAMLError as exc:  # perhaps YAML 1.2 that libyaml does not know
            self.refusal = (exc, lines)
            return [start + at for at in ends]
        finally:
            parser.dispose()
        return None

    def _pure(self, start: int, end: int) -> None:
        """Read body[start:end] into roots with the YAML 1.2 parser, or raise its error."""
        from ruamel.yaml.error import YAMLError

        chunk = self.body[start:end]
        lines = self.lines_before(start)
        self._yaml12 = self._yaml12 or _pure_parser()
        events = self._yaml12.parse(chunk)
        try:
            _documents(lambda: next(events, None), chunk, self.skip + start, lines,
                       self.max_depth, self.roots, [])
        except YAMLError as exc:
            # The piece ends where the next document starts: what the parser says of a
            # quote or bracket still open there ("end of stream") is said as in the whole.
            raise _error(_pure_error(self.body[start:], end - start) or exc, lines) from None
        except AssertionError:  # the pure parser's own checks (`%YAML 1.3`): libyaml's word
            refusal, at = self.refusal or (YAMLError("invalid YAML"), 0)
            raise _error(refusal, at) from None

    def lines_before(self, offset: int) -> int:
        """How many line breaks precede `offset` (asked for in increasing order)."""
        at, lines = self._counted if offset >= self._counted[0] else (0, 0)
        if self._plain_breaks is None:
            self._plain_breaks = not any(brk in self.body for brk in "\r\x85\u2028\u2029")
        if self._plain_breaks:
            lines += self.body.count("\n", at, offset)
        else:
            lines += len(BREAK_RE.findall(self.body, at, offset))
        self._counted = (offset, lines)
        return lines


def _pure_error(text: str, within: int) -> YAMLError | None:
    """The error of the YAML 1.2 parser reading `text`, if it stops with one in its first
    `within` characters (or just there)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        for _ in _pure_parser().parse(text):
            pass
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return exc if mark is not None and mark.index <= within else None
    except (YAMLError, AssertionError):
        return None
    return None


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


def _scalar(event: Any, chunk: str, offset: int, lines: int) -> Scalar:
    """A scalar with properties; `chunk` is the text the parser read, `offset` and `lines`
    where it stands in the whole."""
    mark = event.start_mark
    index, line, column = mark.index, mark.line, mark.column
    anchor = event.anchor
    if anchor is not None or event.tag is not None:
        index, line, column = _past_properties(chunk, index, line, column)
        if index > event.end_mark.index:  # `k: &a` with no value: it is empty where `&a` ends
            index, line, column = (event.end_mark.index, event.end_mark.line,
                                   event.end_mark.column)
    return Scalar(index + offset, line + lines, column, anchor, event.value,
                  event.end_mark.index + offset, event.style or "")


def _documents(
    get: Callable[[], Any], chunk: str, offset: int, lines: int, max_depth: int,
    roots: list[Node], ends: list[int],
) -> None:
    """Add the tree of each document to `roots`, from parser events (`get` gives None after
    the last) over `chunk`, which starts `offset` characters and `lines` lines into the
    text; add where each document ends in `chunk` to `ends`. The hot loop of every scan."""
    from ruamel.yaml import events as ev

    scalar_event, alias_event = ev.ScalarEvent, ev.AliasEvent
    mapping_start, sequence_start = ev.MappingStartEvent, ev.SequenceStartEvent
    document_start, document_end = ev.DocumentStartEvent, ev.DocumentEndEvent
    ends_of = (ev.MappingEndEvent, ev.SequenceEndEvent)
    # ruamel.yaml >= 0.17.22 keeps the tag in `ctag` (`tag` makes a string of it, a call
    # per scalar): None in one is None in the other.
    tag = "ctag" if "ctag" in getattr(scalar_event, "__slots__", ()) else "tag"
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
                node = Scalar(mark.index + offset, mark.line + lines, mark.column, None,
                              event.value, event.end_mark.index + offset, event.style or "")
            else:
                node = _scalar(event, chunk, offset, lines)
        elif kind is mapping_start or kind is sequence_start:
            node = _collection(event, kind is mapping_start, offset, lines, len(stack),
                               max_depth)
        elif kind in ends_of:
            done = stack.pop()
            pending.pop()
            if kind is ends_of[0]:
                done.end = event.end_mark.index + offset
            top = stack[-1] if stack else None
            if top is None:
                roots.append(done)
            event = get()
            continue
        elif kind is alias_event:
            node = _alias(event, anchors, offset, lines)
        else:
            if kind is document_start:
                anchors = {}
            elif kind is document_end:
                ends.append(event.end_mark.index)
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


def _collection(
    event: Any, mapping: bool, offset: int, lines: int, depth: int, max_depth: int
) -> Node:
    """An empty mapping or sequence at its start event (its items come with later events)."""
    mark = event.start_mark
    if depth >= max_depth:
        raise YamlSyntaxError(
            f"nesting deeper than {max_depth} levels", mark.line + lines + 1, mark.column + 1
        )
    return (Mapping if mapping else Sequence)(
        mark.index + offset, mark.line + lines, mark.column, event.anchor,
        bool(event.flow_style))


def _alias(event: Any, anchors: dict[str, Node], offset: int, lines: int) -> Alias:
    mark, anchor = event.start_mark, event.anchor
    if anchor not in anchors:
        message = f"invalid YAML: found undefined alias {anchor!r}"
        raise YamlSyntaxError(message, mark.line + lines + 1, mark.column + 1)
    return Alias(mark.index + offset, mark.line + lines, mark.column, anchor, anchors[anchor])


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
