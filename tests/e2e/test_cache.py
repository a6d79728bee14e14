"""The cache is never wrong: one test per way a cached run could return an old tag.

Each test runs once to fill the cache, changes one thing an evaluation can depend on,
and checks that the cached run gives the tags of a `--no-cache` run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git
from nixtools import counting_nix, starts

from nix_tag_check.config.load import ImageSpec
from nix_tag_check.config.reference import parse_repository
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
IMAGE = ('{{ image = derivation {{ name = "img"; system = "x86_64-linux"; builder = "/bin/sh"; '
         "{body} }}; }}")


@pytest.fixture
def nix_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "nix-starts.log"
    monkeypatch.setenv("PATH", counting_nix(tmp_path / "bin", log))
    return log


def _image(repo: Path, body: str, name: str = "image.nix") -> None:
    """The one configured image, from a tracked Nix file whose derivation has `body`."""
    (repo / name).write_text(IMAGE.format(body=body))
    git(repo, "add", name)
    (repo / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {HELLO}\n    nix: {name}\n    attr: image\n")


def _tags(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    main(["--print-expected", *extra])
    return capsys.readouterr().out


def _assert_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    """The cached run says what an uncached one says."""
    cached = _tags(capsys)
    assert cached == _tags(capsys, "--no-cache")
    assert cached.startswith(HELLO)


def _entries(repo: Path) -> list[Path]:
    folder = repo / ".git/nix-tag-check/eval"
    return [p for p in folder.glob("*.json") if p.name != "hashes.json"]


@pytest.mark.parametrize("odd", ["fifo", "deep", "device", "folder"])
def test_an_odd_cache_entry_is_ignored_and_rebuilt(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str], odd: str
) -> None:
    before = _tags(capsys)
    for entry in [*_entries(repo), repo / ".git/nix-tag-check/eval/hashes.json"]:
        if entry.exists():
            entry.unlink()
        if odd == "fifo":
            os.mkfifo(entry)
        elif odd == "deep":
            entry.write_text("[" * 100_000 + "]" * 100_000)
        elif odd == "device":
            entry.symlink_to("/dev/zero")
        else:
            entry.mkdir()
    nix_log.unlink()
    assert _tags(capsys) == before
    assert starts(nix_log) == ["nix-instantiate"]
    if odd != "folder":  # a folder in the way is left alone: the next run evaluates again
        assert _tags(capsys) == before
        assert starts(nix_log) == ["nix-instantiate"]


def test_a_cache_folder_that_is_a_link_is_not_used(
    repo: Path, tmp_path: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".git/nix-tag-check").symlink_to(elsewhere)
    before = _tags(capsys)
    assert _tags(capsys) == before
    assert starts(nix_log) == ["nix-instantiate", "nix-instantiate"]
    assert list(elsewhere.iterdir()) == []


def _flake(repo: Path, outputs_body: str) -> None:
    """A flake at the root, the one configured image, with `body` in its derivation."""
    (repo / "flake.nix").write_text(
        "{ outputs = { self }: { packages.x86_64-linux.default = derivation { name = \"img\"; "
        f"system = \"x86_64-linux\"; builder = \"/bin/sh\"; {outputs_body} }}; }}; }}\n")
    (repo / ".nix-tag-check.yaml").write_text(f"images:\n  - name: {HELLO}\n    flake: .\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "flake")


def test_kind_1_whether_git_tracks_a_file_flake(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _flake(repo, "src = ./src;")
    first = _tags(capsys)
    (repo / "src/new.go").write_text("package main\n")
    assert _tags(capsys) == first  # untracked: not in the flake
    git(repo, "add", "src/new.go")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def test_a_flake_that_reads_the_clock_is_never_cached(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _flake(repo, "t = toString builtins.currentTime;")
    _tags(capsys)
    nix_log.unlink()
    _tags(capsys)
    assert starts(nix_log)  # evaluated again: a cached run would start no Nix


def test_kind_2_the_commit_itself_flake(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _flake(repo, 'rev = self.rev or "dirty"; t = toString self.lastModified;')
    first = _tags(capsys)
    git(repo, "commit", "-q", "--allow-empty", "-m", "nothing but a new commit")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def test_kind_3_ignored_files_read_by_classic_nix(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".gitignore").write_text("generated.txt\n")
    git(repo, "add", ".gitignore")
    _image(repo, "v = builtins.readFile ./generated.txt;")
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text() + "sources: worktree\n")
    (repo / "generated.txt").write_text("one\n")
    first = _tags(capsys)
    (repo / "generated.txt").write_text("two\n")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def _wrapped_nix(tmp_path: Path, script: str) -> str:
    """A PATH whose nix-instantiate runs `script` around the real one."""
    import shutil

    real = shutil.which("nix-instantiate")
    bin_dir = tmp_path / "edit-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "nix-instantiate"
    wrapper.write_text("#!/bin/sh\n" + script.replace("NIX", f'{real} "$@"'))
    wrapper.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize("when", ["before Nix reads it", "after Nix read it"])
def test_kind_4_a_file_edited_while_nix_runs_is_never_stored_as_current(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], when: str,
) -> None:
    _image(repo, "v = builtins.readFile ./data.txt;")
    data = repo / "data.txt"
    data.write_text("old\n")
    git(repo, "add", "data.txt")
    edit = f'printf "new\\n" > "{data}"'
    script = (f"{edit}\nexec NIX\n" if when.startswith("before")
              else f"NIX\ncode=$?\n{edit}\nexit $code\n")
    with monkeypatch.context() as patched:
        patched.setenv("PATH", _wrapped_nix(tmp_path, script))
        _tags(capsys)  # the edit happens during this run
    for content in ("old\n", "new\n"):
        data.write_text(content)
        _assert_fresh(capsys)


def test_kind_5_empty_folders(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _image(repo, "src = ./src;")
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text() + "sources: worktree\n")
    first = _tags(capsys)
    (repo / "src/empty").mkdir()
    _assert_fresh(capsys)
    assert _tags(capsys) != first


@pytest.mark.parametrize("where", ["a link's target", "a file through a linked folder"])
def test_kind_6_symbolic_links(
    repo: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (repo / "real").mkdir()
    (repo / "real/a.txt").write_text("a\n")
    (repo / "real/b.txt").write_text("b\n")
    (repo / "link.txt").symlink_to("real/a.txt")
    (repo / "folder").symlink_to("real")
    git(repo, "add", "-A")
    read = "./link.txt" if where.startswith("a link") else "./folder/b.txt"
    _image(repo, f"v = builtins.readFile {read};")
    first = _tags(capsys)
    if where.startswith("a link"):
        (repo / "link.txt").unlink()
        (repo / "link.txt").symlink_to("real/b.txt")
    else:
        (repo / "real/b.txt").write_text("changed\n")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


@pytest.mark.parametrize("place", ["include", "user-file", "xdg", "channels"])
def test_kind_7_nix_settings_and_search_path_from_every_place(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], place: str,
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "default.nix").write_text(f'"{name}"')
    monkeypatch.delenv("NIX_PATH", raising=False)
    conf = tmp_path / "conf"
    conf.mkdir()
    monkeypatch.setenv("NIX_CONF_DIR", str(conf))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    extra = conf / "extra.conf"
    if place == "include":
        (conf / "nix.conf").write_text("!include extra.conf\n")
    elif place == "user-file":
        monkeypatch.setenv("NIX_USER_CONF_FILES", str(extra))
    elif place == "xdg":
        (tmp_path / "xdg/nix").mkdir(parents=True)
        extra = tmp_path / "xdg/nix/nix.conf"
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if place == "channels":
        channels = tmp_path / "home/.nix-defexpr/channels"
        channels.mkdir(parents=True)
        (channels / "dep").symlink_to(tmp_path / "a")
    else:
        extra.write_text(f"nix-path = dep={tmp_path / 'a'}\n")
    _image(repo, "v = import <dep>;")
    first = _tags(capsys)
    if place == "channels":
        (channels / "dep").unlink()
        (channels / "dep").symlink_to(tmp_path / "b")
    else:
        extra.write_text(f"nix-path = dep={tmp_path / 'b'}\n")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def test_kind_8_variables_read_with_get_env(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(repo, 'v = builtins.getEnv "FLAVOUR";')
    monkeypatch.setenv("FLAVOUR", "sweet")
    first = _tags(capsys)
    monkeypatch.setenv("FLAVOUR", "sour")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def test_kind_9_a_manifest_that_nix_itself_reads(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(repo, "v = builtins.readFile ./deploy/hello.yaml;")
    first = _tags(capsys)
    main(["--fix", "deploy/hello.yaml"])
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def test_a_variable_no_reachable_file_reads_keeps_the_cache(
    repo: Path, nix_log: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _image(repo, 'v = builtins.getEnv "FLAVOUR";')
    _tags(capsys)
    monkeypatch.setenv("UNRELATED", "x")
    nix_log.unlink()
    _tags(capsys)
    assert starts(nix_log) == []


@pytest.mark.parametrize("read", [
    'builtins.readFile "{}"',  # an absolute string is keyed like a path literal
    'builtins.readFile (/. + "{}")',  # a path from the root: never cached
], ids=["absolute-string", "from-the-root"])
def test_a_file_outside_named_by_a_string_gives_no_stale_tag(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], read: str
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("one\n")
    _image(repo, f"v = {read.format(outside)};")
    first = _tags(capsys)
    outside.write_text("two\n")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def test_a_string_path_that_climbs_out_of_its_folder_is_never_cached(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "data.txt").write_text("one\n")
    git(repo, "add", "data.txt")
    _image(repo, 'v = builtins.readFile "${toString ./src}/../data.txt";')
    first = _tags(capsys)
    (repo / "data.txt").write_text("two\n")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


@pytest.mark.parametrize("read", [
    'builtins.readFile (toString ./src + "/../data.txt")',  # `..` in an absolute string
    "builtins.readFile (dirOf ./src/main.go + \"/../data.txt\")",
    'builtins.readFile ((dirOf ./src) + "/data.txt")',  # dirOf climbs past what is named
], ids=["dot-dot-string", "dot-dot-after-dirOf", "dirOf"])
def test_a_path_that_climbs_past_its_literals_is_never_cached(
    repo: Path, capsys: pytest.CaptureFixture[str], read: str
) -> None:
    (repo / "data.txt").write_text("one\n")
    git(repo, "add", "data.txt")
    _image(repo, f"v = {read};")
    first = _tags(capsys)
    (repo / "data.txt").write_text("two\n")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def test_a_file_imported_through_an_interpolated_path_is_keyed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "part.nix").write_text('"one"')
    git(repo, "add", "part.nix")
    _image(repo, 'v = let name = "part"; in import ./${name}.nix;')
    first = _tags(capsys)
    (repo / "part.nix").write_text('"two"')
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def _search_path_dep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """`<dep>`: code outside the repository, as nixpkgs is, whose value is `body`."""
    (tmp_path / "dep").mkdir()
    (tmp_path / "dep/default.nix").write_text(body)
    monkeypatch.setenv("NIX_PATH", f"dep={tmp_path / 'dep'}")


# What Git sets for a hook, different on every commit (GIT_AUTHOR_DATE is the commit's time).
HOOK_VARIABLES = [("GIT_AUTHOR_DATE", "@1795623422 +0000"), ("GIT_EDITOR", ":"),
                  ("PRE_COMMIT", "1"), ("UNRELATED", "x")]


@pytest.mark.parametrize(("name", "value"), HOOK_VARIABLES)
def test_search_path_code_keeps_the_cache_when_a_hooks_variable_changes(
    repo: Path, tmp_path: Path, nix_log: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], name: str, value: str,
) -> None:
    _search_path_dep(tmp_path, monkeypatch, '"dep"')
    _image(repo, "v = import <dep>;")
    _tags(capsys)
    monkeypatch.setenv(name, value)
    nix_log.unlink()
    _tags(capsys)
    assert starts(nix_log) == []


@pytest.mark.parametrize(("name", "value"), HOOK_VARIABLES)
def test_a_flake_keeps_the_cache_when_a_hooks_variable_changes(
    repo: Path, nix_log: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], name: str, value: str,
) -> None:
    _flake(repo, "src = ./src;")
    _tags(capsys)
    monkeypatch.setenv(name, value)
    nix_log.unlink()
    _tags(capsys)
    assert starts(nix_log) == []


def test_a_nixpkgs_variable_read_by_search_path_code_is_keyed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _search_path_dep(tmp_path, monkeypatch, 'builtins.getEnv "NIXPKGS_ALLOW_UNFREE"')
    _image(repo, "v = import <dep>;")
    first = _tags(capsys)
    monkeypatch.setenv("NIXPKGS_ALLOW_UNFREE", "1")
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def test_a_variable_no_nix_code_names_is_not_given_to_nix(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As in the pipeline's clean `nix build`: a stray variable of a shell changes no tag."""
    _search_path_dep(tmp_path, monkeypatch, 'builtins.getEnv "STRAY"')
    _image(repo, "v = import <dep>;")
    first = _tags(capsys, "--no-cache")
    monkeypatch.setenv("STRAY", "from a developer's shell")
    _assert_fresh(capsys)
    assert _tags(capsys) == first


