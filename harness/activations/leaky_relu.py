"""The built-in activation ``leaky_relu``: ``torch.nn.LeakyReLU``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("leaky_relu", order=20, module=__name__,
                    description="x if x > 0 else 0.01*x")(nn.LeakyReLU)
