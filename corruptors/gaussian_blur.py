"""Gaussian blur (CIFAR-10-C): skimage.filters.gaussian(x, sigma), per channel, mode 'nearest', truncate 4."""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, gaussian_hw, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"sigma": 0.4}, 2: {"sigma": 0.6}, 3: {"sigma": 0.7}, 4: {"sigma": 0.8}, 5: {"sigma": 1.0}}
RANGES = {"sigma": (0.0, 32.0)}
TINY_IMAGENET_C = {1: {"sigma": 0.5}, 2: {"sigma": 0.75}, 3: {"sigma": 1.0}, 4: {"sigma": 1.25}, 5: {"sigma": 1.5}}
IMAGENET_C = {1: {"sigma": 1.0}, 2: {"sigma": 2.0}, 3: {"sigma": 3.0}, 4: {"sigma": 4.0}, 5: {"sigma": 6.0}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("gaussian_blur", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="Gaussian filter of std sigma pixels (edges: nearest)")
def gaussian_blur(x, rng, *, sigma: float = 0.7):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic (`rng` unused)."""
    x = check_images(x, "gaussian_blur")
    sigma = check_range("gaussian_blur", "sigma", sigma, *RANGES["sigma"])
    return from01(gaussian_hw(unit01(x, np.float32), sigma))
