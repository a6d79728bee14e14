"""-v says what was looked at; --color, NO_COLOR and FORCE_COLOR; --help says what users ask."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, committed_copy, git

from nix_tag_check.main import main

HELLO = "registry.example.com/team/hello"
WORKER = "registry.example.com/team/worker"
BOLD = "\033[1m"


def _verbose(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    main(["-v", *args])
    return capsys.readouterr().err.splitlines()


def test_verbose_lists_every_file_scanned_even_one_without_references(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "deploy/other.yaml").write_text("image: ghcr.io/acme/unrelated:1\n")
    git(repo, "add", "-A")
    err = _verbose(capsys)
    scanned = [line for line in err if line.startswith("scanned ")]
    assert scanned == [
        "scanned charts/app/values.yaml: 1 reference(s)",
        "scanned deploy/hello.yaml: 1 reference(s)",
        "scanned deploy/kustomization.yaml: 2 reference(s)",
        "scanned deploy/other.yaml: no reference to a configured image",
        "scanned deploy/worker-cronjob.yaml: 1 reference(s)",
    ]


def test_verbose_lists_fresh_references_too(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--fix"]) == 1
    capsys.readouterr()
    err = _verbose(capsys)
    line = next(x for x in err if x.startswith("  deploy/hello.yaml:16:18: "))
    assert line.endswith(", up to date [image]")
    assert f"{HELLO}: tag '" in line


def test_verbose_lists_the_files_of_each_image(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _verbose(capsys)
    images = [line for line in err if line.startswith("image ")]
    assert [line.split(": ", 1)[1] for line in images] == [
        "charts/app/values.yaml, deploy/hello.yaml, deploy/kustomization.yaml",
        "deploy/kustomization.yaml, deploy/worker-cronjob.yaml",
    ]
    assert images[0].startswith(f"image {HELLO}:") and images[1].startswith(f"image {WORKER}:")


def test_verbose_says_an_ignored_reference_was_left_alone(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hello = repo / "deploy/hello.yaml"
    hello.write_text(hello.read_text().replace("# bumped by CI", "# nix-tag-check: ignore"))
    git(repo, "add", "-A")
    err = _verbose(capsys)
    assert any(line.startswith("  deploy/hello.yaml:16:18: ") and
               "left as it is by `# nix-tag-check: ignore` (expected '" in line for line in err)
    (image,) = [line for line in err if line.startswith(f"image {HELLO}:")]
    assert image.endswith("(ignored in deploy/hello.yaml)")


def test_verbose_names_an_image_no_file_references(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _verbose(capsys, "deploy/hello.yaml")
    (worker,) = [line for line in err if line.startswith(f"image {WORKER}:")]
    assert worker.endswith(": no checked file references it")


@pytest.fixture(scope="module")
def stale_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repository with stale tags for every colour case; its evaluation cache is shared."""
    return committed_copy(FIXTURES / "repo", tmp_path_factory.mktemp("colour") / "repo")


def _on_a_terminal(repo: Path, *args: str, **env: str) -> str:
    """The tool's output as a person at a terminal sees it (stdout is a real pty)."""
    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    with subprocess.Popen([sys.executable, "-m", "nix_tag_check", *args], cwd=repo,
                          stdout=follower, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                          env={**environment, **env}) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait()
    os.close(leader)
    text = b"".join(chunks).decode()
    assert "should be" in text, text  # the findings were printed, coloured or not
    return text


def _piped(repo: Path, *args: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    text = subprocess.run([sys.executable, "-m", "nix_tag_check", *args], cwd=repo,
                          capture_output=True, text=True, env={**environment, **env}).stdout
    assert "should be" in text, text
    return text


@pytest.mark.parametrize(("args", "env", "coloured"), [
    ((), {}, True),
    ((), {"NO_COLOR": "1"}, False),
    ((), {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
    (("--color", "never"), {}, False),
    (("--color", "always"), {"NO_COLOR": "1"}, False),  # PRODUCT.md: never with NO_COLOR
])
def test_color_at_a_terminal(stale_repo: Path, args: tuple[str, ...], env: dict[str, str],
                             coloured: bool) -> None:
    assert (BOLD in _on_a_terminal(stale_repo, *args, **env)) is coloured


@pytest.mark.parametrize(("args", "env", "coloured"), [
    ((), {}, False),
    ((), {"FORCE_COLOR": "1"}, True),
    ((), {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
    (("--color", "always"), {}, True),
    (("--color", "never"), {"FORCE_COLOR": "1"}, False),
    (("--color", "always"), {"NO_COLOR": "1"}, False),
])
def test_color_through_a_pipe(stale_repo: Path, args: tuple[str, ...], env: dict[str, str],
                              coloured: bool) -> None:
    assert (BOLD in _piped(stale_repo, *args, **env)) is coloured


def test_color_rejects_an_unknown_choice(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--color", "sometimes"]) == 2
    assert "argument --color: invalid choice: 'sometimes'" in capsys.readouterr().err


def test_help_explains_format_and_zero_config_discovery(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for words in ("json: one document", "github: workflow annotations", "evaluates flake.nix",
                  "or else default.nix", "imageName attribute", "NO_COLOR", "FORCE_COLOR"):
        assert words in text, words


def test_stderr_is_not_coloured_when_only_stdout_is_a_terminal(repo: Path) -> None:
    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    result = subprocess.run([sys.executable, "-m", "nix_tag_check", "--config", "nope.yaml"],
                            cwd=repo, stdout=follower, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=environment, check=False)
    os.close(follower)
    os.close(leader)
    assert result.returncode == 2
    assert result.stderr.decode().startswith("error: nope.yaml: ")
    assert "\033[" not in result.stderr.decode()
