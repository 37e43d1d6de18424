"""ImageMagick's motion blur (MagickMotionBlurImage, used by make_cifar_c.py for motion_blur and snow)
as a line kernel applied with numpy: not a corruption itself (the leading _ keeps the registry from
importing it as one).

ImageMagick's algorithm: width = 2·ceil(radius) + 1 taps with weights exp(−i² / 2σ²) (i = 0 … width−1,
normalised to sum 1, a half-Gaussian: the streak trails on one side); tap i reads the pixel at the offset
(ceil(i·sin θ − ½), ceil(i·cos θ − ½)) rows/columns from the output pixel, θ the drawn angle in degrees;
pixels outside the image repeat the nearest edge pixel (ImageMagick's default "edge" virtual pixels).
The `imagecorruptions` package re-implements it the same way (its `_motion_blur`).

Known differences from ImageMagick: we compute in float32 and round once at the end (documented rounding),
where ImageMagick works on its 16-bit quantum and the original then decodes an 8-bit PNG; results agree
within a grey level apart from that. The taps follow ImageMagick's offsets exactly.
"""

from __future__ import annotations

import math

import numpy as np


def line_taps(radius: float, sigma: float, angles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights (width,), row offsets (n, width), column offsets (n, width)) of the motion-blur kernels at
    `angles` (degrees; a scalar gives n = 1)."""
    width = 2 * int(math.ceil(radius)) + 1
    i = np.arange(width, dtype=np.float64)
    k = np.exp(-(i * i) / (2.0 * sigma * sigma)) if sigma > 0 else (i == 0).astype(np.float64)
    k /= k.sum()
    t = np.radians(np.atleast_1d(np.asarray(angles, dtype=np.float64)))[:, None]
    px, py = width * np.sin(t), width * np.cos(t)
    hyp = np.hypot(px, py)
    dy = np.ceil(i * px / hyp - 0.5).astype(np.int64)
    dx = np.ceil(i * py / hyp - 0.5).astype(np.int64)
    return k, dy, dx


def line_blur(x: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """Motion-blur every image of a batch (N, H, W, C) (any real dtype) at its own angle (degrees), float32 out:
    out[n, y, x] = Σ_i k_i · img[n, clamp(y + dy_i), clamp(x + dx_i)].

    Images are sorted by angle, so the images that share a tap's offset form runs; each run is one slice of
    the edge-padded batch (no per-pixel gathers). Offsets beyond the image read the edge, so they are clipped to
    the image size, and the padding is only on the sides the offsets reach."""
    n, h, w, c = x.shape
    angles = np.asarray(angles, dtype=np.float64).reshape(n)
    out = np.zeros((n, h, w, c), np.float32)
    if n == 0:
        return out
    order = np.argsort(angles, kind="stable")
    k, dys, dxs = line_taps(radius, sigma, angles[order])  # (n, width) offsets, in sorted order
    k = k.astype(np.float32)
    dys, dxs = np.clip(dys, -(h - 1), h - 1), np.clip(dxs, -(w - 1), w - 1)
    top, bottom = max(0, -int(dys.min())), max(0, int(dys.max()))
    left, right = max(0, -int(dxs.min())), max(0, int(dxs.max()))
    xs = np.ascontiguousarray(x[order], dtype=np.float32)
    if top or bottom or left or right:
        xs = np.pad(xs, ((0, 0), (top, bottom), (left, right), (0, 0)), mode="edge")
    for i in range(k.size):
        dy, dx = dys[:, i], dxs[:, i]
        cut = np.flatnonzero((dy[1:] != dy[:-1]) | (dx[1:] != dx[:-1])) + 1
        for a, b in zip(np.r_[0, cut], np.r_[cut, n]):
            r0, c0 = top + int(dy[a]), left + int(dx[a])
            out[a:b] += k[i] * xs[a:b, r0 : r0 + h, c0 : c0 + w]
    res = np.empty_like(out)
    res[order] = out
    return res
