"""Zero-config discovery that tells the truth, against real Nix.

The builders are stand-ins that set the attributes the real ones set
(tests/fixtures/builders/builders.nix): dockerTools.pullImage is a fixed-output derivation
with imageName and imageTag, buildImage's imageTag is its own output hash,
buildLayeredImage's and streamLayeredImage's the hash of their config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, committed_copy, git
from nixtools import counting_nix, starts

from nix_tag_check.main import main

BUILDERS = FIXTURES / "builders/builders.nix"
CONFIG = ".nix-tag-check.yaml"
HASH = "d06r0v79f7v375fzplv6yc6025v8cyxf"  # shaped like a Nix hash, the image's or not
PULL = ('b.dockerTools.pullImage { imageName = "alpine"; imageDigest = "sha256:'
        + "0" * 64 + '"; sha256 = "' + "0" * 52 + '"; }')


def _repository(root: Path, nix: str, files: dict[str, str]) -> Path:
    """A committed repository: builders.nix, default.nix (`b` is the builders) and files."""
    source = root.parent / f"{root.name}-source"
    source.mkdir()
    shutil.copy(BUILDERS, source / "builders.nix")
    (source / "default.nix").write_text(f"let b = import ./builders.nix; in {nix}\n")
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    return committed_copy(source, root)


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


@pytest.fixture
def no_nixpkgs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search path without nixpkgs, as Debian's nix-bin leaves it (no channel)."""
    monkeypatch.setenv("NIX_PATH", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# 1. A file that needs <nixpkgs> on a machine without it: Nix's error, never "no image".

NEEDS_NIXPKGS = """{ pkgs ? import <nixpkgs> { } }:
{
  image = pkgs.dockerTools.buildImage { name = "registry.example.com/team/hello"; };
  shell = pkgs.mkShell { };
}
"""


@pytest.fixture
def needs_nixpkgs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_nixpkgs: None) -> Path:
    root = _repository(tmp_path / "repo", "{}", {
        "deploy/app.yaml": "image: registry.example.com/team/hello:old\n"})
    (root / "default.nix").write_text(NEEDS_NIXPKGS)
    git(root, "commit", "-qam", "nixpkgs from the search path")
    monkeypatch.chdir(root)
    return root


