"""Benchmark: `noisebench synth` vs a row-by-row Python generator like the original notebook's.

The speed-up is measured as a ratio inside one child process per repeat: the same process builds
ours at `--rows` (default 10^7) and then runs the baseline at `--baseline-rows` (default 10^6, the
largest size it runs at in seconds: its memory grows linearly, ~12 GB at 10^7, and its cost per row
only grows with size — 9 us at 10^5, 14 us at 10^6 on the build machine — so measuring it smaller
than 10^7 flatters it), both under the same load, each timed from its first line to its file on
disk. Three repeats; the last line is

    synth speed-up at 10,000,000 rows: min A.Ax median B.Bx max C.Cx

`--full` first builds 10^8 rows in its own process and prints its peak RSS (goal < 1.5 GB; about
9 GB of output in a temporary folder, set BENCH_TMP to choose where).

    python bench/synth_build.py [--repeats 3] [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, math, os, random, resource, sys, time
from pathlib import Path
import numpy as np
import h5py

rows, base_rows, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])


def load():
    return round(os.getloadavg()[0], 2)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


res = {"load_before": load()}
t, c0 = time.perf_counter(), cpu()
from noisebench.generators.synth.generator import SynthParams
from noisebench.generators.synth.files import build
build(SynthParams(rows=rows, seed=0), out / "ours", force=True)
res["ours_s"], res["ours_cpu_s"] = time.perf_counter() - t, cpu() - c0
res["ours_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if base_rows:
    rows = base_rows
    t, c0 = time.perf_counter(), cpu()
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
    res["baseline_s"], res["baseline_cpu_s"] = time.perf_counter() - t, cpu() - c0
res["load_after"] = load()
print(json.dumps(res))
"""


def run_child(rows: int, base_rows: int, out: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(rows), str(base_rows), out], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"error: benchmark child failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of our build (default 10^7)")
    ap.add_argument("--baseline-rows", type=int, default=1_000_000, help="rows of the row-by-row baseline")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="also build 10^8 rows alone and report peak RSS")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    figures: dict = {"cpus": os.cpu_count(), "rows": args.rows, "baseline_rows": args.baseline_rows, "repeats": []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
        if args.full:
            res = run_child(100_000_000, 0, os.path.join(d, "full"))
            figures["full"] = res
            print(f"ours 100,000,000 rows {res['ours_s']:8.1f} s {1e8 / res['ours_s']:>12,.0f} rows/s "
                  f"peak RSS {res['ours_peak_rss_mb']:6.0f} MB (load {res['load_before']}-{res['load_after']})", flush=True)
            shutil.rmtree(os.path.join(d, "full"), ignore_errors=True)
        ratios = []
        for i in range(args.repeats):
            res = run_child(args.rows, args.baseline_rows, os.path.join(d, f"r{i}"))
            shutil.rmtree(os.path.join(d, f"r{i}"), ignore_errors=True)
            ours_rate, base_rate = args.rows / res["ours_s"], args.baseline_rows / res["baseline_s"]
            ratios.append(ours_rate / base_rate)
            figures["repeats"].append(res | {"ratio": ratios[-1]})
            print(f"repeat {i + 1}: ours {args.rows:,} rows {res['ours_s']:6.2f} s ({ours_rate:>11,.0f} rows/s, "
                  f"peak RSS {res['ours_peak_rss_mb']:.0f} MB); baseline {args.baseline_rows:,} rows "
                  f"{res['baseline_s']:5.2f} s ({base_rate:,.0f} rows/s); ratio {ratios[-1]:.1f}x "
                  f"(CPU seconds: ours {res['ours_cpu_s']:.2f}, baseline {res['baseline_cpu_s']:.2f}); "
                  f"load {res['load_before']}-{res['load_after']}", flush=True)
    cpu_ratios = sorted(r["baseline_cpu_s"] / args.baseline_rows / (r["ours_cpu_s"] / args.rows) for r in figures["repeats"])
    figures["cpu_ratios"] = cpu_ratios
    print(f"CPU-time ratio (less sensitive to other jobs' load): min {cpu_ratios[0]:.1f}x "
          f"median {statistics.median(cpu_ratios):.1f}x max {cpu_ratios[-1]:.1f}x")
    ratios.sort()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    print(f"synth speed-up at {args.rows:,} rows: min {ratios[0]:.1f}x median {statistics.median(ratios):.1f}x "
          f"max {ratios[-1]:.1f}x")


if __name__ == "__main__":
    main()
