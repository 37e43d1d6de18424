"""Projected time of a study, without training it: a throughput table, the runs already recorded, a short probe.

Seconds per training sample, per (model, input shape) and device type, in this order:

1. runs in the results database on this device type (their wall time per training sample, evaluation
   and set-up included);
2. the throughput table shipped with noisebench (``throughput.json`` beside this module, written by
   ``bench/throughput_table.py`` on the machine it names): the measured time of Adam steps with ReLU on
   random data of the model's input shape, or, for a model timed there too slowly to measure, its training
   FLOPs per sample (3 x forward) at the median seconds per FLOP of the models that were timed (rougher:
   small models run further from peak); either scaled, with ``measure=True``, by one probe of about a
   second here (a model the table timed, timed again here: how much faster or slower this machine is);
3. a model the table lacks (a plug-in): a probe of that model here when ``measure=True``, else not projected.

Evaluation (val + test per epoch) is counted at a third of a training sample (forward only). A run's time
= epochs x (train rows + eval rows / 3) x seconds per sample. Learned activations (TAct, mTAct) run slower
in eager mode (about 0.4x ReLU on CPU in bench/RESULTS.md), so the projection is a lower bound for them.
Probes are cached in $NOISEBENCH_CACHE_DIR/throughput.json (default ~/.cache/noisebench) per (model,
shape, device, torch version, threads). torch is imported only to probe or to find the device.
"""

from __future__ import annotations

import json
import os
import time
from importlib.resources import files
from pathlib import Path

from noisebench.harness.studies.datasets import file_rows

EVAL_WEIGHT = 1 / 3
PROBE_BATCH = 16
PROBE_SECONDS = 0.5  # timed steps run for at least this long (and at least 2 steps)
SCALE_PROBE_SECONDS = 0.25  # the machine-speed probe of a table-based projection
TABLE = "throughput.json"


