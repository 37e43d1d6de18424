"""`mobilenetv2`: kuangliu/pytorch-cifar's CIFAR MobileNetV2, as used by the Mish benchmark.

Stem 3x3 conv stride 1 (32 channels); inverted-residual blocks (1x1 expand + act, 3x3 depthwise + act,
1x1 linear projection; residual only at stride 1, through a 1x1 conv + BN when the width changes);
cfg (expansion, out, n, stride) = (1,16,1,1) (6,24,2,1) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2)
(6,320,1,1) -- the second stage's stride is 1 for CIFAR; then 1x1 conv 320->1280 + BN + act, global
average pool, linear. Every ReLU (ReLU, not ReLU6, in this variant) is an ``act()`` module.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from noisebench.registry import register_model

ActFactory = Callable[[], nn.Module]

CFG = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class Block(nn.Module):
    def __init__(self, act: ActFactory, in_planes: int, out_planes: int, expansion: int, stride: int):
        super().__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = act()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = act()
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class MobileNetV2(nn.Module):
    def __init__(self, act: ActFactory, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.act1 = act()
        layers, in_planes = [], 32
        for expansion, out_planes, n, stride in CFG:
            for s in [stride] + [1] * (n - 1):
                layers.append(Block(act, in_planes, out_planes, expansion, s))
                in_planes = out_planes
        self.layers = nn.Sequential(*layers)
        self.conv2 = nn.Conv2d(320, 1280, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.act2 = act()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(self.layers(out))))
        return self.linear(torch.flatten(self.pool(out), 1))


@register_model("mobilenetv2", default_input=(3, 32, 32), min_hw=8,
                description="CIFAR MobileNetV2 (stride-1 stem and first stage; kuangliu)")
def build(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    return MobileNetV2(act, in_channels=in_shape[0], num_classes=num_outputs)
