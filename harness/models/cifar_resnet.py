"""`resnet18`: the CIFAR ResNet-18 of kuangliu/pytorch-cifar (3x3 stride-1 stem, no max-pool).

Same layers and parameter count (11,173,962 with 10 classes) as the reference; every ``F.relu`` of the
reference is an ``act()`` module here. Global average pooling is adaptive (identical to the reference's
``avg_pool2d(out, 4)`` at 32x32, and it also accepts other sizes).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from noisebench.registry import register_model

ActFactory = Callable[[], nn.Module]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, act: ActFactory, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = act()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        self.act2 = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The kuangliu CIFAR ResNet skeleton: 3x3 stem + BN + act, four stages of `block`, pool, linear.

    `block(act, in_planes, planes, stride)` is BasicBlock here; senet.py passes its SE block."""

    def __init__(self, act: ActFactory, num_blocks=(2, 2, 2, 2), in_channels: int = 3, num_classes: int = 10,
                 block: type = BasicBlock):
        super().__init__()
        self.block = block
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = act()
        self.layer1 = self._make_layer(act, 64, num_blocks[0], 1)
        self.layer2 = self._make_layer(act, 128, num_blocks[1], 2)
        self.layer3 = self._make_layer(act, 256, num_blocks[2], 2)
        self.layer4 = self._make_layer(act, 512, num_blocks[3], 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(512, num_classes)

    def _make_layer(self, act: ActFactory, planes: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(self.block(act, self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(self.pool(out), 1))


@register_model("resnet18", default_input=(3, 32, 32), min_hw=8,
                description="CIFAR ResNet-18 (3x3 stem, no max-pool; kuangliu pytorch-cifar)")
def resnet18(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    return CifarResNet(act, (2, 2, 2, 2), in_channels=in_shape[0], num_classes=num_outputs)
