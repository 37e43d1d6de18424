"""The built-in activation ``gelu``: ``torch.nn.GELU``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("gelu", order=100, module=__name__,
                    description="x * Phi(x), exact erf form")(nn.GELU)
