"""Expected tags: which tree each Nix file is evaluated in, and which files need Nix at all.

A classic file is evaluated over the Git-tracked files (tracked_tree.py), a flake as
`git+file:` (Nix itself keeps to tracked files). Each file or flake is one group with
its own cache entry (store.py), keyed on what it can reach (reach.py): a commit that
touches no input of a group starts no Nix process for it, and only the groups that
missed the cache are evaluated (fresh.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nix_tag_check.config.load import Config
from nix_tag_check.errors import EvalError
from nix_tag_check.evaluate import environment as nix_env
from nix_tag_check.evaluate import groups as grouping
from nix_tag_check.evaluate import reach as inputs
from nix_tag_check.evaluate import settings as nix_settings
from nix_tag_check.evaluate import store as cache
from nix_tag_check.evaluate.groups import Evaluated, Group, Plan
from nix_tag_check.evaluate.tracked_tree import View
from nix_tag_check.git import GitTree, git, git_tree
from nix_tag_check.paths import below, relative

if TYPE_CHECKING:  # running Nix: imported by a run that evaluates, never by a cached one
    from nix_tag_check.evaluate import nix as nix_eval

Info = Callable[[str], None]


def _view(config: Config, tree: GitTree | None, group: Group) -> tuple[View | None, str]:
    if tree is None or not group.target.startswith("/"):
        return None, group.target
    folder, name = os.path.split(group.target)
    rel = below(os.path.join(os.path.realpath(folder), name), tree.root)
    if rel is None:
        return None, group.target
    worktree = config.sources == "worktree" and not group.is_flake
    return View.of(tree.root, None if worktree else tree.tracked), rel


def _check_tracked(plan: Plan, config: Config) -> None:
    view = plan.view
    if view is None or view.tracked is None or plan.group.is_flake:
        return
    if not view.is_tracked(plan.rel):
        shown = _shown(plan, config)
        raise EvalError(f"{shown}: not tracked by Git, so the pipeline's clean clone does not "
                        "have it: git add it (or set `sources: worktree` in the config)")


def _check_pwd(plan: Plan, config: Config) -> None:
    """PWD is where Nix runs, the pipeline's checkout there: a tag that reads it is refused."""
    found = plan.reach
    if plan.group.is_flake or found is None or found.env is None or "PWD" not in found.env:
        return
    images = [i.name for i in plan.group.images if not i.checkout_dependent]
    if images or plan.group.discover:
        from nix_tag_check.evaluate import checkout

        raise checkout.reads_pwd_error(_shown(plan, config), images)


def _reach(plan: Plan, hashes: inputs.Hashes) -> inputs.Reach:
    assert plan.view is not None
    if not plan.group.is_flake:
        return inputs.reach(plan.view, plan.rel, hashes, pure=False)
    # Raises Unknowable for currentTime, fetchers...: `nix eval --impure` would run them.
    flake = inputs.reach(plan.view, os.path.join(plan.rel, "flake.nix") if plan.rel
                         else "flake.nix", hashes)
    for rel, fetcher in sorted(flake.fetchers.items()):  # not observed in a flake's files
        raise inputs.Unknowable(f"{rel} uses {fetcher}")
    # `nix eval --impure` lets the flake read any variable Nix is given: key them all.
    found = inputs.Reach(foreign_code=True)
    found.trees.add("")  # git+file: copies the whole tracked tree
    found.files.update(plan.view.below(""))
    _flake_lock(plan, found)
    return found


def _flake_lock(plan: Plan, found: inputs.Reach) -> None:
    """Locked inputs are fixed by their narHash; anything else cannot be pinned down."""
    assert plan.view is not None
    folder = plan.view.full(plan.rel)
    try:
        with open(os.path.join(folder, "flake.lock"), "rb") as handle:
            lock = json.loads(handle.read())
        nodes = {k: v for k, v in lock["nodes"].items() if k != lock.get("root", "root")}
    except FileNotFoundError:
        with open(os.path.join(folder, "flake.nix"), encoding="utf-8", errors="replace") as f:
            if "inputs" in f.read():
                raise inputs.Unknowable("flake inputs without flake.lock") from None
        return
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise inputs.Unknowable("flake.lock cannot be read") from None
    for node in nodes.values():
        if not isinstance(node, dict) or "narHash" not in node.get("locked", {}):
            raise inputs.Unknowable("a flake input is not locked by narHash")
    found.foreign_code |= bool(nodes)


