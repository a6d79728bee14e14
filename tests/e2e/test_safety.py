"""Bad input never costs a byte: errors name the file, exit 2, and leave it as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest
from conftest import git

from nix_tag_check import paths
from nix_tag_check.fix import verify as patch
from nix_tag_check.fix import write
from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"


def _check_error(
    repo: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes, message: str,
    *args: str,
) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    assert main(["--fix", *args]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert err == [f"error: {name}:{message}"]
    assert path.read_bytes() == data


def test_unparseable_yaml(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check_error(repo, capsys, "deploy/bad.yaml", f"a: b\n  image: {HELLO}:x\n- c\n".encode(),
                 "2:8: invalid YAML: mapping values are not allowed here")


def test_not_utf8(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check_error(repo, capsys, "deploy/latin1.yaml", f"image: {HELLO}:x\nn: caf\xe9\n".encode(
        "latin-1"), "2:7: not UTF-8 text")


def test_binary_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check_error(repo, capsys, "deploy/blob.yaml", f"\0\0{HELLO}".encode(),
                 "1:1: binary file (contains NUL bytes); exclude it")


def test_nesting_too_deep(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ("[" * 300 + f"'{HELLO}:x'" + "]" * 300 + "\n").encode()
    _check_error(repo, capsys, "deploy/deep.yaml", data, "1:257: nesting deeper than 256 levels")


def test_file_over_the_size_limit(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = f"image: {HELLO}:x\n".encode() + b"# padding\n" * 100
    _check_error(repo, capsys, "deploy/big.yaml", data,
                 f" file is {len(data)} bytes, over the limit of 500 (max-file-size in the "
                 "config or --max-file-size); raise it or exclude the file",
                 "--max-file-size", "500", "deploy/big.yaml")


def test_missing_file_argument(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy/nope.yaml"]) == 2
    assert capsys.readouterr().err == "error: deploy/nope.yaml: no such file\n"


@pytest.mark.parametrize("args", [["deploy/link.yaml"], []], ids=["named", "listed"])
def test_symlink_out_of_the_repository_is_never_followed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    """Named, or found by listing the repository (links told by its folders' entries)."""
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"image: {HELLO}:x\n")
    (repo / "deploy/link.yaml").symlink_to(outside)
    git(repo, "add", "-A")
    for _ in range(2):  # the second run has the scan cache
        assert main(["--fix", *args]) == 2
        assert "deploy/link.yaml: symlink points outside the repository" in \
            capsys.readouterr().err
    assert outside.read_text() == f"image: {HELLO}:x\n"


def test_symlink_inside_the_repository_fixes_its_target_and_stays_a_link(repo: Path) -> None:
    (repo / "deploy/alias.yaml").symlink_to("hello.yaml")
    assert main(["--fix", "deploy/alias.yaml"]) == 1
    assert (repo / "deploy/alias.yaml").is_symlink()
    assert main(["deploy/hello.yaml"]) == 0


