"""nix-tag-check: keep Kubernetes image tags equal to the Nix hashes of the images."""

__version__ = "0.1.0"
