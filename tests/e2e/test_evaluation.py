"""Evaluation against real Nix: flakes, tag sources, discovery, batching, cache, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, git, imported_by_a_run
from nixtools import attribute, counting_nix, out_path_hash, starts

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
API = "ghcr.io/acme/api"


def _flake_api_tag(repo: Path) -> str:
    """What `nix eval .#api` (the pipeline's view of the flake) says."""
    out = subprocess.run(
        ["nix", "--extra-experimental-features", "nix-command flakes", "eval", "--json",
         "./flake#packages.x86_64-linux.api.outPath"],
        capture_output=True, text=True, check=True, cwd=repo,
    ).stdout
    return Path(json.loads(out)).name[:32]


def _config(repo: Path, nix: str, attr: str, extra: str = "") -> None:
    """A config with the one image HELLO, from `nix` at `attr`."""
    (repo / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {HELLO}\n    nix: {nix}\n    attr: {attr}\n{extra}"
    )


@pytest.fixture
def nix_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every start of nix or nix-instantiate is logged here."""
    log = tmp_path / "nix-starts.log"
    monkeypatch.setenv("PATH", counting_nix(tmp_path / "bin", log))
    return log


def test_flake_image_option_is_evaluated(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--image", f"{API}=./flake#api", "flake/app.yaml"]) == 1
    assert f"should be '{_flake_api_tag(repo)}' (./flake#api)" in capsys.readouterr().out


def test_flake_in_config_is_evaluated(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {API}\n    flake: ./flake#api\nfiles: [flake/*.yaml]\n"
    )
    assert main(["--print-expected"]) == 0
    assert capsys.readouterr().out == f"{API}:{_flake_api_tag(repo)}\n"


def test_flake_error_names_untracked_files(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flake = repo / "flake/flake.nix"
    flake.write_text(flake.read_text().replace("./api.txt", "./extra.txt"))
    (repo / "flake/extra.txt").write_text("not added to git\n")
    assert main(["--image", f"{API}=./flake#api", "--print-expected"]) == 2
    err = capsys.readouterr().err
    assert "while evaluating image ghcr.io/acme/api" in err
    assert "a flake sees only files Git tracks" in err and "extra.txt" in err


def test_flake_missing_attribute_is_reported(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--image", f"{API}=./flake#nope", "--print-expected"]) == 2
    assert "attribute 'nope' missing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("attr", "mode", "expected"),
    [
        ("hello", "auto", "outPath"),
        ("worker", "auto", "imageTag"),
        ("worker", "outPath", "outPath"),
        ("worker", "imageTag", "imageTag"),
    ],
)
def test_tag_source(
    repo: Path, capsys: pytest.CaptureFixture[str], attr: str, mode: str, expected: str
) -> None:
    _config(repo, "default.nix", attr, f"    tag: {mode}\n")
    nix = repo / "default.nix"
    tag = out_path_hash(nix, attr) if expected == "outPath" else attribute(nix, f"{attr}.imageTag")
    assert main(["--print-expected"]) == 0
    assert capsys.readouterr().out == f"{HELLO}:{tag}\n"


def test_image_tag_source_without_the_attribute_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(repo, "default.nix", "hello", "    tag: imageTag\n")
    assert main(["--print-expected"]) == 2
    assert "has no imageTag attribute" in capsys.readouterr().err


def test_tag_that_is_not_a_nix_hash_is_a_warning(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--image", f"{HELLO}=default.nix#legacy", "--print-expected"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{HELLO}:latest\n"
    assert "tag 'latest' (default.nix#legacy) is not a Nix hash" in captured.err


def test_discovery_from_default_nix(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".nix-tag-check.yaml").unlink()
    nix = repo / "default.nix"
    assert main(["--print-expected"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{HELLO}:{out_path_hash(nix, 'hello')}",
        "registry.example.com/team/legacy:latest",
        f"registry.example.com/team/worker:{attribute(nix, 'worker.imageTag')}",
    ]


def test_discovery_from_flake_nix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "flake-repo"
    shutil.copytree(FIXTURES / "repo/flake", root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    monkeypatch.chdir(root)
    assert main([]) == 1
    assert capsys.readouterr().out.startswith(f"app.yaml:8:14: {API}: tag 'v1' should be '")


def test_all_images_of_one_file_are_evaluated_by_one_nix_process(
    repo: Path, nix_log: Path
) -> None:
    for i in range(20):
        (repo / f"deploy/copy{i}.yaml").write_text((repo / "deploy/hello.yaml").read_text())
    main(["--no-cache"])
    assert starts(nix_log) == ["nix-instantiate"]


def test_one_process_per_file_or_flake(repo: Path, nix_log: Path) -> None:
    main(["--no-cache", "--print-expected", "--image", f"{HELLO}=default.nix#hello",
          "--image", "registry.example.com/team/worker=default.nix#worker",
          "--image", f"{API}=./flake#api"])
    assert sorted(starts(nix_log)) == ["nix", "nix", "nix-instantiate"]  # nix --version, nix eval


def test_cached_run_starts_no_nix_process(repo: Path, nix_log: Path) -> None:
    main([])
    nix_log.unlink()
    assert main([]) == 1
    assert starts(nix_log) == []


def test_fix_keeps_the_cache(repo: Path, nix_log: Path) -> None:
    main(["--fix"])
    nix_log.unlink()
    assert main([]) == 0
    assert starts(nix_log) == []


def test_editing_a_source_file_drops_the_cache(repo: Path, nix_log: Path) -> None:
    main(["--fix"])
    (repo / "src/main.go").write_text("package main\n// edited\n")
    nix_log.unlink()
    assert main([]) == 1
    assert starts(nix_log) == ["nix-instantiate"]


def test_a_new_untracked_file_keeps_the_cache_and_git_add_drops_it(
    repo: Path, nix_log: Path
) -> None:
    main([])
    nix_log.unlink()
    (repo / "src/util.go").write_text("package main\n")
    main([])
    assert starts(nix_log) == []
    git(repo, "add", "src/util.go")
    main([])
    assert starts(nix_log) == ["nix-instantiate"]


def test_an_ignored_file_keeps_the_cache(repo: Path, nix_log: Path) -> None:
    (repo / ".gitignore").write_text("result\n")
    main([])
    nix_log.unlink()
    (repo / "result").write_text("build output\n")
    main([])
    assert starts(nix_log) == []


def test_editing_the_config_drops_the_cache(repo: Path, nix_log: Path) -> None:
    main([])
    nix_log.unlink()
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text().replace("system: x86_64-linux", "system: aarch64-linux"))
    main([])
    assert starts(nix_log) == ["nix-instantiate"]


def test_changing_nix_path_drops_the_cache(
    repo: Path, nix_log: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    main([])
    nix_log.unlink()
    (tmp_path / "pkgs").mkdir()
    monkeypatch.setenv("NIX_PATH", f"nixpkgs={tmp_path / 'pkgs'}")
    main([])
    assert starts(nix_log) == ["nix-instantiate"]


def test_no_cache_always_evaluates(repo: Path, nix_log: Path) -> None:
    main([])
    main(["--no-cache"])
    assert starts(nix_log) == ["nix-instantiate", "nix-instantiate"]


def test_cache_lives_under_git_not_in_the_work_tree(repo: Path) -> None:
    main([])
    assert list((repo / ".git/nix-tag-check/eval").glob("*.json"))
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"format": 1}', b"[]", b"\xff\xfe"])
def test_corrupt_cache_is_ignored_and_rebuilt(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str], garbage: bytes
) -> None:
    main([])
    expected_out = capsys.readouterr().out
    for entry in (repo / ".git/nix-tag-check/eval").glob("*.json"):
        entry.write_bytes(garbage)
    nix_log.unlink()
    assert main([]) == 1
    assert capsys.readouterr().out == expected_out
    assert starts(nix_log) == ["nix-instantiate"]
    nix_log.unlink()
    main([])
    assert starts(nix_log) == []


def test_cache_entry_with_wrong_tag_for_other_inputs_is_not_reused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tampered entry whose recorded inputs do not match is never trusted."""
    main([])
    (entry,) = set((repo / ".git/nix-tag-check/eval").glob("*.json")) - {
        repo / ".git/nix-tag-check/eval/hashes.json"}
    data = json.loads(entry.read_text())
    data["results"][0]["tag"] = "0" * 32
    data["key"] = "different"
    entry.write_text(json.dumps(data))
    capsys.readouterr()
    main(["--print-expected"])
    assert "0" * 32 not in capsys.readouterr().out


def _write(repo: Path, name: str, text: str) -> None:
    """A Nix file, tracked (as the pipeline's clone has it), as the one image's source."""
    (repo / name).write_text(text)
    git(repo, "add", name)
    _config(repo, name, "image")


def test_import_from_derivation_is_refused_without_building(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(repo, "ifd.nix", """
let
  gen = derivation { name = "gen"; system = "x86_64-linux"; builder = "/bin/sh";
                     args = [ "-c" "echo '{}' > $out" ]; };
in { image = derivation { name = "img"; system = "x86_64-linux"; builder = "/bin/sh";
                          v = builtins.toString (import gen); }; }
""")
    assert main(["--print-expected"]) == 2
    err = capsys.readouterr().err
    assert f"image {HELLO}: import-from-derivation refused" in err
    assert "nix-tag-check never builds" in err


def test_a_syntax_error_names_the_file_and_line_and_not_one_image(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every image of the file fails: the message says which file, not 'while evaluating X'."""
    _write(repo, "bad.nix", "{\n  image = ;\n}\n")
    assert main(["--print-expected"]) == 2
    assert capsys.readouterr().err == ("error: bad.nix:2:11: syntax error, unexpected ';' (while "
                                       "parsing bad.nix: every image that reads it fails)\n")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("let x = x; in { image = x; }", "infinite recursion encountered"),
        ('{ image = throw "no image today"; }', "no image today"),
        ('{ image = 1 + "a"; }', "cannot add"),
    ],
)
def test_nix_error_shows_nix_message_location_and_image(
    repo: Path, capsys: pytest.CaptureFixture[str], source: str, message: str
) -> None:
    _write(repo, "bad.nix", source)
    assert main(["--print-expected"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: bad.nix")
    assert message in err
    assert f"(while evaluating image {HELLO})" in err
    assert len(err.splitlines()) == 1


def test_missing_attribute_names_it_and_the_image(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(repo, "default.nix", "hello.nested")
    assert main(["--print-expected"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: .nix-tag-check.yaml:2: default.nix: attribute 'nested' "
                          "missing in 'hello' "
                          "(attributes there: all, args, builder, ")
    assert err.endswith(f", ...) (image {HELLO}, default.nix#hello.nested)\n")


@pytest.mark.parametrize(
    ("attr", "said"),
    [("helo", "attribute 'helo' missing; did you mean 'hello'? "
              "(attributes there: hello, legacy, notAnImage, worker)"),
     ("zzz", "attribute 'zzz' missing (attributes there: hello, legacy, notAnImage, worker)")],
)
def test_a_misspelt_attr_lists_what_exists_and_suggests_the_closest(
    repo: Path, capsys: pytest.CaptureFixture[str], attr: str, said: str
) -> None:
    assert main(["--image", f"{HELLO}=default.nix#{attr}", "--print-expected"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: default.nix: {said} (image {HELLO}, default.nix#{attr})\n"


def test_a_misspelt_flake_attr_suggests_the_package(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--image", f"{API}=./flake#apii", "--print-expected"]) == 2
    assert ("attribute 'apii' missing in 'packages.x86_64-linux'; did you mean 'api'? "
            "(attributes there: api)") in capsys.readouterr().err


def test_timeout_bounds_evaluation(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(repo, "slow.nix", "{ image = builtins.foldl' (a: b: a + b) 0 "
                             "(builtins.genList (x: x) 100000000); }")
    assert main(["--print-expected", "--timeout", "0.5"]) == 2
    assert "evaluation took longer than 0.5s (--timeout)" in capsys.readouterr().err


def test_missing_nix_says_how_to_install_it(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    (empty / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(empty))
    assert main(["--no-cache"]) == 2
    assert "apt-get install nix-bin" in capsys.readouterr().err


def test_attr_is_data_never_code(
    repo: Path, capsys: pytest.CaptureFixture[str], nix_log: Path
) -> None:
    (repo / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {HELLO}\n    nix: default.nix\n"
        "    attr: 'hello or (builtins.abort \"injected\")'\n"
    )
    assert main(["--print-expected"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: .nix-tag-check.yaml:4: 'hello or (builtins.abort \"injected\")' is not a plain "
        "attribute path"
    )
    assert starts(nix_log) == []


def test_quoted_attr_name_is_looked_up_literally(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--image", f'{HELLO}=default.nix#"hello or x"', "--print-expected"]) == 2
    assert "attribute 'hello or x' missing" in capsys.readouterr().err


def test_args_are_passed_to_a_function_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "variant.nix").write_text(
        '{ variant ? "a" }: { image = derivation { name = "img-${variant}"; '
        'system = "x86_64-linux"; builder = "/bin/sh"; }; }'
    )
    (repo / ".nix-tag-check.yaml").write_text(
        f"images:\n  - name: {HELLO}\n    nix: variant.nix\n    attr: image\n"
        "    args: {variant: b, unused: x}\n"
    )
    git(repo, "add", "variant.nix")
    assert main(["--print-expected"]) == 0
    tag = capsys.readouterr().out.strip().split(":")[1]
    want = subprocess.run(
        ["nix-instantiate", "--eval", "--json", "--argstr", "variant", "b", "-A",
         "image.outPath", str(repo / "variant.nix")], capture_output=True, text=True, check=True,
    ).stdout
    assert tag == Path(json.loads(want)).name[:32]


def test_flake_tag_ignores_untracked_files_as_the_pipeline_does(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flake = repo / "flake/flake.nix"
    flake.write_text(flake.read_text().replace("${./api.txt}", "${./.}"))
    git(repo, "add", "-A")
    (repo / "flake/scratch.txt").write_text("a developer's untracked file\n")
    assert main(["--image", f"{API}=./flake#api", "--print-expected", "--no-cache"]) == 0
    (repo / "flake/scratch.txt").unlink()  # the pipeline's clean checkout
    assert capsys.readouterr().out == f"{API}:{_flake_api_tag(repo)}\n"


def test_a_data_file_that_names_an_image_stays_an_input(
    repo: Path, nix_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only files holding references leave the key; Nix may read one that merely names one."""
    (repo / "images.json").write_text(f'{{"hello": "{HELLO}"}}\n')
    git(repo, "add", "images.json")
    nix = repo / "default.nix"
    nix.write_text(nix.read_text().replace(
        "image = name: drv name { }", "image = name: drv name { list = ./images.json; }"))
    main(["--print-expected"])
    before = capsys.readouterr().out
    nix_log.unlink()
    (repo / "images.json").write_text(f'{{"hello": "{HELLO}", "more": 1}}\n')
    main(["--print-expected"])
    assert starts(nix_log) == ["nix-instantiate"]
    assert capsys.readouterr().out != before


def test_nothing_to_evaluate_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path}: no .nix-tag-check.yaml, no --image, and no flake.nix or "
        "default.nix to discover images from\n"
    )


def test_an_untracked_file_read_by_nix_is_named_in_the_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(repo, "data.nix", '{ image = derivation { name = "i"; system = "x86_64-linux"; '
                             'builder = "/bin/sh"; v = builtins.readFile ./wip.txt; }; }')
    (repo / "wip.txt").write_text("not added yet\n")
    assert main(["--print-expected"]) == 2
    err = capsys.readouterr().err
    assert "note: wip.txt is not tracked by Git" in err
    assert "/tree-" not in err and len(err.splitlines()) == 1


def test_an_untracked_nix_file_is_an_error_that_says_git_add(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "new.nix").write_text("{ image = 1; }")
    _config(repo, "new.nix", "image")
    assert main(["--print-expected"]) == 2
    assert capsys.readouterr().err == (
        "error: new.nix: not tracked by Git, so the pipeline's clean clone does not have it: "
        "git add it (or set `sources: worktree` in the config)\n")


def test_an_error_inside_a_flake_points_at_the_repository_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flake = repo / "flake/flake.nix"
    flake.write_text(flake.read_text().replace('name = "api";', 'name = 1 + "api";'))
    git(repo, "add", "-A")
    line = flake.read_text().splitlines().index('          name = 1 + "api";') + 1
    assert main(["--image", f"{API}=./flake#api", "--print-expected"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: flake/flake.nix:{line}:22: cannot add a string to an integer")
    assert "/nix/store/" not in err


def test_a_run_whose_evaluations_are_all_cached_starts_no_nix_machinery(repo: Path) -> None:
    """Threads, futures and logging are for running Nix: a cached run does not import them."""
    which = "m.startswith(('concurrent', 'logging')) or m == 'nix_tag_check.evaluate.processes'"
    assert "nix_tag_check.evaluate.processes" in imported_by_a_run(repo, which)
    assert imported_by_a_run(repo, which) == "[]"
