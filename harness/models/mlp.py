"""`mlp`: the hidden-function regression MLP (docs/STUDIES.md §2): IN -> 128 -> BN -> act -> 64 -> BN -> act -> OUT."""

from __future__ import annotations

from typing import Callable

from torch import nn

from noisebench.registry import register_model


class MLP(nn.Sequential):
    def __init__(self, act: Callable[[], nn.Module], in_features: int = 10, num_outputs: int = 1):
        super().__init__(
            nn.Linear(in_features, 128),
            nn.BatchNorm1d(128),
            act(),
            nn.Linear(128, 64),
            nn.BatchNorm1d(64),
            act(),
            nn.Linear(64, num_outputs),
        )


@register_model("mlp", task="regression", default_input=(10,),
                description="10->128->BN->act->64->BN->act->1 regression MLP (synth; input width follows the data)")
def build(act: Callable[[], nn.Module], in_shape: tuple, num_outputs: int) -> nn.Module:
    return MLP(act, in_features=in_shape[0], num_outputs=num_outputs)
