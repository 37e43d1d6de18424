"""Each LR policy's schedule against its formula, point by point, and the divergence rules."""

from __future__ import annotations

import math

import pytest

from noisebench.errors import UserError
from noisebench.harness.run.divergence import DivergencePolicy
from noisebench.harness.run.schedules import lr_curve, make_scheduler


def curve(policy, lr, spe, epochs, params=None, optimizer="sgd"):
    return lr_curve(policy, lr, spe, epochs, params, optimizer)


def test_fixed():
    assert all(v == 0.01 for v in curve("fixed", 0.01, 10, 3))


def test_step_matches_formula_and_torch_steplr_per_epoch():
    import torch

    spe, epochs, lr = 7, 9, 1e-3
    f = curve("step", lr, spe, epochs, {"step_size": 2, "gamma": 0.7})
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sch = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.7)
    for e in range(epochs):
        for b in range(spe):
            it = e * spe + b
            assert f[it] == pytest.approx(lr * 0.7 ** (e // 2), rel=1e-12)
            assert f[it] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sch.step()


def test_triangular_matches_smith_formula():
    lr, base, s = 0.1, 0.01, 5
    f = curve("triangular", lr, 10, 4, {"base_lr": base, "half_cycle": s})
    for it in range(40):
        cycle = math.floor(1 + it / (2 * s))
        x = abs(it / s - 2 * cycle + 1)
        assert f[it] == pytest.approx(base + (lr - base) * max(0.0, 1 - x), rel=1e-9)
    assert f[0] == pytest.approx(base) and f[s] == pytest.approx(lr) and f[2 * s] == pytest.approx(base)


def test_triangular_defaults_and_momentum_untouched():
    import torch

    f = curve("triangular", 0.4, 10, 10)  # base = lr/4, half cycle = 2 epochs
    assert f[0] == pytest.approx(0.1) and f[20] == pytest.approx(0.4) and f[40] == pytest.approx(0.1)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.4, momentum=0.9)
    sch = make_scheduler("triangular", opt, 0.4, 10, 10)
    for _ in range(15):
        opt.step()
        sch.step()
    assert opt.param_groups[0]["momentum"] == 0.9  # Smith's LR-only policy


def _cos(a, b, p):
    return b + (a - b) / 2 * (1 + math.cos(math.pi * p))


def test_onecycle_matches_formula():
    mx, spe, epochs = 1e-2, 10, 10
    total = spe * epochs
    f = curve("onecycle", mx, spe, epochs)
    end1 = 0.3 * total - 1  # torch's phase boundary
    for it in range(total):
        want = _cos(mx / 25, mx, it / end1) if it <= end1 else _cos(mx, mx / (25 * 1e4), (it - end1) / (total - 1 - end1))
        assert f[it] == pytest.approx(want, rel=1e-9)
    assert f[0] == pytest.approx(mx / 25)
    assert f[-1] == pytest.approx(mx / 25e4)
    assert max(f) == pytest.approx(mx, rel=1e-3)


def test_onecycle_cycles_beta1_like_fastai():
    import torch

    w = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.Adam(w, lr=1e-3, betas=(0.9, 0.99))
    sch = make_scheduler("onecycle", opt, 1e-3, 10, 10)
    b1 = []
    for _ in range(100):
        b1.append(opt.param_groups[0]["betas"][0])
        opt.step()
        sch.step()
    assert b1[0] == pytest.approx(0.95) and min(b1) == pytest.approx(0.85, abs=1e-3) and b1[-1] == pytest.approx(0.95, abs=1e-6)
    assert all(b[1] == 0.99 for b in [opt.param_groups[0]["betas"]])


def test_unknown_policy():
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(UserError, match="unknown LR policy"):
        make_scheduler("cosine", opt, 0.1, 1, 1)


def test_divergence_rules():
    d = DivergencePolicy()
    assert d.check(1, 5, {"train_loss": float("nan")}, 10).startswith("non-finite train loss")
    assert d.check(1, 5, {"train_loss": 1.0, "val_loss": float("inf")}, None).startswith("non-finite val loss")
    # chance accuracy: not before epoch 2, not for runs shorter than 3 epochs
    assert d.check(1, 5, {"train_loss": 2.3, "val_acc": 0.1}, 10) is None
    assert d.check(2, 2, {"train_loss": 2.3, "val_acc": 0.1}, 10) is None
    assert "chance accuracy" in d.check(2, 5, {"train_loss": 2.3, "val_acc": 0.115}, 10)
    assert d.check(2, 5, {"train_loss": 2.3, "val_acc": 0.2}, 10) is None
    assert d.check(3, 5, {"train_loss": 0.1, "val_loss": 0.1}, None) is None  # regression: only non-finite


def test_lr_finder_suggests_steepest_descent():
    import numpy as np

    from noisebench.harness.run.lr_finder import suggest

    lrs = np.logspace(-7, 1, 100)
    x = np.log10(lrs)
    loss = 1 / (1 + np.exp(2.5 * (x + 3))) + 0.1 + np.where(x > 0, (x * 3) ** 2, 0)  # steepest at 1e-3
    lr, i = suggest(lrs, loss)
    assert 10**-3.5 < lr < 10**-2.5
    assert suggest(lrs[:4], loss[:4]) == (None, None)
