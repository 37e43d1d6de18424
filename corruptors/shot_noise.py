"""Shot (Poisson) noise (CIFAR-10-C): y = Poisson(c·x) / c on x in [0, 1].

This is exactly the ψ corruption of `make psi` with ψ = c, drawn by the same exact table sampler
(corruptors/poisson_photon.py): shot_noise severity s is ψ = 500, 250, 100, 75, 50.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range
from noisebench.corruptors.poisson_photon import PhotonNoise
from noisebench.registry import register_corruption

SEVERITIES = {1: {"c": 500.0}, 2: {"c": 250.0}, 3: {"c": 100.0}, 4: {"c": 75.0}, 5: {"c": 50.0}}
RANGES = {"c": (0.01, 1e6)}
TINY_IMAGENET_C = {1: {"c": 250.0}, 2: {"c": 100.0}, 3: {"c": 50.0}, 4: {"c": 30.0}, 5: {"c": 15.0}}
IMAGENET_C = {1: {"c": 60.0}, 2: {"c": 25.0}, 3: {"c": 12.0}, 4: {"c": 5.0}, 5: {"c": 3.0}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@lru_cache(maxsize=8)
def _photon(c: float) -> PhotonNoise:
    return PhotonNoise(c)


@register_corruption("shot_noise", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="Poisson(c*x)/c, x in [0, 1] (= psi with psi = c)")
def shot_noise(x, rng, *, c: float = 100.0):
    """x: uint8 (N, H, W, C) -> uint8: clip(round(Poisson(c·x/255)·255/c), 0, 255), the ψ sampler with ψ = c.

    One 32-bit uniform per pixel and channel from `rng` (two per 64-bit word, as `make psi`)."""
    x = np.ascontiguousarray(check_images(x, "shot_noise"))
    c = check_range("shot_noise", "c", c, *RANGES["c"])
    n = x.size
    u = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
    return _photon(c).table.sample_from_uniforms(x, u, rng).reshape(x.shape)
