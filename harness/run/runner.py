"""Execute one run: `execute_run(cfg) -> RunResult`. Pure: reads the data file, trains, returns.

It never touches the results database (a driver, local or Ray, records results), so it can run
in any worker process. Before any data is used the file's arrays are re-hashed against their
recorded checksums (harness/run/verify.py, cached per unchanged file); the reported epoch is
selected on the val split only (harness/run/selection.py), and the result carries the run identity
(harness/run/identity.py) its key was computed from. Setup mistakes (missing or tampered file, wrong
checksum digest, no val split, unknown model or activation, model/data mismatch) raise
`UserError`; errors during training are returned as a result with status "failed" and the error,
so one bad run does not stop a grid. The result record and the data file's identity live in
harness/run/data.py, the checks before training in harness/run/checks.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import torch

from noisebench.data.loaders import check_training_arrays
from noisebench.errors import UserError
from noisebench.harness.activations.resolve import resolve_activation
from noisebench.harness.models import build_model
from noisebench.harness.results.data_identity import run_name
from noisebench.harness.run.artifacts import (
    BestWeights,
    LiveCurves,
    SiteTracker,
    learned_activation_params,
    save_checkpoints,
)
from noisebench.harness.run.checks import (
    check_file,
    check_model_for_data,
    no_val_error,
    resolve_device,
    validate_config,
)
from noisebench.harness.run.config import AUGMENTS, OPTIMIZERS, RunConfig
from noisebench.harness.run.data import RunResult, code_version, data_info, load_splits
from noisebench.harness.run.divergence import DivergencePolicy, mean_predictor_mse
from noisebench.harness.run.identity import precision, run_identity, run_key
from noisebench.harness.run.loop import SplitTensors, TrainData, TrainSettings, image_stats, steps_per_epoch, train
from noisebench.harness.run.recipes import KNOB_DEFAULTS, default_augment, default_betas
from noisebench.harness.run.schedules import make_scheduler
from noisebench.harness.run.selection import selection_summary


def engine_paths(extra: dict, device, images: bool) -> tuple[bool, bool]:
    """(bf16 autocast, channels_last) for a run.

    Defaults ("auto"): both on CUDA only (channels_last for image models). `extra["precision"]`
    ("bf16"/"fp32") and `extra["channels_last"]` (True/False) force them on any device, e.g. to
    exercise the GPU code paths on a CPU (CPU autocast supports bfloat16). The legacy
    `extra["fp32"]` flag still turns autocast off."""

    autocast = precision(device.type, extra) == "bf16-autocast"  # the run identity records the same
    cl = extra.get("channels_last", "auto")
    channels_last = images and (device.type == "cuda" if cl == "auto" else bool(cl))
    return autocast, channels_last


@contextlib.contextmanager
def _threads(n: int | None):
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def make_optimizer(cfg: RunConfig, params, extra: dict):
    betas = default_betas(cfg.lr_policy)
    if "betas" in extra:
        betas = tuple(float(b) for b in extra["betas"])
    if cfg.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        params = list(params)
        try:  # the fused kernel: one op for all parameters (CPU and CUDA), much less per-step overhead
            return cls(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return cls(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=float(extra.get("momentum", KNOB_DEFAULTS["momentum"])), weight_decay=cfg.weight_decay
        )
    raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")


def _take(x, y, idx):
    t = torch.as_tensor(idx, device=x.device)
    return x.index_select(0, t), y.index_select(0, t)


def prepare(cfg: RunConfig, device, for_training: bool = False):
    """Load and check everything a run needs; returns (TrainData, meta). Raises UserError on bad input.

    `for_training`: the file must have a val split (selection never uses test). Without it (the
    LR finder, which reads only train), a file without val passes."""

    validate_config(cfg)
    meta = check_file(cfg)
    info = data_info(meta)
    _, splits = load_splits(cfg.data, cfg.data_sha256, device)
    if "train" not in splits:
        raise UserError(f"{cfg.data}: no train split (has {', '.join(splits) or 'none'})")
    if for_training and "val" not in splits:
        raise no_val_error(cfg.data)
    val_name = "val" if "val" in splits else "test" if "test" in splits else None
    if val_name is None:
        raise UserError(f"{cfg.data}: needs a val or test split to validate on (has {', '.join(splits)})")
    task = info["task"]
    extra = cfg.extra_dict()
    if extra.get("subset"):  # a stratified smoke-study subset of every split (harness/run/subset.py)
        from noisebench.harness.run.subset import subset_indices

        n = int(extra["subset"])
        splits = {s: _take(sx, sy, subset_indices(sy.cpu().numpy(), n, task == "classification"))
                  for s, (sx, sy) in splits.items()}
    x = splits["train"][0]
    images = x.dtype.is_floating_point is False and x.ndim in (3, 4)
    check_model_for_data(cfg, task, images, cfg.data)
    resolve_activation(cfg.activation)  # unknown activation -> UserError now, not mid-run
    aug = extra.get("augment")
    if aug is None:
        aug = default_augment(meta) if images else "none"  # declared by the data's source
    if aug not in AUGMENTS:
        raise UserError(f"unknown augmentation {aug!r}; use {', '.join(AUGMENTS)}")
    nc = info["num_classes"]

    for s, (sx, sy) in splits.items():  # labels in range, finite floats, plausible shapes: before any training
        check_training_arrays(sx, sy, task, nc, f"{cfg.data} [{s}]")
    if task == "classification" and not nc:
        nc = int(splits["train"][1].max().item()) + 1
    mean = std = None
    if images:
        mean, std = image_stats(x)
    data = TrainData(
        train=SplitTensors(*splits["train"]),
        val=SplitTensors(*splits[val_name]),
        test=SplitTensors(*splits["test"]) if val_name == "val" and "test" in splits else None,
        task=task,
        num_classes=nc if task == "classification" else None,
        images=images,
        augment=aug if images else "none",
        mean=mean,
        std=std,
        val_name=val_name,
    )
    return data, meta


def summarize(epochs: list[dict], task: str, train_s: float, samples: int, has_test: bool = True) -> dict:
    """Final metrics: the last epoch's values, plus the val-selected epoch with test beside it
    (harness/run/selection.py); `metric`/`metric_value` name the reported number."""

    final = {k: v for k, v in (epochs[-1] if epochs else {}).items() if k not in ("epoch_s", "samples_per_s")}
    final["epochs_done"] = len(epochs)
    final["train_s"] = train_s
    final["samples_per_s"] = samples / train_s if train_s > 0 else None
    sel = selection_summary(epochs, task, has_test and any("test_loss" in e for e in epochs))
    if task == "classification":
        final["best_val_acc"] = sel["selected_val_acc"]
    else:
        final["best_val_loss"] = sel["selected_val_loss"]
    final.update(sel)
    return final


def execute_run(cfg: RunConfig, progress: bool | str = False, on_epoch=None, checkpoint_dir: str | Path | None = None,
                tensorboard_dir: str | Path | None = None) -> RunResult:
    """Train one configuration from fresh weights and return its result (never writes the DB).

    `progress`: False/"quiet" shows nothing, "bars" an epoch bar and a batch bar for long epochs,
    "lines" one plain line per epoch, True chooses by terminal (noisebench/progress.py).
    `on_epoch(metrics)` is called after each epoch.
    `checkpoint_dir`: save the selected and last weights there (harness/run/artifacts.py); the
    learned activation parameters are recorded in every run's final metrics.
    `tensorboard_dir`: live TensorBoard curves, one event folder per run, written after every epoch."""



    started = time.time()
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    data, meta = prepare(cfg, device, for_training=True)
    info = data_info(meta)
    info["val_split"] = data.val_name
    if cfg.recipe:
        info["recipe"] = cfg.recipe
    extra = cfg.extra_dict()
    identity = run_identity(cfg)  # on this machine: the key says what actually ran
    base = dict(
        key=run_key(cfg, identity), config=cfg.to_dict(), device=str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        hostname=socket.gethostname(), code_version=code_version(), data_info=info, started_at=started,
        identity=identity,
    )
    bar = curves = None
    try:
        torch.manual_seed(cfg.seed)
        num_outputs = data.num_classes if data.task == "classification" else 1
        sites = SiteTracker(resolve_activation(cfg.activation))
        model = build_model(cfg.model, sites, data.in_shape, num_outputs).to(device)
        best = BestWeights(data.task) if checkpoint_dir is not None else None
        autocast, channels_last = engine_paths(extra, device, data.images)
        if device.type == "cuda":  # same seed, same device -> same metrics (cuDNN may pick non-deterministic kernels)
            torch.backends.cudnn.deterministic = bool(extra.get("deterministic", True))
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model_fn = torch.compile(model) if cfg.compile else None
        opt = make_optimizer(cfg, model.parameters(), extra)
        spe = steps_per_epoch(len(data.train), min(cfg.batch_size, len(data.train)))
        sched = make_scheduler(cfg.lr_policy, opt, cfg.lr, spe, cfg.epochs, extra)
        div = DivergencePolicy(margin=float(extra.get("chance_margin", KNOB_DEFAULTS["chance_margin"])),
                               mean_mse=mean_predictor_mse(data.train.y, data.val.y) if data.task == "regression" else None)
        settings = TrainSettings(
            epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=opt, schedule=sched, seed=cfg.seed,
            device=device, autocast=autocast,
            channels_last=channels_last, divergence=div, eval_batch=2048 if device.type == "cuda" else 1024,
        )
        from noisebench.progress import RunProgress, choose

        mode = choose() if progress is True else (progress or "quiet")
        bar = RunProgress(mode, cfg.label(), cfg.epochs, spe) if mode != "quiet" else None
        curves = LiveCurves(tensorboard_dir, run_name(cfg, info), base["key"]) if tensorboard_dir is not None else None

        def _on_epoch(m):
            if bar is not None:
                bar.epoch(m)
            if best is not None:
                best.update(model, m)
            if curves is not None:
                curves.epoch(m)
            if on_epoch is not None:
                on_epoch(m)

        # Tiny tabular models on CPU run fastest on one thread (per-op overhead dominates; extra
        # threads only contend); image models keep torch's thread count.
        with _threads(1 if device.type == "cpu" and not data.images else None):
            out = train(model, data, settings, _on_epoch, model_fn, on_batch=bar.batch if bar is not None else None)
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as e:  # noqa: BLE001 - a failed run is a result, not a crash of the grid
        return RunResult(status="failed", error=f"{type(e).__name__}: {' '.join(str(e).split())}"[:2000],
                         wall_s=time.perf_counter() - t0, **base)
    finally:
        if bar is not None:
            bar.close()
        if curves is not None:
            curves.close()
    final = summarize(out.epochs, data.task, out.train_s, out.samples, has_test=data.test is not None)
    final["activation_params"] = learned_activation_params(sites.sites)
    if best is not None and out.epochs:
        final["checkpoints"] = save_checkpoints(checkpoint_dir, base["key"], model, best, int(out.epochs[-1]["epoch"]),
                                                base["config"], identity)
    status = "null" if out.null_cause else "ok"
    return RunResult(status=status, null_cause=out.null_cause, epochs=out.epochs, final=final,
                     wall_s=time.perf_counter() - t0, **base)


os.environ.setdefault("KMP_WARNINGS", "0")


# older private names, kept for callers outside the package
_make_optimizer = make_optimizer
