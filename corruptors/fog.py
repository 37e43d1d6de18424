"""Fog (CIFAR-10-C): add a plasma fractal, then rescale: y = (x + s·F)·max(x) / (max(x) + s).

F is the original's diamond-square plasma fractal (`plasma_fractal(mapsize=32, wibbledecay=decay)`,
normalised to [0, 1]) cropped to the image; one fractal per image, shared by its channels; max(x) is the
image's maximum over all pixels and channels. For images larger than 32 the map size is the next power of two.
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"strength": 0.2, "decay": 3.0}, 2: {"strength": 0.5, "decay": 3.0}, 3: {"strength": 0.75, "decay": 2.5},
              4: {"strength": 1.0, "decay": 2.0}, 5: {"strength": 1.5, "decay": 1.75}}
RANGES = {"strength": (0.0, 10.0), "decay": (0.5, 10.0)}
TINY_IMAGENET_C = {1: {"strength": 0.4, "decay": 3.0}, 2: {"strength": 0.7, "decay": 3.0}, 3: {"strength": 1.0, "decay": 2.5},
                   4: {"strength": 1.5, "decay": 2.0}, 5: {"strength": 2.0, "decay": 1.75}}
IMAGENET_C = {1: {"strength": 1.5, "decay": 2.0}, 2: {"strength": 2.0, "decay": 2.0}, 3: {"strength": 2.5, "decay": 1.7},
              4: {"strength": 2.5, "decay": 1.5}, 5: {"strength": 3.0, "decay": 1.4}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


def plasma_fractal(rng, n: int, mapsize: int = 32, decay: float = 3.0) -> np.ndarray:
    """n diamond-square height maps (n, mapsize, mapsize) in [0, 1]; the original's steps, batched."""
    assert mapsize & (mapsize - 1) == 0
    m = np.empty((n, mapsize, mapsize), dtype=np.float64)
    m[:, 0, 0] = 0
    step = mapsize
    wibble = 100.0

    def wibbledmean(a):
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corner = m[:, 0:mapsize:step, 0:mapsize:step]
        sq = corner + np.roll(corner, shift=-1, axis=1)
        sq += np.roll(sq, shift=-1, axis=2)
        m[:, half:mapsize:step, half:mapsize:step] = wibbledmean(sq)
        dr = m[:, half:mapsize:step, half:mapsize:step]
        ul = m[:, 0:mapsize:step, 0:mapsize:step]
        lt = dr + np.roll(dr, 1, axis=1) + (ul + np.roll(ul, -1, axis=2))
        m[:, 0:mapsize:step, half:mapsize:step] = wibbledmean(lt)
        tt = dr + np.roll(dr, 1, axis=2) + (ul + np.roll(ul, -1, axis=1))
        m[:, half:mapsize:step, 0:mapsize:step] = wibbledmean(tt)
        step //= 2
        wibble /= decay
    m -= m.min(axis=(1, 2), keepdims=True)
    return m / m.max(axis=(1, 2), keepdims=True)


def mapsize_for(h: int, w: int) -> int:
    return max(32, 1 << int(np.ceil(np.log2(max(h, w)))))


@register_corruption("fog", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="plasma-fractal fog of given strength and roughness decay")
def fog(x, rng, *, strength: float = 0.75, decay: float = 2.5):
    """x: uint8 (N, H, W, C) -> uint8."""
    x = check_images(x, "fog")
    s = check_range("fog", "strength", strength, *RANGES["strength"])
    decay = check_range("fog", "decay", decay, *RANGES["decay"])
    n, h, w, _ = x.shape
    frac = plasma_fractal(rng, n, mapsize_for(h, w), decay)[:, :h, :w, None]
    xf = unit01(x)
    mx = xf.max(axis=(1, 2, 3), keepdims=True)
    den = mx + s
    scale = np.divide(mx, den, out=np.ones_like(den), where=den > 0)
    return from01((xf + s * frac) * scale)
