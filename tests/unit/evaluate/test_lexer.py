"""What a Nix file's text names, read the way Nix's lexer reads it (one line per case)."""

from __future__ import annotations

import json

import pytest

from nix_tag_check.evaluate.lexer import climbs, from_json, scan, to_json

PATHS = [
    ("./src", [("./src", False)]),
    ("import ../lib/default.nix", [("../lib/default.nix", False)]),
    ("lib/x.nix", [("lib/x.nix", False)]),  # no ./ needed: still a path
    ("x: x./y", [("x./y", False)]),
    ("~/notes", [("~/notes", False)]),
    ("/etc/hosts", [("/etc/hosts", False)]),
    ("./images/${name}.nix", [("./images/", True)]),
    ("./src${suffix}", [("./src", True)]),
    ("import ./${name}.nix", [("./", True)]),
    ("import ../${x}/a.nix", [("../", True), ("/a.nix", False)]),  # the whole of `..`
    ('"${./inside} and ./not-a-path"', [("./inside", False)]),
    ("'' ${../yes} ''${./escaped} ./no ''", [("../yes", False)]),
    ("# ./commented\n./real", [("./real", False)]),
    ("/* ./block */ ./after", [("./after", False)]),
    ("https://example.com/a/b", []),
    ("a.b.c", []),
    ("6 / 3", []),
    ("x'' ./after-ident", [("./after-ident", False)]),
    ('builtins.readFile "/etc/hosts"', [("/etc/hosts", False)]),  # Nix reads it as a path
    ("'' /etc/hosts ''", []),  # text in a script, not the whole string
    ('lib.splitString "/" x', []),
    ('"/usr/bin:/bin"', []),
    ('"${dir}/x"', []),
]


@pytest.mark.parametrize(("text", "paths"), PATHS)
def test_path_literals(text: str, paths: list[tuple[str, bool]]) -> None:
    assert scan(text).paths == paths


@pytest.mark.parametrize(
    ("text", "env"),
    [('builtins.getEnv "HOME"', {"HOME"}),
     ('let inherit (builtins) getEnv; in getEnv "A"', None),  # `inherit ... getEnv;` names none
     ("builtins.getEnv name", None),
     ('"getEnv is only text"', set()),
     ("# builtins.getEnv x", set())],
)
def test_variables(text: str, env: set[str] | None) -> None:
    assert scan(text).env == env


@pytest.mark.parametrize(
    ("text", "impure"),
    [("builtins.currentTime", "currentTime"), ("fetchGit ./.", None),
     ("builtins.fetchurl { url = x; }", None), ("fetchurl { url = x; }", None),
     ('builtins.${"currentTime"}', "builtins.${...}"), ("builtins.${x}", "builtins.${...}"),
     ('builtins.getAttr "currentTime" builtins', '"currentTime"'),
     ("builtins.currentSystem", None),
     ('import "${toString ./.}/../sibling.nix"', "a string path with `..`"),
     ("builtins.readDir (dirOf ./src)", "dirOf"), ("with builtins; dirOf ./x", "dirOf"),
     ('builtins."dirOf" ./x', '"dirOf"'),
     ("builtins.fetchTarball u; dirOf ./x", "dirOf"),  # the one that climbs says more
     ("dirOf ./x; builtins.currentTime", "dirOf")],
)
def test_impure_builtins(text: str, impure: str | None) -> None:
    assert scan(text).impure == impure


@pytest.mark.parametrize(
    ("text", "fetcher"),
    [("fetchGit ./.", "fetchGit"), ("builtins.fetchTarball { url = x; }", "fetchTarball"),
     ("__fetchurl u", "__fetchurl"), ("builtins.fetchurl u", "fetchurl"),
     ("with builtins; fetchurl u", "builtins (not as builtins.NAME)"),
     ("let inherit (builtins) fetchurl; in fetchurl u", "builtins (not as builtins.NAME)"),
     ("builtins . fetchurl u", "builtins (not as builtins.NAME)"),
     ("let b = builtins; in b.fetchurl u", "builtins (not as builtins.NAME)"),
     ("builtins.readFile ./x", None), ("pkgs.fetchurl { url = x; }", None),
     ("{ fetchurl }: fetchurl { url = x; }", None), ('"fetchTarball is text"', None)],
)
def test_fetchers_in_any_spelling(text: str, fetcher: str | None) -> None:
    assert scan(text).fetcher == fetcher


@pytest.mark.parametrize(("impure", "climbs_out"), [
    ("currentTime", False), ("fetchTarball", False), ("fetchurl", False),
    ('"getEnv"', False), ('"fetchGit"', False), ("dirOf", True), ('"dirOf"', True),
    ("builtins.${...}", True), ("a string path with `..`", True), ("a reason not known", True),
])
def test_an_impurity_climbs_unless_it_is_known_to_keep_to_the_literals(
    impure: str, climbs_out: bool
) -> None:
    assert climbs(impure) is climbs_out


@pytest.mark.parametrize(("text", "search"), [("<nixpkgs>", True), ("<nixpkgs/lib>", True),
                                               ("a < b", False), ("builtins.findFile", True)])
def test_search_path(text: str, search: bool) -> None:
    assert scan(text).search_path is search


@pytest.mark.parametrize("text", [t for t, _ in PATHS] + ["builtins.getEnv x", "<nixpkgs>"])
def test_a_scan_survives_json(text: str) -> None:
    assert from_json(json.loads(json.dumps(to_json(scan(text))))) == scan(text)


@pytest.mark.parametrize("data", [[], [[["./a"]], False, [], None], [[], "no", [], None],
                                  [[], False, [1], None], [[], False, [], 7], {"paths": []}])
def test_a_remembered_scan_we_did_not_write_is_refused(data: object) -> None:
    with pytest.raises(ValueError):
        from_json(data)
