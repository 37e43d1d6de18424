"""The built-in activation ``softsign``: ``torch.nn.Softsign``, registered as it is (``module=__name__`` credits
the registration to this file, so it is a built-in, not a plug-in from torch)."""

from torch import nn

from noisebench.registry import register_activation

register_activation("softsign", order=70, module=__name__,
                    description="x / (1 + |x|)")(nn.Softsign)
