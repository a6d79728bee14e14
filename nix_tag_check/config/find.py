"""Which config a run uses: `--config`, the file here or at the repository root, `--image`
options, or zero-config discovery; then the command line's overrides on top."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from nix_tag_check.config import load as cfg
from nix_tag_check.errors import ConfigError


def find(explicit: str | None, top: str | None) -> str | None:
    """The config file's path: the one given, else here, else at the work tree's root."""
    if explicit:
        return explicit
    if os.path.isfile(cfg.CONFIG_NAME):
        return cfg.CONFIG_NAME
    if top and os.path.isfile(os.path.join(top, cfg.CONFIG_NAME)):
        return os.path.join(top, cfg.CONFIG_NAME)
    return None


def load_config(
    top: str | None, *, config: str | None = None, images: Sequence[str] = (),
    system: str | None = None, max_file_size: int | None = None,
) -> cfg.Config:
    """The config file, --image options, or discovery; `top` is the Git work tree, if any."""
    base = os.getcwd()
    if system:
        cfg.check_system_option(system)
    if images:
        path = find(config, top) if config else None
        loaded = cfg.load(path) if path else None
        result = cfg.from_options(list(images), base, system or (loaded.system if loaded else None))
        if loaded:  # --image replaces the images; the file still says which files, for what
            result = dataclasses.replace(
                loaded, images=result.images, text=loaded.text + result.text
            )
    else:
        path = find(config, top)
        result = cfg.discovery(top or base, system) if path is None else cfg.load(path)
    if system:
        result = cfg.with_system(result, system)
    if max_file_size is not None:
        if max_file_size <= 0:
            raise ConfigError("--max-file-size: must be a positive number of bytes")
        result = dataclasses.replace(result, max_file_size=max_file_size)
    return result
