"""``nb.corrupt``: any registered image corruption on one image or a batch, numpy or torch,
uint8 or float in [0, 1], in the caller's layout; the output has the input's type, dtype, device
and layout.

Layouts: ``HW`` and ``NHW`` (grayscale), ``HWC``, ``CHW``, ``NHWC``, ``NCHW``. Without ``layout=`` it
is inferred when exactly one reading fits (the channel axis has 1 or 3 entries and the other
candidate axis does not; a 3-D array with neither is ``NHW``, a batch of grey images as MNIST's);
otherwise it is an error that asks for ``layout=``. ``constants=`` picks the severity table
(``cifar10-c``, ``tiny-imagenet-c``, ``imagenet-c``); by default the one of the nearest image size. Floats must lie in
[0, 1]; they are quantised to uint8 with round-half-to-even before the corruption (the
corruptions are defined on 8-bit images) and returned as ``uint8 / 255`` in the input dtype.
``seed=None`` draws fresh OS entropy; an int gives the same output every time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from noisebench.errors import UserError
from noisebench.registry import CORRUPTIONS

__all__ = ["corrupt", "resolve_params"]

LAYOUTS = ("HW", "NHW", "HWC", "CHW", "NHWC", "NCHW")
CHANNELS = (1, 3)


def resolve_params(name: str, severity: int | None = None, *, constants: str | None = None,
                   **params: Any) -> tuple[Any, dict]:
    """(entry, parameters) for a corruption: values from the severity table of `constants` (None: CIFAR-10-C)
    overridden by explicit params, each checked against the declared parameters and ranges."""
    from noisebench.corruptors.sets import severity_table

    entry = CORRUPTIONS.get(name)
    declared = dict(entry.meta.get("params", {}))
    table = severity_table(entry, constants) if severity is not None else {}
    resolved = dict(declared)
    if severity is not None:
        if not table:
            raise UserError(f"corruption {entry.name!r} has no severity table; give its parameters ({', '.join(declared)})")
        if severity not in table:
            raise UserError(f"corruption {entry.name!r}: severity must be one of {', '.join(map(str, sorted(table)))}, got {severity!r}")
        resolved.update(table[severity])
    for k, v in params.items():
        if k not in declared:
            raise UserError(f"corruption {entry.name!r} has no parameter {k!r}; parameters: {', '.join(declared) or '(none)'}")
        resolved[k] = v
    missing = [k for k, v in resolved.items() if v is None]
    if missing:
        raise UserError(f"corruption {entry.name!r}: give {', '.join(missing)} (or --severity)")
    for k, (lo, hi) in (entry.meta.get("ranges") or {}).items():
        v = resolved.get(k)
        try:
            ok = lo <= float(v) <= hi
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise UserError(f"corruption {entry.name!r}: {k} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    return entry, resolved


def _infer_layout(shape: tuple) -> str:
    if len(shape) == 2:
        return "HW"
    if len(shape) in (3, 4):
        first, last = shape[-3], shape[-1]
        cl, cf = last in CHANNELS, first in CHANNELS
        if cl and not cf:
            return "HWC" if len(shape) == 3 else "NHWC"
        if cf and not cl:
            return "CHW" if len(shape) == 3 else "NCHW"
        if len(shape) == 3 and not cf and not cl:
            return "NHW"
        raise UserError(f"cannot tell the layout of an array of shape {shape}; pass layout= one of {', '.join(LAYOUTS)}")
    raise UserError(f"images must have 2, 3 or 4 dimensions, got shape {shape}")


def _to_nhwc(a: np.ndarray, layout: str) -> np.ndarray:
    if layout == "HW":
        return a[None, :, :, None]
    if layout == "NHW":
        return a[..., None]
    if layout == "HWC":
        return a[None]
    if layout == "CHW":
        return a.transpose(1, 2, 0)[None]
    if layout == "NCHW":
        return a.transpose(0, 2, 3, 1)
    return a


def _from_nhwc(a: np.ndarray, layout: str) -> np.ndarray:
    if layout == "HW":
        return a[0, :, :, 0]
    if layout == "NHW":
        return a[..., 0]
    if layout == "HWC":
        return a[0]
    if layout == "CHW":
        return a[0].transpose(2, 0, 1)
    if layout == "NCHW":
        return a.transpose(0, 3, 1, 2)
    return a


def corrupt(x: Any, name: str, severity: int | None = None, seed: int | None = None, *,
            layout: str | None = None, constants: str | None = None, **params: Any) -> Any:
    """Corrupt ``x`` with the registered image corruption ``name`` (at ``severity`` 1-5 from its
    ``constants`` table, default by image size, or with explicit parameters). Returns the same type,
    dtype, device and layout."""
    from noisebench.corruptors.sets import check_constants, image_corruption

    constants = check_constants(constants)
    image_corruption(name)  # a label corruption (label_flip) is refused here, with one line
    is_torch = type(x).__module__.split(".")[0] == "torch"
    if is_torch:
        import torch  # already loaded: the caller passed a tensor

        device, tdtype = x.device, x.dtype
        t = x.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
            t = t.float()  # no numpy dtype: exact in float32; the result goes back to the input dtype
        a = t.numpy()
    else:
        a = np.asarray(x)
    if a.dtype == np.uint8:
        u8 = a
    elif a.dtype.kind == "f":
        if a.size and not (np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0):
            raise UserError("float images must be finite and in [0, 1] (uint8 images: 0..255)")
        u8 = np.rint(a.astype(np.float64) * 255.0).astype(np.uint8)
    else:
        raise UserError(f"images must be uint8 or float in [0, 1], got dtype {a.dtype}")
    if layout is None:
        layout = _infer_layout(u8.shape)
    layout = str(layout).upper()
    if layout not in LAYOUTS or len(layout) != u8.ndim:
        raise UserError(f"layout {layout!r} does not fit an array of shape {u8.shape}; use one of {', '.join(LAYOUTS)}")
    if 0 in u8.shape:
        raise UserError(f"empty image array of shape {u8.shape}")
    if seed is not None and not isinstance(seed, np.random.Generator) and not (
            isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and 0 <= int(seed) < 2**63):
        raise UserError(f"seed must be None, an integer in [0, 2**63) or a numpy Generator, got {seed!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(None if seed is None else int(seed))
    nhwc = np.ascontiguousarray(_to_nhwc(u8, layout))
    if constants is None and severity is not None:
        from noisebench.corruptors.sets import default_constants

        constants = default_constants(*nhwc.shape[1:3])
    entry, resolved = resolve_params(name, severity, constants=constants, **params)
    out = np.asarray(entry.obj(nhwc, rng, **resolved))
    if out.shape != nhwc.shape or out.dtype != np.uint8:
        raise UserError(f"corruption {entry.name!r} returned {out.dtype} {out.shape}, expected uint8 {nhwc.shape}")
    out = np.ascontiguousarray(_from_nhwc(out, layout))
    if a.dtype.kind == "f":
        out = (out.astype(np.float64) / 255.0).astype(a.dtype)
    if is_torch:
        return torch.from_numpy(out).to(device=device, dtype=tdtype)
    return out
