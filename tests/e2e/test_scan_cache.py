"""The scan cache: an unchanged manifest is not parsed again; a changed one always is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import HELLO, expected_map

from nix_tag_check import state
from nix_tag_check.config.load import ImageSpec
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.main import main
from nix_tag_check.scan import checker as check
from nix_tag_check.scan import records as scan_cache

FRESH = "bhvhf4ndzxgqnlwzv5s272i5xs2qs6v0"
STALE_A = "0000000000000000000000000000000a"
STALE_B = "0000000000000000000000000000000b"  # same length: the file keeps its size
HOUR_NS = 3600 * 10**9


def evaluated(tag: str = FRESH) -> list[Evaluated]:
    return [Evaluated(ImageSpec(e.name, e.repository, "auto", "x86_64-linux", ("x",), e.source),
                      tag if e.name == HELLO else e.tag, "/nix/store/x")
            for e in expected_map().values()]


def manifest(tag: str) -> str:
    return f"spec:\n  containers:\n    - name: a\n      image: {HELLO}:{tag}\n"


class Parses:
    """Which files a Checker really read and parsed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real = check.Checker._analyse

        def counting(checker: check.Checker, path: str,
                     known: tuple[str, os.stat_result] | None = None) -> check.Analysis:
            analysis = real(checker, path, known)
            if analysis.manifest is not None:
                self.paths.append(os.path.basename(path))
            return analysis

        monkeypatch.setattr(check.Checker, "_analyse", counting)

    def take(self) -> list[str]:
        taken, self.paths = self.paths, []
        return taken


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Parses:
    return Parses(monkeypatch)


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scans happen an hour after the files were written: their stat identity is trusted."""
    monkeypatch.setattr(scan_cache, "clock_ns", lambda: os.stat(".").st_mtime_ns + HOUR_NS)


def run(folder: Path, *names: str, tag: str = FRESH) -> list[tuple[str, str | None, bool]]:
    """One run over `names`, as main() does it: analyse each file, then save."""
    checker = check.Checker(evaluated(tag), str(folder), 1 << 20, str(folder / "cache.json"))
    result = []
    for name in names:
        analysis = checker.analyse(str(folder / name))
        assert analysis.error is None
        result += [(name, f.found, f.stale) for f in analysis.findings]
    checker.save(keep_unseen=False)
    return result


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "a.yaml").write_text(manifest(STALE_A))
    (tmp_path / "other.yaml").write_text("kind: ConfigMap\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("trusted", [False, True])
def test_unchanged_manifest_is_not_parsed_again(
    folder: Path, parses: Parses, trusted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if trusted:
        monkeypatch.setattr(scan_cache, "clock_ns", lambda: os.stat(".").st_mtime_ns + HOUR_NS)
    first = run(folder, "a.yaml", "other.yaml")
    assert parses.take() == ["a.yaml"]
    assert run(folder, "a.yaml", "other.yaml") == first == [("a.yaml", STALE_A, True)]
    assert parses.take() == []


@pytest.mark.usefixtures("later")
def test_edit_with_same_size_and_mtime_restored_is_read_again(
    folder: Path, parses: Parses
) -> None:
    path = folder / "a.yaml"
    before = os.stat(path)
    run(folder, "a.yaml")
    path.write_text(manifest(STALE_B))
    while os.stat(path).st_ctime_ns == before.st_ctime_ns:  # same clock tick: see the next test
        path.write_text(manifest(STALE_B))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    assert run(folder, "a.yaml") == [("a.yaml", STALE_B, True)]
    assert parses.take() == ["a.yaml", "a.yaml"]


def test_edit_in_the_same_tick_as_the_scan_is_read_again(
    folder: Path, parses: Parses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Racy: a file changed within the timestamp granularity keeps its stat; its bytes tell."""
    path = folder / "a.yaml"
    run(folder, "a.yaml")
    st = os.stat(path)
    path.write_text(manifest(STALE_B))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    monkeypatch.setattr(state, "identity", lambda _: (st.st_size, st.st_mtime_ns,
                                                      st.st_ctime_ns, st.st_ino, st.st_dev))
    assert run(folder, "a.yaml") == [("a.yaml", STALE_B, True)]
    assert parses.take() == ["a.yaml", "a.yaml"]


