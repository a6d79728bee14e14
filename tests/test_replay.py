"""A check whose every input is unchanged is answered from its recording, and only then.

These run the tool as a process, as a hook or a person does: only a run from the command line
is recorded and replayed. Whether a run was replayed is read off the modules it imported:
a replay imports nothing of the tool but main and replay.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, git

from nix_tag_check import recording, replay
from nix_tag_check.main import main

CODE = ("import sys; from nix_tag_check.main import main; status = main(); sys.stdout.flush(); "
        "print('MODULES', sorted(m for m in sys.modules if m.startswith('nix_tag_check')), "
        "file=sys.stderr); raise SystemExit(status)")
REPLAYED = "MODULES ['nix_tag_check', 'nix_tag_check.main', 'nix_tag_check.replay']"
HELLO_LINE = "registry.example.com/team/hello:1dq4d2v2l6f3n5p8r0s9x7y4z1a2b3c4"


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.status = done.returncode
        self.out = done.stdout
        lines = done.stderr.splitlines()
        self.replayed = lines[-1] == REPLAYED
        self.traced = "'nix_tag_check.recording'" in lines[-1]
        self.err = "\n".join(lines[:-1])

    def same_output(self, other: Run) -> bool:
        return (self.status, self.out, self.err) == (other.status, other.out, other.err)


def tool(cwd: Path, *args: str, **env: str) -> Run:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run([sys.executable, "-c", CODE, *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, check=False)
    assert done.stderr.splitlines()[-1].startswith("MODULES"), done.stderr
    return Run(done)


def settle() -> None:
    """Let a change just made age past the window in which a recording refuses it."""
    time.sleep(2 * recording.RACY_NS / 1e9)


def recorded(cwd: Path, *args: str) -> Run:
    """The real run that was recorded: the first, if the evaluation cache answered it, else
    the second (a run that starts Nix is not recorded)."""
    real = tool(cwd, *args)
    settle()
    again = tool(cwd, *args)
    if not again.replayed:
        real = again
        settle()
    return real


def replays(cwd: Path) -> list[Path]:
    return sorted((cwd / ".git" / "nix-tag-check" / "replay").glob("*.run"))


def test_an_unchanged_check_is_replayed_with_the_same_output_and_status(repo: Path) -> None:
    real = recorded(repo)
    again = tool(repo)
    assert again.replayed
    assert again.same_output(real)
    assert real.status == 1 and HELLO_LINE.split(":")[1] in real.out


@pytest.mark.parametrize("args", [["--format", "json"], ["-v"], ["--print-expected"], ["-q"]])
def test_every_output_format_is_replayed_byte_for_byte(repo: Path, args: list[str]) -> None:
    real = recorded(repo, *args)
    again = tool(repo, *args)
    assert again.replayed and again.same_output(real)


def test_an_up_to_date_check_is_replayed_with_status_0(repo: Path) -> None:
    assert main(["--fix", "-q"]) == 1
    settle()
    real = recorded(repo)
    again = tool(repo)
    assert (real.status, again.status, again.replayed) == (0, 0, True)


def test_a_manifest_edited_with_size_and_mtime_restored_is_read_again(repo: Path) -> None:
    recorded(repo)
    manifest = repo / "deploy" / "hello.yaml"
    before = manifest.stat()
    text = manifest.read_text()
    manifest.write_text(text.replace(HELLO_LINE, HELLO_LINE[:-1] + "X"))
    os.utime(manifest, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert manifest.stat().st_size == before.st_size
    edited = tool(repo)
    assert not edited.replayed
    assert "1dq4d2v2l6f3n5p8r0s9x7y4z1a2b3cX" in edited.out


def test_a_renamed_manifest_is_read_again(repo: Path) -> None:
    recorded(repo)
    (repo / "deploy" / "hello.yaml").rename(repo / "deploy" / "hello2.yaml")
    renamed = tool(repo)
    assert not renamed.replayed
    assert "deploy/hello2.yaml:16:18" in renamed.out and "deploy/hello.yaml" not in renamed.out


def test_a_manifest_replaced_by_a_link_is_read_again(repo: Path) -> None:
    real = recorded(repo)
    manifest = repo / "deploy" / "hello.yaml"
    target = repo / "deploy" / "hello-fixed.txt"
    target.write_text(manifest.read_text().replace(HELLO_LINE, "registry.example.com/x:1"))
    manifest.unlink()
    manifest.symlink_to(target.name)
    linked = tool(repo)
    assert not linked.replayed
    assert "deploy/hello.yaml" in real.out and "deploy/hello.yaml" not in linked.out


def test_a_run_right_after_an_edit_is_not_traced_and_the_next_is(repo: Path) -> None:
    recorded(repo)
    manifest = repo / "deploy" / "hello.yaml"
    manifest.write_text(manifest.read_text().replace("replicas: 2", "replicas: 3"))
    edited = tool(repo)
    assert not edited.replayed and not edited.traced
    settle()
    after = tool(repo)
    assert not after.replayed and after.traced
    again = tool(repo)
    assert again.replayed and again.same_output(after) and again.same_output(edited)


def test_an_edited_nix_file_is_evaluated_again(repo: Path) -> None:
    real = recorded(repo)
    nix = repo / "default.nix"
    nix.write_text(nix.read_text().replace('echo $src > $out', 'echo $src >> $out'))
    changed = tool(repo)
    assert not changed.replayed
    assert changed.out != real.out


def test_a_new_untracked_manifest_is_seen(repo: Path) -> None:
    recorded(repo)
    (repo / "deploy" / "new.yaml").write_text(f"image: {HELLO_LINE}\n")
    added = tool(repo)
    assert not added.replayed
    assert "deploy/new.yaml:1:8" in added.out


def test_staging_a_file_is_seen(repo: Path) -> None:
    (repo / "deploy" / "new.yaml").write_text("kind: ConfigMap\n")
    tool(repo)
    settle()
    recorded(repo)
    git(repo, "add", "deploy/new.yaml")
    assert not tool(repo).replayed


def test_a_changed_environment_variable_is_a_real_run(repo: Path) -> None:
    recorded(repo)
    assert not tool(repo, NIX_TAG_CHECK_TEST_VARIABLE="1").replayed


def test_a_config_file_created_where_none_was_is_a_real_run(repo: Path) -> None:
    folder = repo / "deploy"
    real = recorded(folder)
    (folder / ".nix-tag-check.yaml").write_text(
        "images:\n  - name: registry.example.com/team/hello\n    nix: ../default.nix\n"
        "    attr: hello\nfiles: ['hello.yaml']\n")
    created = tool(folder)
    assert not created.replayed
    assert created.out != real.out


def test_other_arguments_are_another_recording(repo: Path) -> None:
    recorded(repo)
    assert not tool(repo, "deploy/hello.yaml").replayed


def test_fix_is_never_recorded_and_its_changes_are_seen(repo: Path) -> None:
    stale = recorded(repo)
    assert tool(repo, "--fix").status == 1
    fixed = tool(repo)
    assert (stale.status, fixed.status, fixed.replayed) == (1, 0, False)


def test_a_run_that_starts_nix_is_not_recorded(repo: Path) -> None:
    first = tool(repo)
    assert not first.replayed
    assert replays(repo) == []


def test_a_damaged_evaluation_cache_entry_is_evaluated_again(repo: Path) -> None:
    real = recorded(repo)
    entries = sorted((repo / ".git" / "nix-tag-check").glob("*.json"))
    assert entries
    for entry in entries:
        entry.write_text("{")
    again = tool(repo)
    assert not again.replayed and again.same_output(real)
    assert all(json.loads(entry.read_text()) for entry in entries)


def test_a_corrupt_recording_is_ignored(repo: Path) -> None:
    real = recorded(repo)
    [memo] = replays(repo)
    memo.write_bytes(b"\x00garbage")
    again = tool(repo)
    assert not again.replayed and again.same_output(real)


def test_a_recording_under_a_linked_folder_is_not_used(repo: Path, tmp_path: Path) -> None:
    recorded(repo)
    folder = repo / ".git" / "nix-tag-check" / "replay"
    folder.rename(tmp_path / "elsewhere")
    folder.symlink_to(tmp_path / "elsewhere")
    assert not tool(repo).replayed


def test_replay_into_a_closed_pipe_exits_quietly(repo: Path) -> None:
    recorded(repo)
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "nix_tag_check"], cwd=repo, env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read()
    assert (process.wait(), err) == (141, b"")


def test_calls_from_python_are_neither_recorded_nor_replayed(repo: Path) -> None:
    assert main([]) == 1
    assert main([]) == 1
    assert replays(repo) == []


def test_the_tools_own_modules_are_inputs_of_a_recording(repo: Path) -> None:
    recorded(repo)
    [memo] = replays(repo)
    deps = {(op, path) for op, path, _, _ in marshal.loads(memo.read_bytes())[2]}
    assert ("s", str(ROOT / "nix_tag_check" / "cli.py")) in deps


def test_a_manifest_is_an_input_of_a_recording(repo: Path) -> None:
    recorded(repo)
    [memo] = replays(repo)
    deps = {path for _, path, _, _ in marshal.loads(memo.read_bytes())[2]}
    assert str(repo / "deploy" / "hello.yaml") in deps


def test_a_file_changed_after_the_cutoff_is_not_settled(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\n")
    dep = ("s", str(path), 0, replay.summary("s", str(path)))
    st = path.stat()
    assert recording._settled([dep], max(st.st_mtime_ns, st.st_ctime_ns) + 1)
    assert not recording._settled([dep], st.st_ctime_ns)


def test_a_whole_second_ctime_is_not_settled_within_two_seconds() -> None:
    dep = ("s", "/x", 0, (0o100000, 0o100644, 1, 1, 5, 10**9 * 100, 10**9 * 100))
    assert not recording._settled([dep], 10**9 * 101)
    assert recording._settled([dep], 10**9 * 103)
    fine = ("s", "/x", 0, (0o100000, 0o100644, 1, 1, 5, 10**9 * 100 + 7, 10**9 * 100 + 7))
    assert recording._settled([fine], 10**9 * 101)


def test_a_folder_changed_after_it_was_listed_keeps_the_listing_the_run_saw(
        tmp_path: Path) -> None:
    rec = recording.Recorder([])
    rec.saw("d", str(tmp_path), replay.summary("d", str(tmp_path)))
    (tmp_path / "new").write_text("")
    kept = _kept(recording._dependencies(rec, frozenset()), str(tmp_path))
    assert kept == () and replay.summary("d", str(tmp_path)) != kept


def test_a_file_changed_after_it_was_read_keeps_the_identity_the_run_saw(
        tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\n")
    rec = recording.Recorder([])
    rec.saw("s", str(path), replay.identity(path.stat()))
    first = replay.identity(path.stat())
    path.write_text("a: 22\n")
    kept = _kept(recording._dependencies(rec, frozenset()), str(path))
    assert kept == first != replay.summary("s", str(path))


def _kept(deps: list[tuple[object, ...]], path: str) -> object:
    [kept] = [summary for _, where, _, summary in deps if where == path]
    return kept


def test_recordings_are_kept_to_a_bound(tmp_path: Path) -> None:
    for number in range(recording.KEEP + 5):
        (tmp_path / f"{number:08x}.run").write_bytes(b"")
        os.utime(tmp_path / f"{number:08x}.run", ns=(number, number))
    recording._prune(str(tmp_path))
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == recording.KEEP and kept[0] == f"{5:08x}.run"


def test_json_output_replayed_is_still_one_document(repo: Path) -> None:
    recorded(repo, "--format", "json")
    again = tool(repo, "--format", "json")
    assert again.replayed
    assert json.loads(again.out)["findings"]


def test_where_a_recording_lives_does_not_depend_on_how_objects_are_shared() -> None:
    fresh = "".join(["nix-", "tag"])
    shared = ("nix-tag", "nix-tag")
    apart = (fresh, "".join(["nix-", "tag"]))
    assert shared == apart and marshal.dumps(shared) != marshal.dumps(apart)
    assert replay.memo_path("/g", shared) == replay.memo_path("/g", apart)


def test_a_folder_listed_but_not_read_to_its_end_is_still_an_input(tmp_path: Path) -> None:
    rec = recording.Recorder([])
    rec.start()
    try:
        for _ in os.scandir(tmp_path):
            break
    finally:
        rec.stop()
    assert ("d", str(tmp_path), 0) in rec.seen


def test_the_file_changed_last_is_checked_first(tmp_path: Path) -> None:
    older, newer = tmp_path / "older.yaml", tmp_path / "newer.yaml"
    older.write_text("a: 1\n")
    time.sleep(0.01)
    newer.write_text("a: 1\n")
    deps = [("d", str(tmp_path), 0, replay.summary("d", str(tmp_path)))] + [
        ("l", str(p), 0, replay.summary("l", str(p))) for p in (older, newer)]
    assert sorted(deps, key=recording._recent_first)[0][1] == str(newer)


def test_a_file_read_right_after_its_look_is_one_input(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\n")
    rec = recording.Recorder([])
    rec.start()
    try:
        os.lstat(path)
        with open(path) as handle:
            handle.read()
    finally:
        rec.stop()
    assert [op for op, where, _ in rec.seen if where == str(path)] == ["l"]


def test_a_run_that_looks_too_often_is_not_recorded_and_lets_go(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recording, "MAX_LOOKS", 3)
    real_stat = os.stat
    rec = recording.Recorder([])
    rec.start()
    try:
        for number in range(5):
            os.path.exists(tmp_path / f"{number}.yaml")
        assert os.stat is real_stat  # no longer traced
    finally:
        rec.stop()
    assert rec.refused and rec.seen == {}


def test_a_run_that_writes_too_much_is_not_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recording, "MAX_WRITES", 3)
    rec = recording.Recorder([])
    for _ in range(5):
        rec.wrote_out(1, "line\n")
    assert rec.refused and rec.output == []
