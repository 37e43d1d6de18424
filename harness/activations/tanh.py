"""The built-in activation ``tanh``: ``torch.nn.Tanh``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("tanh", order=60, module=__name__,
                    description="tanh(x)")(nn.Tanh)
