# A stand-in for a container image that evaluates offline, without nixpkgs.
#
# A real project would build the image with nixpkgs' dockerTools:
#
#   { pkgs ? import <nixpkgs> { } }:
#   let
#     hello = pkgs.buildGoModule { pname = "hello"; version = "0.1.0"; src = ./src; vendorHash = null; };
#   in {
#     image = pkgs.dockerTools.buildLayeredImage {
#       name = "registry.example.com/team/hello";
#       config.Cmd = [ "${hello}/bin/hello" ];
#     };
#   }
#
# buildLayeredImage returns a derivation carrying passthru attributes such as
# imageName; the plain derivation below has the same shape, so the example
# needs no downloads. Either way the tag deployed is the hash part of the
# image's output path (/nix/store/<hash>-hello-image -> <hash>): it is known
# from evaluation alone, without building, and changes whenever an input does
# (edit src/main.go, or pick another `system`, and the tag changes).
{ system ? builtins.currentSystem }:

let
  # Copied into the store at evaluation time; its hash feeds the output path.
  src = builtins.path { path = ./src; name = "hello-src"; };

  drv = derivation {
    name = "hello-image";
    inherit system src;
    builder = "/bin/sh";
    # Shell built-ins only: the build sandbox has no coreutils.
    args = [ "-c" ''echo "placeholder image built from $src" > "$out"'' ];
  };
in
{
  image = drv // { imageName = "registry.example.com/team/hello"; };
}
