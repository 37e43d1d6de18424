"""Brightness (CIFAR-10-C): HSV value + c (clipped to [0, 1]), back to RGB (skimage's rgb2hsv / hsv2rgb).

Only V changes, so the round trip is computed without the HSV detour: y = x · V'/V with V = max over
channels and V' = clip(V + c, 0, 1) (black pixels become grey V'). This is the same function (tested
against a transcription of skimage's conversions); grey images (C = 1) work the same way.
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"c": 0.05}, 2: {"c": 0.10}, 3: {"c": 0.15}, 4: {"c": 0.20}, 5: {"c": 0.30}}
RANGES = {"c": (-1.0, 1.0)}


@register_corruption("brightness", target="images", severities=SEVERITIES, ranges=RANGES, reference=REFERENCE,
                     description="HSV value + c")
def brightness(x, rng, *, c: float = 0.15):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic (`rng` unused)."""
    x = check_images(x, "brightness")
    c = check_range("brightness", "c", c, *RANGES["c"])
    xf = unit01(x, np.float32)
    v = xf.max(axis=-1, keepdims=True)
    v2 = np.clip(v + c, 0, 1)
    # hsv2rgb(h, s, V') = x * V'/V: hue and saturation are untouched and every RGB channel is V times a
    # function of (h, s); a black pixel (V = 0, s = 0) becomes grey V'.
    ratio = np.divide(v2, v, out=np.zeros_like(v), where=v > 0)
    return from01(np.where(v > 0, xf * ratio, v2))