def _monorepo(repo: Path, names: list[str]) -> None:
    """One image per Nix file, each with its own source folder; one config for all."""
    config = ["images:"]
    for name in names:
        (repo / name / "src").mkdir(parents=True)
        (repo / name / "src/main.go").write_text(f"package {name}\n")
        (repo / name / "default.nix").write_text(IMAGE.format(body="src = ./src;"))
        config += [f"  - name: registry.example.com/team/{name}", f"    nix: {name}",
                   "    attr: image"]
    (repo / ".nix-tag-check.yaml").write_text("\n".join(config) + "\n")
    git(repo, "add", "-A")


def test_a_commit_touching_no_input_starts_no_nix(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _monorepo(repo, ["a", "b"])
    _tags(capsys)
    (repo / "README.md").write_text("docs\n")
    (repo / "a/notes.txt").write_text("beside the source, not in it\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    nix_log.unlink()
    _tags(capsys)
    assert starts(nix_log) == []


def test_touching_one_files_inputs_re_evaluates_only_that_file(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _monorepo(repo, ["a", "b", "c"])
    _tags(capsys)
    (repo / "b/src/main.go").write_text("package b // changed\n")
    nix_log.unlink()
    main(["--print-expected", "-v"])
    assert starts(nix_log) == ["nix-instantiate"]
    err = capsys.readouterr().err
    assert "evaluation: b/default.nix: 1 image(s) evaluated with Nix" in err
    assert "evaluation: a/default.nix: cached" in err and "evaluation: c/default.nix: cached" in err


def _evaluated() -> Evaluated:
    spec = ImageSpec(HELLO, parse_repository(HELLO), "auto", "x86_64-linux", ("a", "b"),
                     "x.nix#a.b", nix="/r/x.nix", args=(("k", "v"),))
    return Evaluated(spec, "0" * 32, "/nix/store/" + "0" * 32 + "-img")


def test_an_evaluated_image_survives_json() -> None:
    assert Evaluated.from_json(json.loads(json.dumps(_evaluated().to_json()))) == _evaluated()


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", 7), ("attr", "a.b"), ("attr", [1]), ("args", [["k"]]), ("args", {"k": "v"}),
     ("nix", 3), ("tag", None), ("name", "Not A Name:")],
)
def test_a_cached_image_that_we_did_not_write_is_refused(field: str, value: object) -> None:
    data = _evaluated().to_json() | {field: value}
    with pytest.raises(ValueError):
        Evaluated.from_json(data)


@pytest.mark.parametrize("where", ["NIX_PATH", "nix-path"])
def test_a_search_path_entry_that_is_a_file_is_keyed_by_its_content(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], where: str,
) -> None:
    lib = tmp_path / "lib.nix"
    lib.write_text('"one"')
    if where == "NIX_PATH":
        monkeypatch.setenv("NIX_PATH", f"mylib={lib}")
    else:
        monkeypatch.delenv("NIX_PATH", raising=False)
        (tmp_path / "conf").mkdir()
        (tmp_path / "conf/nix.conf").write_text(f"nix-path = mylib={lib}\n")
        monkeypatch.setenv("NIX_CONF_DIR", str(tmp_path / "conf"))
    _image(repo, "v = import <mylib>;")
    first = _tags(capsys)
    lib.write_text('"two"')  # the same size: only the content (and ctime) differs
    _assert_fresh(capsys)
    assert _tags(capsys) != first


