"""Defocus blur (CIFAR-10-C): correlate each channel with an anti-aliased disk of the given radius.

The disk is the original's: on the grid L = -8..8 (radius <= 8; larger radii, ImageNet-C's, use L = arange(-radius,
radius + 1) and a 5×5 blur), the points with X² + Y² <= radius² normalised to sum 1, then OpenCV's GaussianBlur with a
3×3 (5×5) kernel of std alias_blur (0: OpenCV's default 0.8) and reflect-101 borders; the image is filtered like cv2.filter2D (reflect-101 borders).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from noisebench.corruptors._image_ops import (
    REFERENCE,
    check_images,
    check_range,
    cv2_gaussian_kernel,
    from01,
    reflect101,
    unit01,
)
from noisebench.registry import register_corruption

SEVERITIES = {1: {"radius": 0.3, "alias_blur": 0.4}, 2: {"radius": 0.4, "alias_blur": 0.5},
              3: {"radius": 0.5, "alias_blur": 0.6}, 4: {"radius": 1.0, "alias_blur": 0.2},
              5: {"radius": 1.5, "alias_blur": 0.1}}
RANGES = {"radius": (0.0, 32.0), "alias_blur": (0.0, 10.0)}
TINY_IMAGENET_C = {1: {"radius": 0.5, "alias_blur": 0.6}, 2: {"radius": 1.0, "alias_blur": 0.1}, 3: {"radius": 1.5, "alias_blur": 0.1},
                   4: {"radius": 2.5, "alias_blur": 0.01}, 5: {"radius": 3.0, "alias_blur": 0.1}}
IMAGENET_C = {1: {"radius": 3.0, "alias_blur": 0.1}, 2: {"radius": 4.0, "alias_blur": 0.5}, 3: {"radius": 6.0, "alias_blur": 0.5},
              4: {"radius": 8.0, "alias_blur": 0.5}, 5: {"radius": 10.0, "alias_blur": 0.5}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@lru_cache(maxsize=64)
def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The original's `disk(radius, alias_blur)` (float32), cropped to its non-zero support."""
    if radius <= 8:  # the original's two branches: a 17x17 grid and a 3x3 anti-aliasing blur, or a larger grid and 5x5
        grid, ks = np.arange(-8, 8 + 1), 3
    else:
        grid, ks = np.arange(-radius, radius + 1), 5
    xx, yy = np.meshgrid(grid, grid)
    d = np.asarray((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    d /= np.sum(d)
    g = cv2_gaussian_kernel(ks, alias_blur)
    n = d.shape[0]
    idx = reflect101(np.arange(-(ks // 2), n + ks // 2), n)
    dp = d.astype(np.float64)[np.ix_(idx, idx)]  # reflect-101 border around the disk
    rows = sum(g[i] * dp[i : i + n] for i in range(ks))
    k = sum(g[j] * rows[:, j : j + n] for j in range(ks)).astype(np.float32)
    nz = np.argwhere(k != 0)
    c = n // 2
    r = int(np.abs(nz - c).max()) if nz.size else 0
    return k[c - r : c + r + 1, c - r : c + r + 1]


@lru_cache(maxsize=64)
def separable_terms(radius: float, alias_blur: float) -> tuple:
    """The kernel as a short sum of outer products (its SVD, rank <= 2 for every severity)."""
    k = disk_kernel(radius, alias_blur).astype(np.float64)
    u, s, vt = np.linalg.svd(k)
    rank = int((s > s[0] * 1e-9).sum())
    return tuple((u[:, i] * s[i], vt[i]) for i in range(rank))


def filter2d_reflect101(x: np.ndarray, radius: float, alias_blur: float) -> np.ndarray:
    """cv2.filter2D(img, -1, disk) (correlation, centred anchor, BORDER_REFLECT_101) on every image and
    channel, as rank-1 terms: shifted sums along H, then along W, on reflect-101 padded arrays."""
    terms = separable_terms(radius, alias_blur)
    r = len(terms[0][0]) // 2
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")  # numpy 'reflect' = reflect-101
    out = None
    for col, row in terms:
        t = sum(np.float32(col[i]) * xp[:, i : i + h] for i in range(2 * r + 1))
        t = sum(np.float32(row[j]) * t[:, :, j : j + w] for j in range(2 * r + 1))
        out = t if out is None else out + t
    return out


@register_corruption("defocus_blur", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="anti-aliased disk filter of radius r pixels")
def defocus_blur(x, rng, *, radius: float = 0.5, alias_blur: float = 0.6):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic (`rng` unused)."""
    x = check_images(x, "defocus_blur")
    radius = check_range("defocus_blur", "radius", radius, *RANGES["radius"])
    alias_blur = check_range("defocus_blur", "alias_blur", alias_blur, *RANGES["alias_blur"])
    return from01(filter2d_reflect101(unit01(x, np.float32), radius, alias_blur))
