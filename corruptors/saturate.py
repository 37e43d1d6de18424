"""Saturate (CIFAR-10-C): HSV saturation · a + b (clipped to [0, 1]), back to RGB (skimage's rgb2hsv / hsv2rgb).

Only S changes, so the round trip is computed in closed form (`hsv_round_trip`): every channel of
hsv2rgb is V·(1 − S'·w) with w = (V − x)/Δ (Δ = max − min over channels) fixed by the hue; grey pixels
(Δ = 0, hue 0 = red in skimage) become (V, V(1 − S'), V(1 − S')). The same function as the HSV round
trip (tested against a transcription of skimage's conversions).
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, hsv_round_trip, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"a": 0.3, "b": 0.0}, 2: {"a": 0.1, "b": 0.0}, 3: {"a": 1.5, "b": 0.0}, 4: {"a": 2.0, "b": 0.1},
              5: {"a": 2.5, "b": 0.2}}
RANGES = {"a": (0.0, 100.0), "b": (-1.0, 1.0)}
TINY_IMAGENET_C = {1: {"a": 0.3, "b": 0.0}, 2: {"a": 0.1, "b": 0.0}, 3: {"a": 2.0, "b": 0.0},
                   4: {"a": 5.0, "b": 0.1}, 5: {"a": 30.0, "b": 0.2}}
IMAGENET_C = {1: {"a": 0.3, "b": 0.0}, 2: {"a": 0.1, "b": 0.0}, 3: {"a": 2.0, "b": 0.0},
              4: {"a": 5.0, "b": 0.1}, 5: {"a": 20.0, "b": 0.2}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("saturate", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="HSV saturation * a + b")
def saturate(x, rng, *, a: float = 1.5, b: float = 0.0):
    """x: uint8 (N, H, W, 3) -> uint8. Deterministic. RGB only (a grey image has no saturation to scale)."""
    x = check_images(x, "saturate", rgb_only=True)
    a = check_range("saturate", "a", a, *RANGES["a"])
    b = check_range("saturate", "b", b, *RANGES["b"])
    return from01(hsv_round_trip(unit01(x), saturation=lambda s: np.clip(s * a + b, 0, 1)))
