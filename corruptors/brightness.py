"""Brightness (CIFAR-10-C): HSV value + c (clipped to [0, 1]), back to RGB (skimage's conversions)."""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, hsv2rgb, rgb2hsv, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"c": 0.05}, 2: {"c": 0.10}, 3: {"c": 0.15}, 4: {"c": 0.20}, 5: {"c": 0.30}}
RANGES = {"c": (-1.0, 1.0)}


@register_corruption("brightness", target="images", severities=SEVERITIES, ranges=RANGES, reference=REFERENCE,
                     description="HSV value + c")
def brightness(x, rng, *, c: float = 0.15):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic. Grey images (C = 1): clip(x + c) (the same as via HSV)."""
    x = check_images(x, "brightness")
    c = check_range("brightness", "c", c, *RANGES["c"])
    xf = unit01(x)
    if x.shape[-1] == 1:
        return from01(np.clip(xf + c, 0, 1))
    hsv = rgb2hsv(xf)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return from01(hsv2rgb(hsv))