def _environment(plan: Plan, hashes: inputs.Hashes) -> inputs.Reach | None:
    """Set the plan's environment from the variables its code names, and the reach its
    private tree holds; its reach, if it can key a cache entry."""
    found = None
    if plan.view is not None:
        try:
            found = _reach(plan, hashes)
        except (inputs.Unknowable, OSError) as exc:
            plan.why = f"not cached: {exc}"
    plan.reach = found
    if found is not None and found.impure:
        plan.why = f"not cached: {found.impure}"
        found = None
    plan.env = nix_env.for_nix(found.env if found is not None else None)
    return found


def _key(plan: Plan, tree: GitTree, found: inputs.Reach, hashes: inputs.Hashes,
         settings: str) -> str:
    assert plan.view is not None and plan.env is not None
    digest = inputs.digest(plan.view, found, hashes, plan.env)
    group = plan.group
    request = [group.key.kind, plan.rel, group.system, list(group.key.args), group.discover,
               [vars(i) | {"repository": None} for i in group.images]]
    head = (git(["rev-parse", "--verify", "-q", "HEAD"], tree.root) or "") if group.is_flake else ""
    mode = "worktree" if plan.view.tracked is None else "tracked"
    return cache.entry_key(cache.tool_key(), settings, tree.root, mode, request, head, digest)


def _plans(config: Config, tree: GitTree | None, use_cache: bool,
           hashes: inputs.Hashes) -> list[Plan]:
    settings = nix_settings.key() if use_cache and tree is not None else None
    cacheable = tree is not None and not os.path.exists(os.path.join(tree.root, ".gitmodules"))
    plans = []
    for group in grouping.groups(config):
        view, rel = _view(config, tree, group)
        plan = Plan(group, view, rel)
        _check_tracked(plan, config)
        found = _environment(plan, hashes)
        _check_pwd(plan, config)
        if not use_cache:
            plan.why = "--no-cache"
        elif settings is None or not cacheable or view is None or tree is None:
            plan.why = "no cache here (outside Git, submodules, or a search path not local)"
        elif found is not None:
            try:
                plan.key = _key(plan, tree, found, hashes, settings)
            except (inputs.Unknowable, OSError) as exc:
                plan.why = f"not cached: {exc}"
        plans.append(plan)
    return plans


def _describe(plan: Plan, copy: str | None) -> str:
    if plan.view is None:
        return "where the file lies (not in a Git repository)"
    if plan.group.is_flake:
        return "as a git+file flake (Git-tracked files only)"
    if plan.view.tracked is None:
        return "in the work tree (sources: worktree: untracked files count)"
    return f"over the Git-tracked files only (a private tree of those it reaches, {copy})"


