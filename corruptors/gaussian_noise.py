"""Gaussian noise (CIFAR-10-C): y = x + N(0, c²) on x in [0, 1], per pixel and channel."""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, to_uint8
from noisebench.registry import register_corruption

SEVERITIES = {1: {"c": 0.04}, 2: {"c": 0.06}, 3: {"c": 0.08}, 4: {"c": 0.09}, 5: {"c": 0.10}}
RANGES = {"c": (0.0, 10.0)}
TINY_IMAGENET_C = {1: {"c": 0.04}, 2: {"c": 0.08}, 3: {"c": 0.12}, 4: {"c": 0.15}, 5: {"c": 0.18}}
IMAGENET_C = {1: {"c": 0.08}, 2: {"c": 0.12}, 3: {"c": 0.18}, 4: {"c": 0.26}, 5: {"c": 0.38}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("gaussian_noise", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="x + N(0, c^2), x in [0, 1]")
def gaussian_noise(x, rng, *, c: float = 0.08):
    """x: uint8 (N, H, W, C) -> uint8 of the same shape: clip(x/255 + N(0, c²), 0, 1)·255, rounded."""
    x = check_images(x, "gaussian_noise")
    c = check_range("gaussian_noise", "c", c, *RANGES["c"])
    z = rng.standard_normal(x.shape, dtype=np.float32)
    z *= np.float32(255.0 * c)
    z += x
    return to_uint8(z)
