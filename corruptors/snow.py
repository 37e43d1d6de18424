"""Snow (CIFAR-10-C): a zoomed, thresholded, motion-blurred noise layer of flakes added twice (once
rotated by 180°) to a brightened, greyed image.

Per image, with x in [0, 1]:

1. L = N(mean, std) of shape (H, W); L = clipped_zoom(L, zoom) (crop the centre, scipy order-1 zoom, trim
   the centre: the same matrices as zoom_blur); L[L < threshold] = 0; L = uint8(clip(L, 0, 1)·255)
   (truncation, as the original's PNG);
2. L = motion blur of L (radius, sigma) at an angle uniform in [−135°, −45°) (ImageMagick's line kernel, see
   corruptors/_line_blur.py), rounded to 8 bits (the original decodes an 8-bit PNG), / 255;
3. g = 0.299 R + 0.587 G + 0.114 B (OpenCV's RGB2GRAY; grey images: g = x);
   x' = mix·x + (1 − mix)·max(x, 1.5·g + 0.5);
4. y = clip(x' + L + rot180(L), 0, 1).

Rounding of y as documented; the only difference from the original is the motion blur's arithmetic
(float32 instead of ImageMagick's quantum).
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, scipy_zoom_matrix, unit01
from noisebench.corruptors._line_blur import line_blur
from noisebench.registry import register_corruption

KEYS = ("mean", "std", "zoom", "threshold", "radius", "sigma", "mix")


def _table(rows):
    return {s: dict(zip(KEYS, r)) for s, r in enumerate(rows, 1)}


SEVERITIES = _table([(0.1, 0.2, 1.0, 0.6, 8, 3.0, 0.95), (0.1, 0.2, 1.0, 0.5, 10, 4.0, 0.9),
                     (0.15, 0.3, 1.75, 0.55, 10, 4.0, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6.0, 0.85),
                     (0.3, 0.3, 1.25, 0.65, 14, 12.0, 0.8)])
TINY_IMAGENET_C = _table([(0.1, 0.2, 1.0, 0.6, 8, 3.0, 0.8), (0.1, 0.2, 1.0, 0.5, 10, 4.0, 0.8),
                          (0.15, 0.3, 1.75, 0.55, 10, 4.0, 0.7), (0.25, 0.3, 2.25, 0.6, 12, 6.0, 0.65),
                          (0.3, 0.3, 1.25, 0.65, 14, 12.0, 0.6)])
IMAGENET_C = _table([(0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8), (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
                     (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8.0, 0.65),
                     (0.55, 0.3, 2.5, 0.85, 12, 12.0, 0.55)])
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}
RANGES = {"mean": (-10.0, 10.0), "std": (0.0, 10.0), "zoom": (1.0, 16.0), "threshold": (-10.0, 10.0),
          "radius": (0, 64), "sigma": (0.0, 64.0), "mix": (0.0, 1.0)}
DIFFERENCES = ("the flakes' motion blur is ImageMagick's re-implemented with numpy (float32, rounded to 8 bits as "
               "the original's PNG); `imagecorruptions` instead crops the zoomed layer at its top-left corner "
               "and rounds (not truncates) it")


def snow_layer(rng, n: int, h: int, w: int, p: dict) -> np.ndarray:
    """(n, h, w, 1) float32 flake layers in [0, 1] (steps 1-2)."""
    layer = rng.normal(p["mean"], p["std"], size=(n, h, w))
    if p["zoom"] != 1.0:
        a, b = scipy_zoom_matrix(h, float(p["zoom"])), scipy_zoom_matrix(w, float(p["zoom"]))
        layer = np.matmul(np.matmul(a, layer), b.T)
    layer[layer < p["threshold"]] = 0
    u8 = (np.clip(layer, 0, 1) * 255).astype(np.uint8)  # truncation, as the original's PNG
    angles = rng.uniform(-135, -45, size=n)
    blurred = line_blur(u8[..., None], p["radius"], p["sigma"], angles)
    return np.clip(np.rint(blurred), 0, 255) / np.float32(255.0)


@register_corruption("snow", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES,
                     reference=REFERENCE, differences=DIFFERENCES,
                     description="motion-blurred snow flakes over a brightened, greyed image")
def snow(x, rng, *, mean: float = 0.15, std: float = 0.3, zoom: float = 1.75, threshold: float = 0.55,
         radius: int = 10, sigma: float = 4.0, mix: float = 0.9):
    """x: uint8 (N, H, W, C) -> uint8."""
    x = check_images(x, "snow")
    p = {k: check_range("snow", k, v, *RANGES[k], integer=k == "radius")
         for k, v in dict(mean=mean, std=std, zoom=zoom, threshold=threshold, radius=radius, sigma=sigma,
                          mix=mix).items()}
    n, h, w, c = x.shape
    layer = snow_layer(rng, n, h, w, p).astype(np.float32)
    xf = unit01(x, np.float32)
    if c == 3:
        g = xf @ np.array([0.299, 0.587, 0.114], np.float32)
        g = g[..., None]
    else:
        g = xf
    mix = np.float32(p["mix"])
    xf = mix * xf + (1 - mix) * np.maximum(xf, g * np.float32(1.5) + np.float32(0.5))
    return from01(xf + layer + layer[:, ::-1, ::-1])
