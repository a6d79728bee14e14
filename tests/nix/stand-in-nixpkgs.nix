# A small stand-in for the parts of nixpkgs that flake.nix and nix/package.nix use, for a machine
# that cannot fetch nixpkgs. `pythonNames` maps nixpkgs attribute names to the PyPI names of the
# requirements in pyproject.toml: naming any other Python package fails evaluation.
{ pythonNames }:

let
  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);

  lib = {
    inherit genAttrs;
    licenses.mit = "MIT";
    getExe = package: "${package}/bin/${package.meta.mainProgram}";
    makeBinPath = packages: builtins.concatStringsSep ":" (map (p: "${p}/bin") packages);
    fileset = {
      unions = paths: paths;
      toSource = { root, fileset }:
        assert builtins.all builtins.pathExists fileset;
        { source = map toString fileset; };
    };
  };

  python3Packages = builtins.mapAttrs (attr: pypiName: { inherit pypiName; }) pythonNames // {
    # What the package asks of nixpkgs, as data for the test to read.
    buildPythonApplication = args: args // {
      outPath = "/nix/store/00000000000000000000000000000000-${args.pname}-${args.version}";
    };
  };

  nix = { outPath = "/nix/store/00000000000000000000000000000000-nix"; };

  pkgs = rec {
    inherit lib python3Packages nix;
    callPackage = fn: overrides:
      let
        f = if builtins.isFunction fn then fn else import fn;
        wanted = builtins.functionArgs f;
      in
      f (builtins.intersectAttrs wanted pkgs // overrides);
  };
in
{
  inherit lib pkgs;
  legacyPackages = genAttrs [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ]
    (system: pkgs);
}
