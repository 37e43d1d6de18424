"""The built-in activation ``sigmoid``: ``torch.nn.Sigmoid``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("sigmoid", order=50, module=__name__,
                    description="1 / (1 + exp(-x))")(nn.Sigmoid)
