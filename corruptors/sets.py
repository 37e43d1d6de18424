"""Named sets of image corruptions: ``benchmark`` (CIFAR-10-C's 15), ``extra`` (its 4 held-out ones)
and ``all`` (every registered image corruption with a severity table).

``resolve_corruptions(spec)`` maps a set name or a comma list to the registered corruption names
available here; CIFAR-10-C names without a registered corruption (motion_blur, snow, frost need
ImageMagick, frost images or OpenCV) are left out of ``benchmark`` and listed by ``unavailable``.
"""

from __future__ import annotations

from noisebench.errors import UserError

__all__ = ["BENCHMARK", "EXTRA", "SETS", "resolve_corruptions", "unavailable"]

# Hendrycks & Dietterich (ICLR 2019): the 15 corruptions CIFAR-10-C's corruption accuracy averages over
BENCHMARK = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
             "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression")
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")  # the release's 4 held-out corruptions
SETS = ("benchmark", "extra", "all")


def _available() -> list[str]:
    from noisebench.generators.corrupt_builds import image_corruption, image_corruption_names

    return [n for n in image_corruption_names() if image_corruption(n).meta.get("severities")]


def unavailable(names=BENCHMARK) -> list[str]:
    """The names of `names` with no registered image corruption here."""
    have = set(_available())
    return [n for n in names if n not in have]


def resolve_corruptions(spec: str | list | tuple | None) -> list[str]:
    """'benchmark' / 'extra' / 'all' (None: all) or a comma list (or a list) of registered names ->
    registered image corruption names, in the set's order; unknown or repeated names are a UserError."""
    have = _available()
    if spec is None:
        return have
    if isinstance(spec, str) and spec.strip().lower() in SETS:
        key = spec.strip().lower()
        if key == "all":
            return have
        return [n for n in (BENCHMARK if key == "benchmark" else EXTRA) if n in have]
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for part in parts:
        name = str(part).strip().lower().replace("-", "_")
        if not name:
            continue
        if name not in have:
            raise UserError(f"--corruptions: unknown corruption {name[:40]!r}; use benchmark, extra, all or names "
                            f"from: {', '.join(have)}")
        if name in out:
            raise UserError(f"--corruptions lists {name} twice")
        out.append(name)
    if not out:
        raise UserError("--corruptions is empty; use benchmark, extra, all or a comma list of names")
    return out
