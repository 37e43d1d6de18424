"""The training engine: one loop for classification and regression, data resident on the device.

Design for speed (GPU) and low overhead (CPU):
- every split is loaded once as tensors on the device (images stay uint8 NHWC there); a batch is
  an index into them, so there is no DataLoader and no per-sample Python;
- CIFAR-style augmentation (random crop with 4-pixel zero padding + horizontal flip, or the Mish
  benchmark's flip p=0.4 + rotation within ±30°) is a tensor op on the uint8 batch, on the device;
- on CUDA: bf16 autocast, channels_last for image models, optional torch.compile;
- loss is accumulated on the device and read once per epoch (no sync per step).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from noisebench.harness.run.divergence import DivergencePolicy


@dataclass
class SplitTensors:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class TrainData:
    """Whole splits on one device plus what the loop needs to turn a batch into model input."""

    train: SplitTensors
    val: SplitTensors
    test: SplitTensors | None
    task: str  # "classification" | "regression"
    num_classes: int | None
    images: bool
    augment: str = "none"  # "none" | "crop_flip" | "flip_rot30"
    mean: torch.Tensor | None = None  # per-channel, images only
    std: torch.Tensor | None = None
    val_name: str = "val"

    @property
    def in_shape(self) -> tuple:
        if self.images:
            x = self.train.x
            return (1, x.shape[1], x.shape[2]) if x.ndim == 3 else (x.shape[3], x.shape[1], x.shape[2])
        return (int(self.train.x.shape[1]),)


def image_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean/std in [0,1] units of a uint8 NHWC (or NHW) tensor, computed in slabs."""
    xs = x if x.ndim == 4 else x.unsqueeze(-1)
    c = xs.shape[-1]
    s = torch.zeros(c, dtype=torch.float64, device=x.device)
    s2 = torch.zeros_like(s)
    n = 0
    for i in range(0, xs.shape[0], 4096):
        b = xs[i : i + 4096].reshape(-1, c).double() / 255
        s += b.sum(0)
        s2 += (b * b).sum(0)
        n += b.shape[0]
    mean = s / n
    std = (s2 / n - mean * mean).clamp_min(1e-12).sqrt()
    return mean.float(), std.clamp_min(1e-3).float()


def crop_flip(xb: torch.Tensor, gen: torch.Generator | None, pad: int = 4) -> torch.Tensor:
    """Random crop with zero padding + random horizontal flip on a uint8 NHWC batch (on its device)."""
    b, h, w, _ = xb.shape
    padded = F.pad(xb, (0, 0, pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), device=xb.device, generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), device=xb.device, generator=gen)
    rows = (oy[:, None] + torch.arange(h, device=xb.device)[None])[:, :, None]
    cols = (ox[:, None] + torch.arange(w, device=xb.device)[None])[:, None, :]
    out = padded[torch.arange(b, device=xb.device)[:, None, None], rows, cols]
    flip = torch.rand(b, device=xb.device, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(2), out)


