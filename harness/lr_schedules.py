"""Learning-rate policies as pure functions of the iteration: lr(it) for it = 0 .. total-1.

The training loop sets the optimizer's lr from `schedule(it)` before every step, so the schedule
is exactly the formula below (and the tests check it against the formula, point by point).

- fixed:      lr(it) = lr
- step:       StepLR stepped once per epoch: lr(it) = lr * gamma ** floor(epoch / step_size),
              epoch = floor(it / steps_per_epoch)   (defaults step_size=2, gamma=0.7 as in SPEC §3)
- triangular: Smith's cyclical LR (2017, "triangular"): with half-cycle s iterations,
              cycle = floor(1 + it / (2s)), x = |it/s - 2*cycle + 1|,
              lr(it) = base + (max - base) * max(0, 1 - x); max = lr, base = lr / base_div
              (defaults base_div=4, s = 2 epochs of iterations)
- onecycle:   fastai's fit_one_cycle: cosine warm-up from max/div to max over the first pct_start
              of all steps, then cosine decay to max/(div*final_div); max = lr
              (defaults div=25, final_div=1e4, pct_start=0.3). The optimizer uses betas (0.9, 0.99).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from noisebench.errors import UserError

POLICIES = ("fixed", "step", "triangular", "onecycle")


def cos_anneal(start: float, end: float, pct: float) -> float:
    """fastai's SchedCos: from start (pct=0) to end (pct=1) along half a cosine."""
    return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))


def fixed(lr: float) -> Callable[[int], float]:
    return lambda it: lr


def step(lr: float, steps_per_epoch: int, step_size: int = 2, gamma: float = 0.7) -> Callable[[int], float]:
    def f(it: int) -> float:
        epoch = it // steps_per_epoch
        return lr * gamma ** (epoch // step_size)

    return f


def triangular(max_lr: float, base_lr: float, half_cycle: int) -> Callable[[int], float]:
    s = max(1, int(half_cycle))

    def f(it: int) -> float:
        cycle = math.floor(1 + it / (2 * s))
        x = abs(it / s - 2 * cycle + 1)
        return base_lr + (max_lr - base_lr) * max(0.0, 1 - x)

    return f


def onecycle(max_lr: float, total: int, div: float = 25.0, final_div: float = 1e4, pct_start: float = 0.3) -> Callable[[int], float]:
    warm = max(1, int(round(pct_start * total)))
    rest = max(1, total - warm)
    lo, end = max_lr / div, max_lr / (div * final_div)

    def f(it: int) -> float:
        if it < warm:
            return cos_anneal(lo, max_lr, it / warm)
        return cos_anneal(max_lr, end, min(1.0, (it - warm) / rest))

    return f


@dataclass(frozen=True)
class ScheduleSpec:
    policy: str
    lr: float
    steps_per_epoch: int
    epochs: int
    params: dict

    @property
    def total(self) -> int:
        return self.steps_per_epoch * self.epochs


def make_schedule(policy: str, lr: float, steps_per_epoch: int, epochs: int, params: dict | None = None) -> Callable[[int], float]:
    """The lr(it) function for a policy; `params` are the policy's knobs (from RunConfig.extra)."""
    p = dict(params or {})
    spe = max(1, int(steps_per_epoch))
    if policy == "fixed":
        return fixed(lr)
    if policy == "step":
        return step(lr, spe, int(p.get("step_size", 2)), float(p.get("gamma", 0.7)))
    if policy == "triangular":
        base = float(p["base_lr"]) if "base_lr" in p else lr / float(p.get("base_div", 4.0))
        half = int(p.get("half_cycle", 2 * spe))
        return triangular(lr, base, half)
    if policy == "onecycle":
        return onecycle(lr, spe * epochs, float(p.get("div", 25.0)), float(p.get("final_div", 1e4)), float(p.get("pct_start", 0.3)))
    raise UserError(f"unknown LR policy {policy!r}; choose one of {', '.join(POLICIES)}")
