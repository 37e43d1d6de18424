"""The evaluation engine for a model that noisebench did not train (`noisebench evaluate`, `nb.evaluate`).

The same loop as the test-time protocol (harness/train_loop.evaluate): each test set lies on the device
as uint8 images, batches are sliced from it, converted to float and normalised there, and the model
runs under bf16 autocast and channels_last on CUDA unless fp32 is asked for (fp32 on CPU). Each (set,
severity) is one row of the results database's `evaluations` table under the model's evaluation key
(the `external_models` table), so a rerun evaluates only what is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from noisebench import progress
from noisebench.errors import UserError
from noisebench.harness.run.checks import resolve_device
from noisebench.harness.run.identity import code_version, torch_version
from noisebench.harness.run.loop import SplitTensors, TrainData, TrainSettings, evaluate
from noisebench.harness.testtime.external_model import evaluation_key
from noisebench.harness.testtime.sets import CLEAN, EvalSet, load_set

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class ModelUnderTest:
    module: nn.Module
    name: str  # the label tables and exports show
    identity: dict  # model_kind, model, activation, source_sha256, weights_sha256, weights_file, preprocessing, transform
    preprocessing: dict | None = None  # {"mean": [...], "std": [...]} in [0, 1] units; None: inputs in [0, 1]
    transform: Callable | None = None  # applied to the float NCHW batch after preprocessing
    meta: dict = field(default_factory=dict)


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16-autocast" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return "bf16-autocast" if precision == "bf16" else "fp32"


def _data_for(x: torch.Tensor, y: torch.Tensor, prep: dict | None, num_classes: int, where: str) -> TrainData:
    ch = 1 if x.ndim == 3 else int(x.shape[3])
    if prep is None:
        mean, std = torch.zeros(ch), torch.ones(ch)
    else:
        mean, std = torch.tensor(prep["mean"], dtype=torch.float32), torch.tensor(prep["std"], dtype=torch.float32)
        if len(mean) != ch:
            raise UserError(f"{where}: the normalisation has {len(mean)} channels, the images {ch}")
    split = SplitTensors(x, y)
    return TrainData(train=split, val=split, test=None, task="classification", num_classes=num_classes, images=True,
                     mean=mean.to(x.device), std=std.to(x.device))


def _check_outputs(fwd, data: TrainData, x: torch.Tensor, settings: TrainSettings, num_classes: int, name: str) -> None:
    from noisebench.harness.run.loop import to_input

    try:
        with torch.no_grad(), torch.autocast(settings.device.type, dtype=torch.bfloat16, enabled=settings.autocast):
            out = fwd(to_input(data, x[:2], settings.channels_last))
    except Exception as e:  # noqa: BLE001 - the user's model on our data: one line
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise UserError(f"{name}: the model fails on the test images {tuple(x.shape[1:])}: {type(e).__name__}: {first}") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] < num_classes:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(f"{name}: the model returns {shape} for 2 images; evaluate needs logits of shape (2, "
                        f"{num_classes}) or more classes")


def run_evaluation(mut: ModelUnderTest, sets: list[EvalSet], *, num_classes: int, dataset: str | None = None,
                   clean_file: str = "", device: str = "auto", precision: str = "auto", batch_size: int | None = None,
                   db=None, force: bool = False, mode: str | None = None) -> tuple[str, list[dict]]:
    """Evaluate `mut` on every set; (evaluation key, one row per set × severity in the order of `sets`)."""
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    if batch_size is not None and not 1 <= int(batch_size) <= 1 << 16:
        raise UserError(f"--batch-size must be in 1..65536, got {batch_size}")
    ident = dict(mut.identity, precision=prec, device_type=dev.type, num_classes=int(num_classes))
    key = evaluation_key(ident)
    wsha = ident.get("weights_sha256") or ""
    mode = progress.choose() if mode is None else mode
    channels_last = dev.type == "cuda"
    settings = TrainSettings(epochs=1, batch_size=1, optimizer=None, schedule=None, seed=0, device=dev,
                             autocast=prec != "fp32", channels_last=channels_last,
                             eval_batch=int(batch_size or (2048 if dev.type == "cuda" else 1024)))
    model = mut.module.to(dev).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    fwd = model if mut.transform is None else (lambda xb: model(mut.transform(xb)))
    record_ident = dict(ident, code_version=code_version(), torch_version=torch_version())
    if db is not None:
        db.record_external_model({"key": key, "name": mut.name, "identity": record_ident, **{
            k: ident.get(k) for k in ("model_kind", "model", "activation", "weights_file", "weights_sha256",
                                      "source_sha256", "precision", "device_type")},
            "preprocessing": ident.get("preprocessing"), "dataset": dataset, "clean_file": clean_file,
            "code_version": record_ident["code_version"]})
    clean_y = None
    for s in sets:
        if s.origin == CLEAN:
            clean_y = load_set(s)[1]
    rows, todo = [], []
    for s in sets:
        old = None if db is None or force else _recorded(db, key, s, wsha)
        rows.append(old)
        if old is None:
            todo.append(s)
    t0, done_imgs, checked = time.monotonic(), 0, False
    n_todo = len(todo)
    bar = progress.bar(total=n_todo, desc=f"evaluating {mut.name}", unit="set", mode=mode)
    try:
        for i, s in enumerate(sets):
            if rows[i] is not None:
                continue
            ts = time.perf_counter()
            xn, yn = load_set(s, clean_y if s.origin in ("ours", "release") else None)
            if yn.size and (yn.min() < 0 or yn.max() >= num_classes):
                raise UserError(f"{s.path}: labels outside 0..{num_classes - 1}")
            x, y = torch.from_numpy(xn).to(dev), torch.from_numpy(yn).to(dev)  # resident on the device
            data = _data_for(x, y, mut.preprocessing, num_classes, mut.name)
            if not checked:
                _check_outputs(fwd, data, x, settings, num_classes, mut.name)
                checked = True
            with torch.no_grad():
                m = evaluate(model, data, data.val, settings, model_fn=fwd)
            row = {"set": s.name, "severity": s.severity, "origin": s.origin, "set_file": s.path.name,
                   "set_sha256": s.digest, "n": int(len(yn)), "acc": m["acc"], "loss": m["loss"], "top3": m["top3"],
                   "eval_s": time.perf_counter() - ts}
            rows[i] = row
            if db is not None:
                db.record_evaluation({"run_key": key, "corruption": s.name, "severity": s.severity,
                                      "set_file": s.path.name, "set_sha256": s.digest, "weights_sha256": wsha,
                                      "n": row["n"], "acc": row["acc"], "loss": row["loss"], "top3": row["top3"],
                                      "model": mut.name, "activation": ident.get("activation") or "-", "seed": 0,
                                      "dataset": dataset, "clean_file": clean_file,
                                      "code_version": record_ident["code_version"], "identity": record_ident,
                                      "eval_s": row["eval_s"]})
            done_imgs += row["n"]
            bar.update(1)
            k = sum(1 for r in rows if r is not None and not r.get("reused")) or 1
            el = time.monotonic() - t0
            eta = f", eta {progress.fmt_duration(el / k * (n_todo - k))}" if k < n_todo else ""
            if mode == "lines":
                progress.say(f"[{k}/{n_todo}] {mut.name} {s.label}: top-1 {100 * row['acc']:.2f} % on {row['n']} images "
                             f"({done_imgs / max(el, 1e-9):.0f} img/s{eta})", mode)
    finally:
        bar.close()
    return key, rows


def _recorded(db, key: str, s: EvalSet, wsha: str) -> dict | None:
    evs = db.evaluations(run_key=key, corruption=s.name, severity=s.severity, set_sha256=s.digest,
                         weights_sha256=wsha)
    if not evs:
        return None
    e = evs[-1]
    return {"set": s.name, "severity": s.severity, "origin": s.origin, "set_file": s.path.name,
            "set_sha256": s.digest, "n": e["n"], "acc": e["acc"], "loss": e["loss"], "top3": e["top3"],
            "eval_s": e["eval_s"], "reused": True}


def dataset_of(sets: list[EvalSet]) -> str | None:
    from noisebench.format.reader import open_file

    with open_file(Path(sets[0].path)) as f:
        return f.meta.get("dataset") or None