def test_discovery_where_the_search_path_has_no_nixpkgs_says_nixs_error_and_what_failed(
    needs_nixpkgs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 2
    assert _errors(capsys) == [
        "error: default.nix:1:17: file 'nixpkgs' was not found in the Nix search path (add it "
        "using $NIX_PATH or -I) (while discovering images: Nix cannot evaluate image, shell); "
        "this machine's Nix search path has no 'nixpkgs' (NIX_PATH, nix-path, channels; "
        "Debian's and Ubuntu's nix-bin set up no channel): pin it in the repository "
        "(fetchTarball with a sha256, niv, npins, or a flake), which the pipeline's clean "
        "clone needs too, or give NIX_PATH=nixpkgs=...; discovery evaluates every attribute "
        "to know which are images: fix it, or list the images to check in .nix-tag-check.yaml"
    ]


def test_a_failed_discovery_is_never_cached(
    needs_nixpkgs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "nix.log"
    monkeypatch.setenv("PATH", counting_nix(tmp_path / "bin", log))
    assert main([]) == 2
    first = starts(log)  # Nix 2.26 names no place without --show-trace: a second process
    assert main([]) == 2
    assert first and starts(log) == first * 2
    one, two = _errors(capsys)
    assert one == two


def test_with_nixpkgs_on_the_search_path_the_same_file_discovers_its_image(
    needs_nixpkgs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 2
    search = tmp_path / "search"
    (search / "nixpkgs").mkdir(parents=True)
    shutil.copy(BUILDERS, search / "nixpkgs/builders.nix")
    (search / "nixpkgs/default.nix").write_text(
        "{ ... }: (import ./builders.nix) // { mkShell = { }: { }; }\n")
    monkeypatch.setenv("NIX_PATH", str(search))
    capsys.readouterr()
    assert main(["--print-expected"]) == 0
    assert capsys.readouterr().out.startswith("registry.example.com/team/hello:")


def test_one_attribute_that_fails_beside_an_image_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repository(tmp_path / "repo", """{
  image = b.dockerTools.buildImage { name = "registry.example.com/team/hello"; };
  tools = { recurseForDerivations = true; broken = throw "not on this system"; };
}""", {"app.yaml": "image: registry.example.com/team/hello:old\n"})
    monkeypatch.chdir(root)
    assert main([]) == 2
    [error] = _errors(capsys)
    place, message = error.split(": ", 2)[1:]  # the column differs between Nix versions
    assert place.startswith("default.nix:3:")
    assert message.startswith("not on this system (while discovering images: Nix cannot "
                              "evaluate tools.broken); discovery evaluates")


# 2. A pulled image beside the images is not one of them.

PULLED_BASE = f"""rec {{
  alpine = {PULL};
  image = b.dockerTools.buildImage {{
    name = "registry.example.com/team/hello"; fromImage = alpine; }};
  n2c = b.nix2container.pullImage {{ imageName = "busybox"; imageDigest = "sha256:{"1" * 64}";
    sha256 = "{"1" * 52}"; }};
}}"""


def test_a_pulled_base_image_beside_the_image_is_left_out_and_said_with_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repository(tmp_path / "repo", PULLED_BASE, {
        "app.yaml": "image: registry.example.com/team/hello:old\n"})
    monkeypatch.chdir(root)
    assert main(["--fix"]) == 1
    capsys.readouterr()
    for _ in range(2):  # evaluated, then cached: the same words
        assert main(["-v"]) == 0
        err = capsys.readouterr().err
        assert ("discovery: alpine (default.nix#alpine) left out: a pulled image (a "
                "fixed-output derivation, as dockerTools.pullImage makes: fetched, not built "
                "from this repository)") in err.splitlines()
        assert "latest" not in err
        assert "busybox" not in err


def test_discovery_that_finds_only_pulled_images_says_it_left_them_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repository(tmp_path / "repo", f"{{ alpine = {PULL}; }}", {})
    monkeypatch.chdir(root)
    assert main([]) == 2
    [error] = _errors(capsys)
    assert "recurseForDerivations = true (and left out default.nix#alpine: pulled images, not " \
           "built here); set that" in error


# 3. An image named after the builder's `name`, pushed as another repository.

def test_a_discovered_image_nothing_references_names_the_nix_hashed_repositories_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repository(tmp_path / "repo", 'b.dockerTools.buildImage { name = "hello-world"; }', {
        "chart/values.yaml": f"image: docker.io/lewo/poc-tekton:{HASH}\n",
        "deploy/redis.yaml": "image: redis:7.2\n",
    })
    monkeypatch.chdir(root)
    assert main([]) == 2
    assert _errors(capsys) == [
        "error: hello-world: no checked file references this image (2 file(s) checked: every "
        "Git-tracked *.yaml, *.yml, *.json file); discovered in default.nix; list the images "
        f"to check in {CONFIG} (with `required: false` for one deployed elsewhere); the "
        "checked files reference docker.io/lewo/poc-tekton (chart/values.yaml:1) with a tag "
        "shaped like a Nix hash: if the pipeline pushes this image as "
        f"docker.io/lewo/poc-tekton, check it with this {CONFIG}: "
        "`images: [{name: docker.io/lewo/poc-tekton, nix: default.nix}]`"
    ]
    (root / CONFIG).write_text("images: [{name: docker.io/lewo/poc-tekton, nix: default.nix}]\n")
    git(root, "add", CONFIG)
    assert main(["--fix"]) == 1  # the snippet is a config that checks the image
    assert main([]) == 0


@pytest.mark.parametrize(("files", "named"), [
    ({"values.yaml": f"image:\n  repository: ghcr.io/acme/api\n  tag: \"{HASH}\"\n"},
     "ghcr.io/acme/api (values.yaml:3)"),
    ({"a.yaml": f"image: ghcr.io/acme/api:{HASH}\n",
      "b.yaml": f"- --image=acme/web:{HASH}\n- --image=acme/web:{HASH}\n"},
     "acme/web (b.yaml:1, 2 places), ghcr.io/acme/api (a.yaml:1)"),
])
def test_the_nix_hashed_repositories_are_found_in_every_shape_and_ranked_by_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    files: dict[str, str], named: str,
) -> None:
    image = '{ image = b.nix2container.buildImage { name = "api"; }; }'
    root = _repository(tmp_path / "repo", image, files)
    monkeypatch.chdir(root)
    assert main([]) == 2
    [error] = _errors(capsys)
    first = named.split(" ", 1)[0]
    assert (f"the checked files reference {named} with a tag shaped like a Nix hash: if the "
            f"pipeline pushes this image as {first}, check it with this {CONFIG}: "
            f"`images: [{{name: {first}, nix: default.nix, attr: image}}]`") in error


# 4. `tag: outPath` on an image pushed under another tag.

@pytest.mark.parametrize(("builder", "warned"), [
    ("dockerTools.buildImage", False),
    ("dockerTools.buildLayeredImage", True),
    ("dockerTools.streamLayeredImage", True),
    ("nix2container.buildImage", False),
])
def test_tag_outpath_on_an_image_tagged_otherwise_is_a_warning_naming_its_imagetag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    builder: str, warned: bool,
) -> None:
    root = _repository(tmp_path / "repo", f'{{ image = b.{builder} {{ name = "app"; }}; }}', {})
    monkeypatch.chdir(root)
    assert main(["--print-expected", "--image", "app=default.nix#image"]) == 0
    auto = capsys.readouterr().out.strip().split(":")[1]
    (root / CONFIG).write_text("images:\n  - name: app\n    nix: default.nix\n    attr: image\n"
                               "    tag: outPath\n")
    capsys.readouterr()
    assert main(["--print-expected"]) == 0
    captured = capsys.readouterr()
    expected = captured.out.strip().split(":")[1]
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    if not warned:
        assert (expected, warnings) == (auto, [])
        return
    assert warnings == [
        f"warning: app: `tag: outPath` expects '{expected}', the hash of the image's output "
        f"path, but the image is tagged, and pushed, as its imageTag '{auto}' (default.nix#image; "
        "buildLayeredImage and streamLayeredImage tag with another hash): the expected tag is "
        "never pushed; use `tag: auto`"
    ]


# 5. Not root and not in nix-users, or no daemon: what real Nix prints, replayed.

def _as_nobody(groups: str) -> str:
    """What real Nix prints to `nobody` (in `groups`) for an evaluation."""
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", groups, "nix-instantiate", "--eval",
         "--expr", "1"], capture_output=True, text=True, cwd="/", check=False,
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"}).stderr


