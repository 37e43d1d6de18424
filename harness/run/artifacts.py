"""What a run leaves besides its metrics: the learned parameters of its activations (TAct/mTAct
α and β, PReLU slopes, any trainable plug-in activation) and, with ``--save-checkpoint``, the
weights of the selected and of the last epoch.

Checkpoints go to ``CHECKPOINT_DIR/<key[:2]>/<key>/{selected,last}.pt`` (``CHECKPOINT_DIR`` is
``checkpoints/`` next to the results database), keyed by the run's identity, written atomically.
Each file is a dict ``{"state_dict", "epoch", "which", "key", "config", "identity"}`` that
``torch.load(path, weights_only=True)`` reads. The selected epoch follows the run's selection rule
(harness/run/selection.py: best val, earliest on ties), so the weights match the reported numbers.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from noisebench.errors import UserError
from noisebench.harness.run.selection import RULES
from noisebench.safety.outputs import writable_parent

__all__ = ["SiteTracker", "BestWeights", "LiveCurves", "learned_activation_params", "save_checkpoints",
           "checkpoint_dir_for", "summary_writer", "write_scalars"]

MAX_LISTED_VALUES = 256  # per parameter name: all values up to this many sites, else only statistics


class SiteTracker:
    """Wraps an activation factory and remembers every module it builds (one per nonlinearity)."""

    def __init__(self, factory: Callable[[], nn.Module]):
        self.factory = factory
        self.sites: list[nn.Module] = []

    def __call__(self) -> nn.Module:
        m = self.factory()
        self.sites.append(m)
        return m


def learned_activation_params(sites: list[nn.Module]) -> dict:
    """{param name: {"n", "mean", "std", "min", "max"[, "values"]}} over all sites' trainable
    parameters (effective values as stored: TAct's raw alpha/beta, mTAct's before squaring)."""
    values: dict[str, list[float]] = {}
    for m in sites:
        for name, p in m.named_parameters():
            if p.requires_grad:
                values.setdefault(name, []).extend(float(v) for v in p.detach().float().reshape(-1).cpu())
    out = {}
    for name, vs in values.items():
        t = torch.tensor(vs, dtype=torch.float64)
        d = {"n": len(vs), "mean": float(t.mean()), "std": float(t.std(unbiased=False)),
             "min": float(t.min()), "max": float(t.max())}
        if len(vs) <= MAX_LISTED_VALUES:
            d["values"] = vs
        out[name] = {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in d.items()}
    return out


class BestWeights:
    """Keeps a CPU copy of the weights at the epoch the selection rule would choose so far."""

    def __init__(self, task: str):
        _, self.key, _, pick = RULES["regression" if task == "regression" else "classification"]
        self.better = (lambda a, b: a > b) if pick is max else (lambda a, b: a < b)
        self.best: float | None = None
        self.epoch: int | None = None
        self.state: dict | None = None

    def update(self, model: nn.Module, metrics: dict) -> None:
        v = metrics.get(self.key)
        if v is None or not math.isfinite(float(v)):
            return
        if self.best is None or self.better(float(v), self.best):  # strict: earliest epoch on ties
            self.best, self.epoch = float(v), int(metrics["epoch"])
            self.state = {k: t.detach().to("cpu", copy=True) for k, t in model.state_dict().items()}


def checkpoint_dir_for(db_path: str | Path) -> Path:
    return Path(db_path).resolve().parent / "checkpoints"


def _save(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoints(root: str | Path, key: str, model: nn.Module, best: BestWeights, last_epoch: int,
                     config: dict, identity: dict) -> dict:
    """Write selected.pt and last.pt for run `key`; returns {"selected": path, "last": path}."""
    folder = Path(root) / key[:2] / key
    common = {"key": key, "config": config, "identity": identity}
    last = {k: t.detach().to("cpu", copy=True) for k, t in model.state_dict().items()}
    paths = {}
    for which, state, epoch in (("selected", best.state, best.epoch), ("last", last, last_epoch)):
        if state is None:
            continue
        p = folder / f"{which}.pt"
        _save(dict(common, state_dict=state, epoch=epoch, which=which), p)
        paths[which] = str(p)
    return paths


def summary_writer(log_dir: str | Path | None = None):
    """A TensorBoard SummaryWriter class (log_dir None) or writer (optional dependency: `pip install tensorboard`)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # optional extra, only when TensorBoard output is asked for
    except ImportError:
        raise UserError("TensorBoard output needs the tensorboard package: pip install tensorboard "
                        "(or pip install 'noisebench[tensorboard]')") from None
    return SummaryWriter if log_dir is None else SummaryWriter(log_dir=str(log_dir))


def check_tensorboard_dir(root: str | Path) -> Path:
    """Before any training: the tensorboard package is installed and `root` is (or can be) a writable folder."""
    summary_writer()
    root = Path(root)
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise UserError(f"--tensorboard {root} is not a folder; give a folder for the event files")
    writable_parent(root / "x")
    return root


def write_scalars(writer, metrics: dict, step: int) -> None:
    """One epoch's finite numeric metrics as scalars grouped train/, val/, test/, misc/."""
    for k, v in metrics.items():
        if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            group = k.split("_", 1)[0] if k.split("_", 1)[0] in ("train", "val", "test") else "misc"
            writer.add_scalar(f"{group}/{k}", float(v), int(step))


class LiveCurves:
    """``--tensorboard DIR``: an event folder per run (``LABEL-KEY8``), written after every epoch."""

    def __init__(self, root: str | Path, label: str, key: str):
        self.writer = summary_writer(Path(root) / f"{label.replace('/', '-')}-{key[:8]}")

    def epoch(self, metrics: dict) -> None:
        write_scalars(self.writer, metrics, int(metrics["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
