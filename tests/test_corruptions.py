"""The 15 CIFAR-10-C corruptions: each against a plain per-image transcription of make_cifar_c.py.

Deterministic corruptions must agree within 1 grey level (after our rounding: rint, then clip);
random ones are compared with the same random draws where the draws can be replayed, and by
distribution (χ² per intensity, salt/pepper fractions). Also: registration, seeds, shapes, grey images.
"""

from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from noisebench.errors import UserError
from noisebench.generators.builds.corrupt import apply_corruption
from noisebench.generators.builds.corrupt_params import resolve_params
from noisebench.registry import CORRUPTIONS

sys.path.insert(0, str(Path(__file__).parent))
from corruption_reference import (  # noqa: E402
    clipped_zoom,
    disk,
    hsv2rgb,
    plasma_fractal,
    rgb2hsv,
    rounded,
    sk_gaussian,
    warp_affine_exact,
)

NAMES = ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur", "defocus_blur",
         "glass_blur", "zoom_blur", "fog", "brightness", "contrast", "saturate", "elastic_transform", "pixelate",
         "jpeg_compression"]
RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "fog", "elastic_transform"}


def _smooth(n=4, h=32, w=32):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for i in range(n):
        r = 127 + 100 * np.sin((xx + 3 * i) / 5.0)
        g = 40 + 6 * yy + 2 * i
        b = 200 - 3 * xx - 2 * yy + 10 * np.cos((xx + yy) / 7.0 + i)
        out.append(np.stack([r, g, b], -1))
    return np.clip(np.rint(np.stack(out)), 0, 255).astype(np.uint8)


X_SMOOTH = _smooth()
X_RAND = np.random.default_rng(7).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
X_RAND[0, :8] = 255  # saturated and black regions, grey pixels
X_RAND[1, :8] = 0
X_RAND[2, :, :, 1] = X_RAND[2, :, :, 0]
X_RAND[2, :, :, 2] = X_RAND[2, :, :, 0]
X = np.concatenate([X_SMOOTH, X_RAND])


def fn(name):
    return CORRUPTIONS.get(name).obj


def sev(name, s):
    return dict(CORRUPTIONS.get(name).meta["severities"][s])


def assert_within_one(ours, ref_255):
    d = np.abs(ours.astype(np.int64) - ref_255.astype(np.int64))
    assert ours.dtype == np.uint8
    assert d.max() <= 1, f"max difference {d.max()} grey levels"


