"""Measure nix-tag-check against raw Nix and against the naive way, in one run; print ratios.

    python3 benchmarks/bench.py            # the full run (a few minutes)
    python3 benchmarks/bench.py --quick    # a smoke run
    python3 benchmarks/bench.py --only shared-import   # section 11 alone
    python3 benchmarks/bench.py --only hook            # section 6's start-up rows alone

Every figure is the median of several wall-clock runs of the real command line in a
synthetic Git repository; only ratios taken within this one run are compared to goals.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Stands in for importing nixpkgs: a shared value every image forces, memoised by Nix.
NIX_FILE = """\
let
  heavy = builtins.foldl' (a: i: a + builtins.stringLength (builtins.toString i)) 0
    (builtins.genList (x: x) {work});
  image = i: derivation {{
    name = "img${{toString i}}";
    system = "x86_64-linux";
    builder = "/bin/sh";
    h = toString heavy;
  }} // {{ imageName = "registry.example.com/team/img${{toString i}}"; }};
in builtins.listToAttrs
  (builtins.genList (i: {{ name = "img${{toString i}}"; value = image i; }}) {n})
"""

MANIFEST = """\
# Service {i}, generated for the benchmark.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc{i}
  labels: {{app: svc{i}, tier: backend}}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: svc{i}
  template:
    metadata:
      labels:
        app: svc{i}
    spec:
      containers:
        - name: app
          image: {image}
          ports:
            - containerPort: 8080
          env:
            - name: LOG_LEVEL
              value: info
          resources:
            limits: {{cpu: 100m, memory: 128Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: svc{i}
spec:
  selector:
    app: svc{i}
  ports:
    - port: 80
      targetPort: 8080
"""

NAIVE = """\
import sys
from pathlib import Path
from ruamel.yaml import YAML

expected = set(sys.argv[2:])
yaml = YAML(typ="safe")
stale = 0

def walk(node):
    global stale
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                name, _, tag = value.rpartition(":")
                if name and f"{name}:{tag}" not in expected and any(
                        e.startswith(name + ":") for e in expected):
                    stale += 1
            walk(value)
    elif isinstance(node, list):
        for item in node:
            walk(item)

for path in sorted(Path(sys.argv[1]).rglob("*.yaml")):
    for document in yaml.load_all(path.read_text()):
        walk(document)
print(stale)
"""

TOOL = [sys.executable, "-m", "nix_tag_check"]
# What the shared evaluation costs. Importing nixpkgs and evaluating one dockerTools image
# takes seconds; the tool's own start (Python, imports, two git calls) is ~0.1 s here, so the
# cached/uncached goal of 0.1 can only hold when one evaluation costs more than ~1 s.
RAW_SECONDS = 1.5


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def clear_scan_cache(repo: Path) -> None:
    """Forget every manifest's scan result: the next run is a first run (evaluation cached)."""
    shutil.rmtree(repo / ".git" / "nix-tag-check" / "scan", ignore_errors=True)


def first_run(command: list[str], repo: Path) -> Callable[[], object]:
    return lambda: (clear_scan_cache(repo), run(command, repo))


def peak_rss_mib(command: list[str], cwd: Path) -> float:
    """Peak resident memory of one run of `command`, from the kernel's account of the child."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return usage.ru_maxrss / 1024


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def make_repo(root: Path, images: int, manifests: int, work: int, every: int) -> Path:
    """N images in one default.nix, M manifests; one in `every` references a configured image."""
    repo = root / f"repo-n{images}-m{manifests}-e{every}"
    (repo / "deploy").mkdir(parents=True)
    (repo / "default.nix").write_text(NIX_FILE.format(work=work, n=images))
    config = ["images:"]
    for i in range(images):
        config += [f"  - name: registry.example.com/team/img{i}", "    nix: default.nix",
                   f"    attr: img{i}"]
    config.append("files: [deploy/**/*.yaml]")
    (repo / ".nix-tag-check.yaml").write_text("\n".join(config) + "\n")
    for i in range(manifests):
        image = (f"registry.example.com/team/img{i % images}:stale" if i % every == 0
                 else f"ghcr.io/other/svc{i}:v1")
        folder = repo / "deploy" / f"team{i % 50}"
        folder.mkdir(exist_ok=True)
        (folder / f"svc{i}.yaml").write_text(MANIFEST.format(i=i, image=image))
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "b"]):
        subprocess.run(command, cwd=repo, check=True, env=env)
    return repo


PKG_FILE = """\
self: {{ v = {n} + (if {n} == 0 then 0 else self.p{half}.v); }}
"""
PKGS_DEFAULT = """\
{{ }}:
let
  file = n: ./by-number + "/p${{toString n}}.nix";
  self = builtins.listToAttrs (builtins.genList
    (n: {{ name = "p${{toString n}}"; value = import (file n) self; }}) {files});
in self
"""
STAND_IN_IMAGE = """\
let
  pkgs = import <nixpkgs> {{ }};
  heavy = builtins.foldl' (a: i: a + builtins.stringLength (builtins.toString i)) 0
    (builtins.genList (x: x) {work});
  everything = builtins.foldl' (a: n: a + pkgs."p${{toString n}}".v) 0
    (builtins.genList (x: x) {files});
in {{
  img0 = derivation {{
    name = "img0"; system = "x86_64-linux"; builder = "/bin/sh";
    h = toString heavy; e = toString everything;
  }} // {{ imageName = "registry.example.com/team/img0"; }};
}}
"""
MONOREPO_IMAGE = """\
let
  heavy = builtins.foldl' (a: i: a + builtins.stringLength (builtins.toString i)) 0
    (builtins.genList (x: x) {work});
in {{
  image = derivation {{
    name = "img{i}"; system = "x86_64-linux"; builder = "/bin/sh"; src = ./src;
    h = toString heavy;
  }} // {{ imageName = "registry.example.com/team/img{i}"; }};
}}
"""


def commit_all(repo: Path, message: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    for command in (["git", "add", "-A"], ["git", "commit", "-qm", message]):
        subprocess.run(command, cwd=repo, check=True, env=env)


def counting_path(root: Path) -> tuple[dict[str, str], Path]:
    """An environment whose nix and nix-instantiate log each start, and that log."""
    log = root / "nix-starts.log"
    bin_dir = root / "counting-bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("nix", "nix-instantiate"):
        real = shutil.which(tool)
        (bin_dir / tool).write_text(f'#!/bin/sh\necho {tool} >> "{log}"\nexec {real} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def nix_starts(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
    log.unlink(missing_ok=True)
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    return len(log.read_text().split()) if log.exists() else 0


def make_monorepo(root: Path, images: int, work: int) -> Path:
    """One image per Nix file, each with its own source folder."""
    repo = root / "monorepo"
    config = ["images:"]
    for i in range(images):
        (repo / f"img{i}/src").mkdir(parents=True)
        (repo / f"img{i}/src/main.go").write_text(f"package img{i}\n")
        (repo / f"img{i}/default.nix").write_text(MONOREPO_IMAGE.format(work=work, i=i))
        config += [f"  - name: registry.example.com/team/img{i}", f"    nix: img{i}",
                   "    attr: image"]
    (repo / ".nix-tag-check.yaml").write_text("\n".join(config) + "\n")
    (repo / "deploy").mkdir()
    for i in range(images):
        (repo / f"deploy/svc{i}.yaml").write_text(
            MANIFEST.format(i=i, image=f"registry.example.com/team/img{i}:stale"))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    commit_all(repo, "monorepo")
    return repo


def make_stand_in(root: Path, files: int, work: int) -> tuple[Path, dict[str, str]]:
    """A nixpkgs-shaped search path entry (files importing each other) and a repository."""
    pkgs = root / "stand-in-nixpkgs"
    (pkgs / "by-number").mkdir(parents=True)
    (pkgs / "default.nix").write_text(PKGS_DEFAULT.format(files=files))
    for n in range(files):
        (pkgs / f"by-number/p{n}.nix").write_text(PKG_FILE.format(n=n, half=n // 2))
    repo = root / "stand-in-repo"
    repo.mkdir()
    (repo / "default.nix").write_text(STAND_IN_IMAGE.format(work=work, files=files))
    (repo / ".nix-tag-check.yaml").write_text(
        "images:\n  - name: registry.example.com/team/img0\n    nix: default.nix\n"
        "    attr: img0\n")
    (repo / "deploy.yaml").write_text(
        MANIFEST.format(i=0, image="registry.example.com/team/img0:stale"))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    commit_all(repo, "stand-in")
    return repo, {**os.environ, "NIX_PATH": f"nixpkgs={pkgs}"}


def incremental_rows(root: Path, work: int, repeat: int) -> list[str]:
    """Section 4: what a commit costs when it touches no input, or one file's inputs."""
    out = ["", "## 4. Commits that touch little", "",
           "The cache is filled by one run, then a commit changes one thing and the tool runs "
           "again. Nix processes are counted by wrappers on PATH.", "",
           "| case | tool s | Nix processes | files re-evaluated | verdict |",
           "|---|---|---|---|---|"]
    env, log = counting_path(root)
    repo = root / "repo-n8-m10-e1"
    nix_starts([*TOOL], repo, env, log)  # fill the cache with these Nix binaries
    (repo / "README.md").write_text("docs nobody's image reads\n")
    commit_all(repo, "docs")
    starts = nix_starts([*TOOL], repo, env, log)
    seconds = median_seconds(lambda: subprocess.run([*TOOL], cwd=repo, env=env,
                                                    capture_output=True), repeat)
    out.append(f"| edit a file no image reads (8 images, 1 file) | {seconds:.3f} | {starts} | "
               f"0 | {'PASS' if starts == 0 else 'FAIL'} (goal: 0 Nix processes) |")
    mono = make_monorepo(root, 20, max(1, work // 20))
    nix_starts([*TOOL], mono, env, log)
    (mono / "img7/src/main.go").write_text("package img7 // changed\n")
    commit_all(mono, "one service")
    log.unlink(missing_ok=True)
    started = time.perf_counter()
    result = subprocess.run([*TOOL, "-v"], cwd=mono, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    evaluated = result.stderr.count("evaluated with Nix")
    starts = len(log.read_text().split()) if log.exists() else 0
    log.unlink(missing_ok=True)
    out.append(f"| monorepo, 20 images in 20 files, one image's source changes | {seconds:.3f} | "
               f"{starts} | {evaluated} | {'PASS' if evaluated == 1 else 'FAIL'} "
               "(goal: 1 file re-evaluated) |")
    return out


def stand_in_rows(root: Path, work: int, repeat: int, files: int) -> list[str]:
    """Section 5: the cost of tracking inputs where it grows (a nixpkgs-shaped search path)."""
    repo, env = make_stand_in(root, files, work)
    raw_command = ["nix-instantiate", "--eval", "--strict", "--json", "-A", "img0.outPath",
                   str(repo / "default.nix")]

    def cold() -> None:
        shutil.rmtree(repo / ".git/nix-tag-check", ignore_errors=True)
        subprocess.run([*TOOL], cwd=repo, env=env, capture_output=True, check=False)

    raw = median_seconds(
        lambda: subprocess.run(raw_command, cwd=repo, env=env, capture_output=True), repeat)
    tool = median_seconds(cold, repeat)
    return ["", "## 5. Uncached tool / raw Nix with a nixpkgs-shaped search path", "",
            f"`<nixpkgs>` is a stand-in of {files} `.nix` files importing each other through a "
            "`NIX_PATH` entry; the image forces all of them. The tool runs with an empty cache "
            "(the key is computed, Nix runs, the entry is stored).", "",
            "| files | raw Nix s | tool s | ratio | verdict |", "|---|---|---|---|---|",
            f"| {files} | {raw:.3f} | {tool:.3f} | {tool / raw:.2f} | "
            f"{verdict(tool / raw, 1.3)} |"]


SHARED_NIXPKGS = """\
{{ }}:
let
  file = n: ./by-number + "/p${{toString n}}.nix";
  self = builtins.listToAttrs (builtins.genList
    (n: {{ name = "p${{toString n}}"; value = import (file n) self; }}) {files});
  heavy = builtins.foldl' (a: i: a + builtins.stringLength (builtins.toString i)) 0
    (builtins.genList (x: x) {work});
  everything = builtins.foldl' (a: n: a + self."p${{toString n}}".v) 0
    (builtins.genList (x: x) {files});
in self // {{ inherit heavy everything; }}
"""
SHARED_SERVICE = """\
let pkgs = import ../nix/pkgs.nix; in
{{
  image = derivation {{
    name = "svc{i}"; system = "x86_64-linux"; builder = "/bin/sh"; src = ./src;
    h = toString pkgs.heavy; e = toString pkgs.everything;
  }} // {{ imageName = "registry.example.com/team/svc{i}"; }};
}}
"""


def make_services(root: Path, services: int, work: int, files: int,
                  opt_out: bool = False) -> tuple[Path, dict[str, str]]:
    """`svcN/default.nix` each importing `nix/pkgs.nix`, which is `import <nixpkgs> { }`, with
    a costly nixpkgs stand-in (files importing each other, and a shared genList) on NIX_PATH."""
    pkgs = root / f"services-nixpkgs-{files}-{work}"
    if not pkgs.exists():
        (pkgs / "by-number").mkdir(parents=True)
        (pkgs / "default.nix").write_text(SHARED_NIXPKGS.format(files=files, work=work))
        for n in range(files):
            (pkgs / f"by-number/p{n}.nix").write_text(PKG_FILE.format(n=n, half=n // 2))
    repo = root / f"services-{services}{'-opted-out' if opt_out else ''}"
    (repo / "nix").mkdir(parents=True)
    (repo / "nix/pkgs.nix").write_text("import <nixpkgs> { }\n")
    (repo / "deploy").mkdir()
    config = ["images:"]
    for i in range(services):
        (repo / f"svc{i}/src").mkdir(parents=True)
        (repo / f"svc{i}/src/main.go").write_text(f"package svc{i}\n")
        (repo / f"svc{i}/default.nix").write_text(SHARED_SERVICE.format(i=i))
        config += [f"  - name: registry.example.com/team/svc{i}", f"    nix: svc{i}",
                   "    attr: image", *(["    checkout-dependent: true"] if opt_out else [])]
        (repo / f"deploy/svc{i}.yaml").write_text(
            MANIFEST.format(i=i, image=f"registry.example.com/team/svc{i}:stale"))
    (repo / ".nix-tag-check.yaml").write_text("\n".join(config) + "\nfiles: [deploy/*.yaml]\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    commit_all(repo, "services")
    return repo, {**os.environ, "NIX_PATH": f"nixpkgs={pkgs}"}


def measured(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall-clock seconds, CPU seconds and the peak resident MiB of the largest process of one
    run (the kernel's account of the child and of the children it waited for)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return (time.perf_counter() - started, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024)


def tune_services_work(root: Path, files: int, target: float) -> int:
    """The shared work that makes one raw evaluation of 8 services cost `target` CPU seconds
    (CPU, not wall-clock: on a loaded machine the wall clock would make the stand-in small)."""
    work = 1_000_000
    for attempt in range(5):
        repo, env = make_services(root / f"tune-services{attempt}", 8, work, files)
        expression = "[ " + " ".join(f"(import {repo}/svc{i}).image.outPath"
                                     for i in range(8)) + " ]"
        cpu = measured(["nix-instantiate", "--eval", "--strict", "--json", "-E", expression],
                       repo, env)[1]
        if abs(cpu - target) < 0.1 * target:
            break
        work = int(work * target / max(cpu, 0.01))
    return work


def shared_import_rows(root: Path, target: float, repeat: int, counts: tuple[int, ...],
                       files: int) -> list[str]:
    """Section 9: N service files sharing one costly import, evaluated uncached."""
    work = tune_services_work(root, files, target)
    out = ["", "## 11. Services sharing one import, uncached / one raw `nix-instantiate`", "",
           "`svcN/default.nix` each `import ../nix/pkgs.nix`, which is `import <nixpkgs> { }`: "
           f"a stand-in of {files} files importing each other and the shared genList on "
           "`NIX_PATH`, which every image forces (it costs most of the evaluation, as "
           "nixpkgs does). Raw Nix is one `nix-instantiate --eval --strict` of every image's "
           "output path. The tool starts with an empty cache (key computed, Nix run, entries "
           "stored): one Nix process for every file, each file also evaluated in another "
           "clone (another path, folder name, .git; `nix/pkgs.nix` shared with it), since "
           "`src = ./src` can see where it lies. `opted out` is the same with "
           "`checkout-dependent: true` on every image (no second evaluation); `a process per "
           "file` is raw Nix once per file, as many at once as there are cores (what the tool "
           "did before; one run). Raw Nix, the tool and the opted-out tool take turns; "
           f"medians. The shared work (genList of {work}) is tuned so that raw Nix costs "
           f"{target} s of CPU. CPU is user and system time of the run and its children; "
           "memory is the peak resident size of the largest process of a run. The tool runs "
           "from compiled bytecode, as an installed package does (PYTHONDONTWRITEBYTECODE is "
           "dropped for it, and a first run compiles).", "",
           "| files N | raw s | tool s | ratio | verdict | raw CPU s | tool CPU s | ratio "
           "| opted out CPU s | a process per file s | raw MiB | tool MiB | ratio | verdict |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    import concurrent.futures

    for n in counts:
        repo, env = make_services(root, n, work, files)
        plain, _ = make_services(root, n, work, files, opt_out=True)
        expression = "[ " + " ".join(f"(import {repo}/svc{i}).image.outPath"
                                     for i in range(n)) + " ]"
        raw_command = ["nix-instantiate", "--eval", "--strict", "--json", "-E", expression]
        singles = [["nix-instantiate", "--eval", "--strict", "--json", "-A", "image.outPath",
                    str(repo / f"svc{i}/default.nix")] for i in range(n)]

        compiled = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}

        def cold(where: Path, env: dict[str, str] = compiled) -> tuple[float, float, float]:
            shutil.rmtree(where / ".git/nix-tag-check", ignore_errors=True)
            return measured([*TOOL], where, env)

        def one(command: list[str], repo: Path = repo, env: dict[str, str] = env) -> None:
            subprocess.run(command, cwd=repo, env=env, capture_output=True, check=False)

        def per_file(singles: list[list[str]] = singles) -> None:
            with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                list(pool.map(one, singles))

        raws, tools, opted = [], [], []
        cold(plain)  # compiles the tool's bytecode
        for _ in range(repeat):
            raws.append(measured(raw_command, repo, env))
            tools.append(cold(repo))
            opted.append(cold(plain)[1])
        each = median_seconds(per_file, 1)
        raw_s, raw_cpu, raw_mib = (statistics.median(x) for x in zip(*raws, strict=True))
        tool_s, tool_cpu, tool_mib = (statistics.median(x) for x in zip(*tools, strict=True))
        out.append(f"| {n} | {raw_s:.3f} | {tool_s:.3f} | {tool_s / raw_s:.2f} | "
                   f"{verdict(tool_s / raw_s, 1.3)} | {raw_cpu:.3f} | {tool_cpu:.3f} | "
                   f"{tool_cpu / raw_cpu:.2f} | "
                   f"{statistics.median(opted):.3f} | {each:.3f} | {raw_mib:.0f} | "
                   f"{tool_mib:.0f} | {tool_mib / raw_mib:.2f} | "
                   f"{verdict(tool_mib / raw_mib, 1.3)} |")
    return out


def raw_nix(repo: Path, images: int) -> list[str]:
    """The same expressions, evaluated by Nix alone: every image's output path, one process."""
    attrs = [arg for i in range(images) for arg in ("-A", f"img{i}.outPath")]
    return ["nix-instantiate", "--eval", "--strict", "--json", *attrs, str(repo / "default.nix")]


def tune_work(root: Path, target: float) -> int:
    """The amount of shared work that makes one raw evaluation last about `target` seconds."""
    work = 1_000_000
    for attempt in range(5):
        repo = make_repo(root / f"tune{attempt}", 1, 1, work, 1)
        seconds = median_seconds(lambda r=repo: run(raw_nix(r, 1), r), 1)
        if abs(seconds - target) < 0.1 * target:
            break
        work = int(work * target / max(seconds, 0.01))
    return work


def expected_refs(repo: Path) -> list[str]:
    return run([*TOOL, "--print-expected"], repo).stdout.split()


def machine() -> list[str]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nix = subprocess.run(["nix-instantiate", "--version"], capture_output=True, text=True)
    import ruamel.yaml

    try:
        from ruamel.yaml import YAML

        c_parser = YAML(typ="safe", pure=False).Parser.__name__ == "CParser"
    except Exception:
        c_parser = False
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {cpu}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()}, {nix.stdout.strip()}, ruamel.yaml "
        f"{ruamel.yaml.__version__} ({'C parser' if c_parser else 'pure-Python parser'})",
    ]


def verdict(ratio: float, goal: float | None) -> str:
    if goal is None:
        return "(no goal)"
    return f"{'PASS' if ratio <= goal else 'FAIL'} (goal <= {goal})"


def row(name: str, base: float, value: float, unit: str, goal: float | None) -> str:
    ratio = value / base if base else float("inf")
    return f"| {name} | {base:.3f} | {value:.3f} {unit} | {ratio:.3f} | {verdict(ratio, goal)} |"


def scan_rows(root: Path, work: int, repeat: int, m: int, big: int) -> list[str]:
    """Section 6: a run costs what changed (scan cache, memory, --fix, start-up)."""
    out = ["", "## 6. A scan costs what changed", "",
           f"N = 8 images, M = {m} manifests that all reference one, evaluation cached. A first "
           "run has no scan cache; the second finds every manifest unchanged; then one manifest "
           "is edited. `--fix` and the check it is compared with are both first runs on the "
           "same stale files (restored with `git checkout` between runs). The start-up row is "
           "a run with nothing to do (10 manifests, both caches filled) as the user meets it: "
           "`pre-commit run --all-files` of this hook, installed by pre-commit from this "
           "checkout's HEAD as a user's `repo:` entry installs it, against the same client "
           "running a hook whose entry is `true` (`language: system`, `always_run`), and against "
           "the floor: a `language: python` hook, in an environment pre-commit makes as it "
           "makes this tool's, that only imports what any run imports from outside the tool. "
           "For reference, the cached run against `python -c pass` of the "
           "same interpreter. Peak memory is the kernel's "
           f"maximum resident size of a first run over {big} manifests.", "",
           "| row | base s | value | ratio | verdict |", "|---|---|---|---|---|"]
    repo = root / f"repo-n8-m{m}-e1"
    if not repo.exists():
        repo = make_repo(root, 8, m, work, 1)
    run([*TOOL], repo)
    first = median_seconds(first_run(TOOL, repo), repeat)
    run([*TOOL], repo)
    second = median_seconds(lambda: run([*TOOL], repo), repeat)
    out.append(row("second run, nothing changed / first run", first, second, "s", 0.15))
    edited = repo / "deploy" / "team7" / "svc7.yaml"

    def edit_one() -> None:
        text = edited.read_text()
        edited.write_text(text.replace("replicas: 2", "replicas: 3") if "replicas: 2" in text
                          else text.replace("replicas: 3", "replicas: 2"))
        run([*TOOL], repo)

    one = median_seconds(edit_one, repeat)
    out.append(row("one manifest edited / first run", first, one, "s", 0.15))
    naive = median_seconds(lambda: run([sys.executable, "-c", NAIVE, str(repo / "deploy"),
                                        *expected_refs(repo)], repo), repeat)
    out.append(row("first run / naive ruamel.yaml loop", naive, first, "s", 0.7))

    def fix() -> None:
        run(["git", "checkout", "-q", "--", "deploy"], repo)
        clear_scan_cache(repo)
        started = time.perf_counter()
        run([*TOOL, "--fix"], repo)
        fix_times.append(time.perf_counter() - started)

    fix_times: list[float] = []
    for _ in range(repeat):
        fix()
    run(["git", "checkout", "-q", "--", "deploy"], repo)
    fixing = statistics.median(fix_times)
    out.append(row("`--fix` / check, all stale", first, fixing, "s", 1.5))
    small = root / "repo-n8-m10-e1"
    if not small.exists():
        small = make_repo(root, 8, 10, work, 1)
    run([*TOOL, "--fix"], small)
    run([*TOOL], small)
    out += hook_rows(small, repeat)
    big_repo = make_repo(root, 8, big, work, 1)
    run([*TOOL], big_repo)
    clear_scan_cache(big_repo)
    peak = peak_rss_mib(TOOL, big_repo)
    verdict_text = f"{'PASS' if peak <= 100 else 'FAIL'} (goal <= 100 MiB)"
    out.append(f"| peak memory, first run over {big} manifests | | {peak:.1f} MiB | | "
               f"{verdict_text} |")
    return out


STREAM_DOCUMENT = """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm{i}
  labels: {{app: svc{i}, tier: backend}}
data:
  image: {image}
  note: "config map {i} of a long stream, one of many"
"""
# A colon inside a flow scalar: libyaml refuses the document, the YAML 1.2 parser reads it.
FLOW_COLON_DOCUMENT = """\
---
apiVersion: v1
kind: Pod
metadata: {{name: flow-colon}}
spec: {{containers: [{{name: app, image: {image}}}]}}
"""
YAML12_WHOLE = """\
import sys
from ruamel.yaml import YAML
for _ in YAML(typ="safe", pure=True).parse(open(sys.argv[1], encoding="utf-8").read()):
    pass
"""


def wall_and_cpu(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user and system, of the run and the git it waited for)
    of one run: the CPU time hardly moves when other work shares the machine."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def fallback_rows(root: Path, work: int, repeat: int, documents: int) -> list[str]:
    """Section 8: one document libyaml refuses, in a long stream: only it is read again."""
    stale = "registry.example.com/team/img{n}:stale"
    plain = "".join(STREAM_DOCUMENT.format(
        i=i, image=stale.format(n=i // 10 % 8) if i % 10 == 0 else f"ghcr.io/other/svc{i}:v1")
        for i in range(documents))
    middle = plain.index("---\n", len(plain) // 2)
    refused = plain[:middle] + FLOW_COLON_DOCUMENT.format(image=stale.format(n=0)) + plain[middle:]
    repos = {}
    for name, text in (("without", plain), ("with", refused)):
        repos[name] = make_repo(root / f"fallback-{name}", 8, 0, work, 1)
        (repos[name] / "deploy" / "stream.yaml").write_text(text)
        commit_all(repos[name], "stream")
        run([*TOOL], repos[name])  # the evaluation cache
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(repeat):  # in turns, so that a slower spell of the machine hits both
        for name, repo in repos.items():
            clear_scan_cache(repo)
            samples.setdefault((name, "check"), []).append(wall_and_cpu(TOOL, repo))
            clear_scan_cache(repo)
            samples.setdefault((name, "fix"), []).append(wall_and_cpu([*TOOL, "--fix"], repo))
            if run([*TOOL], repo).returncode != 0:
                return ["", f"## 8. YAML 1.2 fallback: `--fix` left stale tags ({name} the "
                        "refused document): measurement invalid"]
            run(["git", "checkout", "-q", "--", "deploy"], repo)
    stream = str(repos["with"] / "deploy" / "stream.yaml")
    whole = [wall_and_cpu([sys.executable, "-c", YAML12_WHOLE, stream], root)
             for _ in range(repeat)]

    def median(values: list[tuple[float, float]], which: int) -> float:
        return statistics.median(value[which] for value in values)

    def fallback_row(name: str, base: list[tuple[float, float]],
                     value: list[tuple[float, float]], goal: float | None) -> str:
        wall = [median(base, 0), median(value, 0)]
        cpu = [median(base, 1), median(value, 1)]
        return (f"| {name} | {wall[0]:.3f} | {wall[1]:.3f} | {wall[1] / wall[0]:.3f} | "
                f"{cpu[0]:.3f} | {cpu[1]:.3f} | {cpu[1] / cpu[0]:.3f} | "
                f"{verdict(wall[1] / wall[0], goal)} |")

    return ["", "## 8. YAML 1.2 fallback: one document libyaml refuses / none", "",
            f"One file of {documents} documents ({len(plain) / 1e6:.1f} MB, a ConfigMap each; "
            "one in ten references a configured image with a stale tag), and the same file "
            "with one more document in the middle that libyaml refuses: a colon inside a flow "
            "scalar, `{image: registry.example.com/team/img0:stale}`, so that `--fix` edits "
            "it too (its proof cannot be read from the text around it). N = 8 images, "
            "evaluation cached, no scan cache (a first run); `--fix` starts from the stale "
            "file each time. Wall-clock and CPU seconds (the tool and the git it runs), "
            "medians, the two files in turns; the verdict is on wall-clock time. The last row "
            "is what reading the whole file with the YAML 1.2 parser costs alone (a Python "
            "process and the parse): what check, and again the proof of `--fix`, paid on top "
            "before.", "",
            "| row | base s | value s | ratio | base CPU s | value CPU s | CPU ratio | verdict |",
            "|---|---|---|---|---|---|---|---|",
            fallback_row("check, with the refused document / without",
                         samples["without", "check"], samples["with", "check"], 1.5),
            fallback_row("`--fix`, with the refused document / without",
                         samples["without", "fix"], samples["with", "fix"], 1.5),
            fallback_row("the whole file read by the YAML 1.2 parser alone / check without",
                         samples["without", "check"], whole, None)]
TREE_IMAGE = """\
{
  image = derivation {
    name = "img"; system = "x86_64-linux"; builder = "/bin/sh"; src = ./src;
  } // { imageName = "registry.example.com/team/img"; };
}
"""
# The same image; `dirOf` may climb anywhere, so its private tree holds every tracked file.
WHOLE_IMAGE = "{ image = (import ./default.nix).image; climbs = dirOf ./src; }\n"


def make_tree_repo(root: Path, name: str, files: int, blob_mib: int = 0) -> Path:
    """`files` tracked files in 100 folders, and one image that reads `./src` (10 files)."""
    repo = root / name
    (repo / "src").mkdir(parents=True)
    for i in range(10):
        (repo / f"src/f{i}.go").write_text(f"package main // {i}\n")
    if blob_mib:
        (repo / "src/blob.bin").write_bytes(os.urandom(blob_mib << 20))
    for i in range(files):
        folder = repo / f"other/d{i % 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.txt").write_text(f"{i}\n")
    (repo / "default.nix").write_text(TREE_IMAGE)
    (repo / "whole.nix").write_text(WHOLE_IMAGE)
    for config, nix in ((".nix-tag-check.yaml", "default.nix"), ("whole.yaml", "whole.nix")):
        (repo / config).write_text("images:\n  - name: registry.example.com/team/img\n"
                                   f"    nix: {nix}\n    attr: image\nfiles: [deploy.yaml]\n")
    (repo / "deploy.yaml").write_text("image: registry.example.com/team/img:stale\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    commit_all(repo, "tree")
    return repo


def link_tree_seconds(repo: Path, paths: list[str]) -> float:
    """The tree as it was made before: a hard link to every path (it changes the originals'
    ctime and link count)."""
    dest = repo.parent / f"{repo.name}-links"
    started = time.perf_counter()
    for rel in paths:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(repo / rel, dest / rel)
    shutil.rmtree(dest)
    return time.perf_counter() - started


def copy_tree_seconds(repo: Path, paths: list[str]) -> float:
    """The tree as it is made now (copies, reflinks where the file system has them)."""
    from nix_tag_check.evaluate.tracked_tree import View, private_tree

    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout.split("\0")
    view = View.of(str(repo), frozenset(filter(None, tracked)))
    started = time.perf_counter()
    with private_tree(view, frozenset(paths), str(repo.parent / f"{repo.name}-trees")):
        pass
    return time.perf_counter() - started


Timed = tuple[Callable[[], object], Callable[[], object]]  # (untimed setup, timed action)


def interleaved(actions: dict[str, Timed], repeat: int) -> dict[str, float]:
    """The median of each action, run in turns: on a shared machine a burst of load then
    weighs on every action alike instead of on one."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeat):
        for name, (setup, action) in actions.items():
            setup()
            started = time.perf_counter()
            action()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def tree_runs(repo: Path, repeat: int) -> dict[str, float]:
    """Raw Nix, the tool's own start (the same run with the evaluation cached, the scan not:
    an uncached run has no scan cache either), and the tool uncached two ways."""
    raw_command = ["nix-instantiate", "--eval", "--strict", "--json", "-A", "image.outPath",
                   str(repo / "default.nix")]
    cache = repo / ".git/nix-tag-check"
    run([*TOOL], repo)
    if "cached (no input changed)" not in run([*TOOL, "-v"], repo).stderr:
        raise SystemExit(f"{repo}: the cache was not used: the start cannot be measured")
    kept = repo.parent / f"{repo.name}-filled-cache"
    shutil.copytree(cache, kept)

    def filled() -> None:
        shutil.rmtree(cache)
        shutil.copytree(kept, cache)
        clear_scan_cache(repo)

    def nothing() -> None:
        pass

    tool = lambda: run([*TOOL], repo)  # noqa: E731
    return interleaved({
        "raw": (nothing, lambda: run(raw_command, repo)), "start": (filled, tool),
        "no-cache": (nothing, lambda: run([*TOOL, "--no-cache"], repo)),
        "cold": (lambda: shutil.rmtree(cache), tool),
    }, repeat)


def private_tree_rows(root: Path, repeat: int, files: int, blob_mib: int) -> list[str]:
    """Section 8: the private tree holds what the evaluation reaches, copied."""
    out = ["", "## 10. The private tree of what the evaluation reaches", "",
           f"{files} tracked files; the image reads `./src` (10 files). The tool's own start is "
           "the same run with nothing to evaluate: the same command with the evaluation cache "
           "filled and no scan cache, as the uncached runs have none (it lists Git, computes "
           "the key, reads the entry, checks the manifest). Uncached runs: `--no-cache`, and a "
           "first run with an empty cache (as CI's; it also stores the entry). The runs take "
           "turns. The third row is the same image with `dirOf` beside it: the reach cannot "
           "bound it, so its tree holds every tracked file (what every run cost before).",
           "", "| row | raw + start s | tool s | ratio | verdict |", "|---|---|---|---|---|"]
    repo = make_tree_repo(root, "tree-repo", files)
    times = tree_runs(repo, 2 * repeat + 1)
    # once: it copies every file (minutes on a slow disk)
    times["whole"] = median_seconds(
        lambda: run([*TOOL, "--no-cache", "--config", "whole.yaml"], repo), 1)
    base = times["raw"] + times["start"]
    out.append(row("uncached (`--no-cache`) / raw + start", base, times["no-cache"], "s", 1.3))
    out.append(row("uncached, empty cache / raw + start", base, times["cold"], "s", 1.3))
    out.append(row("every tracked file in the tree / raw + start", base, times["whole"], "s",
                   None))
    blob = make_tree_repo(root, "blob-repo", 100, blob_mib)
    blob_times = tree_runs(blob, 2 * repeat + 1)
    blob_base = blob_times["raw"] + blob_times["start"]
    out.append(row(f"a {blob_mib} MiB file under `./src`, `--no-cache` / raw + start",
                   blob_base, blob_times["no-cache"], "s", 1.3))
    out += ["", f"Raw Nix {times['raw']:.3f} s and the tool's start {times['start']:.3f} s "
            f"({blob_times['raw']:.3f} s and {blob_times['start']:.3f} s with the "
            f"{blob_mib} MiB file)."]
    out += ["", "Copies against the hard links the tree was made of before (they change the "
            "originals' ctime and link count, which the scan cache trusts): the tree made and "
            "removed, in this process.", "",
            "| tree | links s | copies s | copies / links | verdict |", "|---|---|---|---|---|"]
    every = sorted(filter(None, subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, capture_output=True, text=True, check=True,
    ).stdout.split("\0")))
    reached = [rel for rel in every if rel.startswith("src/")] + ["default.nix"]
    shapes = [(f"every tracked file ({len(every)})", repo, every),
              ("what `./src` reaches (11 files)", repo, reached),
              (f"`./src` with a {blob_mib} MiB file", blob, [
                  r for r in every if r.startswith("src/")] + ["default.nix", "src/blob.bin"])]
    for name, where, paths in shapes:
        repeats = 1 if len(paths) > 1000 else repeat
        links = statistics.median(link_tree_seconds(where, paths) for _ in range(repeats))
        copies = statistics.median(copy_tree_seconds(where, paths) for _ in range(repeats))
        out.append(f"| {name} | {links:.3f} | {copies:.3f} | {copies / links:.1f} | "
                   f"{verdict(copies / links, None)} |")
    return out


def registry_section(root: Path, work: int, repeat: int) -> list[str]:
    """The registry half: `--registry` against the `skopeo inspect` loop it replaces."""
    if not (shutil.which("docker-registry") and shutil.which("skopeo")):
        return ["", "## 7. Registry half: skipped (needs docker-registry and skopeo)"]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from registry_server import Registry, oci_layout

    server = Registry(root / "registry").start()
    try:
        repo = make_repo(root / "registry-repo", 8, 10, work, 1)
        for path in [repo / ".nix-tag-check.yaml", *repo.glob("deploy/*/*.yaml")]:
            path.write_text(path.read_text().replace("registry.example.com", server.host))
        run([*TOOL, "--fix"], repo)  # every reference up to date: all of them are asked
        layout = oci_layout(root / "layout")
        for ref in expected_refs(repo):
            server.push(layout, ref.split("/", 1)[1].rsplit(":", 1)[0], ref.rsplit(":", 1)[1])
        written = [line.split("image: ", 1)[1] for path in sorted(repo.glob("deploy/*/*.yaml"))
                   for line in path.read_text().splitlines() if "image: " in line]
        loop = [["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"]
                for ref in written]
        if run([*TOOL, "--registry"], repo).returncode != 0:
            return ["", "## 7. Registry half: `--registry` did not pass: measurement invalid"]
        plain = median_seconds(lambda: run([*TOOL], repo), repeat)
        gate = median_seconds(lambda: run([*TOOL, "--registry"], repo), repeat)
        chain = median_seconds(lambda: [run(c, repo) for c in loop], repeat)
    finally:
        server.stop()
    return ["", "## 7. Registry half: `--registry` / a `skopeo inspect` per reference", "",
            f"N = 8 images, {len(written)} up-to-date references, cached evaluation, a local "
            "registry on 127.0.0.1. The loop is the old gate's `skopeo inspect` of every "
            "written reference, one after another; the registry part is the difference "
            "between the tool's runs with and without `--registry`.", "",
            "| tool s | tool --registry s | registry part s | skopeo loop s | part / loop | "
            "verdict |", "|---|---|---|---|---|---|",
            f"| {plain:.3f} | {gate:.3f} | {gate - plain:.3f} | {chain:.3f} | "
            f"{(gate - plain) / chain:.3f} | {verdict((gate - plain) / chain, None)} |"]


HOOK = """repos:
  - repo: local
    hooks:
      - id: {id}
        name: {id}
        entry: '{entry}'
        language: system
        always_run: true
        pass_filenames: false
"""  # the entry quoted: a bare `true` is YAML's boolean, a config error pre-commit stops at
FLOOR_HOOK = """repos:
  - repo: local
    hooks:
      - id: floor
        name: floor
        entry: python -c '{code}'
        language: python
        additional_dependencies: ["ruamel.yaml=={version}"]
        always_run: true
        pass_filenames: false
"""  # in an environment pre-commit makes, as it makes this tool's
INSTALLED_HOOK = """repos:
  - repo: {repo}
    rev: {rev}
    hooks:
      - id: nix-tag-check
"""
# What the stack asks of any run before the tool's own code: argparse for the command line,
# ruamel.yaml for the config, subprocess for git, json and hashlib for the caches. A hook that
# does only this is as fast as a Python hook reading a YAML config can be.
FLOOR = "import argparse, hashlib, json, subprocess, ruamel.yaml"


def hook_configs(repo: Path) -> dict[str, Path] | str:
    """pre-commit configs of a no-op hook, the floor hook and this tool's own hook, installed
    by pre-commit from this checkout's HEAD as a user's `repo:` entry installs it; or why
    not."""
    tool = Path(__file__).resolve().parent.parent
    head = run(["git", "rev-parse", "HEAD"], tool)
    if head.returncode != 0:
        return "this checkout is not a Git repository"
    texts = {"noop": HOOK.format(id="noop", entry="true"),
             "floor": FLOOR_HOOK.format(code=FLOOR, version=importlib.metadata.version(
                 "ruamel.yaml")),
             "nix-tag-check": INSTALLED_HOOK.format(repo=tool, rev=head.stdout.strip())}
    configs = {}
    for name, text in texts.items():
        configs[name] = repo.parent / f"{repo.name}-{name}.yaml"
        configs[name].write_text(text)
        done = run([*PRE_COMMIT, str(configs[name])], repo)  # the first run installs
        if done.returncode != 0 or "Passed" not in done.stdout:
            return f"the {name} hook did not pass: {(done.stdout + done.stderr).strip()[-200:]}"
    return configs


PRE_COMMIT = [sys.executable, "-m", "pre_commit", "run", "--all-files", "-c"]


def hook_rows(repo: Path, repeat: int) -> list[str]:
    """The hook with nothing to do, as a pre-commit user meets it, against a no-op hook and
    against the floor any Python hook that reads a YAML config stands on."""
    run([*TOOL, "--fix"], repo)
    run([*TOOL], repo)
    bare = median_seconds(lambda: run([sys.executable, "-c", "pass"], repo), 5 * repeat)
    noop = median_seconds(lambda: run([*TOOL], repo), 5 * repeat)
    out = [row("for reference: cached no-op run / `python -c pass`", bare, noop, "s", None)]
    configs = (hook_configs(repo) if importlib.util.find_spec("pre_commit") is not None
               else "no pre-commit")
    if isinstance(configs, str):
        return [*out, f"| this hook / a no-op hook under pre-commit | skipped: {configs} "
                "| | | |"]
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(5 * repeat):  # in turn, so a drift of the machine's speed hits all three
        for name, config in configs.items():
            times[name].append(median_seconds(lambda c=config: run([*PRE_COMMIT, str(c)], repo),
                                              1))
    noop_hook, floor, ours = (statistics.median(times[name])
                              for name in ("noop", "floor", "nix-tag-check"))
    return [*out,
            row("floor: a hook that only imports argparse, hashlib, json, subprocess and "
                "ruamel.yaml / a no-op hook", noop_hook, floor, "s", None),
            row("this hook / the floor hook", floor, ours, "s", None),
            row("this hook / a no-op hook under pre-commit", noop_hook, ours, "s", 1.3)]


DIGEST = ("import time; from nix_tag_check import state; started = time.perf_counter(); "
          "state.tool_identity(); print(time.perf_counter() - started)")


def cache_rows(root: Path, work: int, repeat: int) -> list[str]:
    """Section 8: what the caches' bounds and the tool's content key cost a run."""
    from nix_tag_check.evaluate import store

    full, few = (make_repo(root / name, 8, 10, work, 1) for name in ("bound-full", "bound-few"))
    for repo in (full, few):
        run([*TOOL], repo)
    folder = full / ".git" / "nix-tag-check" / "eval"
    for i in range(store.MAX_ENTRIES):  # the oldest entries of a folder at its bound
        (folder / f"{i:040x}.json").write_bytes(b"x" * 750)
        os.utime(folder / f"{i:040x}.json", (1, 1))
    samples: dict[Path, list[float]] = {full: [], few: []}
    for i in range(repeat):  # in turn, so a drift of the machine's speed hits both
        for repo, times in samples.items():
            with open(repo / "default.nix", "a") as handle:
                handle.write(f"# edit {i}\n")  # a new state: evaluated, written, pruned
            times.append(median_seconds(lambda r=repo: run([*TOOL], r), 1))
    out = ["", "## 9. What the cache bounds and the tool's content key cost", "",
           "N = 8 images, M = 10 manifests. An evaluating run (default.nix edited before each "
           f"run) with {store.MAX_ENTRIES} entries already in the evaluation folder, its bound, "
           "lists the folder once and removes the oldest entry; beside it the same run with a "
           "folder of one entry. The digest row is the content hash of the tool's package "
           "(state.tool_identity, once a process, in both caches' keys) timed in a fresh "
           "process, against a cached run with nothing to do.", "",
           "| row | base s | value | ratio | verdict |", "|---|---|---|---|---|",
           row(f"evaluating run, folder at its bound ({store.MAX_ENTRIES}) / folder of one",
               statistics.median(samples[few]), statistics.median(samples[full]), "s", None)]
    small = make_repo(root / "digest", 8, 10, work, 1)
    run([*TOOL, "--fix"], small)
    run([*TOOL], small)
    noop = median_seconds(lambda: run([*TOOL], small), 5 * repeat)
    digest = statistics.median(
        float(run([sys.executable, "-c", DIGEST], small).stdout) for _ in range(5 * repeat))
    out.append(row("package digest / cached no-op run", noop, digest, "s", None))
    return out


PINNED_SHAPES = {  # how classic repositories pin nixpkgs: (files, what default.nix imports)
    "fetchTarball in default.nix": (
        {}, 'builtins.fetchTarball { url = "https://example.invalid/x"; sha256 = "SHA"; }'),
    "niv (nix/sources.nix + sources.json)": (
        {"nix/sources.json": '{"nixpkgs": {"url": "https://example.invalid/x", "sha256": "SHA",'
                             ' "type": "tarball", "builtin": true}}\n',
         "nix/sources.nix": "let\n  sources = builtins.fromJSON (builtins.readFile ./sources.json);"
                            "\n  fetch = spec: let inherit (builtins) fetchTarball; in "
                            "fetchTarball { inherit (spec) url sha256; };\n"
                            "in builtins.mapAttrs (name: fetch) sources\n"},
        "(import ./nix/sources.nix).nixpkgs"),
    "npins (npins/default.nix + sources.json)": (
        {"npins/sources.json": '{"pins": {"nixpkgs": {"type": "Tarball", "url": '
                               '"https://example.invalid/x", "hash": "SHA"}}, "version": 3}\n',
         "npins/default.nix": "let data = builtins.fromJSON (builtins.readFile ./sources.json);"
                              "\nin builtins.mapAttrs (name: pin: builtins.fetchTarball { "
                              "inherit (pin) url; sha256 = pin.hash; }) data.pins\n"},
        "(import ./npins).nixpkgs"),
}


def pinned_tarball(root: Path) -> str:
    """A tarball put in the store as `source`: its pinned fetch evaluates offline."""
    (root / "pinned-tarball/top").mkdir(parents=True, exist_ok=True)
    (root / "pinned-tarball/top/f").write_text("pinned\n")
    subprocess.run(["tar", "-C", root / "pinned-tarball", "-czf", root / "pinned.tar.gz", "top"],
                   check=True)
    return subprocess.run(["nix-prefetch-url", "--unpack", "--name", "source",
                           f"file://{root / 'pinned.tar.gz'}"], check=True, capture_output=True,
                          text=True).stdout.strip()


def make_pinned_repo(root: Path, name: str, sha: str, work: int) -> Path:
    files, pinned = PINNED_SHAPES[name]
    repo = root / f"pinned-{len(list(root.glob('pinned-?')))}"
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text.replace("SHA", sha))
    (repo / "deploy").mkdir(parents=True, exist_ok=True)
    (repo / "default.nix").write_text(
        f"let nixpkgs = {pinned.replace('SHA', sha)}; in {{ img0 = derivation {{ "
        f"name = \"img\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; src = nixpkgs; cost = "
        f"builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) {work}); }}; }}\n")
    (repo / ".nix-tag-check.yaml").write_text(
        "images:\n  - name: registry.example.com/team/img0\n    nix: default.nix\n"
        "    attr: img0\n")
    (repo / "deploy/app.yaml").write_text("image: registry.example.com/team/img0:0\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    commit_all(repo, "pinned")
    return repo


def pinned_rows(root: Path, work: int, repeat: int) -> list[str]:
    """Section 12: pinned fetches are cached; observing them costs the evaluation little."""
    sha = pinned_tarball(root)
    env, log = counting_path(root)
    out = ["", "## 12. Pinned nixpkgs: the second run, and what observing fetches costs", "",
           "A tarball in the store, fetched by `fetchTarball { url; sha256; }` as a classic "
           "repository, niv and npins pin nixpkgs (the same shared work as section 1). Second "
           "run: the cache filled by a first run (goal: no Nix process). Uncached: eval.nix "
           "loads the repository's files with `scopedImport` to observe every fetch, against "
           "one raw `nix-instantiate --eval` of the same file; no goal, because the tool also "
           "evaluates the file a second time in another clone's place (the file has path "
           "literals: issue 20 §2), and the stand-in work lives in the file itself, where real "
           "nixpkgs, a store path, would be evaluated once for both.", "",
           "| shape | raw Nix s | uncached s | ratio | verdict | second run s | Nix processes "
           "| verdict |", "|---|---|---|---|---|---|---|---|"]
    for name in PINNED_SHAPES:
        repo = make_pinned_repo(root, name, sha, work)
        raw = median_seconds(lambda r=repo: run(raw_nix(r, 1), r), repeat)
        uncached = median_seconds(lambda r=repo: run([*TOOL, "--no-cache"], r), repeat)
        run([*TOOL], repo)
        nix_starts(TOOL, repo, env, log)  # the counting PATH is another Nix: its own entry
        started = nix_starts(TOOL, repo, env, log)
        second = median_seconds(lambda r=repo: run([*TOOL], r), repeat)
        out.append(f"| {name} | {raw:.3f} | {uncached:.3f} | {uncached / raw:.2f} | "
                   f"{verdict(uncached / raw, None)} | {second:.3f} | {started} | "
                   f"{'PASS' if started == 0 else 'FAIL'} (goal: 0) |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--only", choices=["shared-import", "pinned", "hook"],
                        help="run one section only (with the tuning it needs)")
    args = parser.parse_args()
    if args.only:
        return only(args.only, args.quick)
    repeat = 1 if args.quick else 3
    image_counts = (1, 8) if args.quick else (1, 8, 32)
    manifest_counts = (10, 1000) if args.quick else (10, 1000, 10_000)
    root = Path(tempfile.mkdtemp(prefix="nix-tag-check-bench-"))
    out = ["# nix-tag-check benchmark", "",
           f"Produced by `python3 benchmarks/bench.py{' --quick' if args.quick else ''}`.", "",
           *machine()]
    try:
        work = tune_work(root, 0.3 if args.quick else RAW_SECONDS)
        out.append(f"- shared Nix work per evaluation: genList of {work}, tuned so that one raw "
                   f"evaluation takes about {0.3 if args.quick else RAW_SECONDS} s (it stands "
                   "in for importing nixpkgs)")
        out += ["", "## 1. Uncached tool / one raw `nix-instantiate --eval` of the same file",
                "", "M = 10 manifests, `--no-cache`, check mode. Raw Nix evaluates the output "
                "path of every image (`-A img0.outPath -A img1.outPath ...`) in one process.", "",
                "| images N | raw Nix s | tool s | ratio | verdict |", "|---|---|---|---|---|"]
        uncached: dict[int, float] = {}
        for n in image_counts:
            repo = make_repo(root, n, 10, work, 1)
            raw = median_seconds(lambda r=repo, n=n: run(raw_nix(r, n), r), repeat)
            tool = median_seconds(lambda r=repo: run([*TOOL, "--no-cache"], r), repeat)
            uncached[n] = tool
            out.append(f"| {n} | {raw:.3f} | {tool:.3f} | {tool / raw:.2f} | "
                       f"{verdict(tool / raw, 1.3)} |")
        out += ["", "## 2. Cached tool / uncached tool", "",
                "Same repositories; the cache is filled by one run, then reused.", "",
                "| images N | uncached s | cached s | ratio | verdict |", "|---|---|---|---|---|"]
        for n in image_counts:
            repo = root / f"repo-n{n}-m10-e1"
            run([*TOOL], repo)
            if "cached" not in run([*TOOL, "-v"], repo).stderr:
                out.append(f"| {n} | cache was not used: measurement invalid | | | FAIL |")
                continue
            cached = median_seconds(lambda r=repo: run([*TOOL], r), repeat)
            ratio = cached / uncached[n]
            out.append(f"| {n} | {uncached[n]:.3f} | {cached:.3f} | {ratio:.3f} | "
                       f"{verdict(ratio, 0.1)} |")
        out += ["", "## 3. Tool / naive loop that loads every manifest with ruamel.yaml", "",
                "N = 8 images, cached evaluation, no scan cache (a first run: the ratio measures "
                "the scan). The naive loop "
                "is a fresh Python process that loads every manifest with "
                "`YAML(typ='safe').load_all` and walks it for `image` keys. Each manifest is a "
                "Deployment and a Service (40 lines); one in ten references a configured image, "
                "the last row has every manifest reference one.", "",
                "| manifests M | referencing | naive s | tool s | ratio | verdict |",
                "|---|---|---|---|---|---|"]
        rows = [(m, 10) for m in manifest_counts] + [(manifest_counts[-1], 1)]
        for m, every in rows:
            repo = make_repo(root, 8, m, work, every)
            refs = expected_refs(repo)
            run([*TOOL], repo)
            naive_command = [sys.executable, "-c", NAIVE, str(repo / "deploy"), *refs]
            naive = median_seconds(lambda c=naive_command, r=repo: run(c, r), repeat)
            tool = median_seconds(first_run(TOOL, repo), repeat)
            goal = 0.2 if (m == manifest_counts[-1] and every == 10) else None
            goal = 0.7 if (m == manifest_counts[-1] and every == 1) else goal
            share = "1 in 10" if every == 10 else "all"
            out.append(f"| {m} | {share} | {naive:.3f} | {tool:.3f} | {tool / naive:.3f} | "
                       f"{verdict(tool / naive, goal)} |")
        out += incremental_rows(root, work, repeat)
        out += stand_in_rows(root, work, repeat, 1000 if args.quick else 5000)
        out += scan_rows(root, work, repeat, manifest_counts[-1], 5_000 if args.quick else 50_000)
        out += fallback_rows(root, work, repeat, 2_000 if args.quick else 20_000)
        out += registry_section(root, work, repeat)
        out += cache_rows(root, work, repeat)
        out += private_tree_rows(root, repeat, 20_000 if args.quick else 100_000, 50)
        out += shared_import_rows(root, 0.3 if args.quick else RAW_SECONDS, repeat, (8, 32),
                                  1000 if args.quick else 5000)
        out += pinned_rows(root, work, repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(out))
    return 0


def only(section: str, quick: bool) -> int:
    """One section alone: `--only shared-import` (section 11), `--only pinned` (section 12),
    `--only hook` (section 6's start-up rows)."""
    root = Path(tempfile.mkdtemp(prefix="nix-tag-check-bench-"))
    out = ["# nix-tag-check benchmark", "",
           f"Produced by `python3 benchmarks/bench.py{' --quick' if quick else ''} --only "
           f"{section}`.", "", *machine()]
    try:
        if section == "pinned":
            work = tune_work(root, 0.3 if quick else RAW_SECONDS)
            out += pinned_rows(root, work, 1 if quick else 3)
        elif section == "hook":
            out += ["", "## 6. Start-up: the hook with nothing to do", "",
                    "N = 8 images, M = 10 manifests, both caches filled; see section 6 of the "
                    "full run.", "", "| row | base s | value | ratio | verdict |",
                    "|---|---|---|---|---|",
                    *hook_rows(make_repo(root, 8, 10, 1000, 1), 1 if quick else 3)]
        else:
            out += shared_import_rows(root, 0.3 if quick else RAW_SECONDS, 1 if quick else 5,
                                      (8, 32), 1000 if quick else 5000)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
