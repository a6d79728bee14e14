"""Find every place a manifest names a configured image, and the edits that would fix it.

The scan never guesses from text: it walks the YAML tree (each node once, aliases
never expanded) and only scalars it can place exactly in the text become edits. Each
shape of reference is a rule of `nix_tag_check.rules`. A chart template is no YAML: its
text is read as text (template.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from nix_tag_check.config.reference import Repository
from nix_tag_check.errors import ScanError
from nix_tag_check.scan.finding import Expected, Finding, Unread
from nix_tag_check.yamltree import tree as yt

if TYPE_CHECKING:  # what the rules return: a run whose files are all cached runs none
    from nix_tag_check.scan.rules.context import Scanned

__all__ = ["Expected", "Finding", "ScanError", "Unread", "needles", "read_template",
           "read_tree", "scan", "scan_tree"]


def needles(expected: Mapping[Repository, Expected]) -> tuple[str, ...]:
    """Texts of which at least one must appear in a file that references an image."""
    return tuple(sorted({repo.needle for repo in expected}))


def scan(
    text: str, path: str, expected: Mapping[Repository, Expected],
    max_depth: int = yt.MAX_DEPTH,
) -> list[Finding]:
    """Every reference to a configured image in `text` (raises YamlSyntaxError, ScanError)."""
    return scan_tree(text, yt.parse(text, max_depth=max_depth), path, expected)


def scan_tree(
    text: str, roots: list[yt.Node], path: str, expected: Mapping[Repository, Expected]
) -> list[Finding]:
    """scan() of a text already parsed into `roots` (raises ScanError)."""
    return read_tree(text, roots, path, expected).findings


def read_tree(
    text: str, roots: list[yt.Node], path: str, expected: Mapping[Repository, Expected]
) -> Scanned:
    """scan_tree(), and the names of images that no rule reads (raises ScanError)."""
    from nix_tag_check.scan import rules  # only a file that is parsed needs them

    return rules.run(text, roots, path, expected)


def read_template(text: str, expected: Mapping[Repository, Expected]) -> Scanned:
    """What a chart template's text holds (raises ScanError)."""
    from nix_tag_check.scan import template  # only a template that is read needs it

    return template.scan(text, expected)
