"""Everything outside the repository that Nix itself consults: binaries, settings, search path.

Nix reads nix.conf from NIX_CONF_DIR (or /etc/nix), then NIX_USER_CONF_FILES (or every
XDG config folder), following `include` and `!include`, then NIX_CONFIG. Its search path
comes from NIX_PATH, the `nix-path` settings, and else the default channels.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil

from nix_tag_check import state

_MAX_SEARCH_PATH_FILES = 200_000
_MAX_INCLUDES = 32
_MAX_FILE = 16 << 20
_STORE = "/nix/store/"
# Variables that move where Nix finds its settings, channels, profiles and fetch caches.
_WHERE_NIX_LOOKS = frozenset({"HOME", "USER", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS",
                              "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"})


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 20)
    except OSError:
        return None


def conf_files() -> list[str]:
    """nix.conf files in the order Nix reads them (before includes)."""
    conf_dir = os.environ.get("NIX_CONF_DIR", "/etc/nix")
    files = [os.path.join(conf_dir, "nix.conf")]
    user_files = os.environ.get("NIX_USER_CONF_FILES")
    if user_files is not None:
        return files + [f for f in user_files.split(":") if f]
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    dirs = [home, *(os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")]
    return files + [os.path.join(d, "nix", "nix.conf") for d in dirs if d]


def _settings(texts: list[tuple[str, bytes | None]]) -> tuple[list[str], list[str]]:
    """(described files, search path entries) of every conf file, includes followed."""
    described: list[str] = []
    entries: list[str] = []
    queue = list(texts)
    while queue and len(described) < _MAX_INCLUDES:
        path, raw = queue.pop(0)
        described.append(f"{path}\0{hashlib.sha256(raw).hexdigest() if raw is not None else None}")
        for line in (raw or b"").decode("utf-8", "replace").splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 2 and words[0] in ("include", "!include"):
                target = os.path.join(os.path.dirname(path), words[1])
                queue.append((target, _read(target)))
            elif len(words) >= 2 and words[0] in ("nix-path", "extra-nix-path") and words[1] == "=":
                entries += words[2:]
    return described, entries


def search_path_entries(extra: list[str]) -> list[str]:
    """Targets of the search path entries, the default channels included."""
    listed = [e for e in os.environ.get("NIX_PATH", "").split(":") if e] + extra
    home = os.path.expanduser("~")
    defaults = [os.path.join(home, ".nix-defexpr"), os.path.join(home, ".nix-defexpr/channels"),
                *glob.glob("/nix/var/nix/profiles/per-user/*/channels")]
    return [e.split("=", 1)[-1] for e in listed] + defaults


def _entry(full: str) -> str:
    try:
        st = os.lstat(full)
    except OSError:
        return f"{full}\0None"
    link = os.readlink(full) if os.path.islink(full) else ""
    return f"{full}\0{st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode}\0{link}"


def _tree(path: str, digest: hashlib._Hash) -> bool:
    """Fold a folder's entries (links followed, their targets noted) into `digest`.

    False when it is too big to pin down.
    """
    count = 0
    for folder, dirs, files in os.walk(path, followlinks=True):
        dirs.sort()
        for name in sorted(dirs + files):
            digest.update(_entry(os.path.join(folder, name)).encode("utf-8", "surrogateescape"))
            count += 1
            if count > _MAX_SEARCH_PATH_FILES:
                return False
    return True


def _pin(target: str, digest: hashlib._Hash) -> bool:
    """A search path target as it resolves now; False for one that cannot be pinned."""
    if "://" in target or target.startswith(("channel:", "flake:")):
        return False
    real = os.path.realpath(os.path.expanduser(target))
    digest.update(f"{target}\0{real}\0".encode("utf-8", "surrogateescape"))
    if real.startswith(_STORE):
        return True  # never changes
    if os.path.isdir(real):
        return _tree(real, digest)
    if not os.path.isfile(real):
        digest.update(b"absent\0")
        return True
    return _content(real, digest)


def _content(path: str, digest: hashlib._Hash) -> bool:
    """A search path entry that is a file (`NIX_PATH=lib=/x/lib.nix`): Nix imports its
    content, so its content is keyed; False when it cannot be read whole."""
    raw = state.read(path, _MAX_FILE)
    if raw is None:
        return False
    digest.update(f"file {hashlib.sha256(raw).hexdigest()}\0".encode())
    return True


def key() -> str | None:
    """A digest of Nix's binaries, settings and search path; None: cannot be pinned down."""
    digest = hashlib.sha256()
    for tool in ("nix-instantiate", "nix"):
        found = shutil.which(tool)
        real = os.path.realpath(found) if found else ""
        try:
            st = os.stat(real) if real else None
        except OSError:
            st = None
        pinned = (st.st_size, st.st_mtime_ns, st.st_ino) if st else None
        digest.update(f"{tool}\0{real}\0{pinned}\0".encode("utf-8", "surrogateescape"))
    for name in sorted(os.environ):
        if name.startswith("NIX") or name in _WHERE_NIX_LOOKS:
            digest.update(f"{name}={os.environ[name]}\0".encode("utf-8", "surrogateescape"))
    files = [(path, _read(path)) for path in conf_files()]
    inline = os.environ.get("NIX_CONFIG", "").encode()
    described, entries = _settings([*files, ("<NIX_CONFIG>", inline)])
    digest.update("\n".join(described).encode("utf-8", "surrogateescape"))
    home = os.path.expanduser("~")
    for target in [*search_path_entries(entries), os.path.join(home, ".config/nixpkgs"),
                   os.path.join(home, ".nixpkgs")]:
        if not _pin(target, digest):
            return None
    return digest.hexdigest()
