"""Learning-rate policies, built on ``torch.optim.lr_scheduler`` and stepped once per iteration.

- fixed:      lr(it) = lr                                   (ConstantLR with factor 1)
- step:       StepLR stepped once per epoch: lr(it) = lr * gamma ** floor(epoch / step_size),
              epoch = floor(it / steps_per_epoch)           (defaults step_size=2, gamma=0.7: the
              MNIST CNN's recipe); implemented as StepLR(step_size * steps_per_epoch) per iteration
- triangular: Smith's cyclical LR (2017, "triangular", LR only): CyclicLR(mode="triangular",
              cycle_momentum=False); with half-cycle s iterations,
              cycle = floor(1 + it / (2s)), x = |it/s - 2*cycle + 1|,
              lr(it) = base + (max - base) * max(0, 1 - x); max = lr, base = lr / base_div
              (defaults base_div=4, s = 2 epochs of iterations)
- onecycle:   the one-cycle policy as fastai's fit_one_cycle uses it: OneCycleLR(anneal_strategy="cos",
              div_factor=25, final_div_factor=1e4, pct_start=0.3, three_phase=False): cosine warm-up
              from max/25 to max, then cosine decay to max/(25*1e4); momentum (SGD) or beta1 (Adam)
              cycles inversely, 0.95 -> 0.85 -> 0.95, as fastai's moms=(0.95, 0.85, 0.95). The
              optimizer uses betas (0.9, 0.99). Torch's phase boundary is step pct_start*total - 1.

``make_scheduler`` returns the scheduler; the training loop calls ``scheduler.step()`` after every
optimizer step. ``lr_curve`` gives the lr of every iteration without training (tests, plots).
"""

from __future__ import annotations

import torch
from torch.optim import lr_scheduler as ls

from noisebench.errors import UserError
from noisebench.harness.run.recipes import KNOB_DEFAULTS as D

POLICIES = ("fixed", "step", "triangular", "onecycle")
ONECYCLE_MOMENTUM = (0.85, 0.95)  # (base, max) momentum / beta1 of the one-cycle policy


def make_scheduler(policy: str, optimizer: torch.optim.Optimizer, lr: float, steps_per_epoch: int, epochs: int,
                   params: dict | None = None) -> torch.optim.lr_scheduler.LRScheduler:
    """The torch scheduler for a policy; ``params`` are the policy's knobs (from RunConfig.extra)."""

    p = dict(params or {})
    spe = max(1, int(steps_per_epoch))
    total = spe * max(1, int(epochs))
    for g in optimizer.param_groups:
        g["lr"] = lr
        g.pop("initial_lr", None)
    if policy == "fixed":
        return ls.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if policy == "step":
        return ls.StepLR(optimizer, step_size=int(p.get("step_size", D["step_size"])) * spe, gamma=float(p.get("gamma", D["gamma"])))
    if policy == "triangular":
        base = float(p["base_lr"]) if "base_lr" in p else lr / float(p.get("base_div", D["base_div"]))
        half = max(1, int(p.get("half_cycle", 2 * spe)))
        return ls.CyclicLR(optimizer, base_lr=base, max_lr=lr, step_size_up=half, mode="triangular",
                           cycle_momentum=False)
    if policy == "onecycle":
        return ls.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=float(p.get("pct_start", D["pct_start"])),
                             anneal_strategy="cos", div_factor=float(p.get("div", D["div"])),
                             final_div_factor=float(p.get("final_div", D["final_div"])), cycle_momentum=True,
                             base_momentum=ONECYCLE_MOMENTUM[0], max_momentum=ONECYCLE_MOMENTUM[1],
                             three_phase=False)
    raise UserError(f"unknown LR policy {policy!r}; choose one of {', '.join(POLICIES)}")


def lr_curve(policy: str, lr: float, steps_per_epoch: int, epochs: int, params: dict | None = None,
             optimizer: str = "sgd") -> list[float]:
    """The lr used at each iteration 0 .. total-1 (a throwaway optimizer; no training)."""
    w = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.Adam(w, lr=lr) if optimizer == "adam" else torch.optim.SGD(w, lr=lr, momentum=0.9)
    sched = make_scheduler(policy, opt, lr, steps_per_epoch, epochs, params)
    out = []
    for _ in range(max(1, int(steps_per_epoch)) * max(1, int(epochs))):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out
