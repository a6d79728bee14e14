"""Run Nix to learn each image's output path, never a build: one process for every classic
file (of one system and environment), one per flake."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import NoReturn

from nix_tag_check import paths
from nix_tag_check.config.load import ImageSpec
from nix_tag_check.config.reference import ReferenceError, is_nix_hash, parse_repository
from nix_tag_check.errors import EvalError, did_you_mean, located
from nix_tag_check.evaluate.groups import Evaluated, Group
from nix_tag_check.git import git

NIX_INSTALL_HINT = (
    "install Nix (Debian/Ubuntu: apt-get install nix-bin; elsewhere: https://nixos.org/download)"
)
_TRACE = "trace: nix-tag-check-image: "
_DISCOVERY_TRACE = "trace: nix-tag-check-discovery-failed: "
_SEARCH_PATH_RE = re.compile(r"file '([^']+)' was not found in the Nix search path")
_DAEMON_DENIED_RE = re.compile(r"getting status of '?/\S*daemon-socket/socket'?: Permission denied")
# Not root, and no daemon to go through: Nix 2.8 then tries the store itself (and cannot
# set up /nix/var/nix); later versions say they cannot connect.
_DAEMON_DOWN_RE = re.compile(
    r"cannot connect to (?:daemon|socket) at '?/\S*daemon-socket/socket'?"
    r"|'?/nix/var/nix/\S*'?[^\n]*: (?:Operation not permitted|Permission denied)")
_LOADED_RE = re.compile(r"^trace: nix-tag-check-loaded: (.*)$", re.MULTILINE)
_FETCH_RE = re.compile(r"^trace: nix-tag-check-fetch: (\{.*\})$", re.MULTILINE)
_FILE_TRACE_RE = re.compile(r"^trace: nix-tag-check-file: (\d+)\n", re.MULTILINE)
_LOCATION_RE = re.compile(r"^\s*at (/[^:\n]+):(\d+):(\d+):", re.MULTILINE)
_IFD_RE = re.compile(
    r"path '(/nix/store/[^']+\.drv)' is not valid|cannot build '(/nix/store/[^']+\.drv)"
    r"[^\n]*allow-import-from-derivation|(allow-import-from-derivation)"
)
_MAX_NAMES_SHOWN = 12
_STORE_FILE_RE = re.compile(r"(/nix/store/[0-9a-z]{32}-[^/\s:']+)(/[^:\s']+)")
_VERSION_RE = re.compile(r"(\d+)\.(\d+)")










def eval_nix_file() -> str:
    """Path of our eval.nix (an ordinary file inside the installed package)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval.nix")


