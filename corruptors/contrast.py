"""Contrast (CIFAR-10-C): y = (x − m)·c + m, m the per-image, per-channel mean, on x in [0, 1]."""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"c": 0.75}, 2: {"c": 0.5}, 3: {"c": 0.4}, 4: {"c": 0.3}, 5: {"c": 0.15}}
RANGES = {"c": (0.0, 10.0)}
TINY_IMAGENET_C = {1: {"c": 0.4}, 2: {"c": 0.3}, 3: {"c": 0.2}, 4: {"c": 0.1}, 5: {"c": 0.05}}
IMAGENET_C = {1: {"c": 0.4}, 2: {"c": 0.3}, 3: {"c": 0.2}, 4: {"c": 0.1}, 5: {"c": 0.05}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("contrast", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="(x - channel mean) * c + channel mean")
def contrast(x, rng, *, c: float = 0.4):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic (`rng` unused)."""
    x = check_images(x, "contrast")
    c = check_range("contrast", "c", c, *RANGES["c"])
    xf = unit01(x, np.float32)
    means = xf.mean(axis=(1, 2), keepdims=True)
    return from01((xf - means) * c + means)
