"""The YAML reader against the YAML test suite: it refuses no document ruamel.yaml reads.

Each valid case that ruamel.yaml's pure-Python (YAML 1.2) loader reads must be read; every
case, and each `error` case in particular, either reads or fails with a located error, never
a crash. The counts are printed at the end of the test run (see conftest.py).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from nix_tag_check.yamltree import tree as yt

ROOT = Path(__file__).resolve().parents[3]
# CI keeps it at ../shared beside the clone; a worktree one level deeper finds it too.
CANDIDATES = [folder / "shared" / "yaml-test-suite" for folder in ROOT.parents[:2]]
SUITE = next((path for path in CANDIDATES if path.is_dir()), None)


def _cases() -> list[Path]:
    if SUITE is None:
        return []
    found = []
    for case in sorted(p for p in SUITE.iterdir() if p.is_dir()):
        found += [case] if (case / "in.yaml").exists() else []
        found += sorted(sub for sub in case.iterdir() if (sub / "in.yaml").exists())
    return found


def _pure_loader_reads(text: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ReusedAnchorWarning and the like
        try:
            list(YAML(typ="safe", pure=True).load_all(text))
        except Exception:  # whatever stops ruamel.yaml's loader: it does not read the case
            return False
    return True


def _outcome(text: str) -> yt.LocatedError | None:
    try:
        yt.parse(text)
    except yt.LocatedError as exc:
        return exc
    return None


pytestmark = pytest.mark.skipif(
    SUITE is None,
    reason=f"YAML test suite data not found (looked in {', '.join(map(str, CANDIDATES))})",
)


@pytest.mark.parametrize("case", _cases(), ids=lambda p: str(p.relative_to(SUITE)))
def test_case(case: Path, record_property: pytest.RecordProperty) -> None:
    text = (case / "in.yaml").read_bytes().decode("utf-8")
    error = _outcome(text)  # anything but a LocatedError fails the test: a crash
    invalid = (case / "error").exists()
    pure = _pure_loader_reads(text)
    if error is not None:
        assert error.line >= 1 and error.column >= 1, error.message
    if invalid:
        record_property("yaml_suite", "error case: refused, located" if error else
                        "error case: read (ruamel.yaml reads it too)" if pure else
                        "error case: read (libyaml lenient)")
        return
    if pure:
        assert error is None, f"{error.line}:{error.column}: {error.message}"
    if error is not None:
        record_property("yaml_suite", "valid case: refused, as ruamel.yaml's loader refuses it")
    else:
        record_property("yaml_suite", "valid case: read" + ("" if pure else
                        " (ruamel.yaml's loader refuses it: a tag or key it cannot construct)"))
