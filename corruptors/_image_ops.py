"""Shared pieces of the image corruptions (not a corruption itself: the leading _ keeps the registry
from importing it as one).

* input checks and the documented rounding back to uint8;
* numpy transcriptions of what the CIFAR-10-C generator (make_cifar_c.py in hendrycks/robustness)
  takes from scikit-image, OpenCV and SciPy: skimage's `gaussian`,
  OpenCV's 3x3 GaussianBlur kernel and reflect-101 borders, SciPy's order-1 `zoom` as matrices,
  and Pillow's BOX resampling of 8-bit images (its fixed-point coefficients and rounding).

All functions work on a whole batch (N, H, W, C) at once.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from noisebench.errors import UserError

REFERENCE = "hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py (CIFAR-10-C, Hendrycks & Dietterich, ICLR 2019)"
ROUNDING = ("round half to even (numpy.rint) of the 0..255 value, then clip to [0, 255]; "
            "the original truncates with np.uint8")


def check_images(x, name: str, *, rgb_only: bool = False) -> np.ndarray:
    """A uint8 batch (N, H, W, C) with C = 1 or 3 (C = 3 only when `rgb_only`)."""
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", type(x).__name__)
        raise UserError(f"{name}: expects uint8 images of shape (N, H, W, C); got {dtype} {shape}")
    c = x.shape[-1]
    if rgb_only and c != 3:
        raise UserError(f"{name}: needs RGB images (C = 3); got C = {c}")
    if c not in (1, 3):
        raise UserError(f"{name}: images must have 1 or 3 channels; got C = {c}")
    if min(x.shape[1:3]) < 1:
        raise UserError(f"{name}: empty images {x.shape}")
    return x


def check_range(name: str, param: str, value, lo: float, hi: float, *, integer: bool = False):
    """A finite number within [lo, hi] (an integer when `integer`), else UserError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name}: {param} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < lo or v > hi:
        raise UserError(f"{name}: {param} must be within [{lo:g}, {hi:g}], got {value!r}")
    if integer:
        if v != int(v):
            raise UserError(f"{name}: {param} must be an integer, got {value!r}")
        return int(v)
    return v


def to_uint8(y: np.ndarray) -> np.ndarray:
    """Values on the 0..255 scale -> uint8: round half to even, then clip (the documented rounding)."""
    y = np.rint(y)
    np.clip(y, 0, 255, out=y)
    return y.astype(np.uint8)


def unit01(x: np.ndarray, dtype=np.float64) -> np.ndarray:
    """uint8 -> floats in [0, 1] (x / 255, as the original's np.array(x) / 255.)."""
    return x.astype(dtype) / dtype(255.0)


def from01(y: np.ndarray) -> np.ndarray:
    """clip(y, 0, 1) * 255, rounded the documented way (= clip(rint(255·y), 0, 255): rint is monotone)."""
    return to_uint8(y * y.dtype.type(255) if isinstance(y, np.ndarray) and y.dtype.kind == "f" else np.asarray(y) * 255.0)


# ------------------------------------------------------------------ skimage.filters.gaussian


