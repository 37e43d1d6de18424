"""The built-in activation ``relu``: ``torch.nn.ReLU``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("relu", order=10, module=__name__,
                    description="max(0, x)")(nn.ReLU)
