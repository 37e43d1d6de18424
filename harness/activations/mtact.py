"""mTAct: TAct (``tact.py``) with alpha -> alpha**2 and beta -> beta**2."""

from __future__ import annotations

from noisebench.harness.activations.tact import TAct
from noisebench.registry import register_activation

__all__ = ["MTAct"]


@register_activation("mtact", order=120, description="TAct with a -> a^2, b -> b^2")
class MTAct(TAct):
    """mTAct(alpha, beta): TAct with alpha -> alpha**2 and beta -> beta**2."""

    squared = True
