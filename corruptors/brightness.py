"""Brightness (CIFAR-10-C): HSV value + c (clipped to [0, 1]), back to RGB (skimage's rgb2hsv / hsv2rgb).

Only V changes, so the round trip is computed in closed form (`hsv_round_trip`): every channel is
V'·(1 − S·w) with V' = clip(V + c, 0, 1) and w fixed by the hue, i.e. x·V'/V (black pixels become grey
V'). The same function as skimage's conversions (tested against a transcription of them); grey images
(C = 1) become clip(x + c).
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, hsv_round_trip, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"c": 0.05}, 2: {"c": 0.10}, 3: {"c": 0.15}, 4: {"c": 0.20}, 5: {"c": 0.30}}
RANGES = {"c": (-1.0, 1.0)}
TINY_IMAGENET_C = {1: {"c": 0.1}, 2: {"c": 0.2}, 3: {"c": 0.3}, 4: {"c": 0.4}, 5: {"c": 0.5}}
IMAGENET_C = {1: {"c": 0.1}, 2: {"c": 0.2}, 3: {"c": 0.3}, 4: {"c": 0.4}, 5: {"c": 0.5}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("brightness", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="HSV value + c")
def brightness(x, rng, *, c: float = 0.15):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic (`rng` unused)."""
    x = check_images(x, "brightness")
    c = check_range("brightness", "c", c, *RANGES["c"])
    return from01(hsv_round_trip(unit01(x), value=lambda v: np.clip(v + c, 0, 1)))
