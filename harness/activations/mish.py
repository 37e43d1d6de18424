"""The built-in activation ``mish``: ``torch.nn.Mish``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("mish", order=90, module=__name__,
                    description="x * tanh(softplus(x))")(nn.Mish)
