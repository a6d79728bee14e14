"""The scanner over real public manifests (../shared/realworld-corpus): Kubernetes, Helm
values, kustomize, compose, Tekton, Argo CD and Flux files that nobody here wrote.

Each file is checked against the images a user of it would configure: every repository it
names with a literal tag, as its data shows (an `image:` value, a chart's `repository:`
beside `tag:`, a string that is or holds `name:tag`). For each file: it is read (or refused
only where ruamel.yaml's own loader refuses it too); `--fix` changes nothing but tag
characters, and then no string of its data, as a YAML reader loads it, holds a configured
image with another tag; a second fix changes nothing.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.nodes import ScalarNode, SequenceNode

from nix_tag_check.config.reference import ReferenceError, Repository, parse_reference
from nix_tag_check.errors import LocatedError
from nix_tag_check.fix.apply import fix_scanned, fix_text
from nix_tag_check.scan.find import Expected, read_tree
from nix_tag_check.yamltree import tree as yt

ROOT = Path(__file__).resolve().parents[2]
# CI keeps it at ../shared beside the clone; a worktree one level deeper finds it too.
CANDIDATES = [folder / "shared" / "realworld-corpus" for folder in ROOT.parents[:2]]
CORPUS = next((path for path in CANDIDATES if path.is_dir()), None)
TAG = "zy0000000000000000000000000000zy"  # the expected tag of every configured image
_WORDS = re.compile(r"[\s=,\"'`;()\[\]{}<>|]+")


def _files() -> list[Path]:
    if CORPUS is None:
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))


pytestmark = pytest.mark.skipif(
    CORPUS is None,
    reason=f"real-world corpus not found (looked in {', '.join(map(str, CANDIDATES))})",
)


class _AnyTag(SafeConstructor):
    """ruamel.yaml's safe constructor, reading a tag it does not know (mkdocs' `!ENV`) as
    the plain data it tags."""


def _untagged(constructor: SafeConstructor, node: Any) -> Any:
    if isinstance(node, ScalarNode):
        return constructor.construct_scalar(node)
    if isinstance(node, SequenceNode):
        return constructor.construct_sequence(node, deep=True)
    return constructor.construct_mapping(node, deep=True)


_AnyTag.add_constructor(None, _untagged)


def _load(text: str) -> list[Any] | None:
    """The documents as ruamel.yaml's loaders read them; None when they refuse the text."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pure in (False, True):
            yaml = YAML(typ="safe", pure=pure)
            yaml.Constructor = _AnyTag
            try:
                return list(yaml.load_all(io.StringIO(text.removeprefix(yt.BOM))))
            except Exception:  # any complaint: try the YAML 1.2 loader, then give up
                continue
    return None


def _strings(node: Any, key: Any = None) -> Iterator[tuple[Any, str]]:
    if isinstance(node, dict):
        for name, value in node.items():
            if isinstance(name, str):
                yield None, name
            yield from _strings(value, name)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)
    elif isinstance(node, str):
        yield key, node


def _charts(node: Any) -> Iterator[tuple[dict[Any, Any], str]]:
    """Helm-values mappings: (the mapping, the repository its chart renders)."""
    if isinstance(node, dict):
        repository = next((node[k] for k in ("repository", "image", "name")
                           if isinstance(node.get(k), str) and node[k]), None)
        if "tag" in node and repository is not None:
            registry = node.get("registry")
            yield node, (f"{registry.rstrip('/')}/{repository}"
                         if isinstance(registry, str) and registry else repository)
        for value in node.values():
            yield from _charts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _charts(item)


def _reference(word: str) -> Any:
    try:
        return parse_reference(word)
    except ReferenceError:
        return None


def configured(documents: list[Any]) -> dict[Repository, Expected]:
    """The repositories the data names with a literal tag: what its user would configure."""
    found: set[Repository] = set()
    for document in documents:
        for key, value in _strings(document):
            for word in [value, *_WORDS.split(value)]:
                word = word.strip(".:").rpartition("://")[2]
                ref = _reference(word)
                if ref is not None and (ref.tag or ref.digest) and ("/" in word or key == "image"):
                    found.add(ref.repository)
        for _, name in _charts(document):
            ref = _reference(name)
            if ref is not None:
                found.add(ref.repository)
    return {repo: Expected(str(repo), repo, TAG, "corpus") for repo in found}