def test_files_that_do_not_mention_an_image_are_skipped_silently(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "deploy/binary.json").write_bytes(b"\0\1\2\xff")
    (repo / "deploy/latin1.yaml").write_bytes(b"a: caf\xe9\n")
    (repo / "deploy/broken.yaml").write_bytes(b"a: [\n")
    main(["--fix"])
    capsys.readouterr()
    assert main([]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("text", ["", f"# {HELLO}\n", f"---\n# {HELLO}\n", "---\n", "...\n"])
def test_empty_and_comment_only_files_are_fine(repo: Path, text: str) -> None:
    main(["--fix"])
    (repo / "deploy/empty.yaml").write_text(text)
    assert main([]) == 0


def test_alias_bomb_is_walked_once_in_bounded_memory(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [f'a0: &a0 ["{HELLO}:x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    lines.append("spec: {containers: [{name: x, image: *a0}]}")
    (repo / "deploy/bomb.yaml").write_text("\n".join(lines) + "\n")
    tracemalloc.start()
    started = time.process_time()
    main(["deploy/bomb.yaml"])
    cpu = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10 * 1024 * 1024
    assert cpu < 5  # a billion expansions would take hours; this is not a timing test
    assert capsys.readouterr().out.startswith("deploy/bomb.yaml:1:11: ")  # the string, once


def test_a_fix_that_would_change_more_than_tags_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = patch.apply_edits
    monkeypatch.setattr(patch, "apply_edits", lambda text, edits: real(text, edits) + "x: 1\n")
    before = (repo / "deploy/hello.yaml").read_bytes()
    assert main(["--fix", "deploy/hello.yaml"]) == 2
    assert capsys.readouterr().err == (
        "error: deploy/hello.yaml: internal error, file left as it was: the fixed text differs "
        "from the original in more than its tags\n"
    )
    assert (repo / "deploy/hello.yaml").read_bytes() == before


def test_file_changed_on_disk_since_read_is_not_overwritten(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = repo / "deploy/hello.yaml"
    real = patch.verify

    def verify_then_someone_edits(original: str, patched: str, findings: list,
                                  before: list | None = None) -> list:
        after = real(original, patched, findings, before)
        path.write_text("# edited by someone else meanwhile\n")
        return after

    monkeypatch.setattr(patch, "verify", verify_then_someone_edits)
    assert main(["--fix", "deploy/hello.yaml"]) == 2
    assert "file changed while it was being checked" in capsys.readouterr().err
    assert path.read_text() == "# edited by someone else meanwhile\n"
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []


def test_exception_before_rename_leaves_the_original_and_no_temporary_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(path: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "before_rename", interrupted)
    before = (repo / "deploy/hello.yaml").read_bytes()
    assert main(["--fix", "deploy/hello.yaml"]) == 130
    assert (repo / "deploy/hello.yaml").read_bytes() == before
    assert [p.name for p in (repo / "deploy").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_between_read_and_write_leaves_a_whole_file(repo: Path, signum: int) -> None:
    """The signal arrives with the temporary file written: it waits for the rename."""
    script = textwrap.dedent(f"""
        import os, sys
        from nix_tag_check.fix import write
        from nix_tag_check.main import main
        write.before_rename = lambda path: os.kill(os.getpid(), {int(signum)})
        sys.exit(main(["--fix", "deploy/hello.yaml"]))
    """)
    before = (repo / "deploy/hello.yaml").read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run([sys.executable, "-c", script], cwd=repo, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0  # killed (or KeyboardInterrupt) after the rename
    after = (repo / "deploy/hello.yaml").read_bytes()
    assert after != before and len(after) == len(before)
    assert main(["deploy/hello.yaml"]) == 0
    assert [p.name for p in (repo / "deploy").iterdir() if p.name.startswith(".")] == []


def test_duplicate_keys_are_an_error_not_a_guess(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (f"images:\n  - name: {HELLO}\n    digest: sha256:{'a' * 64}\n"
            f"    digest: sha256:{'b' * 64}\nkind: Kustomization\n").encode()
    _check_error(repo, capsys, "deploy/dup.yaml", data, "4:5: duplicate key 'digest'")


@pytest.mark.parametrize(("path", "folder", "inside", "rel"), [
    ("/repo/a.yaml", "/repo", True, "a.yaml"),
    ("/repo", "/repo", True, "."),
    ("/repo/", "/repo", True, ""),
    ("/repository/a.yaml", "/repo", False, "../repository/a.yaml"),
    ("/other/a.yaml", "/repo", False, "../other/a.yaml"),
    ("/a.yaml", "/", True, "a.yaml"),
])
def test_inside_a_folder_is_a_whole_path_component(
    path: str, folder: str, inside: bool, rel: str
) -> None:
    assert paths.is_inside(path, folder) is inside
    assert paths.relative(path, folder) == rel
