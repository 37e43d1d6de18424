"""The built-in activation ``prelu``: ``torch.nn.PReLU``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("prelu", order=30, module=__name__,
                    description="x if x > 0 else a*x, one trainable slope a (init 0.25)")(nn.PReLU)
