"""Find every place a manifest names a configured image, and the edit that would fix it.

The scan never guesses from text: it walks the YAML tree (each node once, aliases
never expanded) and only scalars it can place exactly in the text become edits.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field

from . import yaml_tree as yt
from .reference import (
    TAG_RE,
    Reference,
    ReferenceError,
    Repository,
    parse_reference,
    parse_repository,
)

KUSTOMIZATION_FILES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
KUSTOMIZATION_KINDS = {"Kustomization", "Component"}
MARKER_RE = re.compile(r"#[ \t]*nix-tag-check:[ \t]*(?P<name>[^\s#]+)")
MERGE_BUDGET = 100_000


@dataclass(frozen=True)
class Expected:
    """What a configured image's references must say."""

    name: str  # as configured
    repository: Repository
    tag: str
    source: str  # where the tag came from, e.g. "default.nix#image"


@dataclass(frozen=True, order=True)
class Edit:
    start: int
    end: int
    text: str


@dataclass
class Finding:
    """One place that references a configured image."""

    line: int  # 1-based
    column: int  # 1-based
    image: str
    found: str | None  # the tag as written; None when there is none
    expected: str
    source: str
    kind: str  # image | kustomize | helm | marker
    digest: str | None = None
    edits: list[Edit] = field(default_factory=list)
    # For the self-check after patching, by node offset: scalar -> new value,
    # mapping -> added / removed key.
    new_values: dict[int, str] = field(default_factory=dict)
    added_keys: dict[int, tuple[str, str]] = field(default_factory=dict)
    removed_keys: dict[int, str] = field(default_factory=dict)

    @property
    def stale(self) -> bool:
        return bool(self.edits)


class ScanError(yt.LocatedError):
    """A reference that exists but cannot be read or rewritten safely."""


def needles(expected: MappingABC[Repository, Expected]) -> tuple[str, ...]:
    """Texts of which at least one must appear in a file that references an image."""
    return tuple(sorted({repo.needle for repo in expected}))


def _scalar_inner(text: str, node: yt.Scalar) -> int:
    """Offset of the value's first character, if the value stands verbatim in the text."""
    if node.style in ("", "'", '"'):
        inner = 1 if node.style else 0
        raw = text[node.start + inner : node.end - inner]
        if raw == node.value and "\n" not in raw and "\r" not in raw:
            return node.start + inner
    raise ScanError(
        "cannot rewrite this value in place: write it as a one-line plain or quoted scalar"
        " without escapes",
        node.line + 1,
        node.column + 1,
    )


def _replace_value(text: str, node: yt.Scalar, value: str) -> Edit:
    if node.style == "" and node.value == "" and node.start == node.end:
        # An empty (null) value: `tag:` or `tag: # comment`.
        before = " " if node.start > 0 and text[node.start - 1] == ":" else ""
        after = " " if node.start < len(text) and text[node.start] == "#" else ""
        return Edit(node.start, node.end, f"{before}{value}{after}")
    start = _scalar_inner(text, node)
    return Edit(start, start + len(node.value), value)


# What YAML (libyaml) takes for a line break: marks count lines by these, so must we.
_BREAK_RE = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _line_end(text: str, offset: int) -> tuple[int, str]:
    """Offset just past the line break after `offset`, and that break ('' at EOF)."""
    found = _BREAK_RE.search(text, offset)
    return (found.end(), found.group()) if found else (len(text), "")


def _file_newline(text: str) -> str:
    found = _BREAK_RE.search(text)
    return found.group() if found else "\n"


