set -e
cd /tmp && rm -rf sx && mkdir -p sx/r/sub && cd sx
mkdir tb && echo 'x' > tb/f && tar czf x.tar.gz tb
H=$(nix-prefetch-url --unpack --name source file:///tmp/sx/x.tar.gz)
cat > r/lib.nix <<N
{ pinned = builtins.fetchTarball { url = "https://example.invalid/x"; sha256 = "$H"; }; n = builtins.trace "lib evaluated" 1; }
N
cat > r/sub/default.nix <<N
with builtins; { u = fetchTarball "file:///tmp/sx/x.tar.gz"; l = import ../lib.nix; }
N
cat > r/default.nix <<N
let l = import ./lib.nix; s = import ./sub; b = builtins; in { a = l.pinned; c = s.l.n + l.n; d = s.u; e = b.fetchurl { url = "file:///tmp/sx/x.tar.gz"; }; f = toString ./sub; }
N
REQ='{"system":"x86_64-linux","roots":["/tmp/sx/r"],"files":[{"file":"/tmp/sx/r/default.nix","args":{},"images":[],"discover":true}]}'
nix-instantiate --eval --strict --json --argstr request "$REQ" -A result /ci/main/nix_tag_check/evaluate/eval.nix || true
cat > r/t.nix <<'N'
let e = (import /ci/main/nix_tag_check/evaluate/eval.nix { request = builtins.toJSON { system = "x86_64-linux"; roots = ["/tmp/sx/r"]; files = []; }; }); in 1
N
nix-instantiate --eval --strict -E '(import /tmp/sx/r/default.nix)' 2>&1
echo ---
cat > /tmp/sx/e.nix <<'N'
{ request }: let v = import /tmp/sx/r/default.nix; in v
N
