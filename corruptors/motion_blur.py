"""Motion blur (CIFAR-10-C): ImageMagick's motion blur of radius r and std sigma at an angle drawn
uniformly in [−45°, 45°) per image.

The original saves the image as PNG, runs ImageMagick's MagickMotionBlurImage through Wand and decodes it
again. We apply the same line kernel with numpy (corruptors/_line_blur.py: ImageMagick's taps and edge
handling, float32 arithmetic and one rounding at the end, instead of ImageMagick's 16-bit quantum and the
8-bit PNG round trip). One angle per image, from the block's generator.
"""

from __future__ import annotations

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, to_uint8
from noisebench.corruptors._line_blur import line_blur
from noisebench.registry import register_corruption

SEVERITIES = {1: {"radius": 6, "sigma": 1.0}, 2: {"radius": 6, "sigma": 1.5}, 3: {"radius": 6, "sigma": 2.0},
              4: {"radius": 8, "sigma": 2.0}, 5: {"radius": 9, "sigma": 2.5}}
RANGES = {"radius": (0, 64), "sigma": (0.0, 64.0)}
TINY_IMAGENET_C = {1: {"radius": 10, "sigma": 1.0}, 2: {"radius": 10, "sigma": 1.5}, 3: {"radius": 10, "sigma": 2.0},
                   4: {"radius": 10, "sigma": 2.5}, 5: {"radius": 12, "sigma": 3.0}}
IMAGENET_C = {1: {"radius": 10, "sigma": 3.0}, 2: {"radius": 15, "sigma": 5.0}, 3: {"radius": 15, "sigma": 8.0},
              4: {"radius": 15, "sigma": 12.0}, 5: {"radius": 20, "sigma": 15.0}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}
DIFFERENCES = ("ImageMagick's motion blur re-implemented with numpy (same taps and edge rule; float32 and one "
               "rounding instead of ImageMagick's 16-bit quantum and the 8-bit PNG round trip)")


@register_corruption("motion_blur", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES,
                     reference=REFERENCE, differences=DIFFERENCES,
                     description="ImageMagick-style motion blur (radius, sigma) at a random angle in [-45, 45)")
def motion_blur(x, rng, *, radius: int = 6, sigma: float = 2.0):
    """x: uint8 (N, H, W, C) -> uint8."""
    x = check_images(x, "motion_blur")
    radius = check_range("motion_blur", "radius", radius, *RANGES["radius"], integer=True)
    sigma = check_range("motion_blur", "sigma", sigma, *RANGES["sigma"])
    angles = rng.uniform(-45, 45, size=x.shape[0])
    return to_uint8(line_blur(x, radius, sigma, angles))
