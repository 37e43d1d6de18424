"""`densenet121`: the CIFAR DenseNet-121 of kuangliu/pytorch-cifar, as used by the Mish benchmark.

Growth rate 32, dense blocks [6, 12, 24, 16], bottleneck width 4*growth, reduction 0.5, 3x3 stem with
2*growth channels, no stem pooling. Fixes the original benchmark bug: its DenseNet took an activation
argument but its Bottleneck/Transition blocks still called ``F.relu``; here every BN is followed by an
``act()`` module (2 per bottleneck, 1 per transition, 1 before pooling).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from noisebench.registry import register_model

ActFactory = Callable[[], nn.Module]


class Bottleneck(nn.Module):
    def __init__(self, act: ActFactory, in_planes: int, growth_rate: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.act1 = act()
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.act2 = act()
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.act1(self.bn1(x)))
        out = self.conv2(self.act2(self.bn2(out)))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    def __init__(self, act: ActFactory, in_planes: int, out_planes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.act = act()
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(self.act(self.bn(x))), 2)


class DenseNet(nn.Module):
    def __init__(self, act: ActFactory, nblocks=(6, 12, 24, 16), growth_rate: int = 32, reduction: float = 0.5,
                 in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(in_channels, planes, 3, padding=1, bias=False)
        stages = []
        for i, n in enumerate(nblocks):
            layers = []
            for _ in range(n):
                layers.append(Bottleneck(act, planes, growth_rate))
                planes += growth_rate
            stages.append(nn.Sequential(*layers))
            if i < len(nblocks) - 1:
                out_planes = int(math.floor(planes * reduction))
                stages.append(Transition(act, planes, out_planes))
                planes = out_planes
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(planes)
        self.act = act()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(self.conv1(x))
        out = self.pool(self.act(self.bn(out)))
        return self.linear(torch.flatten(out, 1))


@register_model("densenet121", default_input=(3, 32, 32), min_hw=8,
                description="CIFAR DenseNet-121 (growth 32, blocks 6/12/24/16; kuangliu), act in every block")
def densenet121(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    return DenseNet(act, (6, 12, 24, 16), growth_rate=32, in_channels=in_shape[0], num_classes=num_outputs)
