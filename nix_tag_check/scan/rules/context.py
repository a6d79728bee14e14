"""What every rule sees while one manifest is walked (Context), and what the walk returns
(Scanned); what a rule reports is scan/finding.py's."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nix_tag_check.config.reference import Reference, ReferenceError, Repository, parse_repository
from nix_tag_check.errors import ScanError
from nix_tag_check.scan.finding import Expected, Finding, Unread
from nix_tag_check.yamltree import tree as yt

if TYPE_CHECKING:
    from nix_tag_check.scan import edits

MERGE_BUDGET = 100_000


@dataclass
class Scanned:
    """What the rules found in one text: references, and names no rule reads."""

    findings: list[Finding] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)


@dataclass
class Scalars:
    """Where a manifest's scalars stand: what comments (markers, pragmas) are checked against.

    Built only for a text that has such a comment: most manifests have none.
    """

    scalars: list[yt.Scalar]  # every scalar, by offset
    starts: list[int]  # their offsets
    values_by_line: dict[int, list[yt.Scalar]]  # not keys, in document order
    tag_of: dict[int, yt.Mapping]  # `tag:` value -> its mapping

    @classmethod
    def of(cls, roots: list[yt.Node]) -> Scalars:
        keys: set[int] = set()
        found = cls([], [], {}, {})
        for node in yt.walk(roots):
            if isinstance(node, yt.Mapping):
                keys.update(id(key) for key, _ in node.pairs)
                found.tag_of.update((id(v), node) for k, v in node.pairs
                                    if isinstance(k, yt.Scalar) and k.value == "tag")
            elif isinstance(node, yt.Scalar):
                found.scalars.append(node)
                if id(node) not in keys:
                    found.values_by_line.setdefault(node.line, []).append(node)
        found.scalars.sort(key=lambda s: s.start)  # scalars never overlap
        found.starts = [s.start for s in found.scalars]
        return found


def _in_header(text: str, node: yt.Scalar, at: int) -> bool:
    """Whether `at` is on a block scalar's first line (`|  # a comment`), before its text."""
    if node.style not in ("|", ">"):
        return False
    found = yt.BREAK_RE.search(text, node.start, at)
    return found is None


@dataclass
class Context:
    """One manifest's text and tree facts, shared by the rules of one scan."""

    text: str
    expected: MappingABC[Repository, Expected]
    roots: list[yt.Node] = field(default_factory=list)
    claimed: dict[int, str] = field(default_factory=dict)  # scalar -> image reported for
    read: set[int] = field(default_factory=set)  # scalars a rule read whole, reported or not
    budget: list[int] = field(default_factory=lambda: [MERGE_BUDGET])  # merge-key work
    in_flow: set[int] = field(default_factory=set)  # nodes written inside [...] or {...}
    global_registries: tuple[str, ...] = ()  # a chart's registries for every image
    lines: yt.LineIndex = field(init=False)
    _scalars: Scalars | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.lines = yt.LineIndex(self.text)

    @property
    def scalars(self) -> Scalars:
        if self._scalars is None:
            self._scalars = Scalars.of(self.roots)
        return self._scalars

    def comments(self, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        """Matches of `pattern` that start a comment (a `#` inside a scalar is text)."""
        for match in pattern.finditer(self.text):
            hash_at = match.start()
            if hash_at > 0 and not self.text[hash_at - 1].isspace():
                continue
            before = bisect.bisect_right(self.scalars.starts, hash_at) - 1
            if before >= 0 and self.scalars.scalars[before].end > hash_at and not _in_header(
                    self.text, self.scalars.scalars[before], hash_at):
                continue  # inside a scalar (a script, a quoted string): text, not a comment
            yield match

    def image_named(self, name: str) -> Expected | None:
        """The configured image a repository name denotes, if any."""
        try:
            return self.expected.get(parse_repository(name))
        except ReferenceError:
            return None

    def merged(self, mapping: yt.Mapping) -> dict[str, yt.Node]:
        """Key -> resolved value, merge keys applied."""
        return yt.merged_values(mapping, self.budget)

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

    def finding(
        self, node: yt.Scalar, exp: Expected, found: str | None, kind: str,
        digest: str | None = None,
    ) -> Finding:
        """A finding at `node`, which is now claimed for `exp`."""
        self.claimed[id(node)] = exp.name
        return Finding(
            line=node.line + 1, column=node.column + 1, image=exp.name, found=found,
            expected=exp.tag, source=exp.source, kind=kind, digest=digest,
        )

    def reference(self, node: yt.Scalar, ref: Reference, exp: Expected, kind: str) -> Finding:
        """A whole reference (`repo:tag@digest`) in a scalar, and its fix when stale."""
        item = self.finding(node, exp, ref.tag, kind, ref.digest)
        if ref.tag != exp.tag or ref.digest is not None:
            from nix_tag_check.scan import edits

            in_flow = id(node) in self.in_flow
            self.fix(item, lambda: [edits.set_reference_tag(self.text, node, ref, exp.tag,
                                                            in_flow)])
        return item

    @staticmethod
    def fix(item: Finding, make: Callable[[], list[edits.Edit]]) -> None:
        """The edits that fix a stale finding, all or none: a value that cannot be rewritten
        in place stays a finding (with why), and hides no other reference of the file."""
        try:
            item.edits.extend(make())
        except ScanError as exc:
            item.unfixable = exc
