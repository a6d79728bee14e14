"""Rule occurrence: `(source, fixed)` one-liners, texts the fix leaves alone, places reported
as not fixable, and the names no rule reads (listed, so that they are said)."""

from __future__ import annotations

import pytest
from conftest import expected_map, fix_error

from nix_tag_check.config.reference import parse_repository
from nix_tag_check.fix.apply import fix_text
from nix_tag_check.scan.find import Expected, read_tree, scan
from nix_tag_check.yamltree import tree as yt

EXPECTED = expected_map(hello="h2", api="a2")
A = "ghcr.io/acme/api"
D = "sha256:" + "0123456789abcdef" * 4
# A Docker Hub library image, configured by its short name.
SHORT = {parse_repository(name): Expected(name, parse_repository(name), "h2", "default.nix#x")
         for name in ("hello", "redis")}


@pytest.mark.parametrize(("source", "fixed"), (
    # a whole string, in any key
    (f"API_IMAGE: {A}:old\n", f"API_IMAGE: {A}:a2\n"),
    (f"API_IMAGE: '{A}:old'\n", f"API_IMAGE: '{A}:a2'\n"),
    (f'API_IMAGE: "{A}:old"  # c\n', f'API_IMAGE: "{A}:a2"  # c\n'),
    (f"- {A}:old\n", f"- {A}:a2\n"),
    (f"default: {A}:old\n", f"default: {A}:a2\n"),
    (f"name: {A}:old\n", f"name: {A}:a2\n"),
    (f"images: {A}:old\n", f"images: {A}:a2\n"),
    # embedded: a flag, a URL, JSON, text around it
    (f"args: [--sidecar-image={A}:old]\n", f"args: [--sidecar-image={A}:a2]\n"),
    (f"- --sidecar-image={A}:old --v=2\n", f"- --sidecar-image={A}:a2 --v=2\n"),
    (f"src: docker://{A}:old\n", f"src: docker://{A}:a2\n"),
    (f"x: '{{\"image\":\"{A}:old\"}}'\n", f"x: '{{\"image\":\"{A}:a2\"}}'\n"),
    (f'x: "{{\\"image\\":\\"{A}:old\\"}}"\n', f'x: "{{\\"image\\":\\"{A}:a2\\"}}"\n'),
    (f"note: not a reference {A}:old\n", f"note: not a reference {A}:a2\n"),
    (f"x: it''s '{A}:old'\n", f"x: it''s '{A}:a2'\n"),
    (f"x: 'it''s {A}:old'\n", f"x: 'it''s {A}:a2'\n"),
    (f"x: use {A}:old.\n", f"x: use {A}:a2.\n"),
    (f"x: {A}:old,{A}:old\n", f"x: {A}:a2,{A}:a2\n"),
    # a digest goes with the stale tag
    (f"x: --image={A}:old@{D}\n", f"x: --image={A}:a2\n"),
    (f"x: --image={A}@{D} -v\n", f"x: --image={A}:a2 -v\n"),
    # a line of a literal block scalar (a script), whatever its indicators
    (f"script: |\n  crane digest {A}:old\n", f"script: |\n  crane digest {A}:a2\n"),
    (f"script: |-\n  a\n\n  crane digest {A}:old", f"script: |-\n  a\n\n  crane digest {A}:a2"),
    (f"script: |+\n  x {A}:old\n\n", f"script: |+\n  x {A}:a2\n\n"),
    (f"script: |2\n    x {A}:old\n", f"script: |2\n    x {A}:a2\n"),
    (f"script: |\r\n  x {A}:old\r\n  y {A}:v1\r\n", f"script: |\r\n  x {A}:a2\r\n  y {A}:a2\r\n"),
    (f"s: |\n  image: {A}:old # a comment of the script\n",
     f"s: |\n  image: {A}:a2 # a comment of the script\n"),
    (f"s: |  # a comment\n  x {A}:old\n", f"s: |  # a comment\n  x {A}:a2\n"),
    # a plain or quoted scalar over several lines
    (f"x: echo\n  {A}:old\n  done\n", f"x: echo\n  {A}:a2\n  done\n"),
    (f"x: \"echo\n  {A}:old\"\n", f"x: \"echo\n  {A}:a2\"\n"),
    (f"x: 'echo\n\n  {A}:old'\n", f"x: 'echo\n\n  {A}:a2'\n"),
    # a name with escapes before a tag written plainly
    ('x: "ghcr.io\\/acme\\/api:old"\n', 'x: "ghcr.io\\/acme\\/api:a2"\n'),
    # a folded block scalar of one line: nothing is folded
    (f"image: >-\n  {A}:old\n", f"image: >-\n  {A}:a2\n"),
    (f"x: >\n  run {A}:old\n", f"x: >\n  run {A}:a2\n"),
    # keys, and JSON
    (f'{{"env": ["--image={A}:old"]}}', f'{{"env": ["--image={A}:a2"]}}'),
))
def test_fixes(source: str, fixed: str) -> None:
    assert fix_text(source, EXPECTED) == fixed


