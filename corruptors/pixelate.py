"""Pixelate (CIFAR-10-C): Pillow BOX resize to (int(W·c), int(H·c)), then BOX resize back to (W, H)."""

from __future__ import annotations

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, pil_resize_box
from noisebench.errors import UserError
from noisebench.registry import register_corruption

SEVERITIES = {1: {"c": 0.95}, 2: {"c": 0.9}, 3: {"c": 0.85}, 4: {"c": 0.75}, 5: {"c": 0.65}}
RANGES = {"c": (0.0, 1.0)}
TINY_IMAGENET_C = {1: {"c": 0.9}, 2: {"c": 0.8}, 3: {"c": 0.7}, 4: {"c": 0.6}, 5: {"c": 0.5}}
IMAGENET_C = {1: {"c": 0.6}, 2: {"c": 0.5}, 3: {"c": 0.4}, 4: {"c": 0.3}, 5: {"c": 0.25}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


@register_corruption("pixelate", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="BOX downscale by c and back up")
def pixelate(x, rng, *, c: float = 0.85):
    """x: uint8 (N, H, W, C) -> uint8. Deterministic. Pillow's BOX resampling (its fixed-point weights and
    per-pass 8-bit rounding) computed for the whole batch as matrix products."""
    x = check_images(x, "pixelate")
    c = check_range("pixelate", "c", c, *RANGES["c"])
    _, h, w, _ = x.shape
    sh, sw = int(h * c), int(w * c)
    if sh < 1 or sw < 1:
        raise UserError(f"pixelate: c = {c} shrinks {h}x{w} images to nothing; use a larger c")
    return pil_resize_box(pil_resize_box(x, sh, sw), h, w)
