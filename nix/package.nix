# nix-tag-check as a Nix package, built from this checkout by nixpkgs' buildPythonApplication.
# Name, version and description come from pyproject.toml; the dependencies below are its
# dependencies and build requirements (tests/test_nix_package.py holds them in step).
{ lib, python3Packages, nix }:

let
  project = (builtins.fromTOML (builtins.readFile ../pyproject.toml)).project;
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [ ../pyproject.toml ../README.md ../LICENSE ../nix_tag_check ];
  };

  build-system = [ python3Packages.setuptools ];
  dependencies = [
    python3Packages.ruamel-yaml
    python3Packages.ruamel-yaml-clib
  ];

  # The tool runs nix-instantiate and nix. The user's own Nix comes first on PATH (it holds their
  # store and settings); this one is there for a PATH without any.
  makeWrapperArgs = [ "--suffix" "PATH" ":" (lib.makeBinPath [ nix ]) ];

  # The test suite needs a writable Nix store, Git and pre-commit, none of which a build sandbox
  # has: run it from a checkout (see README). Importing the package is checked here.
  doCheck = false;
  pythonImportsCheck = [ "nix_tag_check" ];

  meta = {
    inherit (project) description;
    license = lib.licenses.mit;
    mainProgram = "nix-tag-check";
  };
}
