"""Zoom blur (CIFAR-10-C): the mean of the image and its centre zooms by factors 1, 1 + step, … < max_zoom
(step 0.01 in CIFAR-10-C and Tiny-ImageNet-C; ImageNet-C uses 0.02 and 0.03 at severities 3-5).

The original averages x with clipped_zoom(x, z) for z in np.arange(1, max_zoom, 0.01): crop the centre
ceil(H / z), scipy.ndimage.zoom(order=1) by z, trim the centre H. (np.arange's floating-point end makes
the counts 7, 12, 16, 21, 26 zooms for the five severities; we use the same expression.) Each zoom is
linear and separable, so we apply it as two small matrices (built from SciPy's own zoom) and sum:
one sparse matrix product for the whole batch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, scipy_zoom_matrix, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"max_zoom": 1.06, "step": 0.01}, 2: {"max_zoom": 1.11, "step": 0.01}, 3: {"max_zoom": 1.16, "step": 0.01},
              4: {"max_zoom": 1.21, "step": 0.01}, 5: {"max_zoom": 1.26, "step": 0.01}}
RANGES = {"max_zoom": (1.0, 3.0), "step": (0.001, 1.0)}
TINY_IMAGENET_C = {1: {"max_zoom": 1.06, "step": 0.01}, 2: {"max_zoom": 1.11, "step": 0.01}, 3: {"max_zoom": 1.16, "step": 0.01},
                   4: {"max_zoom": 1.21, "step": 0.01}, 5: {"max_zoom": 1.26, "step": 0.01}}
IMAGENET_C = {1: {"max_zoom": 1.11, "step": 0.01}, 2: {"max_zoom": 1.16, "step": 0.01}, 3: {"max_zoom": 1.21, "step": 0.02},
              4: {"max_zoom": 1.26, "step": 0.02}, 5: {"max_zoom": 1.31, "step": 0.03}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


def zoom_factors(max_zoom: float, step: float = 0.01) -> np.ndarray:
    return np.arange(1, max_zoom, step)


@lru_cache(maxsize=32)
def zoom_operator(h: int, w: int, max_zoom: float, step: float = 0.01):
    """(H·W, H·W) sparse float32: (identity + Σ_z A_z ⊗ B_z) / (1 + #z), the whole zoom blur as one
    linear map (about 12 non-zeros per row for 32×32 images)."""
    import scipy.sparse as sp  # scipy loads when the corruption runs, not when it is listed

    zs = zoom_factors(max_zoom, step)
    op = sp.identity(h * w, format="csr")
    for z in zs:
        op = op + sp.kron(sp.csr_matrix(scipy_zoom_matrix(h, float(z))), sp.csr_matrix(scipy_zoom_matrix(w, float(z))))
    return sp.csr_matrix(op / (len(zs) + 1), dtype=np.float32)


@register_corruption("zoom_blur", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="mean of centre zooms by 1, 1 + step, ... < max_zoom")
def zoom_blur(x, rng, *, max_zoom: float = 1.16, step: float = 0.01):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic (`rng` unused). """
    x = check_images(x, "zoom_blur")
    max_zoom = check_range("zoom_blur", "max_zoom", max_zoom, *RANGES["max_zoom"])
    step = check_range("zoom_blur", "step", step, *RANGES["step"])
    n, h, w, c = x.shape
    if h * w > 256 * 256:
        return _zoom_blur_separable(x, max_zoom, step)
    op = zoom_operator(h, w, max_zoom, step)
    xf = unit01(x, np.float32).reshape(n, h * w, c).transpose(1, 0, 2).reshape(h * w, n * c)
    y = (op @ xf).reshape(h * w, n, c).transpose(1, 0, 2).reshape(n, h, w, c)
    return from01(y)


def _zoom_blur_separable(x: np.ndarray, max_zoom: float, step: float) -> np.ndarray:
    """Large images: one pair of matrix products per zoom factor."""
    n, h, w, c = x.shape
    xf = unit01(x, np.float32)
    acc = xf.copy()
    zs = zoom_factors(max_zoom, step)
    for z in zs:
        a = scipy_zoom_matrix(h, float(z)).astype(np.float32)
        b = scipy_zoom_matrix(w, float(z)).astype(np.float32)
        acc += np.einsum("ij,njkc,lk->nilc", a, xf, b, optimize=True)
    return from01(acc / (len(zs) + 1))
