"""Frost (CIFAR-10-C): y = clip(a·x + b·F, 0, 255), F a random crop of a photograph of frost.

The photographs are the ones the original uses; noisebench does not ship them. They are read from the
`imagecorruptions` package's data (`imagecorruptions/frost/frost1.png` … `frost6.jpg`), found without
importing that package: install it with ``pip install 'noisebench[corruptions]'`` (it is the
`imagecorruptions-imaug` release).

Per image: picture k uniform in the first five (the original's ``np.random.randint(5)``: frost6 is never
drawn), scaled by the table's factor (0.2 for 32 px, 0.3 for 64 px, 1 for 224 px: the originals' sizes;
bilinear with OpenCV's pixel centres, no anti-aliasing, as cv2.resize), enlarged further when smaller than
the image, then a crop at a uniform corner, RGB. The pictures are read once per process (Pillow; the
original's cv2.imread decodes the same files) and kept resized per scale.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, to_uint8
from noisebench.errors import UserError
from noisebench.registry import register_corruption

PICTURES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
DRAWN = 5  # the original draws randint(5)
HOW_TO_GET = ("frost needs the frost pictures of the `imagecorruptions` package (not shipped with noisebench): "
              "pip install 'noisebench[corruptions]' (or: pip install imagecorruptions-imaug)")

SEVERITIES = {1: {"a": 1.0, "b": 0.2, "scale": 0.2}, 2: {"a": 1.0, "b": 0.3, "scale": 0.2},
              3: {"a": 0.9, "b": 0.4, "scale": 0.2}, 4: {"a": 0.85, "b": 0.4, "scale": 0.2},
              5: {"a": 0.75, "b": 0.45, "scale": 0.2}}
TINY_IMAGENET_C = {1: {"a": 1.0, "b": 0.3, "scale": 0.3}, 2: {"a": 0.9, "b": 0.4, "scale": 0.3},
                   3: {"a": 0.8, "b": 0.45, "scale": 0.3}, 4: {"a": 0.75, "b": 0.5, "scale": 0.3},
                   5: {"a": 0.7, "b": 0.55, "scale": 0.3}}
IMAGENET_C = {1: {"a": 1.0, "b": 0.4, "scale": 1.0}, 2: {"a": 0.8, "b": 0.6, "scale": 1.0},
              3: {"a": 0.7, "b": 0.7, "scale": 1.0}, 4: {"a": 0.65, "b": 0.7, "scale": 1.0},
              5: {"a": 0.6, "b": 0.75, "scale": 1.0}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}
RANGES = {"a": (0.0, 10.0), "b": (0.0, 10.0), "scale": (0.01, 4.0)}
DIFFERENCES = ("the frost pictures come from the installed `imagecorruptions` package; resizing is bilinear in "
               "float (OpenCV's 11-bit fixed point differs by at most a grey level); `imagecorruptions` itself "
               "draws all six pictures and enlarges them by 1.1 (bicubic) before cropping")


def frost_dir() -> Path:
    """The folder of the frost pictures (imagecorruptions' package data), or one-line UserError."""
    try:
        spec = importlib.util.find_spec("imagecorruptions")
    except (ImportError, ValueError):
        spec = None
    locs = list(getattr(spec, "submodule_search_locations", None) or []) if spec else []
    for loc in locs:
        d = Path(loc) / "frost"
        if all((d / p).is_file() for p in PICTURES[:DRAWN]):
            return d
    raise UserError(HOW_TO_GET)


def _linear_matrix(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """(n_out, n_in) bilinear weights of cv2.resize(INTER_LINEAR): source = (i + 0.5)/scale − 0.5, edges clamped."""
    src = (np.arange(n_out) + 0.5) / scale - 0.5
    x0 = np.floor(src).astype(np.int64)
    f = src - x0
    f[x0 < 0] = 0.0
    x0 = np.clip(x0, 0, n_in - 1)
    x1 = np.clip(x0 + 1, 0, n_in - 1)
    f[x0 >= n_in - 1] = 0.0
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), x0), 1 - f)
    np.add.at(m, (np.arange(n_out), x1), f)
    return m


@lru_cache(maxsize=4)
def _picture(k: int) -> np.ndarray:
    from PIL import Image

    path = frost_dir() / PICTURES[k]
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except OSError as e:
        raise UserError(f"frost: cannot read {path} ({e}); reinstall imagecorruptions-imaug") from None


@lru_cache(maxsize=32)
def frost_picture(k: int, scale: float, min_h: int, min_w: int) -> np.ndarray:
    """Picture k (RGB uint8) resized by `scale` (OpenCV's size rule: round(side·scale)), then enlarged to cover
    (min_h, min_w) + 1 when smaller (so the crop corner has a range to be drawn from)."""
    pic = _picture(k)
    h, w = pic.shape[:2]
    oh, ow = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    grow = max((min_h + 1) / oh, (min_w + 1) / ow, 1.0)
    if grow > 1.0:
        scale *= grow
        oh, ow = int(np.ceil(h * scale)), int(np.ceil(w * scale))
    if (oh, ow) == (h, w):
        return pic
    a, b = _linear_matrix(h, oh, oh / h if grow > 1.0 else scale), _linear_matrix(w, ow, ow / w if grow > 1.0 else scale)
    out = np.einsum("ij,jkc,lk->ilc", a, pic.astype(np.float64), b, optimize=True)
    return to_uint8(out)


@register_corruption("frost", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES,
                     reference=REFERENCE, differences=DIFFERENCES,
                     description="a*x + b*(random crop of a frost photograph); needs imagecorruptions' pictures")
def frost(x, rng, *, a: float = 0.9, b: float = 0.4, scale: float = 0.2):
    """x: uint8 (N, H, W, C) -> uint8. Grey images get the picture's luma (0.299, 0.587, 0.114)."""
    x = check_images(x, "frost")
    a = check_range("frost", "a", a, *RANGES["a"])
    b = check_range("frost", "b", b, *RANGES["b"])
    scale = check_range("frost", "scale", scale, *RANGES["scale"])
    frost_dir()
    n, h, w, c = x.shape
    ks = rng.integers(0, DRAWN, size=n)
    u = rng.random((n, 2))
    crops = np.empty((n, h, w, 3), np.float32)
    for i in range(n):
        pic = frost_picture(int(ks[i]), scale, h, w)
        r0 = int(u[i, 0] * (pic.shape[0] - h))  # uniform in [0, H_pic - h), as randint(0, H_pic - h)
        c0 = int(u[i, 1] * (pic.shape[1] - w))
        crops[i] = pic[r0 : r0 + h, c0 : c0 + w]
    if c == 1:
        crops = (crops @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    return to_uint8(np.clip(np.float32(a) * x + np.float32(b) * crops, 0, 255))
