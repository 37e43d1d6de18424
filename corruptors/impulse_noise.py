"""Impulse (salt-and-pepper) noise (CIFAR-10-C): skimage random_noise(mode='s&p', amount=c).

Each pixel *and channel* independently: with probability c it is replaced, by 255 (salt) or 0
(pepper) with equal probability (salt_vs_pepper = 0.5); otherwise it is kept.
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range
from noisebench.registry import register_corruption

SEVERITIES = {1: {"amount": 0.01}, 2: {"amount": 0.02}, 3: {"amount": 0.03}, 4: {"amount": 0.05}, 5: {"amount": 0.07}}
RANGES = {"amount": (0.0, 1.0)}
TINY_IMAGENET_C = {1: {"amount": 0.01}, 2: {"amount": 0.02}, 3: {"amount": 0.05},
                   4: {"amount": 0.08}, 5: {"amount": 0.14}}
IMAGENET_C = {1: {"amount": 0.03}, 2: {"amount": 0.06}, 3: {"amount": 0.09}, 4: {"amount": 0.17}, 5: {"amount": 0.27}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("impulse_noise", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="salt and pepper: a fraction `amount` of values set to 0 or 255 (half each)")
def impulse_noise(x, rng, *, amount: float = 0.03):
    """x: uint8 (N, H, W, C) -> uint8. One uniform u per value: u < amount/2 -> 0, u < amount -> 255."""
    x = check_images(x, "impulse_noise")
    p = check_range("impulse_noise", "amount", amount, *RANGES["amount"])
    u = rng.random(x.shape, dtype=np.float64)
    out = x.copy()
    out[u < p] = 255
    out[u < p / 2] = 0
    return out
