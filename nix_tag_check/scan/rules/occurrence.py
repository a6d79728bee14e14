"""Rule: any other occurrence of a configured repository followed by a literal tag or digest.

Every scalar no other rule has read is searched for names of configured images, as written
in a flag (`--image=repo:tag`), a URL (`docker://repo:tag`), JSON inside a string, a line of
a script in a block scalar. Comments are never searched: they are no scalar. An occurrence
with a literal tag (`repo:tag`, `repo@sha256:...`) is a reference, fixed by changing the
characters of its tag (spans.py places them in the text); one without (`repo`,
`repo:${TAG}`, `repo:{{ .Values.tag }}`) is listed as unread, so that it is said.

A Docker Hub library image may be written by its short name (`hello` for
docker.io/library/hello). In free text such a word is everywhere (`app: hello`, a host
`redis:6379`), so a short name counts only with a tag that is no port: `hello:1.2` is read,
`redis:6379` and `hello:${TAG}` are listed as unread, `hello` alone is nothing. Names written
with a `/` (`acme/api`, `docker.io/library/hello`) are read with any tag and listed without.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from nix_tag_check.config.reference import (
    ReferenceError,
    Repository,
    in_text_re,
    parse_repository,
)
from nix_tag_check.scan import edits, spans
from nix_tag_check.scan.finding import Expected, Finding, Unread
from nix_tag_check.scan.rules.context import Context
from nix_tag_check.yamltree import tree as yt

KIND = "text"
_WRITTEN_RE = re.compile(r"[^\s\"'`,;]{1,80}")
_CLOSERS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class Occurrence:
    """A configured image named in a value: value[start:end] is the name and what is read
    after it (its tag and digest, if any)."""

    exp: Expected
    start: int
    name_end: int
    end: int
    tag_start: int  # -1: no tag
    tag: str | None
    digest: str | None
    short: bool  # written without a `/`: a Docker Hub library image's short name
    variable: bool  # `:` then `$` or `{` after the name: a tag filled in elsewhere

    @property
    def read(self) -> bool:
        """A reference: a literal tag or digest (on a short name, a tag that is no port)."""
        if self.digest is not None:
            return True
        return self.tag is not None and not (self.short and self.tag.isdigit())

    @property
    def said(self) -> bool:
        """Not read, but listed: names with a `/`, and short names with a tag of some sort."""
        return not self.read and (not self.short or self.variable or self.tag is not None)

    def fix(self) -> tuple[int, int, str]:
        """value[start:end] -> text that gives the expected tag (a stale digest goes)."""
        if self.tag is not None:
            return self.tag_start, self.end, self.exp.tag
        return self.name_end, self.end, f":{self.exp.tag}"

    @property
    def stale(self) -> bool:
        return self.tag != self.exp.tag or self.digest is not None


@lru_cache(maxsize=4096)
def _repository(name: str) -> Repository | None:
    try:
        return parse_repository(name)
    except ReferenceError:
        return None


def needle_re(expected: Mapping[Repository, Expected]) -> re.Pattern[str]:
    """Any configured repository's needle (see Repository.needle)."""
    needles = sorted({repo.needle for repo in expected}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, needles)) or "(?!)")


def written(value: str, occurrence: Occurrence) -> str:
    """The name as written, and what follows it up to a blank or a quote."""
    match = _WRITTEN_RE.match(value, occurrence.start)
    text = match.group() if match else value[occurrence.start : occurrence.end]
    while text[-1:] in _CLOSERS and text.count(text[-1]) > text.count(_CLOSERS[text[-1]]):
        text = text[:-1]  # `{image: repo}`: the brace closes what holds it
    return text


def renamed(value: str, occurrence: Occurrence) -> bool:
    """`old=new:tag` (kustomize's `edit set image`): the name before `=` is replaced."""
    return occurrence.tag is None and value[occurrence.name_end : occurrence.name_end + 1] == "="


def find(value: str, expected: Mapping[Repository, Expected], needles: re.Pattern[str],
         ) -> Iterator[Occurrence]:
    """The occurrences of configured images in `value`, in order (none without a needle)."""
    if needles.search(value) is None:
        return
    for match in in_text_re().finditer(value):
        repo = _repository(match["name"])
        exp = expected.get(repo) if repo is not None else None
        if exp is None:
            continue
        after = value[match.end("name") : match.end("name") + 2]
        yield Occurrence(
            exp, match.start(), match.end("name"), match.end(), match.start("tag"),
            match["tag"], match["digest"], "/" not in match["name"],
            match["tag"] is None and match["digest"] is None and after[:1] == ":"
            and after[1:] in ("$", "{"),
        )


def check(ctx: Context) -> tuple[list[Finding], list[Unread]]:
    """Every scalar that no rule has read: its references, and the names it holds unread."""
    needles = needle_re(ctx.expected)
    findings: list[Finding] = []
    unread: list[Unread] = []
    for node in yt.walk(ctx.roots):
        if type(node) is not yt.Scalar or id(node) in ctx.claimed or id(node) in ctx.read:
            continue
        found = list(find(node.value, ctx.expected, needles))
        if found:
            scalar = _Scalar(ctx, node)
            places: set[tuple[int, int, str]] = set()
            for occurrence in found:
                if occurrence.read:
                    item = scalar.finding(occurrence)
                    place = (item.line, item.column, item.image)
                    if place not in places:  # one place, one finding, even where a scalar
                        places.add(place)  # folded over lines can place neither exactly
                        findings.append(item)
                elif occurrence.said and not renamed(node.value, occurrence):
                    unread.append(scalar.unread(occurrence))
    return findings, unread


def holds(ctx: Context, node: yt.Scalar, exp: Expected) -> bool:
    """Whether the scalar holds a reference to `exp` that this rule reads."""
    needles = needle_re(ctx.expected)
    return any(o.read and o.exp == exp for o in find(node.value, ctx.expected, needles))


class _Scalar:
    """One scalar's occurrences placed in the text (the map is made once, when needed)."""

    def __init__(self, ctx: Context, node: yt.Scalar) -> None:
        self.ctx, self.node = ctx, node
        self.mapped = spans.offsets(ctx.text, node)

    def where(self, occurrence: Occurrence) -> tuple[int, int]:
        """1-based line and column of the name (the scalar's, when it is not written so)."""
        at = self.mapped[occurrence.start] if self.mapped is not None else -1
        if at < 0:  # a folded block scalar keeps each line's words: find them there
            written = self.node.value[occurrence.start : occurrence.end]
            at = self.ctx.text.find(written, self.node.start, self.node.end)
        if at < 0:
            return self.node.line + 1, self.node.column + 1
        line, column = self.ctx.lines.line_of(at)
        return line + 1, column

    def finding(self, occurrence: Occurrence) -> Finding:
        exp = occurrence.exp
        line, column = self.where(occurrence)
        item = Finding(line=line, column=column, image=exp.name, found=occurrence.tag,
                       expected=exp.tag, source=exp.source, kind=KIND,
                       digest=occurrence.digest)
        if occurrence.stale:
            start, end, new = occurrence.fix()
            self.ctx.fix(item, lambda: [edits.set_part(self.node, self.mapped, start, end,
                                                       new, (line, column))])
        return item

    def unread(self, occurrence: Occurrence) -> Unread:
        line, column = self.where(occurrence)
        return Unread(line, column, occurrence.exp.name, written(self.node.value, occurrence))
