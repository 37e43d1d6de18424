"""LR range test (Smith 2015; fastai's lr_find): train from fresh weights while the learning rate
grows exponentially from start_lr to end_lr, record the loss, smooth it (bias-corrected EMA), stop
once it explodes, and suggest the LR where the smoothed loss falls fastest (steepest descent
against log10 LR)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from noisebench.errors import UserError
from noisebench.harness.models import build_model
from noisebench.harness.run.checks import resolve_device
from noisebench.harness.run.loop import crop_flip, flip_rotate, make_loss_fn, to_input
from noisebench.harness.run.runner import make_optimizer, prepare


@dataclass
class LRFindResult:
    lrs: list
    losses: list
    smoothed: list
    suggestion: float | None
    steepest_index: int | None


def suggest(lrs, smoothed, skip_start: int = 10) -> tuple[float | None, int | None]:
    """LR at the steepest descent of the smoothed loss against log10(lr).

    The slope is taken over a window of ~n/10 steps (a point-to-point gradient of the smoothed
    loss is still noisy), only between the first `skip_start` steps and the loss minimum (the
    descent must come before the loss bottoms out); the suggestion is the window's centre."""
    lrs = np.asarray(lrs, dtype=float)
    sm = np.asarray(smoothed, dtype=float)
    n = len(sm)
    if n < 6 or not np.isfinite(sm).any():
        return None, None
    lo = min(skip_start, n // 4)
    hi = int(np.nanargmin(sm))
    k = max(2, n // 10)
    if hi - lo < k:
        lo = max(0, hi - k)
    if hi - lo < k:
        return None, None
    x = np.log10(lrs)
    best, at = np.inf, None
    for i in range(lo, hi - k + 1):
        slope = (sm[i + k] - sm[i]) / (x[i + k] - x[i])
        if np.isfinite(slope) and slope < best:
            best, at = slope, i + k // 2
    if at is None or best >= 0:
        return None, None
    return float(lrs[at]), at


def lr_find(cfg, start_lr: float = 1e-7, end_lr: float = 10.0, num_iter: int = 100, beta: float = 0.98,
            stop_div: float = 4.0, progress: bool = False) -> LRFindResult:
    """Run the range test for a RunConfig (its model, activation, data, optimizer, batch size, seed)."""

    if not (0 < start_lr < end_lr):
        raise UserError(f"need 0 < --start-lr < --end-lr, got {start_lr} and {end_lr}")
    if num_iter < 5:
        raise UserError(f"--iters must be >= 5, got {num_iter}")
    device = resolve_device(cfg.device)
    data, _ = prepare(cfg, device)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, cfg.activation, data.in_shape,
                        data.num_classes if data.task == "classification" else 1).to(device)
    opt = make_optimizer(cfg, model.parameters(), cfg.extra_dict())
    loss_fn = make_loss_fn(data.task)
    n = len(data.train)
    bs = min(cfg.batch_size, n)
    gen = torch.Generator().manual_seed(cfg.seed)
    aug_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1) if data.augment != "none" else None
    mult = (end_lr / start_lr) ** (1 / (num_iter - 1))
    lrs, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    perm, pos = torch.randperm(n, generator=gen), 0
    autocast = device.type == "cuda"
    bar = None
    if progress:
        from noisebench.progress import bar as progress_bar

        bar = progress_bar(num_iter, "lr-find", unit="it")  # drawn on a terminal only (noisebench/progress.py)
    model.train()
    try:
        for i in range(num_iter):
            if pos + bs > n:
                perm, pos = torch.randperm(n, generator=gen), 0
            idx = perm[pos : pos + bs].to(device)
            pos += bs
            xb = data.train.x[idx]
            if data.augment == "crop_flip":
                xb = crop_flip(xb, aug_gen)
            elif data.augment == "flip_rot30":
                xb = flip_rotate(xb, aug_gen)
            xb = to_input(data, xb, False)
            lr = start_lr * mult**i
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                out = model(xb)
            loss = loss_fn(out, data.train.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lv = float(loss.detach())
            if bar is not None:
                bar.update(1)
            if not math.isfinite(lv):
                break
            avg = beta * avg + (1 - beta) * lv
            sm = avg / (1 - beta ** (i + 1))
            lrs.append(lr)
            losses.append(lv)
            smoothed.append(sm)
            best = min(best, sm)
            if i > 10 and sm > stop_div * best:
                break
    finally:
        if bar is not None:
            bar.close()
    s, si = suggest(lrs, smoothed)
    return LRFindResult(lrs, losses, smoothed, s, si)


def plot(res: LRFindResult, path, title: str = "", fmt: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(res.lrs, res.losses, color="0.75", lw=1, label="loss per batch")
    ax.plot(res.lrs, res.smoothed, color="C0", lw=2, label="smoothed loss (EMA 0.98)")
    if res.suggestion is not None:
        ax.axvline(res.suggestion, color="C3", ls="--", lw=1.5)
        ax.plot([res.suggestion], [res.smoothed[res.steepest_index]], "o", color="C3",
                label=f"suggestion (steepest descent): {res.suggestion:.2g}")
    ax.set_xscale("log")
    finite = [v for v in res.smoothed if math.isfinite(v)]
    if finite:
        lo, hi = min(finite), max(finite[: max(1, len(finite) // 10)] + [min(finite)])
        ax.set_ylim(lo - 0.1 * abs(hi - lo) - 1e-12, max(hi, lo) + 0.5 * abs(hi - lo) + 1e-12)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title or "LR range test")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format=fmt)
    plt.close(fig)
