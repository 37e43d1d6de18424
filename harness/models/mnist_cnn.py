"""`mnist_cnn`: the label-flipped MNIST CNN (docs/STUDIES.md §3), with the original's missing 128 -> 10 layer added.

The source resized MNIST 28x28 -> 64x64 before the network; here the model does it itself: forward
starts with a bilinear ``F.interpolate`` to 64x64 when the input is not already 64x64, so the stored
28x28 images go in unchanged. Layout (64x64 input):
conv(C->10, k5, s2) + BN + act + maxpool2        -> 10x15x15
conv(10->16, k5, p2) + BN + act + maxpool2       -> 16x7x7
conv(16->24, k3, p1) + BN + act                  -> 24x7x7
flatten(1176) -> dropout .25 -> 512 + BN + act -> dropout .25 -> 128 + BN + act -> num_outputs
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from noisebench.registry import register_model

INPUT_SIZE = 64


class MnistCNN(nn.Module):
    def __init__(self, act: Callable[[], nn.Module], in_channels: int = 1, num_outputs: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 10, kernel_size=5, stride=2),
            nn.BatchNorm2d(10),
            act(),
            nn.MaxPool2d(2),
            nn.Conv2d(10, 16, kernel_size=5, padding=2),
            nn.BatchNorm2d(16),
            act(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 24, kernel_size=3, padding=1),
            nn.BatchNorm2d(24),
            act(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(24 * 7 * 7, 512),
            nn.BatchNorm1d(512),
            act(),
            nn.Dropout(0.25),
            nn.Linear(512, 128),
            nn.BatchNorm1d(128),
            act(),
            nn.Linear(128, num_outputs),  # missing in the original code
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return self.classifier(self.features(x))


@register_model("mnist_cnn", task="classification", default_input=(1, 28, 28),
                description="3-conv + 2-FC MNIST CNN, input resized to 64x64 inside, final 128->10 layer restored")
def build(act: Callable[[], nn.Module], in_shape: tuple, num_outputs: int) -> nn.Module:
    return MnistCNN(act, in_channels=in_shape[0], num_outputs=num_outputs)
