"""The entry point, kept free of imports until it runs: `--help` and a cached run pay only
for what they use."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from nix_tag_check import cli

    return cli.main(argv)