def _nix_users() -> str | None:
    import grp

    try:
        return f"--groups={grp.getgrnam('nix-users').gr_gid}"
    except KeyError:
        return None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to run Nix as another user")
@pytest.mark.parametrize(("groups", "advice"), [
    ("--clear-groups", "nix-users`, then log in again"),
    (_nix_users(), "it is not running: start it (`sudo systemctl start nix-daemon`)"),
])
def test_the_daemon_messages_of_this_machines_nix_get_their_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    groups: str | None, advice: str,
) -> None:
    """Real Nix, run as `nobody` (outside nix-users, or inside it with no daemon running),
    prints its message; a stand-in nix-instantiate replays it to the tool, which runs as
    root here but is told the message is a user's."""
    if groups is None:
        pytest.skip("no nix-users group here")
    real = _as_nobody(groups)
    if "/nix/var/nix/" not in real:
        pytest.skip(f"nobody can use this machine's Nix: {real.strip()}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "message").write_text(real)
    (bin_dir / "nix-instantiate").write_text(f'#!/bin/sh\ncat "{bin_dir}/message" >&2\nexit 1\n')
    (bin_dir / "nix-instantiate").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    root = _repository(tmp_path / "repo", "{ }", {})
    monkeypatch.chdir(root)
    assert main(["--print-expected"]) == 2
    assert advice in _errors(capsys)[0]