def throughput_table() -> dict:
    """The shipped table: {device type: {"machine", "date", "torch", "threads", "rates": {"model|shape": s}}}
    (seconds per training sample); {} when missing or unreadable."""
    try:
        data = json.loads(files("noisebench.harness.studies").joinpath(TABLE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {d: v for d, v in data.get("devices", {}).items() if isinstance(v, dict) and isinstance(v.get("rates"), dict)}


def table_key(model: str, shape) -> str:
    return f"{model}|{'x'.join(str(int(d)) for d in shape)}"


def table_rates(table: dict) -> tuple[dict, set]:
    """{key: seconds per training sample} of one device's table, measured or from FLOPs, and the FLOP-based keys."""
    rates = {k: float(v) for k, v in table.get("rates", {}).items()}
    flops = {k: float(v) for k, v in table.get("flops", {}).items()}
    per_flop = sorted(rates[k] / flops[k] for k in rates if k in flops and flops[k] > 0 and "x" in k.split("|")[1])
    if not per_flop:
        return rates, set()
    spf = per_flop[len(per_flop) // 2]
    derived = {k: f * spf for k, f in flops.items() if k not in rates}
    return {**rates, **derived}, set(derived)


def _device(device: str = "auto") -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _sync(dev: str) -> None:
    if dev.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def probe_seconds_per_sample(model: str, shape: tuple, task: str, device: str = "auto",
                             cache_dir: Path | None = None, seconds: float = PROBE_SECONDS,
                             use_cache: bool = True) -> float:
    """Measured seconds per training sample of `model` on `device` (cached in cache_dir, default the
    verification cache's folder; `use_cache=False` measures afresh and records nothing)."""
    import torch

    from noisebench.harness.models import build_model
    from noisebench.harness.run.verify import cache_dir as default_cache

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
    if use_cache and isinstance(known.get(key), (int, float)):
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
    while steps < 2 or (time.perf_counter() - t0 < seconds and steps < 200):
        step()
        steps += 1
    _sync(dev)
    spp = (time.perf_counter() - t0) / (steps * bs)
    torch.set_num_threads(threads)
    if not use_cache:
        return spp
    known[key] = spp
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".throughput.json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        os.replace(tmp, cache)
    except OSError:
        pass
    return spp


def measured_rates(db, device: str | None = None) -> dict:
    """model -> seconds of wall time per training sample, median over the ok runs in `db` on this machine's
    device type (wall time includes evaluation and set-up, so no evaluation factor is applied)."""
    dev = device or _device()
    per: dict = {}
    for r in db.runs(status="ok"):
        f = r.get("final") or {}
        sps, ts, wall = f.get("samples_per_s"), f.get("train_s"), r.get("wall_s")
        if not (sps and ts and wall) or not str(r.get("device") or "").startswith(dev):
            continue
        per.setdefault(r["model"], []).append(float(wall) / (float(sps) * float(ts)))
    return {m: sorted(v)[len(v) // 2] for m, v in per.items()}


def _work(configs: list, data_dir: Path | None) -> dict:
    """(model, shape, task) -> [training sample-epochs, weighted sample-epochs incl. evaluation]."""
    work: dict = {}
    for c in configs:
        name = Path(c.data).name
        ds = "synth" if name.startswith("synth") else ("mnist" if "mnist" in name else "cifar10")
        tr, ev, shape = file_rows(Path(c.data), ds, dict(c.extra).get("subset"))
        w = work.setdefault((c.model, shape, "regression" if ds == "synth" else "classification"), [0.0, 0.0])
        w[0] += c.epochs * tr
        w[1] += c.epochs * (tr + EVAL_WEIGHT * ev)
    return work


def _scale(work: dict, rates: dict, measured: dict, dev: str) -> tuple[float, str]:
    """This machine's speed relative to the table's: one short probe of a model the table timed (the study's
    smallest, else the table's smallest image model)."""
    tabled = [(m, s, t) for (m, s, t) in work if table_key(m, s) in measured]
    if not tabled:
        tabled = [(k.split("|")[0], tuple(int(d) for d in k.split("|")[1].split("x")), "classification")
                  for k in measured if "x" in k.split("|")[1]]
    if not tabled:
        return 1.0, "not scaled to this machine (nothing timed in the table)"
    m, s, t = min(tabled, key=lambda k: measured[table_key(k[0], k[1])])
    here = probe_seconds_per_sample(m, s, t, dev, seconds=SCALE_PROBE_SECONDS)
    f = here / measured[table_key(m, s)]
    return f, f"scaled by {f:.2f} from a {SCALE_PROBE_SECONDS:g} s probe of {m} here"


def project(configs: list, data_dir: Path | None = None, probe: bool = True, db=None, device: str | None = None) -> dict:
    """{"runs", "sample_epochs", "seconds" (None when not projected), "device", "gpu_seconds" (None: no GPU
    figure), "method"} for `configs` (pass only the runs still to do; anything with .model, .data, .epochs,
    .extra). `probe`: allow probes here (the machine-speed scale; models the table lacks). `device`: cpu or
    cuda (default: this machine's, which imports torch)."""
    work = _work(configs, data_dir)
    dev = device or _device()
    tables = throughput_table()
    table = tables.get(dev, {})
    rates, from_flops = table_rates(table)
    out = {"runs": len(configs), "sample_epochs": sum(w[1] for w in work.values()), "device": dev,
           "seconds": None, "gpu_seconds": None, "method": "nothing to run"}
    db_rates = measured_rates(db, dev) if db is not None else {}
    models = {m for (m, _, _) in work}
    from_db = sorted(models & set(db_rates))
    rest = [(m, s, t) for (m, s, t) in work if m not in db_rates]
    from_table = [k for k in rest if table_key(k[0], k[1]) in rates]
    unknown = [k for k in rest if table_key(k[0], k[1]) not in rates]
    if work and (probe or not unknown):
        scale, scaled = (1.0, "")
        if from_table and probe:
            scale, scaled = _scale(work, rates, table.get("rates", {}), dev)
        total = 0.0
        for (m, s, t), w in work.items():
            if m in db_rates:
                total += w[0] * db_rates[m]
            elif table_key(m, s) in rates:
                total += w[1] * rates[table_key(m, s)] * scale
            else:
                total += w[1] * probe_seconds_per_sample(m, s, t, dev)
        out["seconds"] = total
        how = []
        if from_db:
            how.append(f"{', '.join(from_db)}: wall time per training sample of the runs in the database on this {dev}")
        timed = sorted({k[0] for k in from_table if table_key(k[0], k[1]) not in from_flops})
        flopped = sorted({k[0] for k in from_table if table_key(k[0], k[1]) in from_flops})
        where = f"{table.get('machine', '?')}, {table.get('date', '?')}"
        if timed:
            how.append(f"{', '.join(timed)}: the throughput table (timed on {where})")
        if flopped:
            how.append(f"{', '.join(flopped)}: FLOP counts in the throughput table at the seconds per FLOP of the "
                       f"models timed on {where}")
        if from_table:
            how.append(scaled or "the table not scaled to this machine")
        if unknown:
            how.append(f"{', '.join(sorted({k[0] for k in unknown}))}: a probe here (Adam steps with ReLU, batch "
                       f"{PROBE_BATCH} for images or 64 for synth, timed >= {PROBE_SECONDS:g} s after a warm-up)")
        out["method"] = "; ".join(how) + "; evaluation counted at 1/3 of a training sample"
    elif work:
        out["method"] = (f"not projected: {', '.join(sorted({k[0] for k in unknown}))} not in the throughput table "
                         "(measure with --measure)")
    gpu = table_rates(tables.get("cuda", {}))[0]
    out["gpu_machine"] = tables.get("cuda", {}).get("machine")
    if work and all(table_key(m, s) in gpu for (m, s, _) in work):
        out["gpu_seconds"] = sum(w[1] * gpu[table_key(m, s)] for (m, s, _), w in work.items())
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
    if s < 730 * 86400:
        return f"{s / 86400:.1f} days"
    return f"{s / (365.25 * 86400):,.0f} years"