class _Scanner:
    def __init__(self, text: str, expected: MappingABC[Repository, Expected]) -> None:
        self.text = text
        self.expected = expected
        self.findings: list[Finding] = []
        self.claimed: dict[int, str] = {}  # scalar -> image it was reported for
        self._line_starts: list[int] | None = None
        self.budget = [MERGE_BUDGET]
        self.value_scalars: dict[int, list[yt.Scalar]] = {}  # line -> scalars (not keys)
        self.scalars: list[yt.Scalar] = []
        self.in_flow: set[int] = set()  # scalars written inside [...] or {...}

    def taken(self, node: yt.Scalar, exp: Expected) -> bool:
        """Whether the scalar was reported already; one scalar cannot hold two images' tags."""
        other = self.claimed.get(id(node))
        if other is not None and other != exp.name:
            raise ScanError(
                f"this value is the tag of both {other} and {exp.name} (shared through an "
                "anchor or a merge key): give each image its own tag",
                node.line + 1, node.column + 1,
            )
        return other is not None

    def line_of(self, offset: int) -> tuple[int, int]:
        """0-based line and 1-based column of an offset, counting lines as YAML does."""
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in _BREAK_RE.finditer(self.text)]
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line, offset - self._line_starts[line] + 1

    def finding(self, node: yt.Scalar, exp: Expected, found: str | None, kind: str) -> Finding:
        self.claimed[id(node)] = exp.name
        item = Finding(
            line=node.line + 1, column=node.column + 1, image=exp.name, found=found,
            expected=exp.tag, source=exp.source, kind=kind,
        )
        self.findings.append(item)
        return item

    def reference(self, node: yt.Scalar, ref: Reference, exp: Expected, kind: str) -> None:
        item = self.finding(node, exp, ref.tag, kind)
        item.digest = ref.digest
        if ref.tag != exp.tag or ref.digest is not None:
            start = _scalar_inner(self.text, node)
            new = ref.with_tag(exp.tag)
            if id(node) in self.in_flow and node.style == "" and ref.tag is None:
                # `{image: repo}` -> `{image: repo:tag}` would not parse: ':' ends a flow key.
                item.edits.append(Edit(node.start, node.end, f'"{new}"'))
            else:
                end = start + len(node.value)
                item.edits.append(Edit(start + ref.name_end, end, f":{exp.tag}"))
            item.new_values[node.start] = new

    def image_value(self, node: yt.Node) -> None:
        node = yt.resolve(node)
        if not isinstance(node, yt.Scalar) or id(node) in self.claimed:
            return  # an image reference names its repository: it can only be one image's
        try:
            ref = parse_reference(node.value)
        except ReferenceError:
            return
        exp = self.expected.get(ref.repository)
        if exp is not None:
            self.reference(node, ref, exp, "image")

    def run(self, roots: list[yt.Node], kustomization_file: bool) -> list[Finding]:
        for root in roots:
            if isinstance(root, yt.Mapping) and (kustomization_file or self.is_kustomization(root)):
                self.kustomization(root)
        keys: set[int] = set()
        mappings: list[yt.Mapping] = []
        for node in yt.walk(roots):
            if isinstance(node, yt.Mapping):
                keys.update(id(key) for key, _ in node.pairs)
                mappings.append(node)
                if node.flow:
                    self.in_flow.update(id(value) for _, value in node.pairs)
            elif isinstance(node, yt.Sequence):
                if node.flow:
                    self.in_flow.update(id(item) for item in node.items)
            elif isinstance(node, yt.Scalar):
                self.scalars.append(node)
                if id(node) not in keys:
                    self.value_scalars.setdefault(node.line, []).append(node)
        for mapping in mappings:
            self.mapping(mapping)
        self.markers()
        self.findings.sort(key=lambda f: (f.line, f.column))
        return self.findings

    def is_kustomization(self, root: yt.Mapping) -> bool:
        pairs = {name: yt.resolve(value) for name, _, value in yt.merged_pairs(root, self.budget)}
        kind = pairs.get("kind")
        return isinstance(kind, yt.Scalar) and kind.value in KUSTOMIZATION_KINDS

    def mapping(self, node: yt.Mapping) -> None:
        seen: set[str] = set()
        for key, value in node.pairs:
            key = yt.resolve(key)
            if not isinstance(key, yt.Scalar):
                continue
            if key.value in seen:  # as ruamel.yaml's loaders do: which one would count?
                raise ScanError(f"duplicate key {key.value!r}", key.line + 1, key.column + 1)
            seen.add(key.value)
            if key.value == "image":
                self.image_value(value)
        keys = {name: yt.resolve(value) for name, _, value in yt.merged_pairs(node, self.budget)}
        if "repository" in keys and "tag" in keys:
            self.helm(keys)

    def helm(self, keys: dict[str, yt.Node]) -> None:
        repository, tag = keys["repository"], keys["tag"]
        registry = keys.get("registry")
        if not isinstance(repository, yt.Scalar) or not isinstance(tag, yt.Scalar):
            return
        name = repository.value
        if isinstance(registry, yt.Scalar) and registry.value:
            name = f"{registry.value.rstrip('/')}/{name}"
        try:
            repo = parse_repository(name)
        except ReferenceError:
            return
        exp = self.expected.get(repo)
        if exp is None or self.taken(tag, exp):
            return
        found = tag.value or None
        item = self.finding(tag, exp, found, "helm")
        if found != exp.tag:
            item.edits.append(_replace_value(self.text, tag, exp.tag))
            item.new_values[tag.start] = exp.tag

    def kustomization(self, root: yt.Mapping) -> None:
        keys = {name: yt.resolve(value) for name, _, value in yt.merged_pairs(root, self.budget)}
        images = keys.get("images")
        if not isinstance(images, yt.Sequence):
            return
        seen: set[int] = set()
        for entry in images.items:
            entry = yt.resolve(entry)
            if isinstance(entry, yt.Mapping) and id(entry) not in seen:  # `- *e` twice: once
                seen.add(id(entry))
                self.kustomize_entry(entry)

    def kustomize_entry(self, entry: yt.Mapping) -> None:
        pairs = {name: (key, yt.resolve(value)) for name, key, value in
                 yt.merged_pairs(entry, self.budget)}
        name_pair = pairs.get("newName") or pairs.get("name")
        if name_pair is None or not isinstance(name_pair[1], yt.Scalar):
            return
        try:
            repo = parse_repository(name_pair[1].value)
        except ReferenceError:
            return
        exp = self.expected.get(repo)
        if exp is None:
            return
        new_tag = pairs.get("newTag")
        digest = pairs.get("digest")
        tag_node = new_tag[1] if new_tag else None
        if tag_node is not None and not isinstance(tag_node, yt.Scalar):
            return
        if tag_node is not None and self.taken(tag_node, exp):
            return
        where = tag_node if tag_node is not None else name_pair[1]
        found = tag_node.value if tag_node is not None and tag_node.value else None
        item = self.finding(where, exp, found, "kustomize")
        digest_node = digest[1] if digest else None
        if isinstance(digest_node, yt.Scalar) and digest_node.value:
            item.digest = digest_node.value
        if found == exp.tag and item.digest is None:
            return
        if digest is not None:
            if digest[0].anchor is not None or digest[1].anchor is not None:
                raise ScanError("this digest carries an anchor: an alias may use it elsewhere, "
                                "so remove it by hand", digest[0].line + 1, digest[0].column + 1)
            item.removed_keys[entry.start] = "digest"
        if tag_node is None:
            item.added_keys[entry.start] = ("newTag", exp.tag)
        if tag_node is not None and found != exp.tag:
            item.edits.append(_replace_value(self.text, tag_node, exp.tag))
            item.new_values[tag_node.start] = exp.tag
        if tag_node is None and digest is not None:
            # `digest: D` becomes `newTag: T` where it stands: same line, same indentation.
            key, value = digest
            if not isinstance(key, yt.Scalar) or not isinstance(value, yt.Scalar) or (
                    value.line != key.line):
                raise ScanError("cannot replace this digest: write it as `digest: VALUE`",
                                key.line + 1, key.column + 1)
            item.edits.append(Edit(key.start, value.end, f"newTag: {exp.tag}"))
        elif tag_node is None:
            item.edits.append(self.insert_pair(entry, "newTag", exp.tag))
        elif digest is not None:
            item.edits.append(self.remove_pair(entry, digest[0], digest[1]))

    def insert_pair(self, entry: yt.Mapping, key: str, value: str) -> Edit:
        own = [(k, v) for k, v in entry.pairs if isinstance(k, yt.Scalar)]
        anchor = [(k, v) for k, v in own if k.value in ("name", "newName")] or own
        last_key, last_value = anchor[-1]
        if entry.flow:  # after the last value: `{name: x}` -> `{name: x, newTag: t}`
            last = entry.pairs[-1][1]
            if not isinstance(last, (yt.Scalar, yt.Mapping)):
                raise ScanError(f"cannot add {key} after this value: add it by hand once",
                                entry.line + 1, entry.column + 1)
            return Edit(last.end, last.end, f", {key}: {value}")
        value_node = yt.resolve(last_value)
        end = getattr(value_node, "end", None)
        if end is None or value_node.line != last_key.line:
            raise ScanError(
                f"cannot add {key} after a value that spans lines", last_key.line + 1,
                last_key.column + 1,
            )
        at, newline = _line_end(self.text, end)
        indent = " " * last_key.column
        if newline:
            return Edit(at, at, f"{indent}{key}: {value}{newline}")
        return Edit(at, at, f"{_file_newline(self.text)}{indent}{key}: {value}")

    def remove_pair(self, entry: yt.Mapping, key: yt.Node, value: yt.Node) -> Edit:
        where = (key.line + 1, key.column + 1)
        if not isinstance(key, yt.Scalar) or not isinstance(value, yt.Scalar):
            raise ScanError("cannot remove this digest: write it as `digest: VALUE`", *where)
        if value.line != key.line:
            raise ScanError("cannot remove a digest that spans lines", *where)
        if entry.flow:
            index = next(i for i, (k, _) in enumerate(entry.pairs) if k is key)
            if index > 0:
                previous = entry.pairs[index - 1][1]
                return Edit(getattr(previous, "end", previous.start), value.end, "")
            if len(entry.pairs) > 1:
                return Edit(key.start, entry.pairs[1][0].start, "")
            raise ScanError("cannot remove the only key of an entry", *where)
        line, column = self.line_of(key.start)
        line_start = key.start - column + 1
        if self.text[line_start : key.start].strip():
            raise ScanError("cannot remove a digest that shares its line: move it to a line of "
                            "its own", *where)
        at, newline = _line_end(self.text, value.end)
        if not newline and line > 0:  # the last line, unterminated: keep the file so
            assert self._line_starts is not None
            previous = _BREAK_RE.search(self.text, self._line_starts[line - 1])
            assert previous is not None
            line_start = previous.start()
        return Edit(line_start, at, "")

    def markers(self) -> None:
        self.scalars.sort(key=lambda s: s.start)  # scalars never overlap
        starts = [s.start for s in self.scalars]
        for match in MARKER_RE.finditer(self.text):
            hash_at = match.start()
            if hash_at > 0 and not self.text[hash_at - 1].isspace():
                continue
            before = bisect.bisect_right(starts, hash_at) - 1
            if before >= 0 and self.scalars[before].end > hash_at:
                continue  # inside a scalar (a script, a quoted string): text, not a comment
            line, column = self.line_of(hash_at)
            candidates = [s for s in self.value_scalars.get(line, ()) if s.end <= hash_at]
            try:
                repo = parse_repository(match["name"])
            except ReferenceError:
                raise ScanError(
                    f"marker names {match['name']!r}, which is not an image repository",
                    line + 1, column,
                ) from None
            exp = self.expected.get(repo)
            if exp is None:
                continue
            if not candidates:
                raise ScanError(
                    f"marker for {match['name']} has no value on its line", line + 1, column
                )
            node = candidates[-1]
            if not self.taken(node, exp):
                self.marked(node, exp)

    def marked(self, node: yt.Scalar, exp: Expected) -> None:
        try:
            ref = parse_reference(node.value)
        except ReferenceError:
            ref = None
        if ref is not None and ref.repository == exp.repository:
            self.reference(node, ref, exp, "marker")
            return
        if not TAG_RE.fullmatch(node.value):
            raise ScanError(
                f"value marked for {exp.name} is neither a reference to it nor a tag",
                node.line + 1, node.column + 1,
            )
        item = self.finding(node, exp, node.value, "marker")
        if node.value != exp.tag:
            item.edits.append(_replace_value(self.text, node, exp.tag))
            item.new_values[node.start] = exp.tag


def scan(
    text: str, path: str, expected: MappingABC[Repository, Expected],
    max_depth: int = yt.MAX_DEPTH,
) -> list[Finding]:
    """Every reference to a configured image in `text` (raises YamlSyntaxError, ScanError)."""
    return scan_tree(text, yt.parse(text, max_depth=max_depth), path, expected)


def scan_tree(
    text: str, roots: list[yt.Node], path: str, expected: MappingABC[Repository, Expected]
) -> list[Finding]:
    """scan() of a text already parsed into `roots` (raises ScanError)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return _Scanner(text, expected).run(roots, name in KUSTOMIZATION_FILES)