@pytest.mark.parametrize("source", (
    f"# {A}:old\n",
    f"x: 1  # {A}:old\n",
    f"x: |  # {A}:old\n  y\n",
    f"x: {A}:a2\n",
    f"x: --image={A}:a2\n",
    f"x: {A}-gw:old\n",
    f"x: {A}s:old\n",
    f"x: {A}/migrations:old\n",
    f"x: {A}.v2:old\n",
    f"x: mirror.example.com/{A}:old\n",
    f"x: x{A}:old\n",
    f"x: my-{A}:old\n",
    f"x: {A}:${{TAG}}\n",
    f"x: {A}:$TAG\n",
    f"x: \"{A}:{{{{ .Values.image.tag }}}}\"\n",
    f"x: {A}\n",
    f"x: https://{A}/pkgs\n",
    f"x: '{A}:'\n",
    "x: ghcr.io/acme:old\n",
    "x: acme/api:old\n",
))
def test_leaves_alone(source: str) -> None:
    assert fix_text(source, EXPECTED) == source


@pytest.mark.parametrize(("source", "fixed"), (
    ("x: hello:1.2\n", "x: hello:h2\n"),
    ("x: docker run hello:latest\n", "x: docker run hello:h2\n"),
    ("x: library/hello:old\n", "x: library/hello:h2\n"),
    ("x: docker.io/library/hello:old\n", "x: docker.io/library/hello:h2\n"),
    ("x: docker.io/hello:v1\n", "x: docker.io/hello:h2\n"),
    (f"x: hello@{D}\n", "x: hello:h2\n"),
    ("x: library/redis:7\n", "x: library/redis:h2\n"),
))
def test_a_short_docker_hub_name_is_read_with_a_tag(source: str, fixed: str) -> None:
    assert fix_text(source, SHORT) == fixed


@pytest.mark.parametrize("source", (
    "metadata: {labels: {app: hello-world}}\n",
    "labels: {app: hello}\n",
    "x: hello world\n",
    "x: hello-world:v1\n",
    "REDIS_HOST: redis:6379\n",
    "REDIS_URL: redis://redis:6379/0\n",
    "x: http://hello:8080/health\n",
    "x: hello:5000/team/app:v1\n",
    "x: othello:v1\n",
))
def test_a_short_docker_hub_name_needs_a_tag_that_is_no_port(source: str) -> None:
    assert fix_text(source, SHORT) == source


@pytest.mark.parametrize(("source", "error"), (
    (f"x: >\n  run\n  {A}:old\n", "3:3: cannot rewrite a tag inside a folded block scalar"),
    (f"x: >-\n  a\n\n  b {A}:old\n", "4:5: cannot rewrite a tag inside a folded block scalar"),
    (f'x: "{A}:o\\x6cd"\n', "1:5: cannot rewrite this tag in place: it is written with escapes"),
    (f'x: "{A}:o\\\n  ld"\n', "1:5: cannot rewrite this tag in place: it is written with escapes"),
))
def test_reports_what_it_cannot_fix(source: str, error: str) -> None:
    assert fix_error(source, EXPECTED).startswith(error)


def test_an_unfixable_occurrence_is_still_reported_stale() -> None:
    [item] = scan(f"x: >\n  run\n  {A}:old\n", "m.yaml", EXPECTED)
    assert (item.line, item.column, item.found, item.kind) == (3, 3, "old", "text")
    assert item.stale and item.unfixable is not None and not item.edits


