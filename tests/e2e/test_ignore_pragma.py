"""Rule pragma: `# nix-tag-check: ignore` leaves its line's reference alone, only that line's."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import expected_map, fix_error, git

from nix_tag_check.fix.apply import fix_text
from nix_tag_check.main import main
from nix_tag_check.scan.find import scan

EXPECTED = expected_map(hello="h2", api="a2")
IGNORE = "# nix-tag-check: ignore"
HELLO = "registry.example.com/team/hello"


@pytest.mark.parametrize("source", (
    f"image: {HELLO}:old  {IGNORE}\n",
    f"image: {HELLO}:old {IGNORE}\r\n",
    f"image: {HELLO}:old #nix-tag-check:ignore",
    f"image: {HELLO}:old\t{IGNORE}  \n",
    f"image: '{HELLO}@sha256:{'a' * 64}'  {IGNORE}\n",
    f"image:\n  repository: {HELLO}\n  tag: old  {IGNORE}\n",
))
def test_leaves_alone(source: str) -> None:
    assert fix_text(source, EXPECTED) == source


@pytest.mark.parametrize(("source", "fixed"), (
    # only the line it ends is ignored
    (f"a: {HELLO}:old  {IGNORE}\nimage: {HELLO}:old\n",
     f"a: {HELLO}:old  {IGNORE}\nimage: {HELLO}:h2\n"),
    (f"{IGNORE}\nimage: {HELLO}:old\n", f"{IGNORE}\nimage: {HELLO}:h2\n"),
    # inside a value: no pragma
    (f"x: '{IGNORE}'\nimage: {HELLO}:old\n", f"x: '{IGNORE}'\nimage: {HELLO}:h2\n"),
    (f"x: 'a {IGNORE}'\nimage: {HELLO}:old\n", f"x: 'a {IGNORE}'\nimage: {HELLO}:h2\n"),
))
def test_fixes_what_it_does_not_cover(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed


@pytest.mark.parametrize(("source", "fixed"), (
    (f"images:\n- name: {HELLO}\n  newTag: old  {IGNORE}\n", None),
    (f"images:\n- name: {HELLO}  {IGNORE}\n", None),
    # the line the finding is reported at (newTag's), not the entry's first
    (f"images:\n- name: {HELLO}  {IGNORE}\n  newTag: old\n",
     f"images:\n- name: {HELLO}  {IGNORE}\n  newTag: h2\n"),
))
def test_in_a_kustomization(source: str, fixed: str | None) -> None:
    assert fix_text(source, EXPECTED, "kustomization.yaml") == (fixed or source)


@pytest.mark.parametrize(("source", "error"), (
    (f"image: {HELLO}:old  {IGNORE} please\n", "1:45: `# nix-tag-check: ignore` must end its line"),
    (f"image: {HELLO}:old  {IGNORE} # why\n", "1:45: `# nix-tag-check: ignore` must end its line"),
    (f"image: {HELLO}:old  # nix-tag-check: ignored\n", "1:45: marker names ignored, which is not"),
    (f"image: {HELLO}:old  # nix-tag-check ignore\n", "1:45: this comment looks like a marker"),
))
def test_refuses_what_is_almost_a_pragma(source: str, error: str) -> None:
    assert fix_error(source, EXPECTED).startswith(error)


def test_an_ignored_reference_is_found_but_not_stale() -> None:
    (finding,) = scan(f"image: {HELLO}:old  {IGNORE}\n", "x.yaml", EXPECTED)
    assert (finding.ignored, finding.stale, finding.found, finding.expected) == (
        True, False, "old", "h2")
    assert finding.edits == []


def test_an_unfixable_reference_on_an_ignored_line_is_left_alone() -> None:
    source = f'image: "{HELLO}:ol\\u0064"  {IGNORE}\n'
    (finding,) = scan(source, "x.yaml", EXPECTED)
    assert finding.ignored and finding.unfixable is None
    assert fix_text(source, EXPECTED) == source


ROLLBACK = f"image: {HELLO}:0000000000000000000000000000000a  {IGNORE}\n"


def test_a_pinned_rollback_passes_the_check_and_survives_fix(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--fix"]) == 1
    (repo / "deploy/rollback.yaml").write_text(ROLLBACK)
    git(repo, "add", "-A")
    capsys.readouterr()
    assert main([]) == 0, capsys.readouterr()
    assert main(["--fix"]) == 0
    assert (repo / "deploy/rollback.yaml").read_text() == ROLLBACK


def test_an_image_referenced_only_on_ignored_lines_is_not_checked(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hello = repo / "deploy/hello.yaml"
    lines = hello.read_text().splitlines(keepends=True)
    lines[15] = lines[15].replace("# bumped by CI", IGNORE)
    hello.write_text("".join(lines))
    config = repo / ".nix-tag-check.yaml"
    config.write_text(config.read_text().replace("files: [", "files: [deploy/hello.yaml]\n#"))
    git(repo, "add", "-A")
    assert main([]) == 2
    assert "registry.example.com/team/hello: no checked file references this image" in (
        capsys.readouterr().err)
