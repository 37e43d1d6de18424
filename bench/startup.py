"""Benchmark: start-up time and peak memory of light CLI commands, beside `python -c pass` in the same run.

    python bench/startup.py                      # 5 repeats each; figures also in bench/startup.json
    python bench/startup.py --repeats 10 --json /tmp/startup.json

ours      `python -m noisebench --version`, `--help`, `info FILE` (a 300-row synth file built first),
          `study list` (run counts and projected times of every shipped preset), each a fresh process.
baseline  `python -c pass`: the interpreter alone.
Time is the wall time of the whole process (median of --repeats); memory is its peak RSS (ru_maxrss from
wait4, largest over the repeats). Light commands import neither torch nor scipy nor numba nor matplotlib
(tests/test_light_cli.py), so they cost the interpreter plus typer, numpy and h5py at most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent


def measure(cmd: list[str], cwd: Path, repeats: int) -> dict:
    times, rss = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        times.append(time.perf_counter() - t0)
        rss.append(usage.ru_maxrss / 1024)  # KiB on Linux -> MiB
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {err[-500:]}")
    return {"seconds": statistics.median(times), "min_s": min(times), "rss_mb": max(rss)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, default=HERE / "startup.json", help="where to write the figures")
    args = ap.parse_args()
    py = sys.executable
    try:
        load = "load avg %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load n/a"
    header = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs ({load}); "
              f"python {sys.version.split()[0]}")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env_cache = dict(os.environ, NOISEBENCH_CACHE_DIR=str(work / "cache"))
        subprocess.run([py, "-m", "noisebench", "synth", "--rows", "300", "--out", str(work)], check=True,
                       capture_output=True, env=env_cache)
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "noisebench --version": [py, "-m", "noisebench", "--version"],
            "noisebench --help": [py, "-m", "noisebench", "--help"],
            "noisebench info FILE": [py, "-m", "noisebench", "info", str(work / "synth-300-dirty.h5")],
            "noisebench study list": [py, "-m", "noisebench", "study", "list", "--data-dir", str(work / "none")],
        }
        for cmd in commands.values():  # one untimed run each: the page cache holds the modules afterwards
            subprocess.run(cmd, cwd=work, capture_output=True)
        res = {name: measure(cmd, work, args.repeats) for name, cmd in commands.items()}
    base = res["python -c pass"]
    print(f"{'command':<24} {'time s':>8} {'x base':>7} {'peak RSS MB':>12} {'x base':>7}")
    for name, r in res.items():
        print(f"{name:<24} {r['seconds']:8.3f} {r['seconds'] / base['seconds']:7.1f} {r['rss_mb']:12.1f} "
              f"{r['rss_mb'] / base['rss_mb']:7.1f}")
    args.json.write_text(json.dumps({"machine": header, "repeats": args.repeats, "results": res}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
