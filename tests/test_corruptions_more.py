"""motion_blur, snow, frost and spatter at the CIFAR-10-C constants against per-image transcriptions of
make_cifar_c.py (OpenCV and scikit-image where the original calls them; ImageMagick's motion blur in the
re-implementation of the `imagecorruptions` package, an independent transcription of the same algorithm),
with the same random draws replayed. Also: the constant tables of all 19, the named sets, the typed
registry record, and frost without the pictures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import noisebench as nb
from noisebench.corruptors.sets import (
    ALL,
    BENCHMARK,
    CONSTANT_TABLES,
    EXTRA,
    CorruptionSpec,
    corruption_spec,
    default_constants,
    resolve_corruptions,
    set_label,
)
from noisebench.errors import UserError
from noisebench.registry import CORRUPTIONS

sys.path.insert(0, str(Path(__file__).parent))
from corruption_reference import clipped_zoom  # noqa: E402

rng0 = np.random.default_rng(5)
X = rng0.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
X[0, :10] = 255
X[1, :, :, 1] = X[1, :, :, 0]
NEW = ("motion_blur", "snow", "frost", "spatter")


def sev(name, s, table="cifar10-c"):
    return dict(CORRUPTIONS.get(name).meta["constants"][table][s])


# ------------------------------------------------------------------ tables, sets, typed records


def test_every_corruption_declares_three_tables_with_five_severities():
    assert len(ALL) == 19 and len(BENCHMARK) == 15 and set(EXTRA) == {"speckle_noise", "gaussian_blur", "spatter",
                                                                       "saturate"}
    for name in ALL:
        spec = corruption_spec(name)
        assert isinstance(spec, CorruptionSpec) and spec.builtin
        assert tuple(spec.constants) == CONSTANT_TABLES, name
        assert spec.constants["cifar10-c"] == spec.severities
        for t in CONSTANT_TABLES:
            assert sorted(spec.constants[t]) == [1, 2, 3, 4, 5]
            for row in spec.constants[t].values():
                assert set(row) == set(spec.params), (name, t)
                for k, v in row.items():
                    lo, hi = spec.ranges[k]
                    assert lo <= v <= hi, (name, t, k, v)
        with pytest.raises(AttributeError):
            spec.name = "x"  # frozen


def test_published_constants_of_the_new_tables():
    assert [sev("motion_blur", s)["radius"] for s in range(1, 6)] == [6, 6, 6, 8, 9]
    assert [sev("motion_blur", s, "imagenet-c")["sigma"] for s in range(1, 6)] == [3, 5, 8, 12, 15]
    assert [sev("snow", s)["mix"] for s in range(1, 6)] == [0.95, 0.9, 0.9, 0.85, 0.8]
    assert [sev("frost", s)["b"] for s in range(1, 6)] == [0.2, 0.3, 0.4, 0.4, 0.45]
    assert [sev("spatter", s)["mud"] for s in range(1, 6)] == [0, 0, 0, 1, 1]
    assert [sev("shot_noise", s, "imagenet-c")["c"] for s in range(1, 6)] == [60, 25, 12, 5, 3]
    assert [sev("shot_noise", s, "tiny-imagenet-c")["c"] for s in range(1, 6)] == [250, 100, 50, 30, 15]
    assert [sev("zoom_blur", s, "imagenet-c")["step"] for s in range(1, 6)] == [0.01, 0.01, 0.02, 0.02, 0.03]
    assert sev("defocus_blur", 5, "imagenet-c") == {"radius": 10.0, "alias_blur": 0.5}
    assert sev("elastic_transform", 1, "imagenet-c")["alpha"] == pytest.approx(2 * 244 / 224)


def test_sets_by_name_and_lists():
    assert resolve_corruptions("benchmark") == list(BENCHMARK) == resolve_corruptions(None)
    assert resolve_corruptions("extra") == list(EXTRA)
    assert resolve_corruptions("ALL") == list(ALL)
    assert resolve_corruptions("fog, motion-blur") == ["fog", "motion_blur"]
    assert resolve_corruptions(["fog", "snow,frost"]) == ["fog", "snow", "frost"]
    for bad, msg in [("fog,fog", "twice"), ("benchmark,fog", "cannot be combined"), ("nope", "unknown corruption"),
                     (",", "empty"), ("flip", "unknown")]:
        with pytest.raises(UserError, match=msg):
            resolve_corruptions(bad)
    assert set_label(BENCHMARK) == "benchmark 15" and set_label(["fog"]) == "1 corruption"
    assert nb.resolve_corruptions("extra") == list(EXTRA)


def test_corruptions_md_lists_the_three_tables_of_the_registry():
    from noisebench.corruptors.sets import constants_table

    doc = (Path(__file__).resolve().parents[1] / "docs" / "CORRUPTIONS.md").read_text()
    for t in CONSTANT_TABLES:
        assert constants_table(t) in doc, t
    for name in ALL:
        assert f"`{name}`" in doc


def test_default_table_by_image_size():
    assert default_constants(32, 32) == "cifar10-c" and default_constants(28, 28) == "cifar10-c"
    assert default_constants(64, 64) == "tiny-imagenet-c" and default_constants(96, 128) == "tiny-imagenet-c"
    assert default_constants(224, 224) == "imagenet-c" and default_constants(500, 375) == "imagenet-c"


def test_nb_corrupt_uses_the_table_of_the_size_or_the_one_named():
    big = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    f = CORRUPTIONS.get("contrast").obj
    assert np.array_equal(nb.corrupt(big, "contrast", 1), f(big[None], None, c=0.4)[0])  # tiny-imagenet-c
    assert np.array_equal(nb.corrupt(big, "contrast", 1, constants="cifar10-c"), f(big[None], None, c=0.75)[0])
    with pytest.raises(UserError, match="--constants must be one of"):
        nb.corrupt(big, "contrast", 1, constants="imagenet")


def test_grey_batches_and_single_grey_images():
    g = np.random.default_rng(2).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    batch = nb.corrupt(g, "motion_blur", 3, seed=0)  # (N, H, W) inferred
    assert batch.shape == g.shape
    assert np.array_equal(batch, nb.corrupt(g[..., None], "motion_blur", 3, seed=0)[..., 0])
    one = nb.corrupt(g[0], "fog", 2, seed=0)
    assert one.shape == (28, 28) and one.dtype == np.uint8
    assert nb.corrupt(g.astype(np.float32) / 255, "contrast", 2, layout="NHW").dtype == np.float32


@pytest.mark.parametrize("name", NEW)
def test_new_corruptions_shapes_seeds_and_grey(name):
    for s in range(1, 6):
        y = nb.corrupt(X[:2], name, s, seed=0)
        assert y.shape == X[:2].shape and y.dtype == np.uint8
        assert (y != X[:2]).mean() > 0.01  # it does something at every severity
    assert np.array_equal(nb.corrupt(X, name, 3, seed=1), nb.corrupt(X, name, 3, seed=1))
    assert not np.array_equal(nb.corrupt(X, name, 3, seed=1), nb.corrupt(X, name, 3, seed=2))
    g = nb.corrupt(X[:2, :28, :28, 0], name, 4, seed=0)
    assert g.shape == (2, 28, 28)


# ------------------------------------------------------------------ against make_cifar_c.py, draws replayed

cv2 = pytest.importorskip("cv2")  # the `corruptions` extra: OpenCV and imagecorruptions for the transcriptions
ic = pytest.importorskip("imagecorruptions.corruptions")


def imagemagick_motion_blur(img, radius, sigma, angle):
    """ImageMagick's MotionBlurImage on an 8-bit image: imagecorruptions' transcription, rounded to 8 bits."""
    return np.clip(np.rint(ic._motion_blur(img, radius=radius, sigma=sigma, angle=angle)), 0, 255)


@pytest.mark.parametrize("s", range(1, 6))
def test_motion_blur_replays_the_angle(s):
    p = sev("motion_blur", s)
    ours = CORRUPTIONS.get("motion_blur").obj(X, np.random.default_rng(s), **p)
    angles = np.random.default_rng(s).uniform(-45, 45, size=len(X))
    for i in range(len(X)):
        ref = imagemagick_motion_blur(X[i], p["radius"], p["sigma"], angles[i])
        assert np.abs(ours[i].astype(int) - ref).max() <= 1


@pytest.mark.parametrize("s", range(1, 6))
def test_snow_replays_make_cifar_c(s):
    p = sev("snow", s)
    ours = CORRUPTIONS.get("snow").obj(X, np.random.default_rng(s), **p)
    r = np.random.default_rng(s)
    layers = r.normal(p["mean"], p["std"], size=(len(X), 32, 32))
    angles = r.uniform(-135, -45, size=len(X))
    for i in range(len(X)):
        x = X[i].astype(np.float32) / 255.0
        layer = clipped_zoom(layers[i][..., None], p["zoom"])
        layer[layer < p["threshold"]] = 0
        u8 = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)
        layer = imagemagick_motion_blur(u8, p["radius"], p["sigma"], angles[i])[..., None] / 255.0
        gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(32, 32, 1)
        x = p["mix"] * x + (1 - p["mix"]) * np.maximum(x, gray * 1.5 + 0.5)
        ref = np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255
        assert np.abs(ours[i].astype(float) - ref).max() <= 1.0 + 1e-4, s


@pytest.mark.parametrize("s", range(1, 6))
def test_spatter_replays_make_cifar_c(s):
    """Mud and water drops within a grey level (OpenCV's Canny, chamfer distance, blur, equalizeHist and
    filter2D reproduced)."""
    from skimage.filters import gaussian

    p = sev("spatter", s)
    ours = CORRUPTIONS.get("spatter").obj(X, np.random.default_rng(s), **p).astype(float)
    layers = np.random.default_rng(s).normal(p["mean"], p["std"], size=(len(X), 32, 32))
    diffs = []
    for i in range(len(X)):
        x = X[i].astype(np.float32) / 255.0
        liquid = gaussian(layers[i], sigma=p["sigma"])
        liquid[liquid < p["threshold"]] = 0
        if p["mud"] == 0:  # ours clips 255·L before the uint8 cast; the original's cast wraps values above 1
            liquid = (np.clip(liquid, 0, 1) * 255).astype(np.uint8)
            dist = 255 - cv2.Canny(liquid, 50, 150)
            dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
            _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
            dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
            dist = cv2.equalizeHist(dist)
            dist = cv2.filter2D(dist, cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
            dist = cv2.blur(dist, (3, 3)).astype(np.float32)
            m = liquid * dist
            m = m / m.max() * p["gain"] if m.max() > 0 else m
            ref = np.clip(x + m[..., None] * np.array([175, 238, 238]) / 255.0, 0, 1) * 255
        else:
            m = gaussian(np.where(liquid > p["threshold"], 1, 0).astype(np.float32), sigma=p["gain"])
            m[m < 0.8] = 0
            ref = np.clip(x * (1 - m[..., None]) + m[..., None] * np.array([63, 42, 20]) / 255.0, 0, 1) * 255
        diffs.append(np.abs(ours[i] - ref))
    assert np.stack(diffs).max() <= 1.0 + 1e-4


@pytest.mark.parametrize("s", range(1, 6))
def test_frost_replays_make_cifar_c(s):
    """The original: cv2.imread, cv2.resize(fx = fy = 0.2), crop at randint corners, clip(a·x + b·frost).
    Ours resizes in floating point (OpenCV: 11-bit fixed point): within 2 grey levels."""
    from noisebench.corruptors.frost import PICTURES, frost_dir

    p = sev("frost", s)
    ours = CORRUPTIONS.get("frost").obj(X, np.random.default_rng(s), **p).astype(float)
    r = np.random.default_rng(s)
    ks, u = r.integers(0, 5, size=len(X)), r.random((len(X), 2))
    assert set(ks) <= {0, 1, 2, 3, 4}
    for i in range(len(X)):
        pic = cv2.resize(cv2.imread(str(frost_dir() / PICTURES[ks[i]])), (0, 0), fx=0.2, fy=0.2)
        r0, c0 = int(u[i, 0] * (pic.shape[0] - 32)), int(u[i, 1] * (pic.shape[1] - 32))
        crop = pic[r0 : r0 + 32, c0 : c0 + 32][..., [2, 1, 0]]
        ref = np.clip(p["a"] * X[i] + p["b"] * crop, 0, 255)
        assert np.abs(ours[i] - ref).max() <= 2.0, (s, i)


def test_frost_without_the_pictures_says_how_to_get_them(monkeypatch, cli, tmp_path):
    import importlib.util

    from noisebench.corruptors import frost as frost_mod

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "imagecorruptions" else real(name, *a))
    frost_mod._picture.cache_clear()
    frost_mod.frost_picture.cache_clear()
    with pytest.raises(UserError, match=r"pip install 'noisebench\[corruptions\]'"):
        nb.corrupt(X[:1], "frost", 1, seed=0)
    r = cli("make", "cifar10-c", "--data", str(tmp_path / "none.h5"), "--corruptions", "frost")
    assert r.code != 0 and r.err.count("\n") == 1 and r.err.startswith("error:")
    frost_mod._picture.cache_clear()
    frost_mod.frost_picture.cache_clear()


def test_make_corrupt_list_shows_nineteen_with_their_tables(cli):
    r = cli("make", "corrupt", "list")
    assert r.code == 0 and r.out.startswith("19 image corruptions with severity tables")
    for name in ALL:
        assert f"\n{name} " in r.out
    assert r.out.count(" imagenet-c: 1:") == 19 and r.out.count(" cifar10-c: 1:") == 19