def test_each_occurrence_is_a_finding_at_its_name() -> None:
    found = scan(f"s: |\n  a {A}:v1 b {A}:a2\n  registry.example.com/team/hello:x\n",
                 "m.yaml", EXPECTED)
    assert [(f.line, f.column, f.image, f.found, f.stale) for f in found] == [
        (2, 5, A, "v1", True), (2, 27, A, "a2", False),
        (3, 3, "registry.example.com/team/hello", "x", True)]


@pytest.mark.parametrize("source", (
    f"image: {A}:old\n",
    f"a:\n  repository: {A}\n  tag: old\n",
    f"kind: Kustomization\nimages:\n- name: {A}\n  newTag: old\n",
    f"x: old  # nix-tag-check: {A}\n",
    f"x: {A}:old  # nix-tag-check: {A}\n",
))
def test_a_place_another_rule_reads_is_one_finding(source: str) -> None:
    assert len(scan(source, "m.yaml", EXPECTED)) == 1


def test_a_marker_on_a_string_that_embeds_its_image_is_read_by_this_rule() -> None:
    source = f"- --image={A}:old  # nix-tag-check: {A}\n"
    [item] = scan(source, "m.yaml", EXPECTED)
    assert item.kind == "text"
    assert fix_text(source, EXPECTED) == source.replace(":old", ":a2")


def test_a_pragma_on_a_block_scalar_line_covers_its_lines() -> None:
    source = f"s: |  # nix-tag-check: ignore\n  x {A}:old\n  y {A}:v2\nt: {A}:old\n"
    found = scan(source, "m.yaml", EXPECTED)
    assert [(f.line, f.ignored) for f in found] == [(2, True), (3, True), (4, False)]
    assert fix_text(source, EXPECTED) == source.replace("t: " + A + ":old", f"t: {A}:a2")


def _unread(source: str, expected: dict = EXPECTED) -> list[tuple[int, int, str]]:
    return [(u.line, u.column, u.written)
            for u in read_tree(source, yt.parse(source), "m.yaml", expected).unread]


@pytest.mark.parametrize(("source", "unread"), (
    (f"image: {A}:${{TAG}}\n", [(1, 8, f"{A}:${{TAG}}")]),
    (f"x: --image={A}:$TAG -v\n", [(1, 12, f"{A}:$TAG")]),
    (f"x: {A}\n", [(1, 4, A)]),
    (f'x: "{A}:{{{{ .Values.image.tag }}}}"\n', [(1, 5, f"{A}:{{{{")]),
    (f"x: {{image: {A}}}\n", []),  # read: an image: key
    (f"s: |\n  crane copy {A}:v1 {A}:$NEW\n", [(2, 34, f"{A}:$NEW")]),
    (f"x: {A}=other/x:v1\n", []),  # kustomize's old=new: the old name goes
    (f"a:\n  repository: {A}\n  tag: v1\n", []),
    (f"kind: Kustomization\nimages:\n- name: {A}\n  newTag: v1\n", []),
    (f"kind: Kustomization\nimages:\n- name: {A}\n  newName: {A}\n", []),
    (f"a:\n  repository: {A}\n  pullPolicy: Always\n", [(2, 15, A)]),
    (f"# {A}:$TAG\n", []),
    (f"x: {A}-gw:$TAG\n", []),
))
def test_names_no_rule_reads_are_listed(source: str, unread: list[tuple[int, int, str]]) -> None:
    assert _unread(source) == unread


@pytest.mark.parametrize(("source", "unread"), (
    ("x: hello\n", []),
    ("labels: {app: hello-world}\n", []),
    ("x: hello:${TAG}\n", [(1, 4, "hello:${TAG}")]),
    ("x: redis:6379\n", [(1, 4, "redis:6379")]),
    ("x: library/hello\n", [(1, 4, "library/hello")]),
))
def test_a_short_name_alone_is_no_name_to_list(source: str,
                                               unread: list[tuple[int, int, str]]) -> None:
    assert _unread(source, SHORT) == unread


def test_a_name_on_an_ignored_line_is_listed_as_ignored() -> None:
    [item] = read_tree(f"x: {A}:$T  # nix-tag-check: ignore\n",
                       yt.parse(f"x: {A}:$T  # nix-tag-check: ignore\n"), "m.yaml",
                       EXPECTED).unread
    assert item.ignored
