"""Projected time of a study, from throughput measured on this machine.

Probe: for each (model, input shape) of the study, Adam steps on random data of the model's input shape
with ReLU (two warm-up steps, then steps timed for at least 0.5 s and at least two) on the device runs use;
seconds per training sample; evaluation (val + test per epoch) is counted at a third of a training
sample (forward only). A run's time = epochs x (train rows + eval rows / 3) x seconds per sample.
Learned activations (TAct, mTAct) run slower in eager mode (about 0.4x ReLU on CPU in
bench/RESULTS.md), so the projection is a lower bound for them. Probes are cached in
$NOISEBENCH_CACHE_DIR/throughput.json (default ~/.cache/noisebench) per (model, shape, device, torch
version, threads).

One GPU: projected only from a GPU figure recorded in GPU_SAMPLES_PER_S (from bench/RESULTS.md,
section 4, run with --device cuda); none is recorded yet, so it prints "not measured".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
import torch
from noisebench.harness.data_verify import cache_dir as default_cache
from noisebench.harness.models import build_model
from noisebench.harness.studies.datasets import file_rows

EVAL_WEIGHT = 1 / 3
PROBE_BATCH = 16
PROBE_SECONDS = 0.5  # timed steps run for at least this long (and at least 2 steps)
# model -> training samples/s on one GPU, from bench/RESULTS.md (empty: no GPU figure measured yet)
GPU_SAMPLES_PER_S: dict[str, float] = {}


def _device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _sync(dev: str) -> None:
    if dev.startswith("cuda"):
        torch.cuda.synchronize()


def probe_seconds_per_sample(model: str, shape: tuple, task: str, device: str = "auto",
                             cache_dir: Path | None = None) -> float:
    """Measured seconds per training sample of `model` on `device` (cached in cache_dir, default the
    verification cache's folder)."""


    cache_dir = default_cache() if cache_dir is None else cache_dir
    dev = _device(device)
    threads = torch.get_num_threads()
    key = f"{model}|{'x'.join(map(str, shape))}|{dev}|{torch.__version__}|{threads}"
    cache = Path(cache_dir) / "throughput.json"
    known = {}
    if cache.is_file():
        try:
            known = json.loads(cache.read_text())
        except (OSError, ValueError):
            known = {}
    if not isinstance(known, dict):
        known = {}
    if isinstance(known.get(key), (int, float)):
        return float(known[key])

    torch.manual_seed(0)
    n_out = 1 if task == "regression" else 10
    net = build_model(model, "relu", tuple(shape), n_out).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    bs = PROBE_BATCH if len(shape) > 1 else 64  # the synth recipe's batch
    x = torch.randn((bs,) + tuple(shape), device=dev)
    y = torch.randn(bs, 1, device=dev) if task == "regression" else torch.randint(0, 10, (bs,), device=dev)
    loss_fn = torch.nn.MSELoss() if task == "regression" else torch.nn.CrossEntropyLoss()
    net.train()
    if dev == "cpu" and len(shape) == 1:  # the harness trains tabular models with one CPU thread
        torch.set_num_threads(1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()

    for _ in range(2):  # warm-up (allocator, oneDNN/cuDNN set-up)
        step()
    _sync(dev)
    t0, steps = time.perf_counter(), 0
    while steps < 2 or (time.perf_counter() - t0 < PROBE_SECONDS and steps < 200):
        step()
        steps += 1
    _sync(dev)
    spp = (time.perf_counter() - t0) / (steps * bs)
    torch.set_num_threads(threads)
    known[key] = spp
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".throughput.json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        os.replace(tmp, cache)
    except OSError:
        pass
    return spp


def measured_rates(db) -> dict:
    """model -> seconds of wall time per training sample, median over the ok runs in `db` on this machine's
    device type (wall time includes evaluation and set-up, so no evaluation factor is applied)."""
    dev = _device()
    per: dict = {}
    for r in db.runs(status="ok"):
        f = r.get("final") or {}
        sps, ts, wall = f.get("samples_per_s"), f.get("train_s"), r.get("wall_s")
        if not (sps and ts and wall) or not str(r.get("device") or "").startswith(dev):
            continue
        per.setdefault(r["model"], []).append(float(wall) / (float(sps) * float(ts)))
    return {m: sorted(v)[len(v) // 2] for m, v in per.items()}


def project(configs: list, data_dir: Path | None = None, probe: bool = True, db=None) -> dict:
    """{"runs", "sample_epochs", "seconds" (None when not measured), "device", "gpu_seconds" (None: not
    measured), "method"} for `configs` (pass only the runs still to do). Models with ok runs in `db` on this
    device type use their recorded wall time per training sample; the others are probed (when `probe`)."""

    work: dict = {}  # (model, shape, task) -> [training sample-epochs, weighted sample-epochs incl. evaluation]
    for c in configs:
        ds = "synth" if Path(c.data).name.startswith("synth") else ("mnist" if "mnist" in Path(c.data).name else "cifar10")
        tr, ev, shape = file_rows(Path(c.data), ds, dict(c.extra).get("subset"))
        w = work.setdefault((c.model, shape, "regression" if ds == "synth" else "classification"), [0.0, 0.0])
        w[0] += c.epochs * tr
        w[1] += c.epochs * (tr + EVAL_WEIGHT * ev)
    out = {"runs": len(configs), "sample_epochs": sum(w[1] for w in work.values()), "device": _device(),
           "seconds": None, "gpu_seconds": None, "method": "not measured (--no-measure)"}
    rates = measured_rates(db) if db is not None else {}
    models = {m for (m, _, _) in work}
    from_db = sorted(models & set(rates))
    if work and (probe or len(from_db) == len(models)):
        out["seconds"] = sum(w[0] * rates[m] if m in rates else w[1] * probe_seconds_per_sample(m, s, t)
                             for (m, s, t), w in work.items())
        how = []
        if from_db:
            how.append(f"{', '.join(from_db)}: wall time per training sample of the runs in the database on this "
                       f"{out['device']}")
        if len(from_db) < len(models):
            how.append(f"{', '.join(sorted(models - set(from_db)))}: a probe here (Adam steps with ReLU, batch "
                       f"{PROBE_BATCH} for images or 64 for synth, timed >= {PROBE_SECONDS:g} s after a warm-up; "
                       "evaluation counted at 1/3 of a training sample)")
        out["method"] = "; ".join(how)
    if work and all(m in GPU_SAMPLES_PER_S for m in models):
        out["gpu_seconds"] = sum(w[1] / GPU_SAMPLES_PER_S[m] for (m, _, _), w in work.items())
    return out


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "not measured"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"
