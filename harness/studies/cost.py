"""Projected time of a study, from throughput measured on this machine.

Probe: for each (model, input shape) of the study, a few Adam steps on random data of the model's input
shape with ReLU (one warm-up step, then the median of two timed steps) on the device runs would use;
seconds per training sample; evaluation (val + test per epoch) is counted at a third of a training
sample (forward only). A run's time = epochs x (train rows + eval rows / 3) x seconds per sample.
Learned activations (TAct, mTAct) run slower in eager mode (about 0.4x ReLU on CPU in
bench/RESULTS.md), so the projection is a lower bound for them. Probes are cached in
DATA_DIR/.throughput.json per (model, shape, device, torch version, threads).

One GPU: projected only from a GPU figure recorded in GPU_SAMPLES_PER_S (from bench/RESULTS.md,
section 4, run with --device cuda); none is recorded yet, so it prints "not measured".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

EVAL_WEIGHT = 1 / 3
PROBE_BATCH = 8
# model -> training samples/s on one GPU, from bench/RESULTS.md (empty: no GPU figure measured yet)
GPU_SAMPLES_PER_S: dict[str, float] = {}


def _device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def probe_seconds_per_sample(model: str, shape: tuple, task: str, device: str = "auto",
                             cache_dir: Path | None = None) -> float:
    """Measured seconds per training sample of `model` on `device` (cached in cache_dir)."""
    import torch

    dev = _device(device)
    key = f"{model}|{'x'.join(map(str, shape))}|{dev}|{torch.__version__}|{torch.get_num_threads()}"
    cache = Path(cache_dir) / ".throughput.json" if cache_dir is not None else None
    known = {}
    if cache is not None and cache.is_file():
        try:
            known = json.loads(cache.read_text())
        except (OSError, ValueError):
            known = {}
    if isinstance(known.get(key), (int, float)):
        return float(known[key])
    from noisebench.harness.models import build_model

    torch.manual_seed(0)
    n_out = 1 if task == "regression" else 10
    net = build_model(model, "relu", tuple(shape), n_out).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    bs = PROBE_BATCH if len(shape) > 1 else 64
    x = torch.randn((bs,) + tuple(shape), device=dev)
    y = torch.randn(bs, 1, device=dev) if task == "regression" else torch.randint(0, 10, (bs,), device=dev)
    loss_fn = torch.nn.MSELoss() if task == "regression" else torch.nn.CrossEntropyLoss()
    times = []
    net.train()
    for i in range(3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t0)
    spp = sorted(times)[len(times) // 2] / bs
    if cache is not None:
        known[key] = spp
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".throughput.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
            os.replace(tmp, cache)
        except OSError:
            pass
    return spp


def project(configs: list, data_dir: Path, probe: bool = True) -> dict:
    """{"runs", "sample_epochs", "seconds" (None without probe), "device", "gpu_seconds" (None: not measured),
    "method"} for `configs` (only those not done yet should be passed)."""
    from noisebench.harness.studies.datasets import file_rows

    work: dict = {}  # (model, shape, task) -> weighted sample-epochs
    gpu_work: dict = {}
    for c in configs:
        ds = "synth" if Path(c.data).name.startswith("synth") else ("mnist" if "mnist" in Path(c.data).name else "cifar10")
        subset = dict(c.extra).get("subset")
        tr, ev, shape = file_rows(Path(c.data), ds, subset)
        task = "regression" if ds == "synth" else "classification"
        w = c.epochs * (tr + EVAL_WEIGHT * ev)
        k = (c.model, shape, task)
        work[k] = work.get(k, 0.0) + w
        gpu_work[c.model] = gpu_work.get(c.model, 0.0) + w
    out = {"runs": len(configs), "sample_epochs": sum(work.values()), "device": _device(), "seconds": None,
           "gpu_seconds": None, "method": "not probed"}
    if probe and work:
        out["seconds"] = sum(w * probe_seconds_per_sample(m, s, t, cache_dir=data_dir) for (m, s, t), w in work.items())
        out["method"] = (f"measured: {PROBE_BATCH}-sample Adam steps of each model with ReLU on this machine's "
                         f"{out['device']} (median of 2 after a warm-up); evaluation counted at 1/3 of a training sample")
    if gpu_work and all(m in GPU_SAMPLES_PER_S for m in gpu_work):
        out["gpu_seconds"] = sum(w / GPU_SAMPLES_PER_S[m] for m, w in gpu_work.items())
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
