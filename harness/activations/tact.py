"""TAct, the source lab's own activation (docs/STUDIES.md §4).

The original code drew the initial alpha and beta once, at import, so every module started equal; here each
module draws its own alpha, beta ~ U(0, 0.5) from torch's global RNG when it is constructed (alpha first, then
beta), so a run that calls ``torch.manual_seed(seed)`` before building the model gets reproducible, per-module
values. mTAct (``mtact.py``) is its squared variant.
"""

from __future__ import annotations

import torch
from torch import nn

from noisebench.registry import register_activation

__all__ = ["TAct"]


def _init_scalar(value: float | None) -> torch.Tensor:
    t = torch.empty(())
    if value is None:
        return t.uniform_(0.0, 0.5)  # per module, from torch's (seeded) global RNG
    return t.fill_(float(value))


@register_activation("tact", order=110,
                     description="(a*x + 1 - a) * sigmoid((1+b)*x), trainable a, b ~ U(0, 0.5)")
class TAct(nn.Module):
    """TAct(alpha, beta): f(x) = (A*x + B) * (tanh(C*x) + 1) with A = alpha/2, B = 1/2 - A, C = (1+beta)/2.

    Computed in the equivalent form ``(alpha*x + 1 - alpha) * sigmoid((1+beta)*x)`` (plain elementwise
    ops: ``torch.compile`` fuses it into one kernel; finite for any finite input, also in bf16).
    alpha = 1 gives Swish with slope 1+beta; beta -> inf tends to ReLU (alpha = 1); alpha = 0 gives
    sigmoid((1+beta)*x). ``alpha`` and ``beta`` are trainable scalars, initialized U(0, 0.5) from
    torch's RNG at construction unless given.
    """

    squared = False

    def __init__(self, alpha: float | None = None, beta: float | None = None):
        super().__init__()
        self.alpha = nn.Parameter(_init_scalar(alpha))
        self.beta = nn.Parameter(_init_scalar(beta))

    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The effective (alpha, beta) of the formula (squared for mTAct)."""
        if self.squared:
            return self.alpha * self.alpha, self.beta * self.beta
        return self.alpha, self.beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.coefficients()
        # 0-dim float32 parameters do not promote x's dtype: a bf16 input gives a bf16 output.
        return (a * x + 1 - a) * torch.sigmoid((1 + b) * x)

    def extra_repr(self) -> str:
        return "trainable alpha, beta (scalars)"
