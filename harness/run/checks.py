"""Checks of a run before it trains: its numbers, its device, its data file and the model's fit to it.

`validate_config` checks the numbers (no data read); `preflight` runs every check of `execute_run`
that needs no data loaded (drivers use it to fail a whole grid on its first bad entry). Setup
mistakes raise `UserError`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.harness.activations.resolve import resolve_activation
from noisebench.harness.models import MODELS, model_names
from noisebench.harness.run.config import AUGMENTS, LR_POLICIES, OPTIMIZERS, RunConfig
from noisebench.harness.run.data import checksums_digest, data_info
from noisebench.harness.run.verify import verify_for_training
from noisebench.safety.bounds import check_run_config

PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(name: str):
    if name in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    return dev


def check_file(cfg: RunConfig) -> dict:
    """The file's root attributes, after its arrays were verified against the recorded checksums."""

    p = Path(cfg.data)
    if not p.exists():
        raise UserError(f"data file {p} not found")
    if p.is_dir():
        raise UserError(f"data path {p} is a folder; give a noisebench .h5 file")
    verify_for_training(p)
    with open_file(p) as f:
        meta = dict(f.meta)
    got = checksums_digest(meta["checksums"])
    if got != cfg.data_sha256:
        raise UserError(
            f"{p}: content digest {got[:12]}… does not match the run's data_sha256 {cfg.data_sha256[:12]}… "
            "(the file was rebuilt or replaced; rerun to plan against the current file)"
        )
    return meta


def check_model_for_data(cfg: RunConfig, task: str, images: bool, path: str) -> None:
    key = cfg.model.strip().lower().replace("-", "_")
    if key not in MODELS:
        raise UserError(f"unknown model {cfg.model!r}; valid: {', '.join(model_names())}")
    spec = MODELS[key]
    if spec.task != task or spec.tabular == images:
        what = "image classification" if images else f"tabular {task}"
        fits = [n for n, s in MODELS.items() if s.task == task and s.tabular != images]
        raise UserError(
            f"model {spec.name} ({spec.task}, {'tabular' if spec.tabular else 'image'} input) cannot train on "
            f"{path}, a {what} dataset; use {', '.join(fits) or 'another dataset'}"
        )


def validate_config(cfg: RunConfig) -> None:
    """Cheap checks of the numbers (before any data is read)."""
    if cfg.epochs < 1:
        raise UserError(f"--epochs must be >= 1, got {cfg.epochs}")
    if cfg.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {cfg.batch_size}")
    if not (0 < cfg.lr < float("inf")):
        raise UserError(f"--lr must be > 0 and finite, got {cfg.lr}")
    if not (0 <= cfg.weight_decay < float("inf")):
        raise UserError(f"--weight-decay must be >= 0 and finite, got {cfg.weight_decay}")
    extra = cfg.extra_dict()
    for knob, lo, hi, lo_open in (("step_size", 1, float("inf"), False), ("gamma", 0, float("inf"), True),
                                  ("momentum", 0, 1, False)):
        v = extra.get(knob)
        if v is None:
            continue
        ok = isinstance(v, (int, float)) and (lo < v if lo_open else lo <= v) and v < hi
        if not ok:
            raise UserError(f"--{knob.replace('_', '-')} must be {'>' if lo_open else '>='} {lo}"
                            f"{f' and < {hi}' if hi != float('inf') else ' and finite'}, got {v}")
    if extra.get("augment") is not None and extra["augment"] not in AUGMENTS:
        raise UserError(f"unknown augmentation {extra['augment']!r}; use {', '.join(AUGMENTS)}")
    if extra.get("precision", "auto") not in PRECISIONS:
        raise UserError(f"unknown precision {extra['precision']!r}; use {', '.join(PRECISIONS)}")
    if extra.get("channels_last", "auto") not in ("auto", True, False):
        raise UserError(f"channels_last must be auto, true or false, got {extra['channels_last']!r}")
    if cfg.optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if cfg.lr_policy not in LR_POLICIES:
        raise UserError(f"unknown LR policy {cfg.lr_policy!r}; choose one of {', '.join(LR_POLICIES)}")

    check_run_config(cfg)  # documented ranges (docs/BOUNDS.md), seeds, names without control characters


def no_val_error(path) -> UserError:
    return UserError(
        f"{path}: no val split, so the reported epoch could only be selected on test; rebuild the file "
        "with this noisebench (`noisebench make ...` writes train/val/test) and train on the new file")


def preflight(cfg: RunConfig) -> dict:
    """All checks of `execute_run` that need no data loaded (file, digest, model/data fit, activation).

    Used by drivers to fail a whole grid on its first bad entry before any training starts."""

    validate_config(cfg)
    resolve_device(cfg.device)  # an unknown device fails here, before any database is touched
    meta = check_file(cfg)
    with open_file(cfg.data) as f:
        dx = f.datasets.get("train/x")
        if dx is None:
            raise UserError(f"{cfg.data}: no train split")
        if "val" not in f.splits:
            raise no_val_error(cfg.data)
        images = dx.dtype.kind == "u" and len(dx.shape) in (3, 4)
    info = data_info(meta)
    check_model_for_data(cfg, info["task"], images, cfg.data)
    resolve_activation(cfg.activation)
    return info


# older private names, kept for callers outside the package
_check_file = check_file
_check_model_for_data = check_model_for_data
