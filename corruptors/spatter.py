"""Spatter (CIFAR-10-C extra): water drops (pale turquoise, severities 1-3) or mud (brown, 4-5) from a
smoothed, thresholded noise layer.

Per image, with x in [0, 1]: L = N(mean, std) of shape (H, W), Gaussian-smoothed (sigma; skimage's
defaults: nearest edges, truncate 4), L[L < threshold] = 0. Then

* water (mud = 0): u = uint8(255·L); e = Canny(u, 50, 150); d = min(distance to e, 20), 3×3 box blur,
  truncated to uint8, histogram-equalised, filtered with [[−2, −1, 0], [−1, 1, 1], [0, 1, 2]] (8-bit
  saturation), 3×3 box blur (rounded to 8 bits); m = u·d / max(u·d)·gain; y = clip(x + m·(175, 238, 238)/255, 0, 1);
* mud (mud = 1): m = Gaussian(1[L > threshold], gain) with m[m < 0.8] = 0;
  y = x·(1 − m) + m·(63, 42, 20)/255.

Grey images receive the colour's luma (0.299, 0.587, 0.114). The OpenCV steps are computed with numpy/scipy
(corruptors/_edges.py, checked against OpenCV); the one deliberate change: 255·L is clipped to [0, 255] before
the uint8 cast (the original wraps values above 1 around).
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._edges import box3, canny, distance_to_edges, equalize_hist, filter2d_u8
from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, gaussian_hw_matrix, unit01
from noisebench.registry import register_corruption

KEYS = ("mean", "std", "sigma", "threshold", "gain", "mud")


def _table(rows):
    return {s: dict(zip(KEYS, r)) for s, r in enumerate(rows, 1)}


SEVERITIES = _table([(0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1.0, 0.69, 0.5, 0),
                     (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1)])
TINY_IMAGENET_C = _table([(0.62, 0.1, 0.7, 0.7, 0.6, 0), (0.65, 0.1, 0.8, 0.7, 0.6, 0), (0.65, 0.3, 1.0, 0.69, 0.6, 0),
                          (0.65, 0.1, 0.7, 0.68, 0.6, 1), (0.65, 0.1, 0.5, 0.67, 0.6, 1)])
IMAGENET_C = _table([(0.65, 0.3, 4.0, 0.69, 0.6, 0), (0.65, 0.3, 3.0, 0.68, 0.6, 0), (0.65, 0.3, 2.0, 0.68, 0.5, 0),
                     (0.65, 0.3, 1.0, 0.65, 1.5, 1), (0.67, 0.4, 1.0, 0.65, 1.5, 1)])
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}
RANGES = {"mean": (-10.0, 10.0), "std": (0.0, 10.0), "sigma": (0.0, 64.0), "threshold": (-10.0, 10.0),
          "gain": (0.0, 64.0), "mud": (0, 1)}
DIFFERENCES = ("OpenCV's Canny, distanceTransform, blur, equalizeHist and filter2D re-implemented with numpy/scipy "
               "(equal to OpenCV's on the tests' layers); 255*L clipped before the uint8 cast (the original wraps "
               "values above 1)")
WATER = np.array([175, 238, 238], np.float32) / 255
MUD = np.array([63, 42, 20], np.float32) / 255
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)


def liquid_layer(rng, n: int, h: int, w: int, mean: float, std: float, sigma: float, threshold: float) -> np.ndarray:
    layer = gaussian_hw_matrix(rng.normal(mean, std, size=(n, h, w)), sigma, "nearest", 4.0)
    layer[layer < threshold] = 0
    return layer


def water_mask(layer: np.ndarray, gain: float) -> np.ndarray:
    u = (np.clip(layer, 0, 1) * 255).astype(np.uint8)
    d = distance_to_edges(canny(u, 50, 150), 20.0)
    d = box3(d).astype(np.uint8)  # truncation, as .astype(np.uint8)
    d = np.rint(box3(filter2d_u8(equalize_hist(d), EMBOSS)))  # cv2.blur of an 8-bit map rounds to 8 bits
    m = u.astype(np.float32) * d
    mx = m.max(axis=(1, 2), keepdims=True)
    m = np.divide(m, mx, out=np.zeros_like(m), where=mx > 0)
    return m * np.float32(gain)


def mud_mask(layer: np.ndarray, threshold: float, gain: float) -> np.ndarray:
    m = gaussian_hw_matrix((layer > threshold).astype(np.float64), gain, "nearest", 4.0).astype(np.float32)
    m[m < 0.8] = 0
    return m


@register_corruption("spatter", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES,
                     reference=REFERENCE, differences=DIFFERENCES,
                     description="water drops (mud = 0) or mud splashes (mud = 1) from a smoothed noise layer")
def spatter(x, rng, *, mean: float = 0.65, std: float = 0.3, sigma: float = 1.0, threshold: float = 0.69,
            gain: float = 0.5, mud: int = 0):
    """x: uint8 (N, H, W, C) -> uint8."""
    x = check_images(x, "spatter")
    mean = check_range("spatter", "mean", mean, *RANGES["mean"])
    std = check_range("spatter", "std", std, *RANGES["std"])
    sigma = check_range("spatter", "sigma", sigma, *RANGES["sigma"])
    threshold = check_range("spatter", "threshold", threshold, *RANGES["threshold"])
    gain = check_range("spatter", "gain", gain, *RANGES["gain"])
    mud = check_range("spatter", "mud", mud, *RANGES["mud"], integer=True)
    n, h, w, c = x.shape
    layer = liquid_layer(rng, n, h, w, mean, std, sigma, threshold)
    xf = unit01(x, np.float32)
    colour = MUD if mud else WATER
    if c == 1:
        colour = np.array([colour @ LUMA], np.float32)
    if mud:
        m = mud_mask(layer, threshold, gain)[..., None]
        return from01(xf * (1 - m) + m * colour)
    m = water_mask(layer, gain)[..., None]
    return from01(xf + m * colour)
