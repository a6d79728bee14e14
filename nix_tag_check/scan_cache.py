"""Remember each manifest's scan result under .git/, so that an unchanged manifest is not parsed.

A record is trusted for a file only when the file is provably the one that was scanned:
- its stat identity (size, mtime, ctime, inode, device) is the recorded one, and both of
  its timestamps were older than the scan by more than any file system's timestamp
  granularity (a change within the same tick as the scan would keep them: "racy git");
- or else its bytes hash to the recorded digest.
The whole file is keyed on the tool's version and the expected tags (name, repository,
tag, source), the size limit and the repository: any change starts from nothing. When
in doubt, parse: a missing, unreadable or foreign cache file is an empty one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable
from typing import Any

from . import __version__

FORMAT = 1
RACY_NS = 2_000_000_000  # FAT's timestamps are 2 s apart; everything else is finer
clock_ns = time.time_ns  # a test seam: tests move the clock instead of sleeping

# ["none"] | ["findings", [[line, column, ...], ...]] | ["error", class, message, line, column]
Outcome = list[Any]
Record = list[Any]  # [identity or None, digest, outcome]


def identity(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=20).hexdigest()


def key(parts: Iterable[object]) -> str:
    """The key of a whole cache file: everything a record's outcome depends on, but the file."""
    return hashlib.sha256(json.dumps([FORMAT, __version__, *parts]).encode()).hexdigest()


class ScanCache:
    """Records by real path: loaded at start, updated as files are scanned, saved at the end."""

    def __init__(self, path: str | None, cache_key: str) -> None:
        self.path = path
        self.key = cache_key
        self.records: dict[str, Record] = {}
        self.seen: set[str] = set()
        if path is not None:
            self.records = _load(path, cache_key)

    def lookup(self, real: str, st: os.stat_result) -> Outcome | None:
        """The outcome recorded for this very file content, or None (parse it)."""
        record = self.records.get(real)
        if record is None:
            return None
        self.seen.add(real)
        if record[0] is not None and record[0] == identity(st):
            return list(record[2])
        try:
            with open(real, "rb") as handle:
                raw = handle.read(st.st_size + 1)
        except OSError:
            return None
        if digest(raw) != record[1]:
            return None
        record[0] = _trusted_identity(st, clock_ns())
        return list(record[2])

    def record(self, real: str, st: os.stat_result, raw: bytes, outcome: Outcome,
               started_ns: int) -> None:
        """What scanning `raw` (read after `st` was taken, at `started_ns`) gave."""
        self.records[real] = [_trusted_identity(st, started_ns), digest(raw), outcome]
        self.seen.add(real)

    def forget(self, real: str) -> None:
        self.records.pop(real, None)

    def save(self, keep_unseen: bool) -> None:
        """Write the records (only those of files seen this run, unless `keep_unseen`)."""
        if self.path is None:
            return
        import tempfile  # only a run that scanned writes: keep it off the start-up

        records = self.records if keep_unseen else {
            real: record for real, record in self.records.items() if real in self.seen
        }
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=folder, prefix="scan-", suffix=".tmp")
        except OSError:
            return  # not saving only costs the next run its parsing
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"format": FORMAT, "key": self.key, "records": records}, handle,
                          separators=(",", ":"))
            os.replace(temporary, self.path)
        except OSError:
            _unlink(temporary)
        except BaseException:
            _unlink(temporary)
            raise


def _trusted_identity(st: os.stat_result, started_ns: int) -> list[int] | None:
    """The stat identity, unless the file changed too close to the scan to tell a later change."""
    if max(st.st_mtime_ns, st.st_ctime_ns) >= started_ns - RACY_NS:
        return None
    return identity(st)


def _load(path: str, cache_key: str) -> dict[str, Record]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data["format"] != FORMAT or data["key"] != cache_key:
            return {}
        records = data["records"]
        if not isinstance(records, dict):
            return {}
        return {
            real: record for real, record in records.items()
            if isinstance(record, list) and len(record) == 3 and isinstance(record[1], str)
            and isinstance(record[2], list) and (record[0] is None or isinstance(record[0], list))
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
