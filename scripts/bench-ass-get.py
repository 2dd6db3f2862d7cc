#!/usr/bin/env python3
"""Times `ass get` as whole processes (BENCHMARKS.md, issue 13).

usage: scripts/bench-ass-get.py NEW_ASS OLD_ASS MINGET   (env N: variables imported, RUNS)

For each ass binary it makes two vaults (ASS_HOME in a temp dir): a fresh one and one with
2*N+1 earlier audit events (`ass import` of N variables); then it runs `get` on each, and
MINGET (go build ./internal/minget) on the new fresh vault, interleaved RUNS times, and
prints the medians and ratios.
"""
import os, statistics, subprocess, sys, tempfile, time

new, old, minget = sys.argv[1:4]
bins = {"new": new, "before": old}
root = tempfile.mkdtemp(prefix="bench-ass-get-")


def run(b, home, *args, stdin=None):
    env = dict(os.environ, ASS_HOME=home, ASS_ACTOR="bench")
    r = subprocess.run([b, *args], env=env, input=stdin, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"{b} {args}: {r.stderr.decode()}")


envfile = os.path.join(root, "big.env")
with open(envfile, "w") as f:
    for i in range(int(os.environ.get("N", "5000"))):
        f.write(f"K{i}=v{i}\n")
homes = {}
for name, b in bins.items():
    for kind in ("fresh", "big"):
        h = os.path.join(root, f"{name}-{kind}")
        run(b, h, "init")
        run(b, h, "set", "app/key", "--tier", "standard", stdin=b"the-value")
        if kind == "big":
            run(b, h, "import", envfile, "--namespace", "imp")
        homes[(name, kind)] = h
cases = [("new", "fresh"), ("new", "big"), ("before", "fresh"), ("before", "big"), ("min", "fresh")]
times = {c: [] for c in cases}
for _ in range(int(os.environ.get("RUNS", "30"))):
    for name, kind in cases:
        t = time.perf_counter()
        if name == "min":
            run(minget, homes[("new", kind)], "app/key")
        else:
            run(bins[name], homes[(name, kind)], "get", "app/key")
        times[(name, kind)].append(time.perf_counter() - t)
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
for k, v in med.items():
    print(f"{k[0]:6} {k[1]:5} median {v:.2f} ms")
for n in bins:
    print(f"{n}: big/fresh {med[(n, 'big')] / med[(n, 'fresh')]:.3f}; ass/min {med[(n, 'fresh')] / med[('min', 'fresh')]:.3f}")
