"""`xresnet18/34/50`: fastai's XResNet (the "bag of tricks" ResNet-D), re-implemented on torch.nn.

After fastai v1 ``vision/models/xresnet.py``: stem of three 3x3 conv+BN+act layers 3->32->32->64 (the
first with stride 2), 3x3 stride-2 max-pool, four stages of ResBlocks (expansion 1 for 18/34 with two
3x3 convs, 4 for 50 with 1x1-3x3-1x1), last BN of each block zero-initialized, identity path
``AvgPool2d(2, ceil_mode=True)`` when strided, then a 1x1 conv + BN when the width changes; act after
the residual add; global average pool, linear. Kaiming-normal init for convs and the linear layer.
Kept as fastai has it for 32x32 CIFAR inputs (the stem and max-pool reduce 32x32 to 8x8).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from noisebench.registry import register_model

ActFactory = Callable[[], nn.Module]


def conv_layer(ni: int, nf: int, ks: int = 3, stride: int = 1, zero_bn: bool = False,
               act: ActFactory | None = None) -> nn.Sequential:
    bn = nn.BatchNorm2d(nf)
    nn.init.constant_(bn.weight, 0.0 if zero_bn else 1.0)
    layers = [nn.Conv2d(ni, nf, ks, stride=stride, padding=ks // 2, bias=False), bn]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    def __init__(self, act: ActFactory, expansion: int, ni: int, nh: int, stride: int = 1):
        super().__init__()
        nf, ni = nh * expansion, ni * expansion
        if expansion == 1:
            layers = [conv_layer(ni, nh, 3, stride=stride, act=act), conv_layer(nh, nf, 3, zero_bn=True)]
        else:
            layers = [conv_layer(ni, nh, 1, act=act), conv_layer(nh, nh, 3, stride=stride, act=act),
                      conv_layer(nh, nf, 1, zero_bn=True)]
        self.convs = nn.Sequential(*layers)
        self.idconv = nn.Identity() if ni == nf else conv_layer(ni, nf, 1)
        self.pool = nn.Identity() if stride == 1 else nn.AvgPool2d(2, ceil_mode=True)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convs(x) + self.idconv(self.pool(x)))


class XResNet(nn.Sequential):
    def __init__(self, act: ActFactory, expansion: int, layers, c_in: int = 3, c_out: int = 1000):
        sizes = [c_in, 32, 32, 64]
        stem = [conv_layer(sizes[i], sizes[i + 1], stride=2 if i == 0 else 1, act=act) for i in range(3)]
        block_szs = [64 // expansion, 64, 128, 256, 512]
        blocks = [
            nn.Sequential(*[ResBlock(act, expansion, block_szs[i] if j == 0 else block_szs[i + 1], block_szs[i + 1],
                                     (1 if i == 0 else 2) if j == 0 else 1) for j in range(n)])
            for i, n in enumerate(layers)
        ]
        super().__init__(*stem, nn.MaxPool2d(kernel_size=3, stride=2, padding=1), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(block_szs[-1] * expansion, c_out))
        _init_cnn(self)


def _init_cnn(m: nn.Module) -> None:
    if getattr(m, "bias", None) is not None:
        nn.init.constant_(m.bias, 0)
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(m.weight)
    for child in m.children():
        _init_cnn(child)


@register_model("xresnet18", default_input=(3, 32, 32), min_hw=16,
                description="fastai XResNet-18 (3-conv stem 32/32/64, max-pool, avg-pool shortcut)")
def xresnet18(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    return XResNet(act, 1, [2, 2, 2, 2], c_in=in_shape[0], c_out=num_outputs)


@register_model("xresnet34", default_input=(3, 32, 32), min_hw=16, description="fastai XResNet-34")
def xresnet34(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    return XResNet(act, 1, [3, 4, 6, 3], c_in=in_shape[0], c_out=num_outputs)


@register_model("xresnet50", default_input=(3, 32, 32), min_hw=16,
                description="fastai XResNet-50 (bottleneck blocks, expansion 4)")
def xresnet50(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    return XResNet(act, 4, [3, 4, 6, 3], c_in=in_shape[0], c_out=num_outputs)
