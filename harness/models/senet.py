"""`senet18`: kuangliu/pytorch-cifar's SENet18 -- a pre-activation ResNet-18 with squeeze-and-excitation.

PreActBlock: act(bn1(x)) -> conv3x3(stride) -> act(bn2) -> conv3x3 -> SE gate -> + shortcut, where the
shortcut (a 1x1 conv, no BN, when the shape changes) takes the pre-activated input. SE: global average
pool -> 1x1 conv (C -> C/16, with bias) -> act -> 1x1 conv (C/16 -> C) -> sigmoid, multiplied in.
The SE's inner ReLU is swapped for the activation like every other one; its final sigmoid is a gate
(a weight in [0, 1]), not a hidden nonlinearity, and stays a sigmoid. Stem: 3x3 conv + BN + act.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from noisebench.harness.models.cifar_resnet import CifarResNet
from noisebench.registry import register_model

ActFactory = Callable[[], nn.Module]


class PreActSEBlock(nn.Module):
    def __init__(self, act: ActFactory, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.act1 = act()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = act()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(planes, planes // 16, 1),
            act(),
            nn.Conv2d(planes // 16, planes, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.act2(self.bn2(out)))
        return out * self.se(out) + shortcut


@register_model("senet18", default_input=(3, 32, 32), min_hw=8,
                description="CIFAR SE-ResNet-18, pre-activation blocks (kuangliu SENet18)")
def senet18(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    return CifarResNet(act, (2, 2, 2, 2), in_channels=in_shape[0], num_classes=num_outputs, block=PreActSEBlock)
