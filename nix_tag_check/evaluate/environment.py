"""The environment Nix evaluates in: what Nix itself needs, and the variables the code names.

The pipeline's `nix build` sees no stray variable (a flake's pure evaluation sees none at
all), while the shell that runs a hook holds many that change on every commit (Git sets
GIT_AUTHOR_DATE and GIT_INDEX_FILE for hooks). So Nix runs with this environment only, and
the cache keys it whole: nixpkgs' own `getEnv "NIXPKGS_..."` reads are seen and keyed, and
a variable no Nix code names can neither change a tag nor defeat the cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

# Where Nix finds its store, daemon, settings, search path, certificates and scratch
# space, and what nixpkgs reads (config, unfree/insecure switches).
_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "CURL_CA_BUNDLE", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_DATA_HOME", "XDG_DATA_DIRS",
    "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
})
_PREFIXES = ("NIX_", "NIXPKGS_")


def for_nix(
    named: Iterable[str] | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Nix's environment: the fixed set, plus `named`; None (names read at run time): all."""
    source = os.environ if environ is None else environ
    if named is None:
        return dict(source)
    wanted = set(named)
    return {name: value for name, value in source.items()
            if name in wanted or name in _NAMES or name.startswith(_PREFIXES)}
