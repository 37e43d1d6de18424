"""Decoding one image file of an image-folder source, exactly or not at all.

* The file must be a regular file of at most MAX_IMAGE_FILE_BYTES (opened without blocking).
* Its header size is checked before any pixel is decoded: each side 1..MAX_IMAGE_SIDE pixels
  (so at most MAX_IMAGE_PIXELS); PIL's decompression-bomb warning and error are refusals too.
* Only single-frame images. Pixel modes (PIL names):
    - L (8-bit grey) and RGB: read as they are (1 and 3 channels);
    - 1 (bilevel): grey 0/255, exact;
    - P (palette) without transparency: RGB through its palette, exact;
    - LA, RGBA, PA (with alpha): the alpha channel is dropped only when it is fully opaque (255
      everywhere), which is exact; transparent images are refused (no silent compositing);
    - everything else (16/32-bit integer I;16 / I, float F, CMYK, YCbCr, LAB, HSV, palette with
      transparency, multi-band TIFFs): refused, since converting would clip or re-encode pixel values.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from noisebench.errors import UserError
from noisebench.safety import bounds
from noisebench.safety import inputs as safe_input

EXACT_MODES = ("L", "RGB", "1", "P", "LA", "RGBA", "PA")


def read_image(path, where: str) -> np.ndarray:
    """H x W x C uint8 (C = 1 or 3) from one image file; every defect is a one-line UserError."""

    bomb = (Image.DecompressionBombError, Image.DecompressionBombWarning)
    with safe_input.open_regular(path, f"{where}: image", bounds.MAX_IMAGE_FILE_BYTES) as f:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(f) as im:
                    return _decode(im, path, where)
        except bomb:
            raise UserError(f"{where}: {path} declares more pixels than allowed (decompression bomb); refusing it") from None
        except UserError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, MemoryError) as e:
            raise UserError(f"{where}: cannot read image {path} ({type(e).__name__})") from None


def _decode(im, path, where: str) -> np.ndarray:
    w, h = im.size
    if not (1 <= w <= bounds.MAX_IMAGE_SIDE and 1 <= h <= bounds.MAX_IMAGE_SIDE):
        raise UserError(f"{where}: {path} is {w}x{h} pixels (each side 1..{bounds.MAX_IMAGE_SIDE})")
    if getattr(im, "n_frames", 1) != 1:
        raise UserError(f"{where}: {path} has {im.n_frames} frames; give single-frame images")
    mode = im.mode
    if mode not in EXACT_MODES:
        raise UserError(f"{where}: {path} has pixel mode {mode!r} (16-bit, float, CMYK or other); only 8-bit grey "
                        "or RGB (or exactly convertible palette/bilevel/opaque-alpha images) are read, never clipped")
    if mode == "P" and "transparency" in im.info:
        raise UserError(f"{where}: {path} is a palette image with transparency; flatten it to RGB first")
    if mode == "1":
        im = im.convert("L")
    elif mode == "P":
        im = im.convert("RGB")
    a = np.asarray(im)
    if a.dtype != np.uint8:
        raise UserError(f"{where}: {path} decodes to {a.dtype} pixels; only 8-bit images are read")
    if mode in ("LA", "RGBA", "PA"):
        if mode == "PA":
            a = np.asarray(im.convert("RGBA"))
        if not (a[..., -1] == 255).all():
            raise UserError(f"{where}: {path} has transparent pixels (mode {mode}); flatten it to RGB or grey first")
        a = a[..., :-1]
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise UserError(f"{where}: {path} decodes to shape {a.shape}; expected 1 or 3 channels")
    return np.ascontiguousarray(a)
