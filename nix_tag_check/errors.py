"""Every error the tool reports, in one place: what went wrong, and where when we know."""

from __future__ import annotations


class LocatedError(ValueError):
    """A problem at a place in a file: 1-based line and column, 0 when unknown."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class YamlSyntaxError(LocatedError):
    """The text is not YAML we can read."""


class ScanError(LocatedError):
    """A reference that exists but cannot be read or rewritten safely."""