def expected(config: Config, tree: GitTree | None, timeout: float, use_cache: bool,
             info: Info, progress: nix_eval.Progress | None = None) -> list[Evaluated]:
    """Every image's expected tag, from the cache where no input of its file changed.

    `progress(text)` is entered while Nix runs (the reporter's line on a terminal).
    """
    store = cache.Store(tree.git_dir) if tree is not None and use_cache else None
    hashes = store.hashes() if store is not None else inputs.Hashes()
    plans = _plans(config, tree, use_cache, hashes)
    results: list[list[Evaluated] | None] = [
        store.read(p.key) if store is not None and p.key else None for p in plans]
    missed = [i for i, r in enumerate(results) if r is None]
    outcomes: list[nix_eval.Outcome] = []
    copy: str | None = None
    asked: list[bool] = []
    if missed:  # Nix runs: a run whose every tag is cached never imports what runs it
        from nix_tag_check.evaluate import fresh

        outcomes, copy, asked = fresh.evaluate([plans[i] for i in missed], tree, config,
                                               timeout, hashes, info, progress)
    elsewhere = "; the same tag in a clone elsewhere (another path, folder name, .git)"
    for i, outcome, again in zip(missed, outcomes, asked, strict=True):
        results[i] = outcome.evaluated
        _check_fetches(plans[i], outcome, [plans[n] for n in missed], copy)
        images = sum(not item.pulled for item in outcome.evaluated)
        info(f"evaluation: {_shown(plans[i], config)}: {images} image(s) evaluated "
             f"with Nix {_describe(plans[i], copy)}" + (elsewhere if again else "")
             + (f"; {plans[i].why}" if plans[i].why else ""))
    if store is not None:
        _store_unchanged(config, tree, store, hashes, [plans[i] for i in missed],
                         [results[i] for i in missed])
        store.save_hashes(hashes)
    for i, plan in enumerate(plans):
        if i not in missed:
            info(f"evaluation: {_shown(plan, config)}: cached (no input changed)")
    return grouping.ordered(config, [p.group for p in plans], [r or [] for r in results], info)


def _check_fetches(plan: Plan, outcome: nix_eval.Outcome, batch: Sequence[Plan],
                   copy: str | None) -> None:
    """Keep a plan's key only if Nix observed every fetch its files can make, all pinned:
    each file naming a fetcher was loaded by eval.nix itself, and no fetch of a file it
    reaches (or of a file no plan reaches: it may be any) lacks its hash or rev."""
    if not plan.key or plan.reach is None or not plan.reach.fetchers:
        return
    seen = outcome.observed
    if seen is None or plan.view is None:
        plan.key, plan.why = None, "not cached: its fetches were not observed"
        return
    # the tree Nix read the plan's files in: its private copy, or the work tree
    root = copy if copy is not None and plan.view.tracked is not None else plan.view.full("")
    root = root.rstrip("/")
    for rel, fetcher in sorted(plan.reach.fetchers.items()):
        if os.path.join(root, rel) not in seen.loaded:
            plan.key, plan.why = None, (
                f"not cached: {rel} uses {fetcher} but was not loaded by nix-tag-check's own "
                "import (callPackage or another function imported it): its fetches are unseen")
            return
    known = {os.path.join(root, f) for p in batch if p.reach is not None for f in p.reach.files}
    mine = {os.path.join(root, f) for f in plan.reach.files}
    for fetch in seen.fetches:
        if not fetch.pinned and (fetch.file in mine or fetch.file not in known):
            where = os.path.relpath(fetch.file, root) if fetch.file else "a file"
            plan.key, plan.why = None, (
                f"not cached: {where} calls {fetch.fetcher} {fetch.url or '(no url)'} without "
                f"{fetch.missing}: unpinned, its result may change")
            return


def _shown(plan: Plan, config: Config) -> str:
    target = plan.group.target
    return relative(target, config.root) if target.startswith("/") else target


def _store_unchanged(config: Config, tree: GitTree | None, store: cache.Store,
                     hashes: inputs.Hashes, plans: Sequence[Plan],
                     results: Sequence[list[Evaluated] | None]) -> None:
    """Store what was evaluated, but only where the key after Nix ran is the key before."""
    if not any(p.key for p in plans) or tree is None:
        return
    # A flake's Nix lists Git itself, so Git's view may have moved under it (git add, commit).
    # A classic file saw the tracked files of `tree`, copied: its key after Nix ran is taken
    # on that same view (only the contents can have moved), and a large repository is not
    # listed twice.
    flakes = any(p.key and p.group.is_flake for p in plans)
    again = git_tree(tree.root) if flakes else tree
    after = _plans(config, again, True, hashes) if again is not None else []
    keys = {p.group.key: p.key for p in after}
    for plan, result in zip(plans, results, strict=True):
        if plan.key and result is not None and keys.get(plan.group.key) == plan.key:
            store.write(plan.key, result)
