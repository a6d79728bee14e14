"""The entry point, kept free of imports: a run with nothing to do pays for no more than it uses.

From the command line (no argv given), a check whose every input is as it was when the same
check last ran is answered from its recording (replay.py) without importing the tool.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    record = True
    if argv is None:
        import sys

        from . import replay

        status = replay.replay(sys.argv[1:])
        if status is not None:
            return status
        record = not replay.just_changed()  # the recording would be refused: do not trace
    from . import cli

    return cli.main(argv, record=record)
