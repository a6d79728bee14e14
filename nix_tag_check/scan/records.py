"""Remember each manifest's scan result under .git/, so that an unchanged manifest is not parsed.

A record is trusted for a file only when the file is provably the one that was scanned:
- its stat identity (size, mtime, ctime, inode, device) is the recorded one, and both of
  its timestamps were older than the scan by more than any file system's timestamp
  granularity (a change within the same tick as the scan would keep them: "racy git");
- or else its bytes hash to the recorded digest.
The whole file is keyed on the tool (its version and the content of its files, Python's
version: state.tool_identity), the YAML parsers that read the manifests (libyaml or the
pure one, and their versions: they do not refuse the same texts), and the expected tags
(name, repository, tag, source), the size limit and the repository: any change starts from
nothing. When in doubt, parse: a missing, unreadable, odd or foreign cache file is an empty
one, and a record that is not one this code writes is a file to parse.

A finding is kept by field name (`finding_record`, `finding_from_record`), beside the
`Finding` it stands for: a field added to `Finding` cannot shift the others in a record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from nix_tag_check import atomic, state
from nix_tag_check.errors import LocatedError, ScanError, YamlSyntaxError
from nix_tag_check.scan.finding import Finding, Unread
from nix_tag_check.yamltree import tree as yt

FORMAT = 4
# A file at most this big is read (a record is about 250 bytes: some 250,000 manifests);
# the oldest records are left out of a file that would be bigger.
MAX_BYTES = 64 << 20
# The folder holds one file per config; at most this many files and bytes, the oldest go.
MAX_FILES = 64
MAX_FOLDER_BYTES = 256 << 20
clock_ns = time.time_ns  # a test seam: tests move the clock instead of sleeping

# ["none"] | ["error", class, message, line, column, [image, ...], template]
# | ["findings", [{field: value, ...}, ...], [[line, column, image, written, ignored], ...],
#    template]: `template` is whether the file was read as a chart template, as text; an
#    error's images are those its text names (they are not said to be unreferenced)
Outcome = list[Any]
NONE: Outcome = ["none"]  # the file names no configured image
# One string per file, "IDENTITY DIGEST OUTCOME-JSON" (IDENTITY "-" when not trusted): a
# record is one object, not the two dozen of a parsed list, so 50,000 of them stay small.
Record = str
# The file: a header, then each file's real path and its record, all separated by NULs
# (no path and no record holds one). Not JSON: a split reads 10,000 records in a third of
# json.load's time, and a join writes them in a tenth of json.dumps's.
SEPARATOR = "\0"


def digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=20).hexdigest()


def key(parts: Iterable[object]) -> str:
    """The key of a whole cache file: everything a record's outcome depends on, but the file.

    That includes the scanning code itself (the tool's identity), the parsers that read YAML
    and what a finding's record holds.
    """
    code = [FORMAT, state.tool_identity(), yt.parsers(), sorted(_KEPT)]
    return hashlib.sha256(json.dumps([*code, *parts]).encode()).hexdigest()


class ScanCache:
    """Records by real path: loaded at start, updated as files are scanned, saved at the end."""

    def __init__(self, path: str | None, cache_key: str) -> None:
        self.path = path
        self.key = cache_key
        self.records: dict[str, Record] = {}
        self.seen: set[str] = set()
        self.changed = False  # a record added, updated or dropped: worth writing
        if path is not None:
            self.records = _load(path, cache_key)

    def lookup(self, real: str, st: os.stat_result) -> Outcome | None:
        """The outcome recorded for this very file content, or None (parse it)."""
        record = self.records.get(real)
        if record is None:
            return None
        self.seen.add(real)
        parts = record.split(" ", 2)
        if len(parts) != 3:
            return None  # not ours
        ident, recorded_digest, outcome = parts
        if ident == _identity_text(st):
            return _outcome(outcome)
        raw = state.read(real, st.st_size)  # a file that grew is not the one recorded
        if raw is None or digest(raw) != recorded_digest:
            return None
        trusted = _trusted_identity(st, clock_ns())
        if trusted != "-":
            self.records[real] = f"{trusted} {recorded_digest} {outcome}"
            self.changed = True
        return _outcome(outcome)

    def record(self, real: str, st: os.stat_result, raw: bytes, outcome: Outcome,
               started_ns: int) -> None:
        """What scanning `raw` (read after `st` was taken, at `started_ns`) gave."""
        text = _ENCODER.encode(outcome)
        self.records[real] = f"{_trusted_identity(st, started_ns)} {digest(raw)} {text}"
        self.seen.add(real)
        self.changed = True

    def forget(self, real: str) -> None:
        if self.records.pop(real, None) is not None:
            self.changed = True

    def save(self, keep_unseen: bool) -> None:
        """Write the records (only those of files seen this run, unless `keep_unseen`)."""
        if self.path is None:
            return
        if not keep_unseen and len(self.seen) < len(self.records):
            self.records = {real: record for real, record in self.records.items()
                            if real in self.seen}
            self.changed = True
        if not self.changed:
            return  # the file on disk says the same
        data = _encoded(self.key, self.records)
        if len(data) > MAX_BYTES:
            self.records = _newest(self.records, self.seen, MAX_BYTES - len(_header(self.key)))
            data = _encoded(self.key, self.records)
        folder = os.path.dirname(self.path)
        with contextlib.suppress(OSError):  # not saving only costs the next run its parsing
            os.makedirs(folder, exist_ok=True)
            atomic.write_then_rename(self.path, data, prefix="scan-", suffix=".tmp")
            state.Bounded(folder, MAX_FILES, MAX_FOLDER_BYTES).wrote(
                os.path.basename(self.path), len(data))


def _encoded(cache_key: str, records: dict[str, Record]) -> bytes:
    parts = [_header(cache_key), *itertools.chain.from_iterable(records.items())]
    return SEPARATOR.join(parts).encode("utf-8", "surrogatepass")  # any path, as it was


def _newest(records: dict[str, Record], seen: set[str], room: int) -> dict[str, Record]:
    """The records that fit in `room` bytes, the oldest left out first: those of files this
    run did not see, then the others, each in the order they were first recorded."""
    order = [real for real in records if real not in seen] + [r for r in records if r in seen]
    cost = {real: len(f"{SEPARATOR}{real}{SEPARATOR}{records[real]}".encode(
        "utf-8", "surrogatepass")) for real in order}
    total, start = sum(cost.values()), 0
    while total > room and start < len(order):
        total -= cost[order[start]]
        start += 1
    kept = set(order[start:])
    return {real: record for real, record in records.items() if real in kept}


def _identity_text(st: os.stat_result) -> str:
    return ",".join(map(str, state.identity(st)))


def _trusted_identity(st: os.stat_result, started_ns: int) -> str:
    """The stat identity, unless the file changed too close to the scan to tell a later change."""
    if not state.settled(st, started_ns):
        return "-"
    return _identity_text(st)


_DECODER = json.JSONDecoder()
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps(...) would make one per call


def _outcome(text: str) -> Outcome | None:
    try:  # raw_decode: json.loads without its wrapper, a third of the cost of a record
        outcome, end = _DECODER.raw_decode(text)
    except ValueError:
        return None
    return outcome if isinstance(outcome, list) and end == len(text) else None


def _header(cache_key: str) -> str:
    return f"nix-tag-check scan cache {FORMAT} {cache_key}"


def _load(path: str, cache_key: str) -> dict[str, Record]:
    raw = state.read(path, MAX_BYTES)  # a FIFO, a link, a huge file: no records
    if raw is None:
        return {}
    try:
        parts = raw.decode("utf-8", "surrogatepass").split(SEPARATOR)
    except ValueError:
        return {}
    if parts[0] != _header(cache_key) or len(parts) % 2 != 1:
        return {}
    return dict(zip(parts[1::2], parts[2::2], strict=True))


# What a finding's record holds: each field of Finding kept as it is, by name, and the types
# its value may have. `edits` is not kept (a fix parses the file again); `unfixable` is kept as
# [message, line, column]; `restored_stale` as the finding's `stale`. A field of Finding none
# of these name cannot be restored: tests/unit/scan/test_records.py holds them in step.
_KEPT: dict[str, tuple[type, ...]] = {
    "line": (int,), "column": (int,), "image": (str,), "found": (str, type(None)),
    "expected": (str,), "source": (str,), "kind": (str,), "digest": (str, type(None)),
    "digest_emptied": (bool,), "ignored": (bool,),
}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Finding)
             if f.default is not dataclasses.MISSING}
_ERRORS: dict[str, type[LocatedError]] = {
    cls.__name__: cls for cls in (LocatedError, YamlSyntaxError, ScanError)
}


def finding_record(finding: Finding) -> dict[str, object]:
    """A finding as a JSON object by field name; a field at its default is left out."""
    record: dict[str, object] = {}
    for name in _KEPT:
        value = getattr(finding, name)
        if name not in _DEFAULTS or value != _DEFAULTS[name]:
            record[name] = value
    problem = finding.unfixable
    if problem is not None:
        record["unfixable"] = [problem.message, problem.line, problem.column]
    if finding.stale:
        record["restored_stale"] = True
    return record


def finding_from_record(record: object) -> Finding | None:
    """The finding a record stands for, or None when it is not one `finding_record` wrote."""
    if not isinstance(record, dict):
        return None
    values: dict[str, Any] = {}
    for name, value in record.items():
        if name in _KEPT:
            if type(value) not in _KEPT[name]:
                return None
            values[name] = value
        elif name == "unfixable":
            problem = _located(ScanError, value)
            if problem is None:
                return None
            values[name] = problem
        elif name != "restored_stale" or value is not True:
            return None
    try:
        return Finding(**values, restored_stale="restored_stale" in record)
    except TypeError:  # a field left out that has no default
        return None


@dataclasses.dataclass(frozen=True)
class Kept:
    """What a kept outcome gives back: the findings or the error, and the names of
    configured images that no rule reads a tag of."""

    findings: list[Finding]
    error: LocatedError | None = None
    unread: list[Unread] = dataclasses.field(default_factory=list)
    template: bool | None = False  # read as a chart template (None: names no image)
    named: tuple[str, ...] = ()  # with an error: the configured images its text names


def outcome(findings: Sequence[Finding], error: LocatedError | None,
            unread: Sequence[Unread] = (), template: bool = False,
            named: Sequence[str] = ()) -> Outcome:
    """What the scan cache keeps of a scanned manifest: what a report needs, no text, no tree."""
    if error is not None:
        name = type(error).__name__ if type(error).__name__ in _ERRORS else "LocatedError"
        return ["error", name, error.message, error.line, error.column, list(named), template]
    return ["findings", [finding_record(f) for f in findings],
            [[u.line, u.column, u.image, u.written, u.ignored] for u in unread], template]


def restore(kept: Outcome) -> Kept | None:
    """The findings, or the error, a kept outcome stands for (None: not one we wrote)."""
    if kept == NONE:
        return Kept([], template=None)
    template = kept[-1] if kept else None
    if type(template) is not bool:
        return None
    if len(kept) == 7 and kept[0] == "error" and kept[1] in _ERRORS:
        error, named = _located(_ERRORS[kept[1]], kept[2:5]), kept[5]
        if error is None or not (isinstance(named, list)
                                 and all(type(name) is str for name in named)):
            return None
        return Kept([], error, template=template, named=tuple(named))
    if len(kept) != 4 or kept[0] != "findings" or not isinstance(kept[1], list):
        return None
    findings = [finding_from_record(record) for record in kept[1]]
    unread = _unread(kept[2])
    if None in findings or unread is None:
        return None
    return Kept([f for f in findings if f is not None], None, unread, template)


def _unread(value: object) -> list[Unread] | None:
    """The names no rule reads, from their records; None when one is not ours."""
    if not isinstance(value, list):
        return None
    found = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 5 and type(item[0]) is int
                and type(item[1]) is int and type(item[2]) is str and type(item[3]) is str
                and type(item[4]) is bool):
            return None
        found.append(Unread(*item))
    return found


def _located(cls: type[LocatedError], value: object) -> LocatedError | None:
    """`cls(message, line, column)` from a kept [message, line, column]."""
    if not isinstance(value, list) or len(value) != 3:
        return None
    message, line, column = value
    if type(message) is not str or type(line) is not int or type(column) is not int:
        return None
    return cls(message, line, column)
