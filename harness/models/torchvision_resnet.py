"""`resnet18_tv`: torchvision's ImageNet ResNet-18 (7x7 stride-2 stem + max-pool) with ``num_classes`` outputs.

This is the source report's "simple ResNet-18" (``torchvision.models.resnet18(num_classes=10)``,
11,181,642 parameters). Built from torchvision's own ``ResNet`` class; the only change is the
nonlinearity: torchvision's ``BasicBlock`` reuses one ``self.relu`` twice, which would make a trainable
activation share its parameters inside a block, so the block here has two activation modules
(``act1`` after bn1, ``act2`` after the residual add) and the stem's ``relu`` is replaced by ``act()``.
A non-3-channel input gets a stem conv with that many input channels.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from noisebench.registry import register_model

ActFactory = Callable[[], nn.Module]


def _block_class(act: ActFactory) -> type:
    from torchvision.models.resnet import BasicBlock  # torchvision: imported when the model is built

    class ActBasicBlock(BasicBlock):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            del self.relu
            self.act1 = act()
            self.act2 = act()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.act1(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.act2(out + identity)

    return ActBasicBlock


@register_model("resnet18_tv", default_input=(3, 32, 32), min_hw=16,
                description="torchvision ImageNet ResNet-18 (7x7 s2 stem + max-pool), 10 outputs: the 'simple ResNet-18'")
def build(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    from torchvision.models.resnet import ResNet

    model = ResNet(_block_class(act), [2, 2, 2, 2], num_classes=num_outputs)
    model.relu = act()
    if in_shape[0] != 3:
        model.conv1 = nn.Conv2d(in_shape[0], 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model
