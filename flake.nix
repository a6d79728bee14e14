{
  description = "Keep Kubernetes image tags in step with the Nix output paths that build the images";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
    in
    {
      # Adds `nix-tag-check` to a package set: `nixpkgs.overlays = [ nix-tag-check.overlays.default ];`
      overlays.default = final: prev: {
        nix-tag-check = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (system: pkgs: rec {
        nix-tag-check = pkgs.callPackage ./nix/package.nix { };
        default = nix-tag-check;
      });

      # nix run github:OWNER/nix-tag-check/COMMIT -- --fix
      apps = forAllSystems (system: pkgs: rec {
        nix-tag-check = {
          type = "app";
          program = "${self.packages.${system}.nix-tag-check}/bin/nix-tag-check";
        };
        default = nix-tag-check;
      });
    };
}
