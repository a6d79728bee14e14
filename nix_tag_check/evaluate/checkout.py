"""Whether a tag is the same wherever the repository is checked out: asked of Nix, not guessed.

A pipeline evaluates the commit in a clone of its own: another absolute path
(`/workspace/source`), another folder name, and a `.git` folder (the tool's private tree has
none). An expression that makes a string of a path (`toString ./.`), copies the checkout
folder (`src = ./.`: named after the folder, `.git` included) or names a copy after it
(`builtins.filterSource`, `builtins.path` without `name`) gets a tag no other checkout gets.
So a classic file whose code can see where it lies (it holds a relative path literal) is
evaluated a second time, in the same Nix process, in a mirror of its tree that differs in
all three; a tag that differs there is an error naming the image, the cause and the fix.
Nothing is guessed from the source text: `./src`, `builtins.path` with a `name`, and
`lib.cleanSource` give the same tag in the mirror, so they pass.

Flakes need none of this: Nix copies a flake's tracked files (never `.git`) into the store
as `source` and evaluates them there, so `./.`, `self` and `toString ./.` are store paths
named by their content, wherever the checkout lies.

The mirror shares what cannot see where it lies. A `.nix` file without a relative path
literal (or position builtins) is a symbolic link to the tree's own file there, and Nix,
which follows the link of a file it imports and evaluates each file once, evaluates it
once for both trees: `nix/pkgs.nix` importing nixpkgs is not evaluated twice. A file under
a folder the code copies or lists is never a link (the copy would differ). When the tags
differ, the cause is found by evaluating the file again in mirrors that differ in one thing
each, without links, so that a link is never taken for a cause.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from nix_tag_check import paths
from nix_tag_check.errors import EvalError
from nix_tag_check.evaluate import nix as nix_eval
from nix_tag_check.evaluate.groups import Evaluated, Group
from nix_tag_check.evaluate.nix import FailedElsewhere, Job, Outcome
from nix_tag_check.evaluate.reach import Hashes
from nix_tag_check.evaluate.tracked_tree import Copier, View

OPT_OUT = "checkout-dependent: true"
_MAX_ENTRIES = 200_000  # a mirror bigger than this is not made (said with -v)
_ABANDONED_SECONDS = 3600
_PREFIX = "elsewhere-"
# kind: (sub-folder, renamed, with an empty .git). Every mirror lies at a path of its own and
# leaves out the tree's own .git (the work tree, with `sources: worktree`, has one). `probe`
# differs from the tree in everything and shares files; the others share none, and differ
# from `base` in one thing each (`all` in everything).
_KINDS = {
    "probe": ("probe", True, True),
    "base": ("base", False, False),
    "path": ("path", False, False),
    "name": ("name", True, False),
    "git": ("git", False, True),
    "all": ("all", True, True),
}
_DIAGNOSIS = ("base", "path", "name", "git", "all")
_CAUSES = {  # what the tag changes with: (said, how an expression makes it so)
    ("path",): ("its absolute path", "a path made a string does (`toString ./.`, "
                "`\"${toString ./src}\"`): use the path itself (`src = ./src`, `\"${./src}\"`), "
                "which Nix copies into the store by its own name"),
    ("name",): ("the checkout folder's name", "a copy named after it does (`src = ./.`, "
                "`builtins.filterSource`, `builtins.path` without `name`), or `baseNameOf ./.`"),
    ("git",): ("its `.git`", "a copy of the checkout folder with it does (`src = ./.`, "
               "`builtins.path { path = ./.; name = \"source\"; }` without `filter`)"),
    ("name", "git"): ("the checkout folder's name and its `.git`", "a copy of the checkout "
                      "folder does (`src = ./.`, `builtins.filterSource`, `builtins.path` "
                      "without `name` and `filter`)"),
    (): ("the checkout's path, folder name and `.git` together", "no one of them alone does"),
}
_COPY_FIX = ("copy the source by name and without .git: `lib.cleanSource ./.`, "
             "`lib.fileset.toSource`, `builtins.path { path = ./.; name = \"source\"; "
             "filter = path: type: baseNameOf path != \".git\"; }`, or a flake (its source "
             "is always named `source`, without .git)")
_PWD_CAUSE = ("it reads `builtins.getEnv \"PWD\"`, the folder the pipeline runs in: name "
              "files with paths instead (`./src`)")
Info = Callable[[str], None]


@dataclass(frozen=True)
class Subject:
    """A job that may be evaluated elsewhere, and the tree its file is read in."""

    job: Job
    root: str  # the tree job.target lies in: the private tree, or the work tree itself
    rel: str  # job.target relative to root
    view: View  # the repository's files, as the tree holds them
    repository: str  # the repository's root, for messages


def reads_pwd_error(shown: str, images: Sequence[str]) -> EvalError:
    """The one cause no mirror shows (a process has one PWD): said from the source."""
    return EvalError(_message(shown, images, _PWD_CAUSE))


def _message(shown: str, images: Sequence[str], cause: str) -> str:
    what = f"image {images[0]}" if images else "its images"
    more = f" (and image {', '.join(images[1:])})" if len(images) > 1 else ""
    return (f"{shown}: {what}{more}: the tag depends on where the repository is checked out, so "
            f"a pipeline's clone computes another: {cause}; or set `{OPT_OUT}` on the image "
            "in .nix-tag-check.yaml to accept it")


def _probed(job: Job) -> Group | None:
    """What to evaluate elsewhere: the images that did not opt out (None: none is left)."""
    group = job.group
    if group.discover:
        return group
    kept = tuple(i for i in group.images if not i.checkout_dependent)
    return replace(group, images=kept) if kept else None


class Probe:
    """The mirrors of one run, and the jobs that are evaluated in them too."""

    def __init__(self, parent: str | None, hashes: Hashes, observed: frozenset[str],
                 info: Info) -> None:
        self.parent = parent  # where mirrors are made: beside the private tree, for links
        self.hashes = hashes
        self.observed = observed  # folders some code copies or lists (the reach's trees)
        self.info = info
        self.holder: str | None = None
        self.mirrors: dict[tuple[str, str], str | None] = {}
        self.asked: list[bool] = []  # per job of the last run: evaluated elsewhere too

    def close(self) -> None:
        if self.holder is not None:
            shutil.rmtree(self.holder, ignore_errors=True)
            self.holder = None

    def run(self, subjects: Sequence[Subject | None], jobs: Sequence[Job], root: str,
            timeout: float, deadline: float,
            progress: nix_eval.Progress | None) -> list[Outcome]:
        """nix.run, with each subject's file evaluated elsewhere too; raises on a difference."""
        probing = [self._probing(s) if s is not None else None for s in subjects]
        chosen = [p or job for p, job in zip(probing, jobs, strict=True)]
        self.asked = [p is not None for p in probing]
        outcomes = self._evaluate(chosen, root, timeout, deadline, progress)
        suspects = [(s, o) for s, p, o in zip(subjects, probing, outcomes, strict=True)
                    if s is not None and p is not None and _differs(o.evaluated, o.elsewhere[0])]
        if suspects:
            self._diagnose(suspects, root, timeout, deadline, progress)
        return outcomes

    def _evaluate(self, jobs: Sequence[Job], root: str, timeout: float, deadline: float,
                  progress: nix_eval.Progress | None) -> list[Outcome]:
        try:
            return nix_eval.run(jobs, root, timeout, progress, deadline)
        except FailedElsewhere as exc:
            raise EvalError(f"{_shown(exc.job, root)}: the evaluation depends on where the "
                            "repository is checked out: as another clone would be (another "
                            f"path and folder name, with .git), Nix fails: {exc.message}; "
                            f"{_COPY_FIX}; or set `{OPT_OUT}` on the image in "
                            ".nix-tag-check.yaml to accept it") from None

    def _probing(self, subject: Subject) -> Job | None:
        """The subject's job with the probe mirror added; None when there is nothing to ask."""
        probed = _probed(subject.job)
        if probed is None or not self._sees_where_it_lies(subject.view.full(subject.rel)):
            return None
        mirror = self._mirror(subject, "probe")
        if mirror is None:
            return None
        place = (os.path.join(mirror, subject.rel), (mirror, subject.repository))
        return replace(subject.job, elsewhere=(place,), probed=probed)

    def _diagnose(self, suspects: Sequence[tuple[Subject, Outcome]], root: str,
                  timeout: float, deadline: float, progress: nix_eval.Progress | None) -> None:
        """Which of path, folder name and .git the tags depend on; raise naming them."""
        jobs = []
        for subject, _ in suspects:
            places = []
            for kind in _DIAGNOSIS:
                mirror = self._mirror(subject, kind)
                assert mirror is not None  # the probe's own mirror could be made
                places.append((os.path.join(mirror, subject.rel), (mirror, subject.repository)))
            jobs.append(replace(subject.job, elsewhere=tuple(places),
                                probed=_probed(subject.job)))
        outcomes = self._evaluate(jobs, root, timeout, deadline, progress)
        for (subject, _), outcome in zip(suspects, outcomes, strict=True):
            here, (base, path, name, git, everything) = outcome.evaluated, outcome.elsewhere
            causes = ["path"] if _differs(base, path) else [
                kind for kind, there in (("name", name), ("git", git)) if _differs(base, there)]
            if not causes and not _differs(base, everything):
                continue  # the probe's links made the difference, not the checkout
            images = sorted({e.spec.name for there in outcome.elsewhere
                             for e in _changed(here, there)})
            raise EvalError(_message(_shown(subject.job, root), images, _explained(causes)))

    def _sees_where_it_lies(self, path: str) -> bool:
        """A relative path literal or a position builtin: its value may name where it lies."""
        scanned = self.hashes.scan(path)
        if scanned is None:
            return True
        if any(not literal.startswith(("/", "~")) for literal, _ in scanned.paths):
            return True
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError:
            return True
        return b"__curPos" in raw or b"unsafeGetAttrPos" in raw

    def _shared(self, view: View, rel: str) -> bool:
        if not rel.endswith(".nix") or any(not tree or rel.startswith(tree + "/")
                                           for tree in self.observed):
            return False
        return not self._sees_where_it_lies(view.full(rel))

    def _mirror(self, subject: Subject, kind: str) -> str | None:
        """The mirror of the subject's tree of this kind, made once; None: too big."""
        key = (subject.root, kind)
        if key not in self.mirrors:
            sub, renamed, with_git = _KINDS[kind]
            name = os.path.basename(subject.root)
            dest = os.path.join(self._holder(), sub, f"moved-{name}" if renamed else name)
            share = (lambda rel: self._shared(subject.view, rel)) if kind == "probe" else None
            try:
                # The private tree's files are its own copies; the work tree's are the user's,
                # whose ctime and link count a hard link would change (the scan cache trusts them)
                _copy(subject.root, dest, share, link=subject.root != subject.repository)
            except _TooBig:
                self.info(f"evaluation: {subject.rel}: not evaluated elsewhere: its tree holds "
                          f"more than {_MAX_ENTRIES} files, so whether its tag depends on "
                          "where the repository is checked out is not checked")
                self.mirrors[key] = None
                return None
            if with_git:
                os.mkdir(os.path.join(dest, ".git"))
            self.mirrors[key] = dest
        return self.mirrors[key]

    def _holder(self) -> str:
        if self.holder is None:
            if self.parent is not None:
                os.makedirs(self.parent, exist_ok=True)
                _remove_abandoned(self.parent)
            self.holder = tempfile.mkdtemp(prefix=_PREFIX, dir=self.parent)
        return self.holder


