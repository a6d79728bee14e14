"""--fix on a folder it may not write: one line per file, the file untouched, the rest fixed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from nix_tag_check import atomic
from nix_tag_check.main import main

LOCKED = ("deploy/hello.yaml", "deploy/kustomization.yaml", "deploy/worker-cronjob.yaml")


def _contents(repo: Path) -> dict[str, bytes]:
    return {rel: (repo / rel).read_bytes() for rel in LOCKED}


def _fix_cannot_write_the_deploy_folder(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each manifest there is one `path: cannot write: ...` line, left as it was; the chart
    outside the folder is still fixed."""
    before = _contents(repo)
    chart = (repo / "charts/app/values.yaml").read_bytes()
    assert main(["--fix"]) == 2
    assert capsys.readouterr().err == "".join(
        f"error: {rel}: cannot write: Permission denied; left as it was (--fix writes a new "
        "file beside it, then renames it over: the folder must be writable)\n" for rel in LOCKED
    ) + "fixed 1 reference(s) in 1 file(s)\n"
    assert _contents(repo) == before
    assert (repo / "charts/app/values.yaml").read_bytes() != chart
    assert sorted(os.listdir(repo / "deploy")) == sorted(Path(rel).name for rel in LOCKED)


def _takes_new_files(folder: Path) -> bool:
    try:
        (folder / "probe").touch()
    except PermissionError:
        return False
    (folder / "probe").unlink()
    return True


def test_fix_into_a_read_only_folder_is_a_one_line_error_per_file(
    repo: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    folder = repo / "deploy"
    folder.chmod(0o555)
    try:
        if _takes_new_files(folder):
            pytest.skip("run as root (with CAP_DAC_OVERRIDE), a 0o555 folder takes new files: "
                        "permissions are not enforced, so it cannot refuse the temporary file")
        _fix_cannot_write_the_deploy_folder(repo, capsys)
    finally:
        folder.chmod(0o755)


def test_fix_refused_a_temporary_file_is_a_one_line_error_per_file(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a read-only folder does to a user who is not root, for a test run as root."""
    real = atomic._create
    locked = os.path.realpath(repo / "deploy")

    def create(folder: str, prefix: str, suffix: str) -> tuple[int, str]:
        if os.path.realpath(folder) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES),
                                  os.path.join(folder, f"{prefix}X{suffix}"))
        return real(folder, prefix, suffix)

    monkeypatch.setattr(atomic, "_create", create)
    _fix_cannot_write_the_deploy_folder(repo, capsys)
