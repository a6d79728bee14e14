#!/usr/bin/env bash
# Second-run cost of a niv-pinned repository, cached vs --no-cache (issue 20 §1). Needs Nix;
# the tarball is put in the store first, so `fetchTarball { url = "https://example.invalid/x";
# sha256 = ...; }` is offline. The stand-in's work (WORK, default 2000000) is what a real
# nixpkgs evaluation costs. Usage: benchmarks/pinned.sh [WORK]
set -euo pipefail
tool=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/nix-tag-check
work=${1:-2000000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/t/top" "$dir/r/nix" "$dir/r/deploy"
echo x > "$dir/t/top/f"
tar -C "$dir/t" -czf "$dir/x.tar.gz" top
sha=$(nix-prefetch-url --unpack --name source "file://$dir/x.tar.gz" 2>/dev/null)
cd "$dir/r"
git init -q && git config user.email b@x && git config user.name b
printf '{"nixpkgs": {"url": "https://example.invalid/x", "sha256": "%s", "type": "tarball"}}\n' "$sha" > nix/sources.json
cat > nix/sources.nix <<'N'
let
  sources = builtins.fromJSON (builtins.readFile ./sources.json);
  fetch_tarball = spec: let inherit (builtins) fetchTarball; in fetchTarball { inherit (spec) url sha256; };
in builtins.mapAttrs (name: spec: fetch_tarball spec) sources
N
cat > default.nix <<N
let sources = import ./nix/sources.nix; in {
  image = derivation { name = "img"; system = "x86_64-linux"; builder = "/bin/sh"; src = sources.nixpkgs;
    cost = builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) $work); };
}
N
printf 'images:\n  - name: registry.example.com/hello\n    nix: default.nix\n    attr: image\n' > .nix-tag-check.yaml
printf 'image: registry.example.com/hello:0000\n' > deploy/a.yaml
git add -A && git commit -qm init
"$tool" --print-expected >/dev/null
time_of() { local s e; s=$(date +%s.%N); "$tool" --print-expected "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
cached=$(for i in 1 2 3; do time_of; done | sort -n | sed -n 2p)
uncached=$(for i in 1 2 3; do time_of --no-cache; done | sort -n | sed -n 2p)
echo "niv repository, second run (median of 3): cached ${cached}s, --no-cache ${uncached}s"
"$tool" --print-expected -v 2>&1 | grep "evaluation:" || true
