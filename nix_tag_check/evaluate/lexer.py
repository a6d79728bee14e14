"""What a Nix file's text can reach: its path literals, search paths, variables, impurities.

Every path value an evaluation handles starts as a path literal in some file (or a
search path `<x>`), so the literals of the files an evaluation can reach bound what
it can read, even when the reading happens inside nixpkgs' functions, where no
tracing of our own could see it. Strings and comments are skipped; an interpolation
inside a string is code again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PATH = re.compile(r"(?:~|[a-zA-Z0-9._+\-]*)(?:(?:/[a-zA-Z0-9._+\-]+)*/(?=\$\{)"
                   r"|(?:/[a-zA-Z0-9._+\-]+)+/?)")  # `./${name}.nix`: a folder, interpolated
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+")
# Nix takes an absolute string for a path too (`readFile "/etc/x"`, `import "/a.nix"`).
_ABSOLUTE_STRING = re.compile(r"(?:/[a-zA-Z0-9._+\-]+)+/?")
# `"${./.}/../x"`: a string that climbs out of the folder a path literal names.
_CLIMBS_OUT = re.compile(r"\$\{.*/\.\.(?:/|$)", re.DOTALL)
_SEARCH = re.compile(r"<[a-zA-Z0-9._+\-]+(?:/[a-zA-Z0-9._+\-]+)*>")
_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_'\-]*")
_ATTRIBUTE = re.compile(r"\.[a-zA-Z_]")
_GET_ENV_ARG = re.compile(r'\s*"([^"\\$]*)"')
_STRING_STOP = re.compile(r'\\.|\$\{|"', re.DOTALL)
_INDENTED_STOP = re.compile(r"''['$\\]|''|\$\{", re.DOTALL)
_CODE_STOP = re.compile(r"""[#/"'<{}~a-zA-Z0-9._+\-]""")
_PATH_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-/~")
# Builtins whose value depends on something outside the files and settings we key on.
IMPURE = frozenset({
    "currentTime", "getFlake", "unsafeGetAttrPos", "__curPos", "__currentTime", "fetchClosure",
})
# Fetchers: pure when a hash or a full rev pins their result, which only the evaluation
# knows (eval.nix traces each call). A file naming one, in any spelling the lexer can see,
# is cached only when Nix observed every fetch its text made (expected.py).
FETCHERS = frozenset({"fetchGit", "fetchTree", "fetchMercurial", "fetchTarball", "__fetchurl"})
# Not impure, but it climbs out of the folder a literal names, to any file: nothing the
# literals bound. Reported as an impurity (not cached, every file in the private tree).
CLIMBS = frozenset({"dirOf"})
_KEEPS_TO_LITERALS = IMPURE | FETCHERS | {"getEnv", "fetchurl", "findFile", "nixPath"}
_IMPURE_STRINGS = _KEEPS_TO_LITERALS | CLIMBS


def climbs(impure: str) -> bool:
    """Whether a reported impurity may read files no literal names (dirOf, `builtins.${...}`,
    a string climbing with `..`, any reason not known to keep to the literals), not only
    values the cache cannot pin down."""
    return impure.strip('"') not in _KEEPS_TO_LITERALS


@dataclass
class TextScan:
    """What one file's source names. `env` None: a variable named at run time (any)."""

    paths: list[tuple[str, bool]] = field(default_factory=list)  # (literal, interpolated)
    search_path: bool = False
    env: set[str] | None = field(default_factory=set)
    impure: str | None = None
    fetcher: str | None = None  # the first fetcher named, or `builtins` not as `builtins.x`


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.found = TextScan()

    def code(self, i: int, nested: bool) -> int:
        """Scan code from i; in an interpolation, stop after its closing brace."""
        depth = 0
        text = self.text
        while True:
            match = _CODE_STOP.search(text, i)
            if match is None:
                return len(text)
            i = match.start()
            char = text[i]
            if char == "#":
                end = text.find("\n", i)
                i = len(text) if end == -1 else end
            elif text.startswith("/*", i):
                end = text.find("*/", i + 2)
                i = len(text) if end == -1 else end + 2
            elif char == '"':
                i = self.string(i + 1)
            elif text.startswith("''", i) and not _in_word(text, i):
                i = self.indented(i + 2)
            elif char == "{":
                depth += 1
                i += 1
            elif char == "}":
                i += 1
                if nested and depth == 0:
                    return i
                depth -= 1
            else:
                i = self.token(i)

    def token(self, i: int) -> int:
        text = self.text
        if _in_word(text, i):
            return i + 1
        if i > 0 and text[i - 1] == ".":  # an attribute name: `builtins.getEnv`
            ident = _IDENT.match(text, i)
            if ident:
                self.identifier(ident.group(), ident.end())
            return ident.end() if ident else i + 1
        if text[i] == "<" and (search := _SEARCH.match(text, i)):
            self.found.search_path = True
            return search.end()
        if uri := _URI.match(text, i):
            return uri.end()
        if text[i] in _PATH_START and (path := _PATH.match(text, i)):
            interpolated = text.startswith("${", path.end())
            self.found.paths.append((path.group(), interpolated))
            return path.end()
        if ident := _IDENT.match(text, i):
            self.identifier(ident.group(), ident.end())
            return ident.end()
        return i + 1

    def identifier(self, name: str, end: int) -> None:
        if name in IMPURE or name in CLIMBS:
            self.impure(name)
        elif name in FETCHERS or (
                name == "fetchurl" and self.text[:end].endswith("builtins.fetchurl")):
            self.found.fetcher = self.found.fetcher or name
        elif name in ("findFile", "nixPath", "__findFile", "__nixPath"):
            self.found.search_path = True
        elif name in ("getEnv", "__getEnv"):
            literal = _GET_ENV_ARG.match(self.text, end)
            if literal is None:
                self.found.env = None
            elif self.found.env is not None:
                self.found.env.add(literal.group(1))
        elif name == "builtins" and self.text.startswith(".${", end):
            self.impure("builtins.${...}")
        elif name == "builtins" and not _ATTRIBUTE.match(self.text, end):
            # `with builtins;`, `inherit (builtins) fetchurl`, `b = builtins`, `builtins . x`:
            # any of its attributes may be called under another name
            self.found.fetcher = self.found.fetcher or "builtins (not as builtins.NAME)"

    def impure(self, reason: str) -> None:
        """The first impurity, unless a later one climbs (it says more: any file)."""
        if self.found.impure is None or (climbs(reason) and not climbs(self.found.impure)):
            self.found.impure = reason

    def string(self, i: int) -> int:
        start = i
        while True:
            match = _STRING_STOP.search(self.text, i)
            if match is None:
                return len(self.text)
            if match.group() == '"':
                self.literal(self.text[start:match.start()])
                return match.end()
            i = self.code(match.end(), nested=True) if match.group() == "${" else match.end()

    def indented(self, i: int) -> int:
        start = i
        while True:
            match = _INDENTED_STOP.search(self.text, i)
            if match is None:
                return len(self.text)
            if match.group() == "''":
                self.literal(self.text[start:match.start()])
                return match.end()
            if match.group() == "${":
                i = self.code(match.end(), nested=True)
            else:
                i = match.end() + (1 if match.group() == "''\\" else 0)

    def literal(self, content: str) -> None:
        """A string can name an impure builtin (`builtins.${s}`) or a file Nix will read."""
        if content in _IMPURE_STRINGS:
            self.impure(f'"{content}"')
        elif _ABSOLUTE_STRING.fullmatch(content):
            self.found.paths.append((content, False))
        elif _CLIMBS_OUT.search(content):
            self.impure("a string path with `..`")


def _in_word(text: str, i: int) -> bool:
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_'-/+")


def scan(text: str) -> TextScan:
    lexer = _Lexer(text)
    lexer.code(0, nested=False)
    return lexer.found


def to_json(found: TextScan | None) -> object:
    if found is None:
        return None
    env = None if found.env is None else sorted(found.env)
    return [[list(p) for p in found.paths], found.search_path, env, found.impure, found.fetcher]


def from_json(data: object) -> TextScan | None:
    """The inverse of to_json; ValueError for anything to_json did not write."""
    if data is None:
        return None
    if not isinstance(data, list) or len(data) != 5:
        raise ValueError("not a scan")
    paths, search, env, impure, fetcher = data
    if not isinstance(paths, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
            and isinstance(p[1], bool) for p in paths):
        raise ValueError("malformed paths")
    if not isinstance(search, bool) or not all(v is None or isinstance(v, str)
                                               for v in (impure, fetcher)):
        raise ValueError("malformed scan")
    if env is not None and (not isinstance(env, list)
                            or not all(isinstance(n, str) for n in env)):
        raise ValueError("malformed variables")
    return TextScan([(p[0], p[1]) for p in paths], search, None if env is None else set(env),
                    impure, fetcher)