def gaussian_hw(x: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """skimage.filters.gaussian(image, sigma, channel_axis=-1) on every image of a batch (N, H, W[, C]):
    scipy.ndimage.gaussian_filter with sigma on H and W only (skimage's defaults: mode 'nearest', truncate 4)."""

    if sigma <= 0:
        return x.copy()
    sig = (0.0, sigma, sigma) + (0.0,) * (x.ndim - 3)
    from scipy.ndimage import gaussian_filter  # scipy loads when a corruption runs, not when it is listed

    return gaussian_filter(x, sigma=sig, mode=mode, truncate=truncate)


# ------------------------------------------------------------------ skimage rgb2hsv -> change V or S -> hsv2rgb


def hsv_round_trip(xf: np.ndarray, value=None, saturation=None) -> np.ndarray:
    """skimage's hsv2rgb(rgb2hsv(x) with V -> value(V) and/or S -> saturation(S)) in closed form.

    Every channel of hsv2rgb is V·(1 − S·w), where w depends on the hue only: w = 0 for the largest
    channel (skimage's `v`), 1 for the smallest (`p`) and (V − x)/Δ in between (`q` or `t`), Δ = max − min.
    Grey pixels (Δ = 0) have hue 0 (red in skimage): w = (0, 1, 1). Largest and smallest channels use
    skimage's own arithmetic, V' and V'·(1 − S'), so exact rounding ties resolve the same way.
    """
    v = xf.max(axis=-1, keepdims=True)
    delta = v - xf.min(axis=-1, keepdims=True)
    colour = delta > 0
    s = np.divide(delta, v, out=np.zeros_like(v), where=colour)
    grey = np.broadcast_to(np.array([0.0, 1.0, 1.0][: xf.shape[-1]], xf.dtype), xf.shape)
    w = np.divide(v - xf, delta, out=grey.copy(), where=colour)
    v2 = value(v) if value is not None else v
    s2 = saturation(s) if saturation is not None else s
    return v2 * (1 - s2 * w)


# ------------------------------------------------------------------ OpenCV pieces


def cv2_gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    """cv2.getGaussianKernel(ksize, sigma) in float64 (sigma <= 0: OpenCV's default from ksize)."""
    if sigma <= 0:
        sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    i = np.arange(ksize) - (ksize - 1) / 2.0
    k = np.exp(-(i * i) / (2.0 * sigma * sigma))
    return k / k.sum()


def _reflect101(idx: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * n - 2
    idx = np.abs(idx) % period
    return np.where(idx >= n, period - idx, idx)


def _reflect_half(idx: np.ndarray, n: int) -> np.ndarray:
    period = 2 * n
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - 1 - idx, idx)


def _via_table(rule, idx: np.ndarray, n: int) -> np.ndarray:
    """rule(idx, n) through a lookup table over idx's range (one gather instead of several passes)."""
    lo, hi = int(idx.min()), int(idx.max())
    if hi - lo > 64 * n + 4096:  # absurd coordinates: compute directly
        return rule(idx, n)
    lut = rule(np.arange(lo, hi + 1, dtype=np.int64), n).astype(np.int32)
    return lut.take(idx - lo)


def reflect101(idx: np.ndarray, n: int) -> np.ndarray:
    """OpenCV BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba) of integer indices into a length-n axis."""
    return _via_table(_reflect101, idx, n)


def reflect_half(idx: np.ndarray, n: int) -> np.ndarray:
    """Half-sample symmetric extension (dcba|abcd|dcba): scipy.ndimage mode 'reflect'."""
    return _via_table(_reflect_half, idx, n)


@lru_cache(maxsize=64)
def gaussian_matrix(n: int, sigma: float, mode: str, truncate: float) -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d(·, sigma, mode, truncate) along an axis of length n, as an (n, n) matrix."""

    if sigma <= 0:
        return np.eye(n)
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.eye(n), sigma, axis=0, mode=mode, truncate=truncate)


def gaussian_hw_matrix(u: np.ndarray, sigma: float, mode: str, truncate: float) -> np.ndarray:
    """gaussian_hw for a batch of 2-D fields (n, H, W) as two small matrix products (G_H · u · G_Wᵀ)."""
    gh = gaussian_matrix(u.shape[1], float(sigma), mode, float(truncate))
    gw = gaussian_matrix(u.shape[2], float(sigma), mode, float(truncate))
    return np.matmul(np.matmul(gh, u), gw.T)


# ------------------------------------------------------------------ scipy.ndimage.zoom as a matrix


@lru_cache(maxsize=256)
def scipy_zoom_matrix(n: int, zoom: float) -> np.ndarray:
    """The (n, n) linear map of the original's clipped_zoom along one axis of length n:
    crop the centre ceil(n / zoom), scipy.ndimage.zoom(order=1) by `zoom`, trim the centre n.

    Built by zooming the identity (order-1 zoom is separable and linear), so it is SciPy's own
    interpolation, coefficient for coefficient."""

    ch = int(np.ceil(n / zoom))
    top = (n - ch) // 2
    from scipy.ndimage import zoom as scizoom

    z = scizoom(np.eye(ch), (zoom, 1.0), order=1)  # (round(ch * zoom), ch)
    trim = (z.shape[0] - n) // 2
    z = z[trim : trim + n]
    m = np.zeros((n, n))
    m[: z.shape[0], top : top + ch] = z
    return m


# ------------------------------------------------------------------ Pillow BOX resampling (8 bit)

PIL_PRECISION_BITS = 32 - 8 - 2


@lru_cache(maxsize=256)
def pil_box_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's fixed-point BOX coefficients (precompute_coeffs + normalize_coeffs_8bpc), (out, in)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    m = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        w = np.array([1.0 if -0.5 < (x + xmin - center + 0.5) * ss <= 0.5 else 0.0 for x in range(xmax)])
        if w.sum() != 0:
            w = w / w.sum()
        k = np.where(w < 0, np.trunc(-0.5 + w * (1 << PIL_PRECISION_BITS)), np.trunc(0.5 + w * (1 << PIL_PRECISION_BITS)))
        m[xx, xmin : xmin + xmax] = k
    return m


def pil_box_pass(x: np.ndarray, m: np.ndarray, axis: int) -> np.ndarray:
    """One Pillow resampling pass along `axis` (1 = rows/H, 2 = columns/W) of a uint8 batch: integer
    sums with the fixed-point weights, + 2^21, >> 22, clipped to 0..255. The weights are a few taps per
    output, so the pass is a handful of gathers (int32 arithmetic, exact: 255 · 2^22 + 2^21 < 2^31)."""
    out_n = m.shape[0]
    taps = int((m != 0).sum(axis=1).max()) if m.size else 0
    acc = np.full(x.shape[:axis] + (out_n,) + x.shape[axis + 1 :], 1 << (PIL_PRECISION_BITS - 1), dtype=np.int32)
    shape = [1] * x.ndim
    shape[axis] = out_n
    for t in range(taps):
        idx = np.zeros(out_n, np.int64)
        wt = np.zeros(out_n, np.int32)
        for o in range(out_n):
            nz = np.flatnonzero(m[o])
            if t < nz.size:
                idx[o], wt[o] = nz[t], int(m[o, nz[t]])
        acc += np.take(x, idx, axis=axis) * wt.reshape(shape)  # < 2^31: weights sum to about 2^22
    acc >>= PIL_PRECISION_BITS
    np.clip(acc, 0, 255, out=acc)
    return acc.astype(np.uint8)


def pil_resize_box(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """PIL.Image.resize((out_w, out_h), Image.BOX) of every uint8 image: horizontal pass first."""
    n, h, w, c = x.shape
    if out_w != w:
        x = pil_box_pass(x, pil_box_matrix(w, out_w), 2)
    if out_h != h:
        x = pil_box_pass(x, pil_box_matrix(h, out_h), 1)
    return x
