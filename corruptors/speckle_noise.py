"""Speckle noise (CIFAR-10-C): y = x + x·N(0, c²) on x in [0, 1]."""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, to_uint8
from noisebench.registry import register_corruption

SEVERITIES = {1: {"c": 0.06}, 2: {"c": 0.10}, 3: {"c": 0.12}, 4: {"c": 0.16}, 5: {"c": 0.20}}
RANGES = {"c": (0.0, 10.0)}
TINY_IMAGENET_C = {1: {"c": 0.15}, 2: {"c": 0.2}, 3: {"c": 0.25}, 4: {"c": 0.3}, 5: {"c": 0.35}}
IMAGENET_C = {1: {"c": 0.15}, 2: {"c": 0.2}, 3: {"c": 0.35}, 4: {"c": 0.45}, 5: {"c": 0.6}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("speckle_noise", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="x + x * N(0, c^2), x in [0, 1]")
def speckle_noise(x, rng, *, c: float = 0.12):
    """x: uint8 (N, H, W, C) -> uint8: clip(x + x·N(0, c²), 0, 1)·255 on x/255, rounded."""
    x = check_images(x, "speckle_noise")
    c = check_range("speckle_noise", "c", c, *RANGES["c"])
    xf = x.astype(np.float32)
    z = rng.standard_normal(x.shape, dtype=np.float32)
    z *= np.float32(c)
    z += np.float32(1.0)
    z *= xf
    return to_uint8(z)
