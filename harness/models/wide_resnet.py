"""`wrn22`: fastai's ``wrn_22`` -- ``WideResNet(num_groups=3, N=3, num_classes=10, k=6, drop_p=0, start_nf=16)``.

Re-implemented on torch.nn after fastai v1 ``vision/models/wrn.py`` (no fastai dependency). Channels
16 -> 96 -> 192 -> 384; stem 3x3 conv (no BN/act); pre-activation BasicBlocks:
``x2 = act(bn(x)); out = conv3x3(x2, stride); out = conv3x3(act(bn(out))) * 0.2; out + shortcut(x2)``
where the shortcut is a 1x1 conv when the width changes (fastai ``conv2d``: bias-free, kaiming-normal
init); head BN + act + global average pool + linear. All convs bias-free as in fastai.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from noisebench.registry import register_model

ActFactory = Callable[[], nn.Module]


def _conv(ni: int, nf: int, ks: int = 3, stride: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(ni, nf, ks, stride=stride, padding=ks // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight)
    return conv


class BasicBlock(nn.Module):
    def __init__(self, act: ActFactory, ni: int, nf: int, stride: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(ni)
        self.act1 = act()
        self.conv1 = _conv(ni, nf, 3, stride)
        self.bn2 = nn.BatchNorm2d(nf)
        self.act2 = act()
        self.conv2 = _conv(nf, nf, 3, 1)
        self.shortcut = _conv(ni, nf, 1, stride) if ni != nf else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = self.act1(self.bn(x))
        r = x2 if self.shortcut is None else self.shortcut(x2)
        out = self.conv1(x2)
        out = self.conv2(self.act2(self.bn2(out))) * 0.2
        return out + r


class WideResNet(nn.Module):
    def __init__(self, act: ActFactory, num_groups: int = 3, N: int = 3, num_classes: int = 10, k: int = 6,
                 start_nf: int = 16, in_channels: int = 3):
        super().__init__()
        n_channels = [start_nf] + [start_nf * (2**i) * k for i in range(num_groups)]
        layers: list[nn.Module] = [_conv(in_channels, n_channels[0], 3, 1)]
        for i in range(num_groups):
            for j in range(N):
                ni = n_channels[i] if j == 0 else n_channels[i + 1]
                stride = (1 if i == 0 else 2) if j == 0 else 1
                layers.append(BasicBlock(act, ni, n_channels[i + 1], stride))
        layers += [nn.BatchNorm2d(n_channels[-1]), act(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                   nn.Linear(n_channels[-1], num_classes)]
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@register_model("wrn22", default_input=(3, 32, 32), min_hw=4,
                description="fastai wrn_22: WideResNet(num_groups=3, N=3, k=6, start_nf=16)")
def wrn22(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    return WideResNet(act, num_groups=3, N=3, num_classes=num_outputs, k=6, in_channels=in_shape[0])
