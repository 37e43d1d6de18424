"""JPEG compression (CIFAR-10-C): save with Pillow at JPEG quality q, decode again."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range
from noisebench.registry import register_corruption

SEVERITIES = {1: {"quality": 80}, 2: {"quality": 65}, 3: {"quality": 58}, 4: {"quality": 50}, 5: {"quality": 40}}
RANGES = {"quality": (1, 95)}
TINY_IMAGENET_C = {1: {"quality": 65}, 2: {"quality": 58}, 3: {"quality": 50}, 4: {"quality": 40}, 5: {"quality": 25}}
IMAGENET_C = {1: {"quality": 25}, 2: {"quality": 18}, 3: {"quality": 15}, 4: {"quality": 10}, 5: {"quality": 7}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("jpeg_compression", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="Pillow JPEG round trip at quality q (4:2:0 chroma subsampling for RGB)")
def jpeg_compression(x, rng, *, quality: int = 58):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic. One Pillow encode/decode per image (no batch JPEG codec)."""

    x = check_images(x, "jpeg_compression")
    q = check_range("jpeg_compression", "quality", quality, *RANGES["quality"], integer=True)
    out = np.empty_like(x)
    grey = x.shape[-1] == 1
    for i in range(x.shape[0]):
        buf = BytesIO()
        Image.fromarray(x[i, ..., 0] if grey else x[i]).save(buf, "JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf, formats=("JPEG",)) as im:
            a = np.asarray(im)
        out[i] = a[..., None] if grey else a
    return out
