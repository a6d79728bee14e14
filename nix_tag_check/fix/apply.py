"""A manifest's text and the expected tags in, the fixed text out: scan, edit, verify.

The one place the fix pipeline is spelled out: `--fix`, `--diff` and the tests all come here.
"""

from __future__ import annotations

from collections.abc import Mapping

from nix_tag_check.config.reference import Repository
from nix_tag_check.fix import verify as patch
from nix_tag_check.scan import find as scan
from nix_tag_check.scan.rules import Expected, Finding
from nix_tag_check.yamltree import tree as yt


def fix_text(text: str, expected: Mapping[Repository, Expected], path: str = "") -> str:
    """`text` with every stale reference fixed (raises YamlSyntaxError, ScanError, PatchError).

    `path` only matters by its file name (`kustomization.yaml` is a kustomization).
    """
    roots = yt.parse(text)
    findings = scan.scan_tree(text, roots, path, expected)
    for finding in findings:
        if finding.unfixable is not None:
            raise finding.unfixable
    return fix_scanned(text, roots, findings)


def fix_scanned(text: str, roots: list[yt.Node], findings: list[Finding]) -> str:
    """fix_text() of a text already parsed into `roots` and scanned into `findings`, but
    fixing what can be fixed: an unfixable finding is left for the caller to report.

    The fixed text must parse to the original with exactly the edits' meanings applied
    (each stale value set to its expected tag, each added or removed key); else PatchError,
    and nothing is to be written. That proof is at most one parse added to a check (none
    when local_proof proves the edits from the text around them, one of the few pieces
    that hold the others when they are few): the fixed tree is not scanned again (the
    property tests show a fixed text has no stale reference, and the next check says so
    too).
    """
    edits = [edit for finding in findings if finding.stale for edit in finding.edits]
    fixed = patch.apply_edits(text, edits)
    patch.verify(text, fixed, edits, roots)
    return fixed


def fix_template(text: str, findings: list[Finding]) -> str:
    """fix_scanned() of a chart template, read as text: each edit swaps a tag, nothing else."""
    edits = [edit for finding in findings if finding.stale for edit in finding.edits]
    fixed = patch.apply_edits(text, edits)
    patch.verify_text(text, fixed, edits)
    return fixed
