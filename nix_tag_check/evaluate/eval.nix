# nix-tag-check's only Nix code. Everything it is told arrives as one JSON string
# (--argstr request), read with builtins.fromJSON: a name or an attribute path from a
# config file, a manifest or the command line is data here, never Nix source.
#
# request = {
#   system = "x86_64-linux";
#   files = [ {                       # evaluated in turn, in this one Nix process, so
#                                     # what they import in common is evaluated once
#     file = "/abs/default.nix";      # or flake = "git+file:///abs/dir" (any flake reference)
#     args = { name = "value"; };     # --argstr-like arguments for a file that is a function
#     images = [ { name = "..."; attr = [ "a" "b" ]; tag = "auto"; } ];
#     discover = false;               # true: find every derivation with an imageName
#   } ];
# }
# result: one list per entry of `files`, in order. Before each entry, and before each image,
# a trace line says which one is evaluated, so that an error names its file and image.
{ request }:
let
  req = builtins.fromJSON request;

  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";

  describe = tag: v:
    { path = v.outPath; }  # not "outPath": toJSON would print the set as that string
    // { drvPath = v.drvPath; }  # free: derivationStrict gives it with outPath
    // (if tag != "outPath" && v ? imageTag then { imageTag = v.imageTag; } else { })
    // (if tag == "outPath" then pushedTag v else { })
    // (if v ? imageName then { imageName = v.imageName; } else { });

  # `tag: outPath` on an image tagged otherwise (buildLayeredImage: another hash): the
  # tag it is pushed under, for a warning; nothing when it cannot be known.
  pushedTag = v:
    let t = builtins.tryEval (v.imageTag or null);
    in if t.success && builtins.isString t.value then { otherTag = t.value; } else { };

  # Attribute lookup that reports a missing name as data instead of aborting.
  lookup = value: path:
    builtins.foldl'
      (acc: name:
        if acc ? error then acc
        else if !(builtins.isAttrs acc.value) then { error = "'${acc.at}' is not an attribute set"; }
        else if !(builtins.hasAttr name acc.value) then {
          error = "attribute '${name}' missing${if acc.at == "" then "" else " in '${acc.at}'"}";
          missing = name;
          available = builtins.attrNames acc.value;  # names only: nothing is evaluated
        }
        else { value = acc.value.${name}; at = if acc.at == "" then name else "${acc.at}.${name}"; })
      { inherit value; at = ""; }
      path;

  # Discovery: derivations with an imageName, at the top or one level into sets that
  # ask for it (recurseForDerivations), as nix-env does. A pulled image (a fixed-output
  # derivation: dockerTools.pullImage) is fetched, not built from the repository: listed
  # as such, never evaluated further. An attribute that cannot be evaluated may be an
  # image, so discovery cannot be complete: its first failure is forced after a trace
  # naming them all, and Nix's own error is the answer (an error is never cached).
  isImage = v: isDerivation v && v ? imageName;
  asksForRecursion = v: builtins.isAttrs v && !(isDerivation v) && (v.recurseForDerivations or false);
  nothing = { found = [ ]; failed = [ ]; };

  listed = path: v:
    if (v.outputHash or null) != null then { attr = path; imageName = v.imageName; pulled = true; }
    else { attr = path; } // describe "auto" v;

  examine = path: v:
    let
      image = builtins.tryEval (isImage v);
      nested = builtins.tryEval (asksForRecursion v);
      failed = { found = [ ]; failed = [ { inherit path; value = v; } ]; };
    in
    if !image.success then failed
    else if image.value then { found = [ (listed path v) ]; failed = [ ]; }
    else if builtins.length path > 1 then nothing
    else if !nested.success then failed
    else if nested.value then discoverIn path v
    else nothing;

  discoverIn = prefix: set:
    let each = map (name: examine (prefix ++ [ name ]) set.${name}) (builtins.attrNames set);
    in {
      found = builtins.concatLists (map (r: r.found) each);
      failed = builtins.concatLists (map (r: r.failed) each);
    };

  # Fetches are observed, not guessed from text: a repository file (under one of
  # req.roots, the trees Nix reads the repository in) is loaded with scopedImport, its
  # fetchers and its `builtins` replaced by wrappers that trace each fetch (the file whose
  # text calls it, the fetcher, its url, whether a hash or a full rev pins its result)
  # before calling the real one. A trace also says which files were loaded so: a file
  # loaded by other code (nixpkgs' callPackage imports with the real `import`) is not
  # observed, and Python does not cache an evaluation that reaches one naming a fetcher.
  # Anything else (nixpkgs, the store) gets the real `import` and its cache. Loads are
  # memoised in a lazy tree per root mirroring its folders, so a file imported by many is
  # evaluated once in this process, as `import` would.
  roots = req.roots or [ ];
  realImport = import;
  realScoped = scopedImport;
  fullRev = r: builtins.isString r && builtins.match "[0-9a-f]{40}" r != null;
  given = a: n: builtins.isString (a.${n} or null) && a.${n} != "";
  pins = {  # what pins each fetcher's result, and what to say when it is missing
    fetchTarball = { pinned = a: given a "sha256" || given a "hash"; missing = "sha256 or hash"; };
    __fetchurl = { pinned = a: given a "sha256" || given a "hash"; missing = "sha256 or hash"; };
    fetchGit = { pinned = a: fullRev (a.rev or null); missing = "a full rev"; };
    fetchMercurial = { pinned = a: fullRev (a.rev or null); missing = "a full rev"; };
    fetchTree = { pinned = a: given a "narHash"; missing = "narHash"; };
  };
  watched = file: name: real: arg:
    let
      url = if builtins.isAttrs arg then arg.url or arg.path or null else arg;
      pinned = builtins.isAttrs arg && pins.${name}.pinned arg;
      said = {
        inherit file pinned;
        fetcher = if name == "__fetchurl" then "fetchurl" else name;
        url = if builtins.isString url then url else "(not a string)";
        missing = if pinned then "" else if builtins.isAttrs arg then pins.${name}.missing
          else "${pins.${name}.missing} (a plain string is never pinned)";
      };
    in builtins.trace "nix-tag-check-fetch: ${builtins.toJSON said}" (real arg);
  present = builtins.filter (n: builtins.hasAttr (if n == "__fetchurl" then "fetchurl" else n) builtins)
    (builtins.attrNames pins);
  realOf = n: builtins.getAttr (if n == "__fetchurl" then "fetchurl" else n) builtins;
  overridesFor = file:
    let
      fetchers = builtins.listToAttrs (map (n: { name = n; value = watched file n (realOf n); }) present);
      loads = { import = load; scopedImport = attrs: p: scopedLoad attrs p; };
      own = builtins // loads // removeAttrs fetchers [ "__fetchurl" ]
        // (if fetchers ? __fetchurl then { fetchurl = fetchers.__fetchurl; } else { });
    in fetchers // loads // { builtins = own; };
  rootOf = s: builtins.filter (r: builtins.substring 0 (builtins.stringLength r + 1) s == r + "/") roots;
  inRepository = p: (builtins.isPath p || builtins.isString p) && rootOf (toString p) != [ ];
  loaded = file: p: builtins.trace "nix-tag-check-loaded: ${file}" (realScoped (overridesFor file) p);
  # root -> a lazy tree of its folders; a file's value is its scoped load, evaluated once
  folder = dir: builtins.mapAttrs
    (n: kind: let p = "${dir}/${n}"; in {
      inherit kind;
      value = if kind == "directory" then folder p else if kind == "regular" then loaded p p else null;
    })
    (builtins.readDir dir);
  trees = builtins.listToAttrs (map (r: { name = r; value = folder r; }) roots);
  memoised = s:
    let
      root = builtins.head (rootOf s);
      parts = builtins.filter builtins.isString
        (builtins.split "/" (builtins.substring (builtins.stringLength root + 1) (-1) s));
      plain = builtins.all (n: n != "" && n != "." && n != "..") parts;
      walk = acc: n: if acc != null && acc.kind == "directory" && acc.value ? ${n} then acc.value.${n} else null;
    in if plain then builtins.foldl' walk { kind = "directory"; value = trees.${root}; } parts else null;
  # A mirror's file that cannot see where it lies is a link to the same file of the tree
  # the mirror was made from (req.aliases: mirror root -> that tree): its load is that
  # tree's, evaluated once for both, as Nix's import (which follows links) would have it.
  # A link the repository itself holds has a link there too, and is not taken for one.
  aliases = req.aliases or { };
  sharedWith = s:
    let
      root = builtins.head (rootOf s);
      source = aliases.${root} or null;
      there = if source == null || !(builtins.elem source roots) then null
        else memoised (source + builtins.substring (builtins.stringLength root) (-1) s);
    in if there != null && there.kind == "regular" then there else null;
  # a folder: its default.nix, as `import` does; a link or an odd path: loaded unmemoised
  load = p:
    if !(inRepository p) then realImport p
    else
      let
        s = toString p;
        hit = memoised s;
        inner = hit.value."default.nix" or null;
        shared = if hit != null && hit.kind == "symlink" then sharedWith s else null;
      in
      if shared != null then shared.value
      else if hit != null && hit.kind == "regular" then hit.value
      else if hit != null && hit.kind == "directory" && inner != null && inner.kind == "regular" then inner.value
      else loaded s p;
  scopedLoad = attrs: p:
    if inRepository p then builtins.trace "nix-tag-check-loaded: ${toString p}"
      (realScoped (overridesFor (toString p) // attrs) p)
    else realScoped attrs p;

  evalEntry = entry:
    let
      isFlake = entry ? flake;

      # A file that evaluates to a function is called as nix-instantiate would: with the
      # arguments it names, defaults for the others.
      top =
        if isFlake then builtins.getFlake entry.flake
        else
          let v = load entry.file;
          in if builtins.isFunction v then v (builtins.intersectAttrs (builtins.functionArgs v) entry.args) else v;

      # Flake fragments resolve as `nix build .#x` resolves them, for the target system.
      candidates = attr:
        if isFlake then [ ([ "packages" req.system ] ++ attr) ([ "legacyPackages" req.system ] ++ attr) attr ]
        else [ attr ];

      find = attr:
        let
          tries = map (lookup top) (candidates attr);
          hits = builtins.filter (r: !(r ? error)) tries;
        in if hits != [ ] then builtins.head hits else builtins.head tries;

      evalImage = image:
        builtins.trace "nix-tag-check-image: ${image.name}" (
          let found = find image.attr;
          in
          if found ? error then removeAttrs found [ "value" "at" ]
          else if !(isDerivation found.value) then { error = "'${if found.at == "" then "<top>" else found.at}' is not a derivation"; }
          else describe image.tag found.value);

      examined =
        let
          root = if isFlake then (top.packages or { }).${req.system} or { } else top;
        in
        if isDerivation root then (if root ? imageName then { found = [ (listed [ ] root) ]; failed = [ ]; } else nothing)
        else if builtins.isAttrs root then discoverIn [ ] root
        else nothing;

      discovered =
        if examined.failed == [ ] then examined.found
        else
          let first = builtins.head examined.failed;
          in builtins.trace "nix-tag-check-discovery-failed: ${builtins.toJSON (map (f: f.path) examined.failed)}"
            (builtins.seq (isImage first.value) (builtins.seq (asksForRecursion first.value)
              # Forcing it again failed once, inside tryEval: unreachable, unless Nix changes.
              [ { error = "attribute '${builtins.concatStringsSep "." first.path}' could not be evaluated"; } ]));
    in
    if entry.discover or false then discovered else map evalImage entry.images;
in
{
  result = builtins.genList
    (i: builtins.trace "nix-tag-check-file: ${toString i}" (evalEntry (builtins.elemAt req.files i)))
    (builtins.length req.files);
}
