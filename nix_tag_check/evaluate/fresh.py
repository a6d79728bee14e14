"""The plans the cache missed, evaluated: Nix in the private tree of what they reach, each
classic file asked again as another clone would see it (checkout.py).

expected.py imports this only when a plan missed the cache: a run whose every tag is
cached never loads what runs Nix.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence

from nix_tag_check import state
from nix_tag_check.config.load import Config
from nix_tag_check.errors import EvalError
from nix_tag_check.evaluate import checkout
from nix_tag_check.evaluate import nix as nix_eval
from nix_tag_check.evaluate import reach as inputs
from nix_tag_check.evaluate.groups import Plan
from nix_tag_check.evaluate.tracked_tree import (
    Tree,
    View,
    placed,
    private_tree,
    temporary_trees,
)
from nix_tag_check.git import GitTree

Info = Callable[[str], None]


@contextlib.contextmanager
def _copy_if_needed(plans: Sequence[Plan], tree: GitTree | None, whole: bool,
                    info: Info) -> Iterator[Tree | None]:
    """The private tree of what the plans reach (of every tracked file: `whole`, or a reach
    unknown)."""
    needed = [p for p in plans if p.view is not None and p.view.tracked is not None
              and not p.group.is_flake]
    if not needed or tree is None:
        yield None
        return
    view = needed[0].view
    assert view is not None
    trees = state.folder(tree.git_dir, "trees") or temporary_trees(tree.git_dir)
    holds = None if whole else _holds(view, needed)
    with private_tree(view, holds, trees, waiting=info) as copy:
        yield copy


def _holds(view: View, plans: Sequence[Plan]) -> frozenset[str] | None:
    reached: set[str] = set()
    for plan in plans:
        if plan.reach is None:
            return None
        reached |= plan.reach.files | plan.reach.trees
    return placed(view, reached)


def evaluate(plans: Sequence[Plan], tree: GitTree | None, config: Config, timeout: float,
             hashes: inputs.Hashes, info: Info, progress: nix_eval.Progress | None,
             ) -> tuple[list[nix_eval.Outcome], str | None, list[bool]]:
    """Nix in the private tree of what the plans reach, each classic file asked again as
    another clone would see it (checkout.py); once more over every tracked file, within what
    --timeout left, when Nix names a tracked path that tree left out (a reach that missed a
    file must not fail a run that a clean clone passes). Also: which files were asked again."""
    deadline = time.monotonic() + timeout
    observed = frozenset(t for p in plans if p.reach is not None for t in p.reach.trees)
    parent = state.folder(tree.git_dir, "elsewhere") if tree is not None else None
    whole = False
    while True:
        with _copy_if_needed(plans, tree, whole, info) as copy, \
                checkout.probe(parent, hashes, observed, info) as probe:
            root = copy.root if copy is not None else None
            jobs = [_job(plan, tree, root) for plan in plans]
            subjects = [_subject(plan, job, tree) for plan, job in zip(plans, jobs, strict=True)]
            until = deadline if whole else time.monotonic() + timeout
            try:
                outcomes = probe.run(subjects, jobs, config.root, timeout, until, progress)
                return outcomes, root, probe.asked
            except EvalError as exc:
                missing = copy.left_out(str(exc)) if copy is not None else None
                if missing is None or time.monotonic() >= deadline:
                    raise
        info(f"evaluation: Nix read {missing}, which the private tree left out (no path "
             "literal names it): evaluating again over every tracked file")
        whole = True


def _subject(plan: Plan, job: nix_eval.Job, tree: GitTree | None) -> checkout.Subject | None:
    """A classic file in a Git tree: its tag is asked again as another clone would get it."""
    if plan.group.is_flake or plan.view is None or tree is None:
        return None
    root = job.moved[0] if job.moved is not None else tree.root  # the copy, or the work tree
    return checkout.Subject(job, root, plan.rel, plan.view, tree.root)


def _job(plan: Plan, tree: GitTree | None, copy: str | None) -> nix_eval.Job:
    if copy is None or tree is None or plan.group.is_flake or plan.view is None \
            or plan.view.tracked is None:
        scope = tree.root if tree is not None and not plan.group.is_flake else None
        return nix_eval.Job(plan.group, plan.group.target, env=plan.env, scope=scope)
    return nix_eval.Job(plan.group, os.path.join(copy, plan.rel), (copy, tree.root), plan.env)
