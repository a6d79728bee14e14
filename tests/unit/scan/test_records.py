"""The scan cache's file: read only when it is a regular file of a bounded size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nix_tag_check.scan import records as scan_cache


@pytest.mark.parametrize("odd", ["link", "huge", "binary", "foreign"])
def test_an_odd_cache_file_holds_no_records_and_is_written_anew(tmp_path: Path, odd: str) -> None:
    path = tmp_path / "c.scan"
    if odd == "link":
        path.symlink_to("/dev/zero")
    elif odd == "huge":
        with open(path, "wb") as handle:
            handle.truncate(scan_cache.MAX_BYTES + 1)
    elif odd == "binary":
        path.write_bytes(b"\xff\xfe" * 10)
    else:
        path.write_text("nix-tag-check scan cache 2 k\0/a\0rec")  # an older format
    assert scan_cache.ScanCache(str(path), "k").records == {}
    cache = scan_cache.ScanCache(str(path), "k")
    cache.records["/repo/a.yaml"] = f"- {'0' * 40} {json.dumps(['none'])}"
    cache.seen.add("/repo/a.yaml")
    cache.changed = True
    cache.save(keep_unseen=False)
    assert list(scan_cache.ScanCache(str(path), "k").records) == ["/repo/a.yaml"]