def flip_rotate(xb: torch.Tensor, gen: torch.Generator | None, p_flip: float = 0.4,
                degrees: float = 30.0) -> torch.Tensor:
    """torchvision's RandomHorizontalFlip(p_flip) + RandomRotation(degrees) on a uint8 NHWC (or NHW) batch, on
    its device: each image flipped with probability p_flip, then rotated about its centre by an angle drawn
    uniformly from [-degrees, degrees], nearest-neighbour sampling, corners filled with 0 (torchvision's defaults)."""
    squeeze = xb.ndim == 3
    x = xb.unsqueeze(-1) if squeeze else xb
    b = x.shape[0]
    flip = torch.rand(b, device=x.device, generator=gen) < p_flip
    x = torch.where(flip[:, None, None, None], x.flip(2), x)
    ang = (torch.rand(b, device=x.device, generator=gen) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)
    xf = x.permute(0, 3, 1, 2).float()
    grid = F.affine_grid(theta, list(xf.shape), align_corners=False)
    out = F.grid_sample(xf, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    out = out.round_().clamp_(0, 255).to(xb.dtype).permute(0, 2, 3, 1)
    return out[..., 0] if squeeze else out.contiguous()


def to_input(data: TrainData, xb: torch.Tensor, channels_last: bool) -> torch.Tensor:
    if not data.images:
        return xb
    if xb.ndim == 3:
        xb = xb.unsqueeze(-1)
    x = xb.permute(0, 3, 1, 2).float().div_(255)
    x = (x - data.mean[None, :, None, None]) / data.std[None, :, None, None]
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    else:
        x = x.contiguous()
    return x


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler  # stepped after every optimizer step
    seed: int
    device: torch.device
    autocast: bool = False
    channels_last: bool = False
    divergence: DivergencePolicy = field(default_factory=DivergencePolicy)
    eval_batch: int = 1024


@dataclass
class TrainOutcome:
    epochs: list[dict]
    null_cause: str | None
    train_s: float
    samples: int


def make_loss_fn(task: str):
    if task == "regression":
        return lambda out, y: F.mse_loss(out.reshape(-1).float(), y.float())
    return lambda out, y: F.cross_entropy(out.float(), y)


@torch.no_grad()
def evaluate(model: nn.Module, data: TrainData, split: SplitTensors, s: TrainSettings, model_fn=None) -> dict:
    """Mean loss (and top-1/top-3 accuracy for classification) over a whole split."""
    fwd = model if model_fn is None else model_fn  # not `or`: a compiled module may define __len__
    model.eval()
    loss_fn = make_loss_fn(data.task)
    n = len(split)
    tot = torch.zeros((), dtype=torch.float64, device=s.device)
    c1 = torch.zeros((), dtype=torch.int64, device=s.device)
    c3 = torch.zeros((), dtype=torch.int64, device=s.device)
    for i in range(0, n, s.eval_batch):
        xb = to_input(data, split.x[i : i + s.eval_batch], s.channels_last)
        yb = split.y[i : i + s.eval_batch]
        with torch.autocast(s.device.type, dtype=torch.bfloat16, enabled=s.autocast):
            out = fwd(xb)
        tot += loss_fn(out, yb).double() * yb.shape[0]
        if data.task == "classification":
            k = min(3, out.shape[1])
            top = out.float().topk(k, dim=1).indices
            c1 += (top[:, 0] == yb).sum()
            c3 += (top == yb[:, None]).any(1).sum()
    res = {"loss": float(tot) / max(1, n)}
    if data.task == "classification":
        res["acc"] = int(c1) / max(1, n)
        res["top3"] = int(c3) / max(1, n)
    else:
        res["mse"] = res["loss"]
    return res


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    full, rem = divmod(n_train, batch_size)
    return max(1, full + (1 if rem >= 2 else 0))  # a last batch of 1 would break BatchNorm: drop it


def train(
    model: nn.Module,
    data: TrainData,
    s: TrainSettings,
    on_epoch: Callable[[dict], None] | None = None,
    model_fn=None,
    on_batch: Callable[[], None] | None = None,
) -> TrainOutcome:
    """Train `model` in place; returns per-epoch metrics and the null cause (None if healthy).

    `model_fn` is the callable used for forward passes (e.g. a torch.compile'd model);
    `on_batch()` is called after each optimizer step (a progress display)."""
    fwd = model if model_fn is None else model_fn  # not `or`: a compiled module may define __len__
    loss_fn = make_loss_fn(data.task)
    n = len(data.train)
    bs = min(s.batch_size, n)
    spe = steps_per_epoch(n, bs)
    order_gen = torch.Generator(device="cpu").manual_seed(s.seed)
    aug_gen = torch.Generator(device=s.device).manual_seed(s.seed + 1) if data.augment != "none" else None
    history: list[dict] = []
    null_cause = None
    it = 0
    samples = 0
    t_train = 0.0
    for epoch in range(1, s.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=order_gen).to(s.device)
        # one gather per epoch, then every batch is a contiguous slice (no per-step indexing op)
        xs, ys = data.train.x[perm], data.train.y[perm]
        losses, sizes = [], []
        for b in range(spe):
            xb = xs[b * bs : (b + 1) * bs]
            yb = ys[b * bs : (b + 1) * bs]
            if data.augment == "crop_flip":
                xb = crop_flip(xb, aug_gen)
            elif data.augment == "flip_rot30":
                xb = flip_rotate(xb, aug_gen)
            xb = to_input(data, xb, s.channels_last)
            lr = s.optimizer.param_groups[0]["lr"]
            with torch.autocast(s.device.type, dtype=torch.bfloat16, enabled=s.autocast):
                out = fwd(xb)
            loss = loss_fn(out, yb)
            s.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            s.optimizer.step()
            s.schedule.step()
            losses.append(loss.detach())
            sizes.append(yb.shape[0])
            it += 1
            if on_batch is not None:
                on_batch()
        seen = sum(sizes)
        run_loss = (torch.stack(losses).double() * torch.tensor(sizes, dtype=torch.float64, device=s.device)).sum()
        if s.device.type == "cuda":
            torch.cuda.synchronize(s.device)
        dt = time.perf_counter() - t0
        t_train += dt
        samples += seen
        m = {"epoch": epoch, "lr": lr, "train_loss": float(run_loss) / max(1, seen)}
        if math.isfinite(m["train_loss"]):
            v = evaluate(model, data, data.val, s, model_fn)
            m.update({f"val_{k}": val for k, val in v.items()})
            if data.test is not None:
                t = evaluate(model, data, data.test, s, model_fn)
                m.update({f"test_{k}": val for k, val in t.items()})
        m["epoch_s"] = dt
        m["samples_per_s"] = seen / dt if dt > 0 else float("nan")
        history.append(m)
        if on_epoch is not None:
            on_epoch(m)
        null_cause = s.divergence.check(epoch, s.epochs, m, data.num_classes if data.task == "classification" else None)
        if null_cause:
            break
    return TrainOutcome(history, null_cause, t_train, samples)


# older private names, kept for callers outside the package
_loss_fn = make_loss_fn
