"""The real pre-commit client runs this repository's hook in a throwaway repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, committed_copy, copy_of_this_repository, git

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's repository with stale tags, everything committed."""
    return committed_copy(FIXTURES / "repo", tmp_path / "project")


def _run(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def _hook_repo(tmp_path: Path) -> tuple[Path, str]:
    """This working tree as a commit of its own, the way `pre-commit try-repo` makes one."""
    shadow = copy_of_this_repository(tmp_path / "hook-repo")
    git(shadow, "init", "-q", "-b", "main")
    git(shadow, "add", "-A")
    git(shadow, "commit", "-q", "-m", "hook")
    return shadow, git(shadow, "rev-parse", "HEAD").strip()


def test_try_repo_fails_on_a_stale_tag(project: Path, pre_commit_home: Path) -> None:
    result = _run(["try-repo", str(ROOT), "nix-tag-check", "--all-files"], project,
                  pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deploy/hello.yaml:16:18: registry.example.com/team/hello: tag" in result.stdout


def test_the_failing_hook_names_the_fix_that_works_under_pre_commit(
    project: Path, pre_commit_home: Path
) -> None:
    """pre-commit users have no `nix-tag-check` on PATH: the hint names the fix hook."""
    result = _run(["try-repo", str(ROOT), "nix-tag-check", "--all-files"], project,
                  pre_commit_home)
    assert "use the `nix-tag-check-fix` hook" in result.stdout, result.stdout
    assert "run `nix-tag-check --fix`" not in result.stdout


def test_the_fix_hook_rewrites_once_and_then_passes(project: Path, pre_commit_home: Path) -> None:
    first = _run(["try-repo", str(ROOT), "nix-tag-check-fix", "--all-files"], project,
                 pre_commit_home)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    git(project, "add", "-A")
    second = _run(["try-repo", str(ROOT), "nix-tag-check-fix", "--all-files"], project,
                  pre_commit_home)
    assert second.returncode == 0, second.stdout + second.stderr


def test_hook_runs_when_only_a_source_file_changed(
    project: Path, pre_commit_home: Path
) -> None:
    subprocess.run([sys.executable, "-m", "nix_tag_check", "--fix"], cwd=project,
                   capture_output=True, check=False)
    with (project / "src/main.go").open("a") as handle:
        handle.write("// changed\n")
    git(project, "add", "-A")
    result = _run(["try-repo", str(ROOT), "nix-tag-check"], project, pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "should be" in result.stdout


def test_fix_args_make_the_hook_a_fixer_and_then_it_passes(
    project: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    shadow, rev = _hook_repo(tmp_path)
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {shadow}\n    rev: {rev}\n    hooks:\n"
        "      - id: nix-tag-check\n        args: [--fix]\n"
    )
    git(project, "add", "-A")
    first = _run(["run", "--all-files"], project, pre_commit_home)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    git(project, "add", "-A")
    second = _run(["run", "--all-files"], project, pre_commit_home)
    assert second.returncode == 0, second.stdout + second.stderr


def test_hook_fails_when_a_configured_image_is_referenced_nowhere(
    project: Path, pre_commit_home: Path
) -> None:
    subprocess.run([sys.executable, "-m", "nix_tag_check", "--fix"], cwd=project,
                   capture_output=True, check=False)
    config = project / ".nix-tag-check.yaml"
    config.write_text(config.read_text().replace("team/worker", "team/wroker"))
    git(project, "add", "-A")
    result = _run(["try-repo", str(ROOT), "nix-tag-check"], project, pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (".nix-tag-check.yaml:6: registry.example.com/team/wroker: no checked file "
            "references this image") in result.stdout
    assert "exit code: 2" in result.stdout


def _readme_snippet() -> str:
    """The `.pre-commit-config.yaml` block of the README, byte for byte."""
    readme = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", readme, re.DOTALL)
    return snippet


def _with_repo(snippet: str, repo: Path) -> str:
    """The snippet with its `repo:` URL (where a user hosts the tool) pointed at `repo`."""
    new, count = re.subn(r"(- repo: )\S+", lambda m: f"{m.group(1)}{repo}", snippet)
    assert count == 1, snippet
    return new


def test_readme_snippet_runs_as_written_against_a_clone(
    project: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    shadow, _ = _hook_repo(tmp_path)
    (project / ".pre-commit-config.yaml").write_text(_with_repo(_readme_snippet(), shadow))
    git(project, "add", "-A")
    result = _run(["run", "--all-files"], project, pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deploy/hello.yaml:16:18: registry.example.com/team/hello: tag" in result.stdout


def _autoupdated(project: Path, home: Path, hook_repo: Path) -> str:
    """The README snippet aimed at `hook_repo`, after `pre-commit autoupdate`."""
    config = project / ".pre-commit-config.yaml"
    config.write_text(_with_repo(_readme_snippet(), hook_repo))
    result = _run(["autoupdate"], project, home)
    assert result.returncode == 0, result.stdout + result.stderr
    return config.read_text()


def test_autoupdate_pins_the_readme_snippet_to_the_commit_without_tags(
    project: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    shadow, rev = _hook_repo(tmp_path)
    config = _autoupdated(project, pre_commit_home, shadow)
    assert re.search(rf"^    rev: {rev}\b", config, re.MULTILINE), config


def test_autoupdate_pins_the_readme_snippet_to_the_newest_release_tag(
    project: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    shadow, _ = _hook_repo(tmp_path)
    git(shadow, "tag", "v0.1.0")
    config = _autoupdated(project, pre_commit_home, shadow)
    assert re.search(r"^    rev: v0\.1\.0\b", config, re.MULTILINE), config


@pytest.mark.parametrize("name", ["wip.go", "result"])
def test_untracked_and_ignored_files_never_fail_the_hook(
    project: Path, pre_commit_home: Path, name: str
) -> None:
    """The pipeline's clone has neither, so the committed tags are right as they are."""
    subprocess.run([sys.executable, "-m", "nix_tag_check", "--fix"], cwd=project,
                   capture_output=True, check=False)
    (project / ".gitignore").write_text("result\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "fixed tags")
    (project / "src" / name).write_text("in the work tree only\n")
    (project / "README.md").write_text("docs\n")
    git(project, "add", "README.md")
    result = _run(["try-repo", str(ROOT), "nix-tag-check"], project, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
