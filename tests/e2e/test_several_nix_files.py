"""One run over images from three .nix files (tests/fixtures/several), with real Nix."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, committed_copy
from nixtools import out_path_hash, traces_builtin_calls

from nix_tag_check.main import main

WEB, WORKER, API = "registry.example.com/team/web", "registry.example.com/team/worker", \
    "ghcr.io/acme/api"
SOURCES = {WEB: ("images/web.nix", "image"), WORKER: ("images/worker.nix", "images.worker"),
           API: ("services/api/default.nix", "image")}
MANIFESTS = ("deploy/web.yaml", "deploy/worker.yaml", "deploy/api.yaml")


@pytest.fixture
def several(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = committed_copy(FIXTURES / "several", tmp_path / "several")
    monkeypatch.chdir(root)
    return root


def nix_tags(root: Path) -> dict[str, str]:
    """What Nix itself says each image's tag is, asked file by file."""
    return {name: out_path_hash(root / nix, attr) for name, (nix, attr) in SOURCES.items()}


def _stale(name: str, where: str, old: str, tag: str) -> str:
    nix, attr = SOURCES[name]
    return f"{where}: {name}: tag '{old}' should be '{tag}' ({nix}#{attr})"


def _contents(root: Path) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in MANIFESTS}


def test_images_from_three_nix_files_get_their_own_tags(
    several: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    tags = nix_tags(several)
    assert len(set(tags.values())) == 3
    assert main(["--print-expected"]) == 0
    assert capsys.readouterr().out == "".join(f"{name}:{tag}\n" for name, tag in tags.items())


def test_a_check_over_three_nix_files_reports_each_stale_reference(
    several: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    tags = nix_tags(several)
    assert main([]) == 1
    assert capsys.readouterr().out.splitlines() == [
        _stale(API, "deploy/api.yaml:9:18", "0" * 31 + "c", tags[API]),
        _stale(API, "deploy/api.yaml:12:18", "0" * 31 + "c", tags[API]),
        _stale(WEB, "deploy/web.yaml:9:18", "0" * 31 + "a", tags[WEB]),
        _stale(WORKER, "deploy/worker.yaml:12:22", "0" * 31 + "b", tags[WORKER]),
    ]


def test_a_fix_over_three_nix_files_writes_each_tag_then_checks_clean(
    several: Path,
) -> None:
    tags = nix_tags(several)
    before = _contents(several)
    assert main(["--fix"]) == 1
    olds = {WEB: "a", WORKER: "b", API: "c"}
    assert _contents(several) == {
        rel: before[rel].replace(f"{'0' * 31}{olds[name]}".encode(), tags[name].encode())
        for rel, name in zip(MANIFESTS, (WEB, WORKER, API), strict=True)
    }
    assert main(["--fix"]) == 0
    assert main([]) == 0


THROWN_AT = "4:12" if traces_builtin_calls() else "4:5"  # the `throw`, or its attribute
NIX_ERRORS = [  # (what replaces `name = "worker";` in images/worker.nix, the error line)
    ('name = 1 + "worker";', "images/worker.nix:4:16: cannot add a string to an integer"),
    ('name = throw "not ready";', f"images/worker.nix:{THROWN_AT}: not ready"),  # --show-trace
]


@pytest.mark.parametrize("replacement, error", NIX_ERRORS)
@pytest.mark.parametrize("mode", [[], ["--fix"]])
def test_a_nix_error_in_one_of_three_files_names_it_and_writes_nothing(
    several: Path, mode: list[str], replacement: str, error: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    worker = several / "images/worker.nix"
    worker.write_text(worker.read_text().replace('name = "worker";', replacement))
    before = _contents(several)
    assert main(mode) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: {error} (while evaluating image {WORKER})\n"
    assert _contents(several) == before
