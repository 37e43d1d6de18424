"""The OpenCV steps of spatter's water drops, for a batch of 8-bit maps (n, H, W), with numpy/scipy: not a
corruption itself (the leading _ keeps the registry from importing it as one).

* `canny`: cv2.Canny(img, low, high) (3×3 Sobel with replicated borders, L1 magnitude, OpenCV's
  non-maximum suppression with its fixed-point tan 22.5° test, hysteresis as 8-connected components of
  the candidates holding a strong pixel);
* `distance_to_edges`: cv2.distanceTransform(255 − edges, DIST_L2, 5), OpenCV's 5×5 chamfer distance;
* `box3`, `equalize_hist`, `filter2d_u8`: cv2.blur(·, (3, 3)), cv2.equalizeHist, cv2.filter2D(·, CV_8U, k),
  all with OpenCV's default reflect-101 borders and its rounding.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

CANNY_SHIFT = 15
TG22 = int(0.4142135623730950488016887242097 * (1 << CANNY_SHIFT) + 0.5)


def _shifted(a: np.ndarray, mode: str) -> Callable[[int, int], np.ndarray]:
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)), mode=mode)
    h, w = a.shape[1:]
    return lambda dr, dc: p[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]


def canny(img: np.ndarray, low: float, high: float) -> np.ndarray:
    """Edges (bool, n × H × W) of uint8 maps as cv2.Canny(img, low, high) (aperture 3, L1 gradient)."""
    s = _shifted(img.astype(np.int32), "edge")
    dx = (s(-1, 1) - s(-1, -1)) + 2 * (s(0, 1) - s(0, -1)) + (s(1, 1) - s(1, -1))
    dy = (s(1, -1) - s(-1, -1)) + 2 * (s(1, 0) - s(-1, 0)) + (s(1, 1) - s(-1, 1))
    mag = np.abs(dx) + np.abs(dy)
    lo, hi = int(np.floor(min(low, high))), int(np.floor(max(low, high)))
    m = _shifted(mag, "constant")  # outside the image the magnitude is 0
    ax, ay = np.abs(dx).astype(np.int64), np.abs(dy).astype(np.int64) << CANNY_SHIFT
    tg22x = ax * TG22
    tg67x = tg22x + (ax << (CANNY_SHIFT + 1))
    horiz = ay < tg22x
    vert = ~horiz & (ay > tg67x)
    diag = ~horiz & ~vert
    sgn = np.where((dx ^ dy) < 0, -1, 1)
    keep = np.zeros(mag.shape, bool)
    keep |= horiz & (mag > m(0, -1)) & (mag >= m(0, 1))
    keep |= vert & (mag > m(-1, 0)) & (mag >= m(1, 0))
    neg = (mag > m(-1, 1)) & (mag > m(1, -1))  # s = -1: up-right and down-left
    pos = (mag > m(-1, -1)) & (mag > m(1, 1))  # s = +1: up-left and down-right
    keep |= diag & np.where(sgn < 0, neg, pos)
    cand = keep & (mag > lo)
    strong = cand & (mag > hi)
    if not strong.any():
        return strong
    from scipy import ndimage  # here, not at import: listing the corruptions must not load scipy

    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True  # 8-connected within an image, never across images
    labels, _ = ndimage.label(cand, structure=structure)
    good = np.zeros(labels.max() + 1, bool)
    good[labels[strong]] = True
    good[0] = False
    return good[labels]


HV, DIAG, LONG = np.float32(1.0), np.float32(1.4), np.float32(2.1969)  # OpenCV's 5x5 mask for DIST_L2
FORWARD = ((-2, -1, LONG), (-2, 1, LONG), (-1, -2, LONG), (-1, -1, DIAG), (-1, 0, HV), (-1, 1, DIAG), (-1, 2, LONG))
FAR = np.float32(1e9)


def _chamfer_pass(d: np.ndarray) -> np.ndarray:
    """One raster pass (rows top-down, left to right) of the 5x5 chamfer over (n, H, W) float32 distances."""
    n, h, w = d.shape
    p = np.full((n, h + 2, w + 4), FAR, np.float32)  # two rows above, two columns each side: outside = far
    ramp = np.arange(w, dtype=np.float64)
    for y in range(h):
        t = d[:, y].copy()
        for dy, dx, wt in FORWARD:
            np.minimum(t, p[:, 2 + y + dy, 2 + dx : 2 + dx + w] + wt, out=t)
        # d[x] = min(t[x], d[x-1] + 1): a running minimum (exact in float64 for these magnitudes)
        t = (np.minimum.accumulate(t.astype(np.float64) - ramp, axis=1) + ramp).astype(np.float32)
        p[:, 2 + y, 2 : 2 + w] = t
    return p[:, 2:, 2 : 2 + w]


def distance_to_edges(edges: np.ndarray, cap: float) -> np.ndarray:
    """min(cv2.distanceTransform(255 − 255·edges, DIST_L2, 5), cap) per map (float32): OpenCV's two-pass 5x5
    chamfer distance (weights 1, 1.4, 2.1969), each pass vectorised along the rows (the left-neighbour
    recurrence is a running minimum); an image without edges is all cap."""
    d = np.where(edges, np.float32(0), FAR).astype(np.float32)
    d = _chamfer_pass(d)
    d = _chamfer_pass(d[:, ::-1, ::-1].copy())[:, ::-1, ::-1]  # the backward pass is the mirrored forward one
    return np.minimum(d, np.float32(cap))


def box3(a: np.ndarray) -> np.ndarray:
    """cv2.blur(a, (3, 3)) on float maps (reflect-101 borders)."""
    s = _shifted(a.astype(np.float32), "reflect")
    acc = sum(s(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1))
    return acc / np.float32(9.0)


def equalize_hist(img: np.ndarray) -> np.ndarray:
    """cv2.equalizeHist per uint8 map (n, H, W)."""
    n = img.shape[0]
    flat = img.reshape(n, -1)
    total = flat.shape[1]
    hist = np.bincount((flat.astype(np.int64) + 256 * np.arange(n)[:, None]).ravel(), minlength=256 * n).reshape(n, 256)
    first = np.argmax(hist > 0, axis=1)
    hfirst = hist[np.arange(n), first]
    cum = np.cumsum(hist, axis=1)
    den = np.where(total - hfirst > 0, total - hfirst, 1).astype(np.float32)
    scale = np.float32(255.0) / den
    lut = np.rint((cum - hfirst[:, None]).astype(np.float32) * scale[:, None])
    lut = np.clip(lut, 0, 255).astype(np.uint8)
    const = hfirst == total  # one grey level: OpenCV sets the map to that level
    lut[const] = first[const, None].astype(np.uint8)
    return np.take_along_axis(lut, flat.astype(np.int64), axis=1).reshape(img.shape)


def filter2d_u8(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """cv2.filter2D(img, CV_8U, kernel) for a 3×3 kernel (correlation, reflect-101, rounded and saturated)."""
    s = _shifted(img.astype(np.float32), "reflect")
    acc = sum(np.float32(kernel[dr + 1, dc + 1]) * s(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1))
    return np.clip(np.rint(acc), 0, 255).astype(np.uint8)
