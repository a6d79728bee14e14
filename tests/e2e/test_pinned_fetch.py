"""Fetches pinned by a hash or a full rev are cached; any other fetch is not, and -v says why.

The pinned tarballs are put in the store first (`nix-prefetch-url --unpack --name source`),
so that `fetchTarball { url = "https://example.invalid/..."; sha256 = ...; }` evaluates
offline, as it does on a machine that fetched it once.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import git
from nixtools import counting_nix, out_path_hash, starts

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
IMAGE = ('{{ image = derivation {{ name = "img"; system = "x86_64-linux"; builder = "/bin/sh"; '
         "v = {fetched}; }}; }}")
NIV_SOURCES = """let
  sources = builtins.fromJSON (builtins.readFile ./sources.json);
  # as niv writes it: builtins' fetcher under another name
  fetch_tarball = spec: let inherit (builtins) fetchTarball; in
    fetchTarball { inherit (spec) url sha256; };
in builtins.mapAttrs (name: spec: fetch_tarball spec) sources
"""
NPINS_DEFAULT = """let
  data = builtins.fromJSON (builtins.readFile ./sources.json);
  mkSource = spec: builtins.fetchTarball { inherit (spec) url; sha256 = spec.hash; };
in builtins.mapAttrs (_: mkSource) data.pins
"""


@pytest.fixture
def nix_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "nix-starts.log"
    monkeypatch.setenv("PATH", counting_nix(tmp_path / "bin", log))
    return log


def _tarball(folder: Path, content: str) -> tuple[Path, str]:
    """A tarball of one file, in the store as `source`: (its file, its sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "f").write_text(content)
    path = folder.with_suffix(".tar.gz")
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder / "f", arcname="top/f")
    sha = subprocess.run(["nix-prefetch-url", "--unpack", "--name", "source", f"file://{path}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return path, sha


def _configure(repo: Path, fetched: str, *files: tuple[str, str]) -> None:
    (repo / "image.nix").write_text(IMAGE.format(fetched=fetched))
    for name, text in files:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    (repo / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {HELLO}\n    nix: image.nix\n    attr: image\n")
    git(repo, "add", "-A")


def _shape(repo: Path, shape: str, sha: str) -> None:
    if shape == "fetchTarball":
        _configure(repo, f'builtins.fetchTarball {{ url = "https://example.invalid/x"; '
                         f'sha256 = "{sha}"; }}')
    elif shape == "niv":
        _configure(repo, "(import ./nix/sources.nix).nixpkgs", ("nix/sources.nix", NIV_SOURCES),
                   ("nix/sources.json", json.dumps({"nixpkgs": {
                       "url": "https://example.invalid/x", "sha256": sha, "type": "tarball"}})))
    else:
        _configure(repo, "(import ./npins).nixpkgs", ("npins/default.nix", NPINS_DEFAULT),
                   ("npins/sources.json", json.dumps({"version": 3, "pins": {"nixpkgs": {
                       "type": "Tarball", "url": "https://example.invalid/x", "hash": sha}}})))


def _tags(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[str, str]:
    capsys.readouterr()
    main(["--print-expected", *extra])
    out = capsys.readouterr()
    return out.out, out.err


@pytest.mark.parametrize("shape", ["fetchTarball", "niv", "npins"])
def test_a_second_run_of_a_pinned_repository_starts_no_nix(
    repo: Path, tmp_path: Path, nix_log: Path, shape: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, sha = _tarball(tmp_path / "x", "one")
    _shape(repo, shape, sha)
    first, _ = _tags(capsys)
    nix_log.unlink()
    again, _ = _tags(capsys)
    assert starts(nix_log) == []
    assert again == first


@pytest.mark.parametrize("shape", ["fetchTarball", "niv", "npins"])
def test_the_pinned_tag_is_what_plain_nix_instantiate_gives(
    repo: Path, tmp_path: Path, shape: str, capsys: pytest.CaptureFixture[str],
) -> None:
    _, sha = _tarball(tmp_path / "x", "one")
    _shape(repo, shape, sha)
    assert _tags(capsys, "--no-cache")[0].split(":")[-1].strip() == \
        out_path_hash(repo / "image.nix", "image")


@pytest.mark.parametrize("shape", ["niv", "npins"])
def test_a_changed_hash_in_sources_json_evaluates_again(
    repo: Path, tmp_path: Path, nix_log: Path, shape: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, one = _tarball(tmp_path / "x", "one")
    _, two = _tarball(tmp_path / "y", "two")
    _shape(repo, shape, one)
    first, _ = _tags(capsys)
    sources = repo / ("nix" if shape == "niv" else "npins") / "sources.json"
    sources.write_text(sources.read_text().replace(one, two))
    git(repo, "add", "-A")
    nix_log.unlink()
    again, _ = _tags(capsys)
    assert starts(nix_log) and again != first
    assert again == _tags(capsys, "--no-cache")[0]


@pytest.mark.parametrize("fetched", [
    'builtins.fetchTarball "file://{tarball}"',
    'builtins.fetchTarball {{ url = "file://{tarball}"; }}',
    'builtins.fetchurl "file://{tarball}"',
    '(with builtins; fetchurl "file://{tarball}")',
    '(let inherit (builtins) fetchurl; in fetchurl "file://{tarball}")',
    '(builtins . fetchurl "file://{tarball}")',
    '(let b = builtins; in b.fetchurl "file://{tarball}")',
    '(let b = builtins; n = "fetchurl"; in b.${{n}} "file://{tarball}")',
    'builtins.fetchGit {{ url = "file://{git}"; ref = "main"; }}',
])
def test_an_unpinned_fetch_is_evaluated_on_every_run(
    repo: Path, tmp_path: Path, nix_log: Path, fetched: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tarball, _ = _tarball(tmp_path / "x", "one")
    source = tmp_path / "source"
    source.mkdir()
    git(source, "init", "-q", "-b", "main")
    (source / "f").write_text("f")
    git(source, "add", "f")
    git(source, "commit", "-q", "-m", "f")
    _configure(repo, fetched.format(tarball=tarball, git=source))
    _tags(capsys)
    nix_log.unlink()
    _, said = _tags(capsys, "-v")
    assert starts(nix_log)
    assert "not cached: " in said


def test_verbose_names_the_unpinned_call_and_what_it_lacks(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    tarball, _ = _tarball(tmp_path / "x", "one")
    _configure(repo, f'builtins.fetchTarball {{ url = "file://{tarball}"; }}')
    _, said = _tags(capsys, "-v")
    assert (f"not cached: image.nix calls fetchTarball file://{tarball} without sha256 or "
            "hash: unpinned") in said
