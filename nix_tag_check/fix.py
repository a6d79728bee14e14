"""A manifest's text and the expected tags in, the fixed text out: scan, edit, verify, rescan.

The one place the fix pipeline is spelled out: `--fix`, `--diff` and the tests all come here.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import patch, scan
from . import yaml_tree as yt
from .reference import Repository
from .rules import Expected, Finding


def fix_text(text: str, expected: Mapping[Repository, Expected], path: str = "") -> str:
    """`text` with every stale reference fixed (raises YamlSyntaxError, ScanError, PatchError).

    `path` only matters by its file name (`kustomization.yaml` is a kustomization).
    """
    roots = yt.parse(text)
    findings = scan.scan_tree(text, roots, path, expected)
    for finding in findings:
        if finding.unfixable is not None:
            raise finding.unfixable
    return fix_scanned(text, roots, findings, path, expected)


def fix_scanned(
    text: str, roots: list[yt.Node], findings: list[Finding], path: str,
    expected: Mapping[Repository, Expected],
) -> str:
    """fix_text() of a text already parsed into `roots` and scanned into `findings`, but
    fixing what can be fixed: an unfixable finding is left for the caller to report.

    The fixed text must parse to the original with exactly the edits' meanings applied,
    and hold no stale reference; else PatchError, and nothing is to be written.
    """
    edits = [edit for finding in findings if finding.stale for edit in finding.edits]
    fixed = patch.apply_edits(text, edits)
    after = patch.verify(text, fixed, edits, roots)
    if any(f.edits for f in scan.scan_tree(fixed, after, path, expected)):
        raise patch.PatchError("the fixed text still has stale references")
    return fixed
