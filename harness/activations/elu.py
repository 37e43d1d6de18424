"""The built-in activation ``elu``: ``torch.nn.ELU``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("elu", order=40, module=__name__,
                    description="x if x > 0 else exp(x) - 1")(nn.ELU)
