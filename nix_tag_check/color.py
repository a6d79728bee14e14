"""--color auto|always|never, beside the NO_COLOR and FORCE_COLOR conventions linters follow."""

from __future__ import annotations

import os
from typing import TextIO

CHOICES = ("auto", "always", "never")


def wanted(choice: str, stream: TextIO) -> bool:
    """The option wins; then NO_COLOR (no-color.org), then FORCE_COLOR (force-color.org), each
    when set to a non-empty value; else colour only for a person at a terminal."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()
