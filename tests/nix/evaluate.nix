# What tests/test_nix_package.py reads: the package nix/package.nix describes, the flake's outputs
# and the README's git-hooks.nix snippet, all evaluated over the stand-in nixpkgs.
{ root, pythonNamesJSON, snippet }:

let
  nixpkgs = import ./stand-in-nixpkgs.nix { pythonNames = builtins.fromJSON pythonNamesJSON; };
  package = nixpkgs.pkgs.callPackage (root + "/nix/package.nix") { };
  flake = (import (root + "/flake.nix")).outputs { self = flake; inherit nixpkgs; };
  system = "x86_64-linux";
  hook = (import snippet) {
    inherit (nixpkgs) lib;
    inherit system;
    inputs.nix-tag-check = flake;
  };
  fromOverlay = (flake.overlays.default nixpkgs.pkgs nixpkgs.pkgs).nix-tag-check;
in
{
  package = {
    inherit (package) pname version pyproject makeWrapperArgs meta src;
    dependencies = map (p: p.pypiName) package.dependencies;
    build-system = map (p: p.pypiName) package.build-system;
  };
  packages = builtins.mapAttrs (system: set: builtins.mapAttrs (name: p: p.outPath) set)
    flake.packages;
  apps = flake.apps;
  overlay = fromOverlay.outPath;
  hook = hook.pre-commit.settings.hooks.nix-tag-check;
}