@contextlib.contextmanager
def probe(parent: str | None, hashes: Hashes, observed: frozenset[str],
          info: Info) -> Iterator[Probe]:
    made = Probe(parent, hashes, observed, info)
    try:
        yield made
    finally:
        made.close()


def _tags(evaluated: Sequence[Evaluated]) -> dict[tuple[str, str], str]:
    return {(e.spec.name, e.spec.source): e.tag for e in evaluated
            if not e.spec.checkout_dependent}


def _differs(here: Sequence[Evaluated], there: Sequence[Evaluated]) -> bool:
    """Whether an image that did not opt out has another tag there (or is not there)."""
    theirs = _tags(there)
    return any(theirs.get(key) != tag for key, tag in _tags(here).items())


def _changed(here: Sequence[Evaluated], there: Sequence[Evaluated]) -> list[Evaluated]:
    theirs = _tags(there)
    return [e for e in here if not e.spec.checkout_dependent
            and theirs.get((e.spec.name, e.spec.source)) != e.tag]


def _explained(causes: Sequence[str]) -> str:
    said, how = _CAUSES[tuple(causes)]
    return f"it changes with {said}, as {how}" + ("" if causes == ["path"] else f": {_COPY_FIX}")


def _shown(job: Job, root: str) -> str:
    return paths.named(job.group.target, root)