@pytest.mark.usefixtures("later")
def test_renamed_manifest_is_read_under_its_new_name(folder: Path, parses: Parses) -> None:
    run(folder, "a.yaml")
    (folder / "a.yaml").rename(folder / "kustomization.yaml")
    (folder / "kustomization.yaml").write_text(
        f"images:\n  - name: {HELLO}\n    newTag: {STALE_A}\n")
    assert run(folder, "kustomization.yaml") == [("kustomization.yaml", STALE_A, True)]
    assert parses.take() == ["a.yaml", "kustomization.yaml"]


@pytest.mark.usefixtures("later")
def test_file_replaced_by_a_symlink_is_read_through_it(folder: Path, parses: Parses) -> None:
    (folder / "b.yaml").write_text(manifest(FRESH))
    run(folder, "a.yaml")
    (folder / "a.yaml").unlink()
    (folder / "a.yaml").symlink_to("b.yaml")
    assert run(folder, "a.yaml") == [("a.yaml", FRESH, False)]
    assert parses.take() == ["a.yaml", "a.yaml"]


@pytest.mark.usefixtures("later")
def test_file_that_became_a_symlink_after_it_was_resolved_is_checked_anew(
    folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Even to a copy of the bytes scanned: a link out of the repository is never followed."""
    outside = tmp_path_factory.mktemp("outside") / "a.yaml"
    outside.write_bytes((folder / "a.yaml").read_bytes())
    run(folder, "a.yaml")
    real = os.path.realpath(folder / "a.yaml")  # what files.distinct gave before the swap
    (folder / "a.yaml").unlink()
    (folder / "a.yaml").symlink_to(outside)
    checker = check.Checker(evaluated(), str(folder), 1 << 20, str(folder / "cache.json"))
    analysis = checker.analyse(str(folder / "a.yaml"), real=real)
    assert analysis.error is not None and "outside the repository" in analysis.error.message


@pytest.mark.usefixtures("later")
def test_new_expected_tag_reads_every_manifest_again(folder: Path, parses: Parses) -> None:
    run(folder, "a.yaml")
    assert run(folder, "a.yaml", tag=STALE_A) == [("a.yaml", STALE_A, False)]
    assert parses.take() == ["a.yaml", "a.yaml"]


def records(folder: Path) -> tuple[str, dict[str, str]]:
    """The cache file's header and records (a path, then its record, NUL-separated)."""
    header, *parts = (folder / "cache.json").read_bytes().decode("utf-8", "surrogatepass") \
        .split("\0")
    return header, dict(zip(parts[::2], parts[1::2], strict=True))


def write_records(folder: Path, header: str, found: dict[str, str]) -> None:
    parts = [header, *(part for pair in found.items() for part in pair)]
    (folder / "cache.json").write_bytes("\0".join(parts).encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("content", [b"", b"{", b'{"format": 2, "key": 1, "records": {}}',
                                     b"nix-tag-check scan cache 3 x", b"\xff\0a\0b",
                                     b"nix-tag-check scan cache 3 x\0/a.yaml"])
def test_unreadable_cache_file_is_an_empty_one(folder: Path, parses: Parses,
                                               content: bytes) -> None:
    (folder / "cache.json").write_bytes(content)
    assert run(folder, "a.yaml") == [("a.yaml", STALE_A, True)]
    assert parses.take() == ["a.yaml"]


@pytest.mark.parametrize("record", ["", "garbage", "- x", "- x [", '- x ["findings",[[1]]]'])
@pytest.mark.usefixtures("later")
def test_a_record_that_is_not_ours_is_parsed_anew(folder: Path, parses: Parses,
                                                  record: str) -> None:
    run(folder, "a.yaml")
    header, found = records(folder)
    (name,) = [name for name in found if name.endswith("a.yaml")]
    write_records(folder, header, {**found, name: record})
    assert run(folder, "a.yaml") == [("a.yaml", STALE_A, True)]
    assert parses.take() == ["a.yaml", "a.yaml"]


def test_tampered_record_for_other_content_is_not_used(folder: Path, parses: Parses) -> None:
    run(folder, "a.yaml")
    header, found = records(folder)
    (name,) = [name for name in found if name.endswith("a.yaml")]
    ident, digest, _ = found[name].split(" ", 2)
    write_records(folder, header, {**found, name: f'{ident} {digest} ["none"]'})
    (folder / "a.yaml").write_text(manifest(STALE_B))
    assert run(folder, "a.yaml") == [("a.yaml", STALE_B, True)]


@pytest.mark.usefixtures("later")
def test_a_file_name_that_is_not_utf8_is_remembered(folder: Path, parses: Parses) -> None:
    name = os.fsdecode(b"caf\xe9.yaml")
    (folder / name).write_text(manifest(STALE_A))
    run(folder, name)
    assert run(folder, name) == [(name, STALE_A, True)]
    assert parses.take() == [name]


# --- through main(), with real Nix ---------------------------------------------------------


def test_second_run_parses_nothing_and_reports_the_same(
    repo: Path, parses: Parses, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 1
    first = capsys.readouterr()
    parsed = parses.take()
    assert len(parsed) == len(set(parsed))  # the evaluation cache asked too: parsed once
    assert {"hello.yaml", "kustomization.yaml", "values.yaml"} <= set(parsed)
    assert main([]) == 1
    assert capsys.readouterr() == first
    assert parses.take() == []


def test_fix_after_a_cached_check_parses_and_fixes(repo: Path, parses: Parses) -> None:
    assert main([]) == 1
    parses.take()
    assert main(["--fix"]) == 1
    assert {"hello.yaml", "kustomization.yaml", "values.yaml"} <= set(parses.take())
    assert main([]) == 0


def test_no_cache_parses_every_time_and_writes_no_scan_cache(
    repo: Path, parses: Parses
) -> None:
    assert main(["--no-cache"]) == 1
    first = parses.take()
    assert main(["--no-cache"]) == 1
    assert parses.take() == first != []
    assert not (repo / ".git/nix-tag-check/scan").exists()


def test_a_stale_value_fix_cannot_rewrite_is_restored_with_its_reason(folder: Path) -> None:
    (folder / "a.yaml").write_text(f'image: "{HELLO}:\\x61bc"\n')

    def reasons() -> list[tuple[bool, str | None]]:
        checker = check.Checker(evaluated(), str(folder), 1 << 20, str(folder / "cache.json"))
        analysis = checker.analyse(str(folder / "a.yaml"))
        checker.save(keep_unseen=False)
        return [(f.stale, f.unfixable and f.unfixable.message) for f in analysis.findings]

    first = reasons()
    assert first and first[0][0] and first[0][1]
    assert reasons() == first


@pytest.mark.usefixtures("later")
def test_a_run_that_finds_nothing_changed_does_not_write_the_cache(folder: Path) -> None:
    run(folder, "a.yaml", "other.yaml")
    before = os.stat(folder / "cache.json")
    run(folder, "a.yaml", "other.yaml")
    assert os.stat(folder / "cache.json").st_ino == before.st_ino  # not replaced


def test_records_of_files_no_longer_checked_are_dropped(folder: Path) -> None:
    run(folder, "a.yaml", "other.yaml")
    run(folder, "other.yaml")
    assert [os.path.basename(name) for name in records(folder)[1]] == ["other.yaml"]


def test_changed_scanning_code_reads_every_manifest_again(
    folder: Path, parses: Parses, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(folder, "a.yaml")
    real = state.tool_identity()
    monkeypatch.setattr(state, "tool_identity", lambda: real + " with a new rule")
    run(folder, "a.yaml")
    assert parses.take() == ["a.yaml", "a.yaml"]


@pytest.mark.parametrize("link", [".git/nix-tag-check", ".git/nix-tag-check/scan"])
def test_no_scan_cache_through_a_link(repo: Path, tmp_path: Path, parses: Parses,
                                      link: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / link).parent.mkdir(parents=True, exist_ok=True)
    (repo / link).symlink_to(elsewhere)
    assert main([]) == 1
    assert main([]) == 1
    assert list(elsewhere.iterdir()) == []
    assert {"hello.yaml"} <= set(parses.take())
