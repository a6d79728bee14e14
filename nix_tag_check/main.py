"""The entry point, kept free of imports: a run with nothing to do pays for no more than it uses."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from . import cli

    return cli.main(argv)
