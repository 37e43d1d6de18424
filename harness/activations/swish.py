"""The built-in activation ``swish``: ``torch.nn.SiLU``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("swish", order=80, module=__name__,
                    description="x * sigmoid(x) (SiLU)")(nn.SiLU)
