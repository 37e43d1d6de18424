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


def line_taps(radius: float, sigma: float, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, row offsets, column offsets) of one motion-blur kernel."""
    width = 2 * int(math.ceil(radius)) + 1
    i = np.arange(width, dtype=np.float64)
    k = np.exp(-(i * i) / (2.0 * sigma * sigma)) if sigma > 0 else (i == 0).astype(np.float64)
    k /= k.sum()
    t = math.radians(angle)
    px, py = width * math.sin(t), width * math.cos(t)
    hyp = math.hypot(px, py)
    dy = np.ceil(i * px / hyp - 0.5).astype(np.int64)
    dx = np.ceil(i * py / hyp - 0.5).astype(np.int64)
    return k, dy, dx


def line_blur(x: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """Motion-blur every image of a batch (N, H, W, C) (any real dtype) at its own angle (degrees), float32 out.

    One gather per tap over the whole batch: out[n, y, x] = Σ_i k_i · img[n, clamp(y + dy_i), clamp(x + dx_i)]."""
    n, h, w, c = x.shape
    angles = np.asarray(angles, dtype=np.float64).reshape(n)
    taps = [line_taps(radius, sigma, float(a)) for a in angles]
    k = taps[0][0].astype(np.float32) if taps else np.ones(1, np.float32)
    dys = np.stack([t[1] for t in taps]) if taps else np.zeros((0, 1), np.int64)  # (n, width)
    dxs = np.stack([t[2] for t in taps]) if taps else np.zeros((0, 1), np.int64)
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(n * h * w, c)
    base = (np.arange(n, dtype=np.int64) * (h * w))[:, None, None]
    rows, cols = np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64)
    out = np.zeros((n, h, w, c), np.float32)
    for i in range(k.size):
        r = np.clip(rows[None, :] + dys[:, i, None], 0, h - 1)  # (n, h)
        q = np.clip(cols[None, :] + dxs[:, i, None], 0, w - 1)  # (n, w)
        idx = base + r[:, :, None] * w + q[:, None, :]
        out += k[i] * flat[idx.reshape(-1)].reshape(n, h, w, c)
    return out