def nix_version(nix: str) -> tuple[int, int]:
    try:
        out = subprocess.run([nix, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        raise EvalError(f"cannot run {nix}: {NIX_INSTALL_HINT}") from None
    match = _VERSION_RE.search(out.stdout)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _common_options(system: str) -> list[str]:
    # system: the tag is for the pipeline's platform, never the host's (a Mac must
    # compute the x86_64-linux tag). IFD off: evaluation must never build.
    return ["--option", "system", system, "--option", "allow-import-from-derivation", "false"]








def _command(group: Group, entries: Sequence[dict[str, object]],
             roots: Sequence[str] = (), aliases: Mapping[str, str] | None = None) -> list[str]:
    """One Nix process for `entries` (eval.nix's `files`), all for `group`'s kind and system;
    files under `roots` are loaded so that their fetches are observed; a mirror's shared
    file (a link into the tree in `aliases`) is loaded as that tree's own."""
    request = {"system": group.system, "roots": list(roots), "aliases": dict(aliases or {}),
               "files": list(entries)}
    common = [*_common_options(group.system), "--argstr", "request", json.dumps(request)]
    if group.is_flake:
        nix = shutil.which("nix")
        if nix is None:
            raise EvalError(f"{group.images[0].source if group.images else group.target}: "
                            f"the 'nix' command is not on PATH: {NIX_INSTALL_HINT}")
        if nix_version(nix) < (2, 4):
            raise EvalError(f"{group.target}: flakes need Nix 2.4 or newer")
        return [nix, "--extra-experimental-features", "nix-command flakes", "eval", "--json",
                "--impure", "--file", eval_nix_file(), "result", *common]
    nix_instantiate = shutil.which("nix-instantiate")
    if nix_instantiate is None:
        raise EvalError(f"nix-instantiate is not on PATH: {NIX_INSTALL_HINT}")
    return [nix_instantiate, "--eval", "--strict", "--json", *common, "-A", "result",
            eval_nix_file()]


def _request(group: Group, target: str) -> dict[str, object]:
    """One entry of eval.nix's `files`; `target` is where it is evaluated (maybe a copy)."""
    entry: dict[str, object] = {"discover": group.discover}
    if group.is_flake:
        entry["flake"] = flake_url(target)
    else:
        entry["file"] = target
        entry["args"] = dict(group.key.args)
    entry["images"] = [{"name": i.name, "attr": list(i.attr), "tag": i.tag}
                       for i in group.images]
    return entry


def flake_url(flake: str) -> str:
    """A local flake as `nix build .#x` sees it: in a Git work tree, only tracked files.

    builtins.getFlake "/abs/dir" would take a `path:` flake, whose source (and so every
    output path built from `self` or `./.`) includes untracked files: a tag no pipeline
    checking out the commit would compute.
    """
    if not flake.startswith("/"):
        return flake
    top = git(["rev-parse", "--show-toplevel"], flake) if os.path.isdir(flake) else None
    if not top:
        return f"path:{flake}"
    top = top.strip()
    sub = os.path.relpath(os.path.realpath(flake), os.path.realpath(top))
    url = f"git+file://{top}"
    return url if sub == "." else f"{url}?dir={urllib.parse.quote(sub)}"


def _explain(group: Group, stderr: str, root: str, extra: str = "") -> EvalError:
    """Nix's error output as one error: Nix's own message, the image, and the place.

    The place is the file of the repository and line Nix names (a syntax error, a `throw`);
    a place outside the repository (nixpkgs) stays in the message, and an error with no
    place in the repository names its image, for the config line (run._on_config_line).
    """
    image = None
    failed: list[str] = []
    lines: list[str] = []
    for line in stderr.splitlines():
        if line.startswith(_TRACE):
            image = line[len(_TRACE):].strip()
        elif line.startswith(_DISCOVERY_TRACE):
            failed = _attribute_names(line[len(_DISCOVERY_TRACE):])
        elif not line.startswith("trace: "):
            lines.append(line)
    text = "\n".join(lines)
    messages = [ln.strip()[6:].strip() for ln in lines if ln.strip().startswith("error:")]
    messages = [m for m in messages if m] or messages
    message = messages[-1] if messages else (text.strip().splitlines() or ["Nix failed"])[-1]
    if not messages and "(use '--show-trace'" in message:
        message = "Nix failed"
    named = image or (group.images[0].name if group.images and not group.discover else None)
    what = f"image {named}" if named else "images" if group.discover else ""
    ifd = _IFD_RE.search(text)
    if ifd:
        drv = ifd[1] or ifd[2]
        return _error(f"{paths.named(group.target, root)}: {what}: import-from-derivation refused: "
                      f"evaluating it would build {drv or 'a derivation'}; nix-tag-check never "
                      "builds", named)
    what = f"discovering {what}" if group.discover and not image else f"evaluating {what}"
    where, place = paths.named(group.target, root), None
    location = _located(text)
    if location:
        last = location[-1]
        place = (last[1], int(last[2]), int(last[3]))
        where = f"{paths.named(last[1], root)}:{last[2]}:{last[3]}"
    if message.startswith("syntax error"):  # every image of the file fails, not this one
        parsed = paths.named(place[0], root) if place else where
        what = f"parsing {parsed}: every image that reads it fails"
    if failed:
        what += f": Nix cannot evaluate {', '.join(failed)}"
    hint = _machine_hint(message)
    if failed:
        hint += ("; discovery evaluates every attribute to know which are images: fix it, or "
                 "list the images to check in .nix-tag-check.yaml")
    if group.is_flake:
        hint += _untracked_hint(group.target)
    said = f"{message} (while {what}){hint}{extra}"
    if place is not None and paths.is_inside(place[0], root):
        return _error(said, named, place)
    return _error(f"{where}: {said}", named)


def _error(message: str, image: str | None, place: tuple[str, int, int] | None = None
           ) -> EvalError:
    error = EvalError(message, place[1], place[2], path=place[0]) if place \
        else EvalError(message)
    error.image = image
    return error


def shown(error: EvalError, root: str) -> str:
    """The error on one line, its file relative to `root`, as messages quote another's."""
    return located(error.message, paths.named(error.path, root) if error.path else None,
                   error.line, error.column)


def _attribute_names(listed: str) -> list[str]:
    """The attribute paths eval.nix traced as failed, as `a.b`, shown at most a dozen."""
    try:
        paths = json.loads(listed)
    except ValueError:
        return []
    names = [".".join(str(p) for p in path) for path in paths if isinstance(path, list)]
    more = len(names) - _MAX_NAMES_SHOWN
    return names[:_MAX_NAMES_SHOWN] + ([f"{more} more"] if more > 0 else [])


def _machine_hint(message: str) -> str:
    """What to do when Nix's error is about this machine, not the repository."""
    missing = _SEARCH_PATH_RE.search(message)
    if missing:
        return (f"; this machine's Nix search path has no '{missing[1]}' (NIX_PATH, nix-path, "
                "channels; Debian's and Ubuntu's nix-bin set up no channel): pin it in the "
                "repository (fetchTarball with a sha256, niv, npins, or a flake), which the "
                f"pipeline's clean clone needs too, or give NIX_PATH={missing[1]}=...")
    if _DAEMON_DENIED_RE.search(message):
        user = _user_name()
        return (f"; you ({user}) are neither root nor in the nix-users group, so Nix cannot "
                f"reach its daemon: `sudo adduser {user} nix-users`, then log in again "
                "(groups are read at login), or run the tool as root")
    if _DAEMON_DOWN_RE.search(message) and os.geteuid() != 0:
        return ("; a user who is not root reaches the Nix store through the Nix daemon, and "
                "it is not running: start it (`sudo systemctl start nix-daemon`)")
    return ""


def _user_name() -> str:
    import pwd  # only for this message

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return os.environ.get("USER") or "USER"


def _unstored(stderr: str, flake: str) -> str:
    """A flake's files as the repository has them, not as Nix's copy in the store.

    A store path is taken for the repository only where the file there has the same
    bytes as the repository's (an input's copy never does, unless it is the same file).
    """
    local = flake[5:] if flake.startswith("path:") else flake
    if not local.startswith("/") or not os.path.isdir(local):
        return stderr
    top = (git(["rev-parse", "--show-toplevel"], local) or local).strip()

    def repository_path(match: re.Match[str]) -> str:
        mine = top + match[2]
        try:
            with open(match[0], "rb") as copy, open(mine, "rb") as original:
                return mine if copy.read() == original.read() else match[0]
        except OSError:
            return match[0]

    return _STORE_FILE_RE.sub(repository_path, stderr)


def _not_tracked_hint(stderr: str, repository: str) -> str:
    """A path Nix could not find in the tracked tree, that the work tree has: say so."""
    for path in re.findall(r"'(/[^']+)'", stderr):
        if path.startswith(repository.rstrip("/") + "/") and os.path.lexists(path):
            shown = os.path.relpath(path, repository)
            return (f"; note: {shown} is not tracked by Git, and the pipeline's clean clone "
                    "has tracked files only (git add it, or set `sources: worktree`)")
    return ""


def _untracked_hint(flake: str) -> str:
    if not os.path.isdir(flake):
        return ""
    files = (git(["ls-files", "--others", "--exclude-standard", "--", "."], flake) or "").split()
    if not files:
        return ""
    shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
    return (f"; note: a flake sees only files Git tracks, and these are untracked: {shown} "
            "(git add them)")


def _tag(spec: ImageSpec, result: dict[str, object]) -> Evaluated:
    out_path = str(result.get("path", ""))
    drv_path = str(result.get("drvPath", ""))
    base = os.path.basename(out_path)
    image_tag = result.get("imageTag")
    if spec.tag == "imageTag" or (spec.tag == "auto" and image_tag is not None):
        if not isinstance(image_tag, str) or not image_tag:
            raise _error(f"{spec.source}: image {spec.name} has no imageTag attribute "
                         "(use tag: auto or tag: outPath)", spec.name)
        return Evaluated(spec, image_tag, out_path, drv_path=drv_path)
    if not out_path.startswith("/") or not is_nix_hash(base[:32]) or base[32:33] != "-":
        raise _error(f"{spec.source}: image {spec.name}: {out_path!r} is not a Nix store path",
                     spec.name)
    other = result.get("otherTag")  # `tag: outPath` on an image tagged otherwise
    if not isinstance(other, str) or other in ("", base[:32]):
        other = None
    return Evaluated(spec, base[:32], out_path, image_tag=other, drv_path=drv_path)


def _parse(group: Group, results: object, root: str) -> list[Evaluated]:
    """An entry's values (eval.nix's result for it) as Evaluated, in the group's order."""
    if not isinstance(results, list):
        raise EvalError(f"{group.target}: Nix printed something that is not our result")
    if group.discover:
        return [_discovered(group, item, root) for item in results]
    evaluated = []
    for spec, result in zip(group.images, results, strict=True):
        if "error" in result:
            raise _error(f"{paths.named(group.target, root)}: {result['error']}"
                         f"{_suggestion(result)} (image {spec.name}, {spec.source})", spec.name)
        evaluated.append(_tag(spec, result))
    return evaluated


def _suggestion(result: dict[str, object]) -> str:
    """For a misspelt attribute: the closest names, and the names that exist there."""
    missing, available = result.get("missing"), result.get("available")
    if not isinstance(missing, str) or not isinstance(available, list):
        return ""
    names = [n for n in available if isinstance(n, str)]
    close = did_you_mean(missing, names)
    hint = f"; {close}" if close else ""
    shown = ", ".join(names[:_MAX_NAMES_SHOWN]) + (", ..." if len(names) > _MAX_NAMES_SHOWN else "")
    return f"{hint} (attributes there: {shown or 'none'})"


def _discovered(group: Group, item: dict[str, object], root: str) -> Evaluated:
    where = paths.named(group.target, root)
    if "error" in item:
        raise EvalError(f"{where}: discovery: {item['error']}")
    listed = item["attr"]
    attr = tuple(str(a) for a in listed) if isinstance(listed, list) else ()
    name = str(item.get("imageName", ""))
    source = f"{where}#{'.'.join(attr)}" if attr else where
    try:
        repository = parse_repository(name)
    except ReferenceError as exc:
        raise EvalError(f"{source}: imageName: {exc}") from None
    spec = ImageSpec(
        name, repository, "auto", group.system, attr, source,
        flake=group.target if group.is_flake else None,
        nix=None if group.is_flake else group.target,
    )
    if item.get("pulled"):
        return Evaluated(spec, "", "", pulled=True)
    return _tag(spec, item)


Moved = tuple[str, str]  # (a tree's root, the repository root it stands for)
Progress = Callable[[str], AbstractContextManager[object]]


@dataclass(frozen=True)
class Job:
    """One group's evaluation: where Nix reads its file, and where else (checkout.py)."""

    group: Group
    target: str  # where Nix evaluates the file: a private copy, or the file itself
    moved: Moved | None = None  # the copy's root and the repository's, for messages
    env: Mapping[str, str] | None = None  # Nix's environment (None: this process's)
    elsewhere: tuple[tuple[str, Moved], ...] = ()  # the same file in other trees, evaluated
    # in the same process after every job's own target; their values are kept raw
    probed: Group | None = None  # the images evaluated elsewhere (None: the group's)
    scope: str | None = None  # the tree whose files are the repository's, when not moved


@dataclass(frozen=True)
class Fetch:
    """A fetch Nix made, as eval.nix traced it: the file whose text called it."""

    file: str
    fetcher: str
    url: str
    pinned: bool
    missing: str


@dataclass(frozen=True)
class Observed:
    """What one Nix process saw: the repository files it loaded itself, and their fetches."""

    loaded: frozenset[str]
    fetches: tuple[Fetch, ...]


def observed(stderr: str) -> Observed:
    """eval.nix's load and fetch traces; a malformed fetch line counts as an unpinned one."""
    fetches = []
    for match in _FETCH_RE.finditer(stderr):
        try:
            data = json.loads(match[1])
            fetches.append(Fetch(str(data["file"]), str(data["fetcher"]), str(data["url"]),
                                 data["pinned"] is True, str(data["missing"])))
        except (ValueError, KeyError, TypeError):
            fetches.append(Fetch("", "a fetcher", "", False, "a readable trace"))
    return Observed(frozenset(m[1] for m in _LOADED_RE.finditer(stderr)), tuple(fetches))


@dataclass(frozen=True)
class Outcome:
    """A job's images, and what the same file gives in each of its other trees."""

    evaluated: list[Evaluated]
    elsewhere: tuple[list[Evaluated], ...] = ()  # parallel to Job.elsewhere
    observed: Observed | None = None  # of the whole Nix process the job ran in


class FailedElsewhere(Exception):
    """Nix fails on a job's file in another tree only: where it lies, it evaluates."""

    def __init__(self, job: Job, where: int, message: str) -> None:
        super().__init__(message)
        self.job = job
        self.where = where  # index into job.elsewhere
        self.message = message  # Nix's error, placed as _explain places it


@dataclass(frozen=True)
class _Entry:
    """One entry of eval.nix's `files`: a job's file where it lies (where -1) or elsewhere."""

    job: Job
    where: int = -1

    @property
    def target(self) -> str:
        return self.job.target if self.where < 0 else self.job.elsewhere[self.where][0]

    @property
    def moved(self) -> Moved | None:
        return self.job.moved if self.where < 0 else self.job.elsewhere[self.where][1]

    @property
    def group(self) -> Group:
        return self.job.group if self.where < 0 else self.job.probed or self.job.group


def _batches(jobs: Sequence[Job]) -> list[list[int]]:
    """Which jobs share a Nix process: every classic file of one system and one environment,
    so that what they import in common is evaluated once; each flake alone.

    One environment per process, the one each of its files gets alone (environment.py), so
    no file's code can read a variable only another file's code names, and a file's result
    is the same whichever other files are stale.
    """
    batches: dict[object, list[int]] = {}
    for n, job in enumerate(jobs):
        env = None if job.env is None else tuple(sorted(job.env.items()))
        key = ("flake", n) if job.group.is_flake else ("file", job.group.system, env)
        batches.setdefault(key, []).append(n)
    return list(batches.values())


def _entries(batch: Sequence[Job]) -> list[_Entry]:
    """Every job where it lies first: its own error is found before any other tree costs."""
    return [_Entry(job) for job in batch] + [
        _Entry(job, k) for job in batch for k in range(len(job.elsewhere))]


def _files(jobs: Sequence[Job], root: str) -> str:
    """`a.nix`, `a.nix, b.nix`, `a.nix, b.nix and 6 more`: the files of a Nix process."""
    files = [paths.named(job.group.target, root) for job in jobs]
    more = f" and {len(files) - 2} more" if len(files) > 2 else ""
    return ", ".join(files[:2]) + more


def _saying(jobs: Sequence[Job], root: str) -> str:
    """`evaluating default.nix (3 images)...`: what the progress line says."""
    images = sum(len(job.group.images) for job in jobs)
    count = f" ({images} image{'s' if images != 1 else ''})" if images else ""
    return f"evaluating {_files(jobs, root)}{count}..."


@contextlib.contextmanager
def _silent(text: str) -> Iterator[None]:
    yield


def run(jobs: Sequence[Job], root: str, timeout: float, progress: Progress | None = None,
        deadline: float | None = None) -> list[Outcome]:
    """Evaluate the jobs in as few Nix processes as _batches allows; outcomes in job order.

    `timeout` is --timeout's value (for messages); `deadline` (time.monotonic()), when given,
    is what is left of it.
    """
    if not jobs:
        return []  # every evaluation was cached
    from nix_tag_check.evaluate import (
        processes,  # threads and futures only when Nix must run: a cached run starts fast
    )

    deadline = time.monotonic() + timeout if deadline is None else deadline
    batches = _batches(jobs)
    entries = [_entries([jobs[n] for n in batch]) for batch in batches]
    commands = [_command(jobs[batch[0]].group, [_request(e.group, e.target) for e in listed],
                         _roots(listed), _aliases(listed))
                for batch, listed in zip(batches, entries, strict=True)]
    with (progress or _silent)(_saying(jobs, root)):
        outputs = processes.run_all(commands, root, max(0.0, deadline - time.monotonic()),
                                    [jobs[batch[0]].env for batch in batches])
    outcomes: dict[int, Outcome] = {}
    for batch, listed, (code, stdout, stderr) in zip(batches, entries, outputs, strict=True):
        if code is None:
            raise EvalError(f"{_files([jobs[n] for n in batch], root)}: evaluation took longer "
                            f"than {timeout:g}s (--timeout)")
        if code != 0:
            _fail(listed, _readable(listed, stderr), root, deadline)
        seen = observed(stderr)
        outcomes.update(zip(batch, [replace(o, observed=seen)
                                    for o in _outcomes(listed, stdout, root)], strict=True))
    return [outcomes[n] for n in range(len(jobs))]


def _roots(listed: Sequence[_Entry]) -> list[str]:
    """The trees whose files are the repository's: each copy, mirror, or the work tree."""
    roots = {e.moved[0] for e in listed if e.moved is not None}
    roots |= {e.job.scope for e in listed if e.moved is None and e.job.scope is not None}
    return sorted(r.rstrip("/") for r in roots if r.rstrip("/"))


def _aliases(listed: Sequence[_Entry]) -> dict[str, str]:
    """Each mirror's root -> the tree it was made from (checkout.py links the files that
    cannot see where they lie there): importing such a link is importing its target, as
    Nix's own import cache has it, so a file shared by many is evaluated once for all trees."""
    aliases = {}
    for entry in listed:
        own = entry.job.moved[0] if entry.job.moved is not None else entry.job.scope
        if entry.where >= 0 and entry.moved is not None and own is not None:
            aliases[entry.moved[0].rstrip("/")] = own.rstrip("/")
    return aliases


def _outcomes(listed: Sequence[_Entry], stdout: str, root: str) -> list[Outcome]:
    """Each job's images where it lies (paths of a copy shown as the repository's), and
    elsewhere (raw: a value that names its tree must differ from the one where it lies)."""
    try:
        values = json.loads(stdout)
    except ValueError:
        raise EvalError(f"{listed[0].job.group.target}: Nix printed something that is not "
                        "JSON") from None
    if not isinstance(values, list) or len(values) != len(listed):
        raise EvalError(f"{listed[0].job.group.target}: Nix printed something that is not "
                        "our result")
    own: dict[int, list[Evaluated]] = {}
    other: dict[int, list[list[Evaluated]]] = {}
    for entry, value in zip(listed, values, strict=True):
        group = entry.group
        if entry.where < 0:
            moved = entry.moved
            own[id(entry.job)] = _parse(group, _replaced(value, *moved) if moved else value, root)
            continue
        try:
            other.setdefault(id(entry.job), []).append(_parse(group, value, root))
        except EvalError as exc:
            raise FailedElsewhere(entry.job, entry.where, exc.message) from None
    return [Outcome(own[id(e.job)], tuple(other.get(id(e.job), [])))
            for e in listed if e.where < 0]


def _replaced(value: object, old: str, new: str) -> object:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replaced(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replaced(v, old, new) for k, v in value.items()}
    return value


def _readable(listed: Sequence[_Entry], stderr: str) -> str:
    """Nix's messages with the repository's paths for those of its copies or of the store."""
    pairs = {entry.moved for entry in listed if entry.moved is not None}
    for old, new in sorted(pairs, key=lambda pair: -len(pair[0])):  # a longer root first
        stderr = stderr.replace(old, new)
    group = listed[0].job.group
    return _unstored(stderr, group.target) if group.is_flake else stderr


def _failed_entry(listed: Sequence[_Entry], stderr: str) -> tuple[_Entry, str]:
    """The entry Nix was evaluating when it failed (its last trace), and its messages."""
    marks = list(_FILE_TRACE_RE.finditer(stderr))
    if not marks or int(marks[-1][1]) >= len(listed):
        return listed[0], stderr
    return listed[int(marks[-1][1])], stderr[marks[-1].end():]


def _fail(listed: Sequence[_Entry], stderr: str, root: str, deadline: float) -> NoReturn:
    entry, text = _failed_entry(listed, stderr)
    job = entry.job
    if entry.where >= 0:
        raise FailedElsewhere(job, entry.where, shown(_explain(entry.group, text, root), root))
    text += _traced_location(entry, text, root, deadline)
    hint = _not_tracked_hint(text, job.moved[1]) if job.moved else ""
    raise _explain(job.group, text, root, hint)


def _located(stderr: str) -> list[re.Match[str]]:
    return [m for m in _LOCATION_RE.finditer(stderr) if "nix_tag_check" not in m[1]]


def _traced_location(entry: _Entry, stderr: str, root: str, deadline: float) -> str:
    """Where the error is, when Nix would say it only with --show-trace (`throw`, `abort`
    in Nix 2.8): the failed file alone once more, within the time --timeout left.

    The place kept is the one nearest Nix's message: the innermost frame, whichever order
    this Nix version prints its trace in. Returned as an `at FILE:LINE:COL:` line to append.
    """
    from nix_tag_check.evaluate import processes

    left = deadline - time.monotonic()
    if _located(stderr) or "--show-trace" not in stderr or left <= 0:
        return ""
    group = entry.group
    command = _command(group, [_request(group, entry.target)])
    traced = [command[0], "--show-trace", *command[1:]]
    [(code, _, trace)] = processes.run_all([traced], root, left, [entry.job.env])
    if code is None:
        return ""
    trace = _readable([entry], trace)
    errors = [m.start() for m in re.finditer(r"^\s*error:", trace, re.MULTILINE)]
    places = _located(trace)
    if not errors or not places:
        return ""
    place = min(places, key=lambda m: abs(m.start() - errors[-1]))
    return f"\n       at {place[1]}:{place[2]}:{place[3]}:\n"