class _TooBig(Exception):
    pass


def _copy(source: str, dest: str, share: Callable[[str], bool] | None, link: bool) -> None:
    """`dest`, a tree with `source`'s folders, links and files (hard links where `link` and
    possible, else copies; a symbolic link to `source`'s file where `share` says so), but its
    `.git`."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.mkdir(dest)
    count = 0
    copier = Copier(link)
    pending = [""]
    while pending:
        rel_folder = pending.pop()
        with os.scandir(os.path.join(source, rel_folder)) as entries:
            for entry in entries:
                if not rel_folder and entry.name == ".git":
                    continue
                count += 1
                if count > _MAX_ENTRIES:
                    raise _TooBig
                rel = f"{rel_folder}/{entry.name}" if rel_folder else entry.name
                target = os.path.join(dest, rel)
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    os.symlink(os.readlink(entry.path), target)
                elif stat.S_ISDIR(mode):
                    os.mkdir(target)
                    pending.append(rel)
                elif stat.S_ISREG(mode):
                    if share is not None and share(rel):
                        os.symlink(entry.path, target)
                    else:
                        copier.copy(entry.path, target)


def _remove_abandoned(parent: str) -> None:
    """Mirrors left by a run that was killed (SIGKILL): an hour is longer than any run."""
    cutoff = time.time() - _ABANDONED_SECONDS
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        for entry in entries:
            if entry.name.startswith(_PREFIX) and entry.is_dir(follow_symlinks=False) \
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                shutil.rmtree(entry.path, ignore_errors=True)

