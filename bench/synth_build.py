"""Benchmark: `noisebench synth` vs a row-by-row Python generator like the original notebook's.

Each variant runs in its own process so its peak RSS is its own. Prints rows/s, peak RSS and
the speed ratio. Default: baseline at 100k rows, ours at 1M rows; `--full` adds ours at 1e8 rows
(about 9 GB of output in a temporary folder; minutes).

    python bench/synth_build.py [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, math, random, resource, sys, time
from pathlib import Path
import numpy as np
import h5py

mode, rows, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
t = time.perf_counter()
if mode == "ours":
    from noisebench.generators.hidden_function_synth import SynthParams, build
    build(SynthParams(rows=rows, seed=0), out, force=True)
else:
    # The original notebook's approach: materialise shuffled columns, then build row by row in Python.
    rnd = random.Random(0)
    lo, step = -875.0, 1750.0 / rows
    domain = [lo + k * step for k in range(rows)]
    cols = []
    for j in range(10):
        c = domain[:]
        rnd.shuffle(c)
        cols.append(c)
    C = [rnd.uniform(-1, 1) for _ in range(11)]
    F = [lambda x: C[0] * math.sin(x), lambda x: C[1] * math.cos(x), lambda x: C[2] * x + C[3],
         lambda x: C[4] * x * x + C[5] * x + C[6], lambda x: C[7] * x ** 3 + C[8] * x * x + C[9] * x + C[10]]
    fid = list(range(5)) + [rnd.randrange(5) for _ in range(5)]
    mean_x = sum(domain) / rows
    std_x = math.sqrt(sum((v - mean_x) ** 2 for v in domain) / rows)
    fm, fs = [], []
    for f in F:
        vals = [f(v) for v in domain]
        m = sum(vals) / rows
        fm.append(m)
        fs.append(math.sqrt(sum((v - m) ** 2 for v in vals) / rows))
    X, Y = [], []
    for i in range(rows):
        raw = [cols[j][i] for j in range(10)]
        X.append([(v - mean_x) / std_x for v in raw])
        Y.append(sum((F[fid[j]](raw[j]) - fm[fid[j]]) / fs[fid[j]] for j in range(10)) / 10)
    dirty = rnd.sample(range(rows), rows // 10)
    for i in dirty:
        X[i] = [v + rnd.gauss(0, 0.5) for v in X[i]]
        Y[i] += rnd.gauss(0, 0.5)
    out.mkdir(parents=True, exist_ok=True)
    with h5py.File(out / "baseline.h5", "w") as f:
        f["x"] = np.array(X, np.float32)
        f["y"] = np.array(Y, np.float32)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "rows_per_s": rows / dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(mode: str, rows: int, out: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, mode, str(rows), out], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also run ours at 1e8 rows")
    ap.add_argument("--baseline-rows", type=int, default=100_000)
    args = ap.parse_args()
    plan = [("baseline", args.baseline_rows), ("ours", args.baseline_rows), ("ours", 1_000_000), ("ours", 10_000_000)]
    if args.full:
        plan.append(("ours", 100_000_000))
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
        for mode, rows in plan:
            res = run(mode, rows, os.path.join(d, f"{mode}-{rows}"))
            results.append((mode, rows, res))
            print(f"{mode:<9}{rows:>12,} rows {res['seconds']:>9.2f} s {res['rows_per_s']:>12,.0f} rows/s "
                  f"peak RSS {res['peak_rss_mb']:>7.0f} MB", flush=True)
    base = results[0][2]["rows_per_s"]
    print("\nspeed ratio vs the row-by-row baseline (rows/s):")
    for mode, rows, res in results[1:]:
        print(f"  ours at {rows:,} rows: {res['rows_per_s'] / base:.0f}x")


if __name__ == "__main__":
    main()
