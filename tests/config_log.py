"""Every config file `nix_tag_check.config.load` reads during the test session, and its verdict.

test_schema.py checks the schema against all of them once every other test has run: a config a
test made the loader accept must validate, and one it rejected for an unknown key must not.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from nix_tag_check.config import load as cfg

# (path, bytes, the ConfigError message, or None when the loader accepted it)
LOADED: list[tuple[str, bytes, str | None]] = []


def install() -> None:
    """Wrap `config.load` (everything calls it as `cfg.load`) so that it records what it read."""
    real = cfg.load
    if getattr(real, "records_configs", False):
        return

    def load(path: str, *args: Any) -> cfg.Config:  # args: the parser (see tree_memo.py)
        try:
            config = real(path, *args)
        except cfg.ConfigError as exc:
            with contextlib.suppress(OSError):
                LOADED.append((path, Path(path).read_bytes(), str(exc)))
            raise
        LOADED.append((path, config.text, None))
        return config

    load.records_configs = True  # type: ignore[attr-defined]
    cfg.load = load
