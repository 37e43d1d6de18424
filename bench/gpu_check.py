"""The device check: every GPU figure of bench/RESULTS.md from one command (run by bench/gpu_check.sh).

    python bench/gpu_check.py --device cuda --json bench/gpu_check.json      # one H100/H200: < 8 minutes
    python bench/gpu_check.py --device cpu --quick --json cpu.json     # CPU dry run: a couple of minutes

Stages (each records its figures or its error; the exit status is 1 if any stage failed):
  tests       pytest -m gpu_path (the engine's GPU paths and the torch ψ sampler) when pytest is installed
  throughput  bench/train_throughput.py: ours (resident data, bf16, channels_last, compile) vs a plain fp32
              DataLoader loop on synthetic CIFAR-shaped data, for ReLU, TAct and mTAct (goal: >= 3x, same accuracy;
              TAct/mTAct at most 15% slower than ReLU, compiled)
  psi_build   `make psi` at ψ=16 on an official-format CIFAR-10 fixture: torch sampler on the device vs the CPU tables
  study       a slice of the ψ study through `noisebench robustness` (the recipe's model, eager unless
              --study-compile) on a 10,240-image ψ fixture, run twice to show it resumes, and the projected time of the whole study (ResNet-18 × 5 activations × clean + ψ 8/16/32/64
              × 3 seeds × 30 epochs) on this device (goal on one H100: under 1 GPU-hour)
Everything is made locally (no network). `python bench/gpu_results_md.py FILE.json` renders the JSON as markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDY = dict(activations=5, datasets=5, seeds=3, epochs=30, n_train=50_000, n_eval=20_000)  # val + test per epoch


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    print("+ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    sys.stdout.write(r.stdout[-4000:])
    if r.returncode:
        sys.stdout.write(r.stderr[-4000:])
    return r


def stage_tests(args, out: dict) -> None:
    try:
        import pytest  # noqa: F401
    except ImportError:
        out["tests"] = {"ran": False, "note": "pytest is not installed in this environment"}
        return
    marker = "gpu_path and not slow" if args.quick else "gpu_path"  # quick: no cold torch.compile on a CPU
    r = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker,
              "tests/test_gpu_path.py", "tests/test_psi_torch.py"], timeout=args.budget("tests"))
    tail = (r.stdout.strip().splitlines() or [""])[-1]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error|deselected)", tail)}
    out["tests"] = {"ran": True, "rc": r.returncode, "summary": tail, **counts}
    if r.returncode:
        raise RuntimeError(f"gpu_path tests failed: {tail}")


def stage_throughput(args, out: dict, tmp: Path) -> None:
    js = tmp / "throughput.json"
    cmd = [sys.executable, "bench/train_throughput.py", "--device", args.device, "--activations", "relu,tact,mtact",
           "--json", str(js)]
    if args.quick:
        cmd += ["--models", "mnist_cnn", "--images", "256", "--epochs", "1"]
    else:
        cmd += ["--models", "resnet18", "--images", "10240", "--test-images", "2048", "--epochs", "2", "--compile"]
    r = _run(cmd, timeout=args.budget("throughput"))
    if r.returncode:
        raise RuntimeError(f"train_throughput failed: {r.stderr.strip().splitlines()[-1:]}")
    data = json.loads(js.read_text())
    rows = [{"model": x["model"], "activation": x["activation"], "ours_img_s": x["ours_last"],
             "ref_img_s": x.get("ref_last"), "ratio": x["ours_last"] / x["ref_last"] if x.get("ref_last") else None,
             "ours_acc": x["ours"]["acc"], "ref_acc": x.get("ref", {}).get("acc")} for x in data["rows"]]
    by = {x["activation"]: x for x in rows}
    relu = by["relu"]
    out["throughput"] = {
        "model": relu["model"], "images": data["n_train"], "epochs": data["args"]["epochs"],
        "compile": bool(data["args"]["compile"]), "machine": data["machine"], "rows": rows,
        "ratio_relu": relu["ratio"], "goal_ratio": 3.0, "met": relu["ratio"] is not None and relu["ratio"] >= 3.0,
        "accuracy_gap": None if relu["ref_acc"] is None else relu["ours_acc"] - relu["ref_acc"],
    }
    out["activation_overhead"] = {
        "model": relu["model"], "compiled": bool(data["args"]["compile"]),
        "img_s": {a: by[a]["ours_img_s"] for a in by},
        "slowdown_vs_relu": {a: 1 - by[a]["ours_img_s"] / relu["ours_img_s"] for a in by if a != "relu"},
        "goal_max_slowdown": 0.15,
    }
    ov = out["activation_overhead"]
    ov["met"] = ov["compiled"] and all(v <= 0.15 for v in ov["slowdown_vs_relu"].values())


def _cifar_fixture(tmp: Path, n_train: int, n_test: int):
    sys.path.insert(0, str(ROOT / "tests"))
    from official_format_fixtures import write_cifar10_batches

    from noisebench.generators.sources.cifar10 import load_cifar10

    return load_cifar10(write_cifar10_batches(tmp / "src", n_train=n_train, n_test=n_test), verify=False)


def stage_psi_build(args, out: dict, tmp: Path) -> None:
    from noisebench.generators.builds.images import build_clean_images, build_psi

    n_train, n_test = (2_000, 500) if args.quick else (50_000, 10_000)
    data = _cifar_fixture(tmp, n_train, n_test)
    build_clean_images(data, tmp / "ds")
    res = {"images": n_train + n_test, "level": 16, "device": args.device}
    t = time.perf_counter()
    build_psi(data, [16], tmp / "ds", device=args.device, sampler="torch", with_clean=False)
    res["torch_s"] = time.perf_counter() - t
    t = time.perf_counter()
    build_psi(data, [16], tmp / "tables", with_clean=False)
    res["tables_cpu_s"] = time.perf_counter() - t
    from noisebench.format import open_file

    with open_file(tmp / "ds" / "cifar10-psi16.h5") as f:
        params = f.meta["params"]
        res["sampler"] = (json.loads(params) if isinstance(params, str) else params)["sampler"]
    out["psi_build"] = res


def stage_study(args, out: dict, tmp: Path) -> None:
    """Two `noisebench robustness` calls on a small ψ fixture: relu, then relu+tact (the first two runs resume)."""
    from noisebench.generators.builds.images import build_clean_images, build_psi

    n_train, n_test = (512, 128) if args.quick else (10_240, 2_048)
    data = _cifar_fixture(tmp / "study_src", n_train, n_test)
    build_clean_images(data, tmp / "study_ds")
    psi_file = build_psi(data, [16], tmp / "study_ds", device=args.device, sampler="torch", with_clean=False)[0]
    db = tmp / "study.sqlite"
    base = [sys.executable, "-m", "noisebench", "robustness", "--data", str(psi_file), "--seeds", "1",
            "--epochs", "1" if args.quick else "2", "--device", args.device, "--db", str(db)]
    if args.quick:
        base += ["--model", "mnist_cnn", "--batch-size", "64"]  # (the recipe's ResNet-18 is minutes per epoch on a CPU)
    elif args.study_compile:
        base += ["--compile"]
    env = dict(os.environ, TQDM_DISABLE="1")
    res: dict = {"epochs": 1 if args.quick else 2}
    for i, acts in enumerate(("relu", "relu,tact")):
        t = time.perf_counter()
        r = _run(base + ["--activation", acts], timeout=args.budget("study"), env=env)
        if r.returncode:
            raise RuntimeError(f"robustness failed: {(r.stderr.strip().splitlines() or [''])[-1]}")
        m = re.search(r"(\d+) runs trained .*?, (\d+) already in", r.stdout)
        res[f"call{i + 1}"] = {"activations": acts, "s": time.perf_counter() - t,
                               "trained": int(m.group(1)) if m else None, "skipped": int(m.group(2)) if m else None}
    res["resumed"] = res["call2"]["skipped"] == 2 and res["call2"]["trained"] == 2
    from noisebench.harness.results.db import ResultsDB

    per = []
    with ResultsDB(db, readonly=True) as rdb:
        for run in rdb.runs():
            epochs = rdb.epochs(run["key"])
            if not epochs:
                continue
            last = epochs[-1]
            per.append({"activation": run["activation"], "model": run["model"], "role": run["role"],
                        "wall_s": run["wall_s"], "train_s": sum(e["epoch_s"] for e in epochs),
                        "last_epoch_s": last["epoch_s"], "n_train": last["samples_per_s"] * last["epoch_s"]})
    res["runs"] = per
    if per:
        # per run at full size: 30 epochs of 50,000 training images at the measured steady rate, plus the measured
        # per-run rest (set-up, compilation, evaluation of this slice) scaled by the evaluation images per epoch
        worst = max(per, key=lambda p: p["last_epoch_s"] / p["n_train"])
        train_per_img = worst["last_epoch_s"] / worst["n_train"]
        rest_per_epoch = max(0.0, (worst["wall_s"] - worst["train_s"]) / res["epochs"])
        run_s = STUDY["epochs"] * (STUDY["n_train"] * train_per_img + rest_per_epoch * STUDY["n_eval"] / max(1, worst["n_train"]))
        n_runs = STUDY["activations"] * STUDY["datasets"] * STUDY["seeds"]
        res["projection"] = {"runs": n_runs, "per_run_s": run_s, "total_h": n_runs * run_s / 3600, "model": worst["model"],
                             "basis": "slowest measured activation; steady-state train rate; per-run rest scaled by eval images",
                             "goal_h": 1.0}
    out["study"] = res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the CPU dry run)")
    ap.add_argument("--study-compile", action="store_true",
                    help="compile the study slice's models too (eager by default: an upper bound, and no compile time)")
    ap.add_argument("--skip", default="", help="comma list of stages to skip: tests,throughput,psi_build,study")
    ap.add_argument("--json", default=str(Path(__file__).resolve().parent / "gpu_check.json"),
                    help="where to write the figures (default bench/gpu_check.json, ignored by git)")
    args = ap.parse_args()
    # per-stage limits (seconds): on one H100/H200 the whole check should take well under 8 minutes
    limits = {"tests": 150, "throughput": 270, "study": 120} if not args.quick else {"tests": 300, "throughput": 180, "study": 180}
    args.budget = lambda stage: limits[stage]
    import torch

    from noisebench.harness.run.checks import resolve_device

    device = resolve_device(args.device)
    out: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": str(device), "quick": args.quick,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "host": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "cuda": torch.version.cuda, "numpy": __import__("numpy").__version__},
        "errors": {},
    }
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nb-gpu-check-") as d:
        tmp = Path(d)
        for name in ("tests", "throughput", "psi_build", "study"):
            if name in skip:
                continue
            t = time.perf_counter()
            print(f"\n== {name}", flush=True)
            try:
                if name == "tests":
                    stage_tests(args, out)
                elif name == "throughput":
                    stage_throughput(args, out, tmp)
                elif name == "psi_build":
                    stage_psi_build(args, out, tmp)
                else:
                    stage_study(args, out, tmp)
            except Exception as e:  # noqa: BLE001 - record and go on with the other stages
                traceback.print_exc()
                out["errors"][name] = f"{type(e).__name__}: {e}"[:500]
            out.setdefault("stage_s", {})[name] = round(time.perf_counter() - t, 1)
    out["total_s"] = round(time.perf_counter() - t_all, 1)
    Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    print(f"\nwrote {args.json}; total {out['total_s']} s; errors: {out['errors'] or 'none'}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_results_md import render

    print(render(out))
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