def _nested_repository(repo: Path) -> str:
    """`nested/`, a repository of its own added without .gitmodules (a gitlink)."""
    nested = repo / "nested"
    nested.mkdir()
    (nested / "data.txt").write_text("one\n")
    git(nested, "init", "-q", "-b", "main")
    git(nested, "add", "-A")
    git(nested, "commit", "-qm", "nested")
    git(repo, "add", "nested")
    return "nested"


def _file_swapped_for_a_folder(repo: Path) -> str:
    (repo / "data").write_text("a tracked file\n")
    git(repo, "add", "data")
    (repo / "data").unlink()
    (repo / "data").mkdir()
    (repo / "data/data.txt").write_text("one\n")
    return "data"


@pytest.mark.parametrize("make", [_nested_repository, _file_swapped_for_a_folder])
def test_a_path_git_lists_as_a_file_but_is_a_folder_gives_no_stale_tag(
    repo: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], str]
) -> None:
    folder = make(repo)
    _image(repo, f"src = ./{folder};")
    _tags(capsys)
    (repo / folder / "data.txt").write_text("two\n")
    _assert_fresh(capsys)


def test_a_link_to_a_folder_imported_whole_is_keyed_by_the_folder_s_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "v2").mkdir()
    (repo / "v2/default.nix").write_text("import ../common.nix\n")
    (repo / "common.nix").write_text('"one"\n')
    (repo / "current").symlink_to("v2")
    git(repo, "add", "-A")
    _image(repo, "v = import ./current;")  # the link is the last component
    first = _tags(capsys)
    (repo / "common.nix").write_text('"two"\n')
    _assert_fresh(capsys)
    assert _tags(capsys) != first
    (repo / "v2/default.nix").write_text('"three"\n')
    _assert_fresh(capsys)


def test_a_link_to_a_folder_in_the_work_tree_keeps_the_cache_and_sees_an_edit(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "v2").mkdir()
    (repo / "v2/default.nix").write_text('"one"\n')
    (repo / "current").symlink_to("v2")
    _image(repo, "v = import ./current;")
    with (repo / ".nix-tag-check.yaml").open("a") as config:
        config.write("sources: worktree\n")
    first = _tags(capsys)
    nix_log.unlink(missing_ok=True)
    assert _tags(capsys) == first
    assert starts(nix_log) == []  # a folder in the work tree is no gitlink: cached
    (repo / "v2/default.nix").write_text('"two"\n')
    _assert_fresh(capsys)
    assert _tags(capsys) != first
