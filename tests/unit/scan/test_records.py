"""The scan cache's file: findings kept by field name, a key that names the parsers, and a
file and a folder that stay within their bounds."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nix_tag_check import state
from nix_tag_check.errors import LocatedError, ScanError, YamlSyntaxError
from nix_tag_check.scan import edits
from nix_tag_check.scan import records as scan_cache
from nix_tag_check.scan.finding import Finding, Unread

text = st.text(max_size=20)
number = st.integers(min_value=0, max_value=10**6)
problems = st.builds(ScanError, text, number, number)
findings = st.builds(
    Finding, line=number, column=number, image=text, found=st.none() | text, expected=text,
    source=text, kind=st.sampled_from(["image", "kustomize", "helm", "marker"]),
    digest=st.none() | text, digest_emptied=st.booleans(),
    edits=st.lists(st.builds(edits.Edit, number, number, text,
                             st.tuples(st.builds(edits.SetValue, number, text))), max_size=2),
    unfixable=st.none() | problems, restored_stale=st.booleans(), ignored=st.booleans(),
)


def _through_the_file(finding: Finding) -> Finding | None:
    return scan_cache.finding_from_record(json.loads(json.dumps(
        scan_cache.finding_record(finding))))


@given(findings)
def test_a_finding_comes_back_with_every_field_it_reports(finding: Finding) -> None:
    restored = _through_the_file(finding)
    assert restored is not None
    for field in dataclasses.fields(Finding):
        if field.name == "unfixable" and finding.unfixable is not None:
            problem = restored.unfixable
            assert problem is not None
            assert (problem.message, problem.line, problem.column) == (
                finding.unfixable.message, finding.unfixable.line, finding.unfixable.column)
        elif field.name not in ("edits", "restored_stale"):
            assert getattr(restored, field.name) == getattr(finding, field.name), field.name
    assert restored.edits == []  # a fix parses the file again
    assert restored.stale == finding.stale


@given(findings)
def test_a_restored_finding_is_kept_the_same_again(finding: Finding) -> None:
    restored = _through_the_file(finding)
    assert restored is not None
    assert scan_cache.finding_record(restored) == scan_cache.finding_record(finding)


def test_every_field_of_a_finding_has_its_place_in_the_record() -> None:
    """A field added to Finding fails here until the codec says how it is kept."""
    not_as_they_are = {"edits", "unfixable", "restored_stale"}
    assert {f.name for f in dataclasses.fields(Finding)} == \
        set(scan_cache._KEPT) | not_as_they_are


FULL = {"line": 3, "column": 9, "image": "a", "found": "old", "expected": "new",
        "source": "default.nix#a", "kind": "image"}


@pytest.mark.parametrize("record", [
    {**FULL, "line": "3"},  # a flipped byte: a string where a number was
    {**FULL, "line": True},  # a boolean is no line number
    {**FULL, "found": 1},
    {**FULL, "ignored": 1},
    {**FULL, "colour": "red"},  # a field Finding does not have
    {**FULL, "edits": []},  # never kept
    {**FULL, "unfixable": ["why", 1]},
    {**FULL, "unfixable": ["why", 1, "2"]},
    {**FULL, "restored_stale": False},  # only ever written as true
    {k: v for k, v in FULL.items() if k != "image"},  # a field with no default left out
    [3, 9, "a", "old", "new", "default.nix#a", "image"],  # by position: an older format
    "x",
])
def test_a_record_this_code_did_not_write_is_no_finding(record: object) -> None:
    assert scan_cache.finding_from_record(record) is None


def test_a_field_at_its_default_is_left_out_of_the_record() -> None:
    assert scan_cache.finding_record(Finding(**FULL)) == FULL  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [
    LocatedError("odd", 1, 2), YamlSyntaxError("invalid YAML: x", 3, 4), ScanError("y", 5, 6),
])
def test_an_error_comes_back_as_the_same_kind_at_the_same_place(error: LocatedError) -> None:
    kept = json.loads(json.dumps(scan_cache.outcome([], error)))
    restored = scan_cache.restore(kept)
    assert restored is not None
    assert restored.findings == [] and restored.unread == []
    again = restored.error
    assert again is not None
    assert (type(again), again.message, again.line, again.column) == (
        type(error), error.message, error.line, error.column)


@pytest.mark.parametrize("kept", [
    ["error", "ConfigError", "m", 1, 1],  # not a kind the scan keeps
    ["error", "ScanError", "m", "1", 1],
    ["findings", [FULL, {**FULL, "line": None}], []],  # one bad finding spoils the record
    ["findings", {}, []],
    ["findings", [FULL]],  # no names no rule reads: not this code's record
    ["findings", [FULL], [[1, 1, "a", "a:$T", "no"]]],
    ["none", 1],
    [],
])
def test_an_outcome_this_code_did_not_write_is_parsed_again(kept: list[object]) -> None:
    assert scan_cache.restore(kept) is None


def test_the_key_names_the_parsers(monkeypatch: pytest.MonkeyPatch) -> None:
    libyaml = scan_cache.key(["same"])
    monkeypatch.setattr(scan_cache.yt, "parsers", lambda: "ruamel.yaml 0.19.1 (pure)")
    assert scan_cache.key(["same"]) != libyaml


def test_the_key_names_the_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    before = scan_cache.key(["same"])
    monkeypatch.setattr(state, "tool_identity", lambda: "another build of the tool")
    assert scan_cache.key(["same"]) != before


def _cache(path: Path, real: list[str]) -> scan_cache.ScanCache:
    cache = scan_cache.ScanCache(str(path), "k")
    for name in real:
        cache.records[name] = f"- {'0' * 40} {json.dumps(scan_cache.NONE)}"
        cache.seen.add(name)
    cache.changed = True
    return cache


def test_a_file_over_its_bound_keeps_the_newest_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_cache, "MAX_BYTES", 1000)
    names = [f"/repo/deploy/m{i:03}.yaml" for i in range(100)]
    _cache(tmp_path / "c.scan", names).save(keep_unseen=False)
    assert (tmp_path / "c.scan").stat().st_size <= 1000
    kept = list(scan_cache.ScanCache(str(tmp_path / "c.scan"), "k").records)
    assert kept and kept == names[-len(kept):]


def test_records_of_files_this_run_did_not_see_go_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_cache, "MAX_BYTES", 1000)
    cache = _cache(tmp_path / "c.scan", [f"/repo/old/m{i:03}.yaml" for i in range(5)])
    cache.seen.clear()  # FILE arguments: the others are kept, as long as they fit
    seen = [f"/repo/new/m{i:03}.yaml" for i in range(10)]
    for name in seen:
        cache.records[name] = cache.records["/repo/old/m000.yaml"]
        cache.seen.add(name)
    cache.save(keep_unseen=True)
    kept = scan_cache.ScanCache(str(tmp_path / "c.scan"), "k").records
    assert set(seen) <= set(kept)
    assert "/repo/old/m000.yaml" not in kept


def test_the_scan_folder_keeps_the_newest_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_cache, "MAX_FILES", 3)
    for i in range(5):
        (tmp_path / f"old{i}.scan").write_text("x")
        os.utime(tmp_path / f"old{i}.scan", ns=(0, i * 10**9))
    _cache(tmp_path / "new.scan", ["/repo/a.yaml"]).save(keep_unseen=False)
    assert sorted(os.listdir(tmp_path)) == ["new.scan", "old3.scan", "old4.scan"]


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
        path.write_text("nix-tag-check scan cache 3 k\0/a\0rec")  # an older format
    assert scan_cache.ScanCache(str(path), "k").records == {}
    _cache(path, ["/repo/a.yaml"]).save(keep_unseen=False)
    assert list(scan_cache.ScanCache(str(path), "k").records) == ["/repo/a.yaml"]


def test_the_names_no_rule_reads_come_back() -> None:
    unread = [Unread(3, 5, "ghcr.io/acme/api", "ghcr.io/acme/api:${TAG}", True)]
    finding = Finding(**FULL)  # type: ignore[arg-type]
    kept = json.loads(json.dumps(scan_cache.outcome([finding], None, unread)))
    restored = scan_cache.restore(kept)
    assert restored is not None
    assert restored.unread == unread and len(restored.findings) == 1


def test_a_file_in_error_keeps_the_images_its_text_names() -> None:
    kept = json.loads(json.dumps(scan_cache.outcome(
        [], ScanError("m", 1, 2), template=True, named=["ghcr.io/acme/api"])))
    restored = scan_cache.restore(kept)
    assert restored is not None and restored.error is not None
    assert (restored.named, restored.template) == (("ghcr.io/acme/api",), True)
