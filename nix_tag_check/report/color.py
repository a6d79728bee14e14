"""--color auto|always|never, beside the NO_COLOR and FORCE_COLOR conventions linters follow."""

from __future__ import annotations

import os
from typing import TextIO

CHOICES = ("auto", "always", "never")


def wanted(choice: str, stream: TextIO) -> bool:
    """NO_COLOR (no-color.org), set to a non-empty value, always wins: the product promises
    no colour with it. Then the option; then FORCE_COLOR (force-color.org); else colour only
    for a person at a terminal."""
    if os.environ.get("NO_COLOR") or choice == "never":
        return False
    if choice == "always" or os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()
