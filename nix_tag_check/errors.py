"""Every error the tool reports, in one place: what went wrong, and where when we know.

Each is one line for the user, `path:line:column: message`, with the parts that are known;
the reporters place it (a GitHub annotation on that line, a JSON record with those keys).
"""

from __future__ import annotations

from collections.abc import Iterable


class LocatedError(ValueError):
    """A problem, at a place in a file when known: 1-based line and column, 0 when unknown."""

    def __init__(
        self, message: str, line: int = 0, column: int = 0, *, path: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.path = path

    def __str__(self) -> str:
        return located(self.message, self.path, self.line, self.column)


def located(message: str, path: str | None, line: int = 0, column: int = 0) -> str:
    """`path:line:column: message`, with the parts that are known (a line needs a path)."""
    where = path or ""
    if path and line:
        where += f":{line}" + (f":{column}" if column else "")
    return f"{where}: {message}" if where else message


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`did you mean 'x'?` for the closest of `choices` (difflib's judgement), or "" if none
    is close: the one suggestion a misspelt key, attribute or image name gets."""
    import difflib  # only for this message

    close = difflib.get_close_matches(word, sorted(set(choices)), n=1)
    return f"did you mean '{close[0]}'?" if close else ""


class ConfigError(LocatedError):
    """The config file or a command-line option is wrong; nothing is evaluated or written."""


class EvalError(LocatedError):
    """Nix could not give a tag; the message is one line and says what to do.

    `image` names the configured image it concerns, so that an error Nix places in no file
    of the repository is placed on that image's line of the config file instead.
    """

    image: str | None = None


class YamlSyntaxError(LocatedError):
    """The text is not YAML we can read."""


class ScanError(LocatedError):
    """A reference that exists but cannot be read or rewritten safely."""


class FileProblem(LocatedError):
    """A manifest we must not scan or write."""


class PatchError(LocatedError):
    """The patched text is not what the edits promised; nothing is written."""


class ChangedOnDisk(LocatedError):
    """The file changed between our read and our write; it is left as it is."""
