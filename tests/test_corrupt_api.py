"""nb.corrupt: every input type round-trips (type, dtype, device, layout), ambiguity is refused,
nothing is silently zeroed, seeds are reproducible and seed=None is fresh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import noisebench as nb
from noisebench.errors import UserError

RNG = np.random.default_rng(0)
U8_NHWC = RNG.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)


def _variants():
    hwc = U8_NHWC[0]
    f = U8_NHWC.astype(np.float32) / 255
    return [
        ("u8 HWC", hwc, None),
        ("u8 NHWC", U8_NHWC, None),
        ("u8 CHW", hwc.transpose(2, 0, 1).copy(), None),
        ("u8 NCHW", U8_NHWC.transpose(0, 3, 1, 2).copy(), None),
        ("u8 HW", hwc[..., 0].copy(), None),
        ("f32 NHWC", f, None),
        ("f64 CHW", f[0].transpose(2, 0, 1).astype(np.float64), None),
        ("torch f32 NCHW", torch.from_numpy(f.transpose(0, 3, 1, 2).copy()), None),
        ("torch u8 HWC", torch.from_numpy(hwc.copy()), None),
        ("explicit layout", U8_NHWC[:, :3, :3, :], "NHWC"),  # 3x3x3: ambiguous without layout=
    ]


@pytest.mark.parametrize("label, x, layout", _variants(), ids=[v[0] for v in _variants()])
def test_round_trip_keeps_type_dtype_and_layout(label, x, layout):
    y = nb.corrupt(x, "psi", seed=3, layout=layout, level=8)
    assert type(y) is type(x) and y.dtype == x.dtype and tuple(y.shape) == tuple(x.shape)
    ya = y.numpy() if isinstance(y, torch.Tensor) else y
    xa = x.numpy() if isinstance(x, torch.Tensor) else x
    assert not np.array_equal(ya, xa)  # corrupted
    # never silently zeroed: the mean intensity is preserved up to Poisson noise (unbiased below 255)
    assert abs(float(ya.mean()) - float(xa.mean())) < 0.1 * max(float(xa.mean()), 1e-9) + 0.02 * (255 if xa.dtype == np.uint8 else 1)


def test_float_input_matches_uint8_input():
    f = U8_NHWC.astype(np.float32) / 255
    a = nb.corrupt(U8_NHWC, "psi", seed=5, level=16)
    b = nb.corrupt(f, "psi", seed=5, level=16)
    assert np.array_equal(np.rint(b * 255).astype(np.uint8), a)


def test_seed_reproducible_and_none_is_fresh():
    a = nb.corrupt(U8_NHWC, "psi", seed=1, level=8)
    assert np.array_equal(a, nb.corrupt(U8_NHWC, "psi", seed=1, level=8))
    assert not np.array_equal(a, nb.corrupt(U8_NHWC, "psi", seed=2, level=8))
    assert not np.array_equal(nb.corrupt(U8_NHWC, "psi", level=8), nb.corrupt(U8_NHWC, "psi", level=8))


@pytest.mark.parametrize("x, kw, msg", [
    (np.zeros((3, 8, 3), np.uint8), {}, "cannot tell the layout"),
    (np.zeros((2, 3, 5, 3), np.uint8), {}, "cannot tell the layout"),
    (np.zeros((8, 8, 3), np.uint8), {"layout": "NCHW"}, "does not fit"),
    (np.full((4, 4, 3), 2.0, np.float32), {}, "in [0, 1]"),
    (np.full((4, 4, 3), np.nan, np.float32), {}, "in [0, 1]"),
    (np.zeros((4, 4, 3), np.int16), {}, "uint8 or float"),
    (np.zeros((0, 4, 4, 3), np.uint8), {"layout": "NHWC"}, "empty"),
    (np.zeros((4, 4, 3), np.uint8), {"seed": -1}, "seed must be"),
    (np.zeros((4, 4, 3), np.uint8), {"strength": 2}, "has no parameter 'strength'"),
    (np.zeros((4, 4, 3), np.uint8), {"level": 0}, "level must be a number in"),
    (np.zeros((4, 4, 3), np.uint8), {"level": float("inf")}, "level must be a number in"),
])
def test_bad_inputs_are_refused(x, kw, msg):
    kw = {"level": 8, **kw}
    with pytest.raises(UserError, match=msg.replace("[", r"\[").replace("(", r"\(")):
        nb.corrupt(x, "psi", **kw)


def test_unknown_corruption_and_missing_severity_table():
    with pytest.raises(UserError, match="unknown corruption"):
        nb.corrupt(U8_NHWC, "nope")
    with pytest.raises(UserError, match="no severity table"):
        nb.corrupt(U8_NHWC, "psi", severity=3)