_IN_TEXT = re.compile(r"(?:(?<=//)|(?<![\w.@/-]))(?P<name>[a-z0-9][a-z0-9._/:-]*[a-z0-9])"
                      r":(?P<tag>\w(?:[\w.-]*\w)?)(?![\w/.-]*\w|@)")


def stale_in_data(documents: list[Any], expected: dict[Repository, Expected]) -> list[str]:
    """What a YAML reader of the fixed file would still see with another tag."""
    problems = []
    for document in documents:
        for _, value in _strings(document):
            for match in _IN_TEXT.finditer(value):
                ref = _reference(match.group())
                short = "/" not in match["name"]
                if ref is not None and ref.repository in expected and match["tag"] != TAG and (
                        not short or not match["tag"].isdigit()):
                    problems.append(f"{match.group()} in {value[:80]!r}")
        for chart, name in _charts(document):
            ref = _reference(name)
            if ref is not None and ref.repository in expected and chart["tag"] != TAG:
                problems.append(f"{name} beside tag {chart['tag']!r}")
    return problems


def _changed_only_tags(text: str, fixed: str) -> list[str]:
    """Lines that --fix changed in more than a tag (or an emptied digest)."""
    before, after = text.splitlines(keepends=True), fixed.splitlines(keepends=True)
    if len(before) != len(after):
        return [f"{len(before)} lines became {len(after)}"]
    return [f"{old!r} -> {new!r}" for old, new in zip(before, after, strict=True)
            if old != new and not _tag_swap(old, new)]


_DIGEST_LINE = re.compile(r"(?P<a>.*\b(?:digest|sha): *)(?P<q>['\"]?)(?:sha256:)?[0-9a-f]{64}"
                          r"(?P=q)(?P<b>.*)", re.DOTALL)


_OLD_TAG = r"[\w.-]*(?:@sha256:[0-9a-f]{64})?"  # a chart's `tag: v1@sha256:...` too


def _tag_swap(old: str, new: str) -> bool:
    """Whether `new` is `old` with tags (and the digests beside them) swapped for TAG."""
    if TAG not in new:
        digest = _DIGEST_LINE.fullmatch(old)
        return digest is not None and new == (
            f"{digest['a']}{digest['q'] * 2 or chr(34) * 2}{digest['b']}")
    pieces = new.split(TAG)
    pattern = ""
    for piece in pieces[:-1]:
        if re.search(r"[a-z0-9]:$", piece):  # `name:TAG`: the old tag, a digest, or none
            pattern += re.escape(piece[:-1]) + r"(?::[\w.-]*)?(?:@sha256:[0-9a-f]{64})?"
        elif piece.endswith(" "):  # `tag: TAG`, or `tag:` that was empty
            pattern += re.escape(piece[:-1]) + rf" ?{_OLD_TAG}"
        else:  # `tag: 'TAG'`, `newTag: "TAG"`
            pattern += re.escape(piece) + _OLD_TAG
    return re.fullmatch(pattern + re.escape(pieces[-1]), old, re.DOTALL) is not None


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_a_real_file_is_read_and_fixed_in_its_tags_only(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    documents = _load(text)
    if documents is None:  # ruamel.yaml's loaders refuse it (a key written twice): so may we
        with pytest.raises(LocatedError):
            read_tree(text, yt.parse(text), path.name, configured([]))
        return
    expected = configured(documents)
    roots = yt.parse(text)
    found = read_tree(text, roots, path.name, expected)
    assert [f.unfixable.message for f in found.findings if f.unfixable is not None] == []
    fixed = fix_scanned(text, roots, found.findings)
    assert _changed_only_tags(text, fixed) == []
    assert fix_text(fixed, expected, path.name) == fixed
    fixed_documents = _load(fixed)
    assert fixed_documents is not None
    assert stale_in_data(fixed_documents, expected) == []