class Recorder:
    """Wraps a Generator and records the arrays `uniform` returns (to replay them image by image)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.draws = []

    def uniform(self, lo, hi, size):
        a = self.rng.uniform(lo, hi, size)
        self.draws.append(a)
        return a


# ------------------------------------------------------------------ registration


def test_every_corruption_is_registered_with_five_severities_and_a_reference():
    for name in NAMES:
        e = CORRUPTIONS.get(name)
        assert e.builtin and e.meta["target"] == "images"
        assert sorted(e.meta["severities"]) == [1, 2, 3, 4, 5], name
        assert "make_cifar_c.py" in e.meta["reference"]
        for s in range(1, 6):
            p = resolve_params(e, s)
            assert set(p) == set(e.meta["params"]), name  # every parameter in every row
            for k, v in p.items():
                lo, hi = e.meta["ranges"][k]
                assert lo <= v <= hi


def test_published_constants():
    assert [sev("shot_noise", s)["c"] for s in range(1, 6)] == [500, 250, 100, 75, 50]
    assert [sev("gaussian_noise", s)["c"] for s in range(1, 6)] == [0.04, 0.06, 0.08, 0.09, 0.10]
    assert [sev("contrast", s)["c"] for s in range(1, 6)] == [0.75, 0.5, 0.4, 0.3, 0.15]
    assert [sev("jpeg_compression", s)["quality"] for s in range(1, 6)] == [80, 65, 58, 50, 40]
    assert [sev("impulse_noise", s)["amount"] for s in range(1, 6)] == [0.01, 0.02, 0.03, 0.05, 0.07]


@pytest.mark.parametrize("name", NAMES)
def test_every_severity_keeps_shape_and_dtype_and_is_seeded(name):
    e = CORRUPTIONS.get(name)
    x = X_RAND[:2]
    for s in range(1, 6):
        y = e.obj(x, np.random.default_rng(0), **sev(name, s))
        assert y.shape == x.shape and y.dtype == np.uint8
    y1 = apply_corruption(name, X_RAND[:3], severity=3, seed=0)
    assert np.array_equal(y1, apply_corruption(name, X_RAND[:3], severity=3, seed=0))
    y2 = apply_corruption(name, X_RAND[:3], severity=3, seed=1)
    assert (not np.array_equal(y1, y2)) == (name in RANDOM)
    one = e.obj(X_RAND[:1], np.random.default_rng(0), **sev(name, 5))  # N = 1
    assert one.shape == (1, 32, 32, 3)


@pytest.mark.parametrize("name", NAMES)
def test_grey_images(name):
    x = X_RAND[:2, :28, :28, :1].copy()
    e = CORRUPTIONS.get(name)
    if name == "saturate":
        with pytest.raises(UserError, match="RGB"):
            e.obj(x, np.random.default_rng(0), **sev(name, 3))
        return
    y = e.obj(x, np.random.default_rng(0), **sev(name, 5))
    assert y.shape == x.shape and y.dtype == np.uint8


def test_bad_input_is_a_user_error():
    f = fn("gaussian_noise")
    with pytest.raises(UserError):
        f(X.astype(np.float32), np.random.default_rng(0))
    with pytest.raises(UserError):
        f(X[0], np.random.default_rng(0))
    with pytest.raises(UserError, match="within"):
        f(X, np.random.default_rng(0), c=-1)
    with pytest.raises(UserError, match="integer"):
        fn("jpeg_compression")(X, np.random.default_rng(0), quality=50.5)


def test_block_threads_do_not_change_the_output():
    x = np.random.default_rng(3).integers(0, 256, (600, 8, 8, 3), dtype=np.uint8)
    a = apply_corruption("gaussian_noise", x, severity=2, seed=4, workers=1)
    b = apply_corruption("gaussian_noise", x, severity=2, seed=4, workers=3)
    assert np.array_equal(a, b)


# ------------------------------------------------------------------ deterministic corruptions, within 1 grey level


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_gaussian_blur(s):
    c = sev("gaussian_blur", s)["sigma"]
    ref = np.stack([rounded(sk_gaussian(xi / 255.0, c)) for xi in X])
    assert_within_one(fn("gaussian_blur")(X, None, sigma=c), ref)


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_defocus_blur(s):
    p = sev("defocus_blur", s)
    k = disk(p["radius"], p["alias_blur"])
    ref = []
    for xi in X / 255.0:
        ch = [ndimage.correlate(xi[:, :, d], k, mode="mirror") for d in range(3)]  # cv2.filter2D, reflect-101
        ref.append(rounded(np.array(ch).transpose(1, 2, 0)))
    assert_within_one(fn("defocus_blur")(X, None, **p), np.stack(ref))


@pytest.mark.parametrize("s", [1, 3, 5])
def test_zoom_blur(s):
    top = sev("zoom_blur", s)["max_zoom"]
    ref = []
    for xi in X:
        x = (xi / 255.0).astype(np.float32)
        out = np.zeros_like(x)
        cs = np.arange(1, top, 0.01)
        for z in cs:
            out += clipped_zoom(x, z)
        ref.append(rounded((x + out) / (len(cs) + 1)))
    assert_within_one(fn("zoom_blur")(X, None, max_zoom=top), np.stack(ref))


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_contrast_brightness_saturate(s):
    c = sev("contrast", s)["c"]
    ref = []
    for xi in X / 255.0:
        m = np.mean(xi, axis=(0, 1), keepdims=True)
        ref.append(rounded((xi - m) * c + m))
    assert_within_one(fn("contrast")(X, None, c=c), np.stack(ref))

    c = sev("brightness", s)["c"]
    ref = []
    for xi in X / 255.0:
        h = rgb2hsv(xi)
        h[:, :, 2] = np.clip(h[:, :, 2] + c, 0, 1)
        ref.append(rounded(hsv2rgb(h)))
    assert_within_one(fn("brightness")(X, None, c=c), np.stack(ref))

    p = sev("saturate", s)
    ref = []
    for xi in X / 255.0:
        h = rgb2hsv(xi)
        h[:, :, 1] = np.clip(h[:, :, 1] * p["a"] + p["b"], 0, 1)
        ref.append(rounded(hsv2rgb(h)))
    assert_within_one(fn("saturate")(X, None, **p), np.stack(ref))


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_pixelate_and_jpeg_equal_pillow(s):
    c = sev("pixelate", s)["c"]
    ref = np.stack([np.asarray(Image.fromarray(xi).resize((int(32 * c), int(32 * c)), Image.BOX)
                               .resize((32, 32), Image.BOX)) for xi in X])
    assert np.array_equal(fn("pixelate")(X, None, c=c), ref)
    q = sev("jpeg_compression", s)["quality"]
    ref = []
    for xi in X:
        buf = BytesIO()
        Image.fromarray(xi).save(buf, "JPEG", quality=q)
        ref.append(np.asarray(Image.open(buf)))
    assert np.array_equal(fn("jpeg_compression")(X, None, quality=q), np.stack(ref))


# ------------------------------------------------------------------ random corruptions with replayed draws


@pytest.mark.parametrize("s", [1, 3, 5])
def test_glass_blur_replays_the_original_loop(s):
    p = sev("glass_blur", s)
    ours = fn("glass_blur")(X, np.random.default_rng(11), **p)
    offs = np.random.default_rng(11).integers(-1, 1, size=(len(X), p["iterations"], 30, 30, 2))
    ref = []
    for i, xi in enumerate(X):
        x = np.uint8(sk_gaussian(xi / 255.0, p["sigma"]) * 255)
        k = offs[i].reshape(-1, 2)
        j = 0
        for _ in range(p["iterations"]):
            for h in range(32 - 1, 1, -1):
                for w in range(32 - 1, 1, -1):
                    dx, dy = k[j]
                    j += 1
                    h_prime, w_prime = h + dy, w + dx
                    x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]  # as published (views)
        ref.append(rounded(sk_gaussian(x / 255.0, p["sigma"])))
    assert_within_one(ours, np.stack(ref))


@pytest.mark.parametrize("s", [1, 3, 5])
def test_fog_replays_the_plasma_fractal(s):
    p = sev("fog", s)
    rec = Recorder(5)
    ours = fn("fog")(X, rec, **p)
    ref = []
    for i, xi in enumerate(X):
        draws = iter([d[i] for d in rec.draws])
        x = xi / 255.0
        max_val = x.max()
        x = x + p["strength"] * plasma_fractal(lambda lo, hi, shape, draws=draws: next(draws), 32, p["decay"])[:32, :32][..., None]
        ref.append(rounded(x * max_val / (max_val + p["strength"])))
    assert_within_one(ours, np.stack(ref))


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_elastic_transform_replays_the_original(s):
    p = sev("elastic_transform", s)
    x = X_SMOOTH  # smooth images: OpenCV's 1/32-pixel coordinate grid moves values by well under a grey level
    ours = fn("elastic_transform")(x, np.random.default_rng(2), **p)
    rng = np.random.default_rng(2)
    n = len(x)
    c = (32 * p["alpha"], 32 * p["sigma"], 32 * p["affine"])
    ua = rng.uniform(-c[2], c[2], size=(n, 3, 2))
    ux, uy = rng.uniform(-1, 1, size=(n, 32, 32)), rng.uniform(-1, 1, size=(n, 32, 32))
    ref = []
    for i in range(n):
        image = np.array(x[i], dtype=np.float32) / 255.0
        center_square = np.float32((32, 32)) // 2
        q = 32 // 3
        pts1 = np.float32([center_square + q, [center_square[0] + q, center_square[1] - q], center_square - q])
        pts2 = pts1 + ua[i].astype(np.float32)
        A = np.zeros((6, 6))
        b = np.zeros(6)
        for k in range(3):  # cv2.getAffineTransform
            A[2 * k, :3] = A[2 * k + 1, 3:] = [pts1[k, 0], pts1[k, 1], 1]
            b[2 * k : 2 * k + 2] = pts2[k]
        M = np.linalg.solve(A, b).reshape(2, 3)
        image = warp_affine_exact(image, M).astype(np.float32)
        dx = (sk_gaussian(ux[i], c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)[..., None]
        dy = (sk_gaussian(uy[i], c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)[..., None]
        xx, yy, zz = np.meshgrid(np.arange(32), np.arange(32), np.arange(3))
        ind = np.reshape(yy + dy, (-1, 1)), np.reshape(xx + dx, (-1, 1)), np.reshape(zz, (-1, 1))
        ref.append(rounded(ndimage.map_coordinates(image, ind, order=1, mode="reflect").reshape(image.shape)))
    assert_within_one(ours, np.stack(ref))


@pytest.mark.parametrize("name", ["gaussian_noise", "speckle_noise"])
def test_normal_noise_replays_the_draws(name):
    c = sev(name, 4)["c"]
    ours = fn(name)(X, np.random.default_rng(9), c=c)
    z = np.random.default_rng(9).standard_normal(X.shape, dtype=np.float32).astype(np.float64)
    ref = []
    for xi, zi in zip(X / 255.0, z):
        ref.append(rounded(xi + c * zi) if name == "gaussian_noise" else rounded(xi + xi * c * zi))
    assert_within_one(ours, np.stack(ref))


# ------------------------------------------------------------------ random corruptions by distribution


def _flat(v, n=8):
    return np.full((n, 32, 32, 3), v, np.uint8)


def _chi2(samples, probs):
    counts = np.bincount(samples.ravel(), minlength=256).astype(float)
    exp = probs * samples.size
    keep = exp >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    ex = np.append(exp[keep], exp[~keep].sum())
    if ex[-1] < 5:
        obs, ex = obs[:-1], ex[:-1]
    return stats.chisquare(obs, ex * obs.sum() / ex.sum()).pvalue


def _discretised_normal(mu, sd):
    k = np.arange(256)
    upper = np.where(k == 255, np.inf, k + 0.5)
    lower = np.where(k == 0, -np.inf, k - 0.5)
    return stats.norm.cdf(upper, mu, sd) - stats.norm.cdf(lower, mu, sd)


@pytest.mark.parametrize("v", [30, 128, 230])
def test_normal_noise_distribution_per_intensity(v):
    for name, sd in (("gaussian_noise", 255 * 0.09), ("speckle_noise", v * 0.16)):
        y = fn(name)(_flat(v), np.random.default_rng(v), c=sd / 255 if name == "gaussian_noise" else 0.16)
        probs = _discretised_normal(v, sd)
        assert _chi2(y, probs) > 1e-3, name
        k = np.arange(256)
        mean, var = (k * probs).sum(), ((k - (k * probs).sum()) ** 2 * probs).sum()
        assert abs(y.mean() - mean) < 5 * np.sqrt(var / y.size)
        assert abs(y.var() / var - 1) < 0.1


@pytest.mark.parametrize("v", [0, 40, 200, 255])
def test_shot_noise_is_poisson_and_the_psi_sampler(v):
    from noisebench.corruptors.poisson_photon import PhotonNoise

    c = 50.0
    x = _flat(v)
    y = fn("shot_noise")(x, np.random.default_rng(1), c=c)
    rng = np.random.default_rng(1)
    u = rng.bit_generator.random_raw((x.size + 1) // 2).view(np.uint32)[: x.size]
    assert np.array_equal(y, PhotonNoise(c).table.sample_from_uniforms(x, u, rng).reshape(x.shape))  # ψ = c
    lam = c * v / 255
    kmax = int(lam + 12 * np.sqrt(lam) + 30)
    ks = np.arange(kmax)
    probs = np.zeros(256)
    out = np.clip(np.rint(ks * (255.0 / c)), 0, 255).astype(int)  # the ψ sampler's expression (ties: float)
    np.add.at(probs, out, stats.poisson.pmf(ks, lam))
    probs[255] += stats.poisson.sf(kmax - 1, lam)
    if v == 0:
        assert not y.any()  # Poisson(0) = 0
    else:
        assert _chi2(y, probs) > 1e-3


@pytest.mark.parametrize("v", [0, 100, 255])
def test_impulse_noise_fractions(v):
    amount = sev("impulse_noise", 5)["amount"]
    x = _flat(v, 16)
    y = fn("impulse_noise")(x, np.random.default_rng(v), amount=amount)
    n = y.size
    salt, pepper = (y == 255).mean(), (y == 0).mean()
    other = ~np.isin(y, (0, 255))
    assert np.all(y[other] == v)  # untouched values stay
    exp_salt = amount / 2 + (1 - amount) * (v == 255)
    exp_pepper = amount / 2 + (1 - amount) * (v == 0)
    for got, exp in ((salt, exp_salt), (pepper, exp_pepper)):
        assert abs(got - exp) <= 5 * np.sqrt(max(exp * (1 - exp), 1e-9) / n) + 1e-12
    # channels are hit independently (the original draws per value, not per pixel)
    hit = (y == 0) | (y == 255)
    if v == 100:
        both = (hit[..., 0] & hit[..., 1]).mean()
        assert both < 3 * amount**2 + 0.002


def test_glass_blur_with_larger_moves_follows_the_scan_order():
    """max_delta > 1: copies can read positions the scan already wrote, so order matters (looped path)."""
    x = X_RAND[:3, :12, :12].copy()
    d, it, sigma = 2, 2, 0.3
    ours = fn("glass_blur")(x, np.random.default_rng(4), sigma=sigma, max_delta=d, iterations=it)
    offs = np.random.default_rng(4).integers(-d, d, size=(3, it, 12 - 2 * d, 12 - 2 * d, 2))
    ref = []
    for i, xi in enumerate(x):
        y = np.uint8(sk_gaussian(xi / 255.0, sigma) * 255)
        k = iter(offs[i].reshape(-1, 2))
        for _ in range(it):
            for h in range(12 - d, d, -1):
                for w in range(12 - d, d, -1):
                    dx, dy = next(k)
                    y[h, w], y[h + dy, w + dx] = y[h + dy, w + dx], y[h, w]
        ref.append(rounded(sk_gaussian(y / 255.0, sigma)))
    assert_within_one(ours, np.stack(ref))


def test_readme_severity_table_is_the_registry():
    """The README's table of corruptions and severities is generated from the registry."""
    from pathlib import Path

    from noisebench.registry import corruption_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert corruption_table() in readme
