"""Elastic transform (CIFAR-10-C): a random affine warp, then a smooth random displacement field.

The original (for 32×32 images; parameters there are multiples of IMSIZE = 32, here fractions of the
image side s = min(H, W)):

1. pts1 = the three points (cx+q, cy+q), (cx+q, cy−q), (cx−q, cy−q), c = (H, W)//2, q = s//3 (float32);
   pts2 = pts1 + U(−affine·s, affine·s) (float32); M = cv2.getAffineTransform(pts1, pts2);
   cv2.warpAffine(x, M, (W, H), BORDER_REFLECT_101) with bilinear interpolation. We reproduce
   OpenCV's arithmetic: the inverse map evaluated in fixed point (coordinates rounded to 1/32
   pixel, as OpenCV's INTER_BITS = 5) and its bilinear weights on that grid.
2. dx, dy = gaussian(U(−1, 1, (H, W)), sigma·s, mode='reflect', truncate=3) · alpha·s (two draws, dx first);
   y = map_coordinates(x, (row + dy, col + dx), order=1, mode='reflect') (half-sample symmetric edges).
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import (
    REFERENCE,
    check_images,
    check_range,
    from01,
    gaussian_hw_matrix,
    reflect101,
    reflect_half,
    unit01,
)
from noisebench.registry import register_corruption

SEVERITIES = {1: {"alpha": 0.0, "sigma": 0.0, "affine": 0.08}, 2: {"alpha": 0.05, "sigma": 0.2, "affine": 0.07},
              3: {"alpha": 0.08, "sigma": 0.06, "affine": 0.06}, 4: {"alpha": 0.1, "sigma": 0.04, "affine": 0.05},
              5: {"alpha": 0.1, "sigma": 0.03, "affine": 0.03}}
RANGES = {"alpha": (0.0, 10.0), "sigma": (0.0, 10.0), "affine": (0.0, 1.0)}
TINY_IMAGENET_C = {1: {"alpha": 0.0, "sigma": 0.0, "affine": 0.08}, 2: {"alpha": 0.05, "sigma": 0.3, "affine": 0.06}, 3: {"alpha": 0.1, "sigma": 0.08, "affine": 0.06},
                   4: {"alpha": 0.1, "sigma": 0.03, "affine": 0.03}, 5: {"alpha": 0.16, "sigma": 0.03, "affine": 0.02}}
IMAGENET_C = {s: {"alpha": a * 244 / 224, "sigma": b * 244 / 224, "affine": c * 244 / 224}  # 244-px multiples on 224-px images
                   for s, (a, b, c) in enumerate([(2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02),
                                                  (0.12, 0.01, 0.02)], 1)}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}
AB_BITS, INTER_BITS = 10, 5


def source_points(h: int, w: int) -> np.ndarray:
    center = np.float32((h, w)) // 2
    q = min(h, w) // 3
    return np.float32([center + q, [center[0] + q, center[1] - q], center - q])


def affine_matrices(pts1: np.ndarray, pts2: np.ndarray) -> np.ndarray:
    """cv2.getAffineTransform for a batch: (n, 3, 2) destination points -> (n, 2, 3) float64."""
    src = np.concatenate([pts1.astype(np.float64), np.ones((3, 1))], axis=1)  # (3, 3): rows (x, y, 1)
    return np.linalg.solve(src[None], pts2.astype(np.float64)).transpose(0, 2, 1)


def invert_affine(m: np.ndarray) -> np.ndarray:
    """cv2.invertAffineTransform for a batch (n, 2, 3)."""
    d = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    d = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0.0)
    a11, a22 = m[:, 1, 1] * d, m[:, 0, 0] * d
    a12, a21 = -m[:, 0, 1] * d, -m[:, 1, 0] * d
    b1 = -a11 * m[:, 0, 2] - a12 * m[:, 1, 2]
    b2 = -a21 * m[:, 0, 2] - a22 * m[:, 1, 2]
    return np.stack([np.stack([a11, a12, b1], 1), np.stack([a21, a22, b2], 1)], 1)


def _bilinear(img: np.ndarray, r0, c0, fr, fc, border) -> np.ndarray:
    """Bilinear samples of img (n, H, W, C) at integer corners (r0, c0) (n, H, W) with fractions fr, fc."""
    n, h, w, c = img.shape
    planes = np.ascontiguousarray(np.moveaxis(img, -1, 0)).reshape(c, -1)
    base = (np.arange(n) * (h * w))[:, None, None]
    r1, c1 = border(r0 + 1, h) * w, border(c0 + 1, w)
    r0, c0 = border(r0, h) * w, border(c0, w)
    i00, i01, i10, i11 = base + r0 + c0, base + r0 + c1, base + r1 + c0, base + r1 + c1
    gc, gr = 1 - fc, 1 - fr
    out = np.empty((c, n, h, w), img.dtype)
    for ch in range(c):
        p = planes[ch]
        top = p.take(i00) * gc + p.take(i01) * fc
        bot = p.take(i10) * gc + p.take(i11) * fc
        out[ch] = top * gr + bot * fr
    return np.moveaxis(out, 0, -1)


def warp_affine_cv2(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    """cv2.warpAffine(img, M, (W, H), INTER_LINEAR, BORDER_REFLECT_101) per image, M (n, 2, 3)."""
    n, h, w, _ = img.shape
    im = invert_affine(m)
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    scale = float(1 << AB_BITS)
    round_delta = (1 << AB_BITS) // (1 << INTER_BITS) // 2
    shift = AB_BITS - INTER_BITS

    def fixed(a, b, cc):  # (n, H, W) int64 coordinate in 1/32 pixel
        adelta = np.rint(a[:, None] * xs[None, :] * scale).astype(np.int64)  # (n, W)
        x0 = np.rint((b[:, None] * ys[None, :] + cc[:, None]) * scale).astype(np.int64) + round_delta  # (n, H)
        return (x0[:, :, None] + adelta[:, None, :]) >> shift

    fx = fixed(im[:, 0, 0], im[:, 0, 1], im[:, 0, 2])
    fy = fixed(im[:, 1, 0], im[:, 1, 1], im[:, 1, 2])
    tab = np.float32(1 << INTER_BITS)
    return _bilinear(img, fy >> INTER_BITS, fx >> INTER_BITS, (fy & 31).astype(np.float32) / tab,
                     (fx & 31).astype(np.float32) / tab, reflect101)


def map_coordinates_reflect(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """scipy.ndimage.map_coordinates(order=1, mode='reflect') per image at (rows, cols) (n, H, W)."""
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = (rows - r0).astype(img.dtype), (cols - c0).astype(img.dtype)
    return _bilinear(img, r0.astype(np.int64), c0.astype(np.int64), fr, fc, reflect_half)


@register_corruption("elastic_transform", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="random affine warp + Gaussian-smoothed displacement (fractions of the image side)")
def elastic_transform(x, rng, *, alpha: float = 0.08, sigma: float = 0.06, affine: float = 0.06):
    """x: uint8 (N, H, W, C) -> uint8."""
    x = check_images(x, "elastic_transform")
    alpha = check_range("elastic_transform", "alpha", alpha, *RANGES["alpha"])
    sigma = check_range("elastic_transform", "sigma", sigma, *RANGES["sigma"])
    affine = check_range("elastic_transform", "affine", affine, *RANGES["affine"])
    n, h, w, _ = x.shape
    s = min(h, w)
    a, sg, af = s * alpha, s * sigma, s * affine
    pts1 = source_points(h, w)
    pts2 = pts1[None] + rng.uniform(-af, af, size=(n, 3, 2)).astype(np.float32)
    img = warp_affine_cv2(unit01(x, np.float32), affine_matrices(pts1, pts2))
    dx = (gaussian_hw_matrix(rng.uniform(-1, 1, size=(n, h, w)), sg, "reflect", 3) * a).astype(np.float32)
    dy = (gaussian_hw_matrix(rng.uniform(-1, 1, size=(n, h, w)), sg, "reflect", 3) * a).astype(np.float32)
    rows = np.arange(h)[None, :, None] + dy.astype(np.float64)
    cols = np.arange(w)[None, None, :] + dx.astype(np.float64)
    return from01(map_coordinates_reflect(img, rows, cols))
