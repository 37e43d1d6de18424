"""ψ drawn with torch.poisson (`make psi --device cuda`), checked on the CPU through the same code path."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from scipy import stats

from noisebench.corruptors.photon_torch import TorchPhotonNoise, block_seed
from noisebench.corruptors.poisson_photon import BLOCK_IMAGES
from noisebench.errors import UserError

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")),
]


def _counts_from_output(y: np.ndarray, psi: float) -> np.ndarray:
    """Invert y = rint(k*255/psi) for psi <= 255 (injective below saturation; 255 = saturated)."""
    ks = np.arange(0, int(psi) + 1)
    lut = {int(v): int(k) for k, v in zip(ks, np.clip(np.rint(ks * (255.0 / psi)), 0, 255))}
    return np.vectorize(lut.__getitem__)(y)


@pytest.mark.gpu_path
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("psi", [8.0, 64.0])
@pytest.mark.parametrize("x", [0, 1, 37, 128, 200, 255])
def test_torch_sampler_matches_poisson_per_intensity(device, psi, x):
    """Mean, variance and a chi-square against the Poisson pmf of the photon count, per intensity."""
    n = 120_000
    noise = TorchPhotonNoise(psi, device)
    y = noise.apply_block(np.full((n,), x, np.uint8), seed=7, stream=0, block=x)
    lam = psi * x / 255.0
    if x == 0:
        assert (y == 0).all()
        return
    sat = noise_saturation(psi)
    k = _counts_from_output(y, psi)
    k_capped = np.minimum(k, sat)
    if lam < sat / 2:  # saturation is negligible: moments are the Poisson ones
        assert abs(k.mean() - lam) < 5 * np.sqrt(lam / n)
        assert abs(k.var() - lam) < 5 * lam * np.sqrt(2 / n) + 5 * np.sqrt(lam / n)
    # chi-square over categories 0..sat-1 and the merged saturated tail, pooling expected < 5
    probs = np.append(stats.poisson.pmf(np.arange(sat), lam), stats.poisson.sf(sat - 1, lam))
    obs = np.bincount(k_capped, minlength=sat + 1).astype(float)
    exp = probs * n
    keep = exp >= 5
    o = np.append(obs[keep], obs[~keep].sum())
    e = np.append(exp[keep], exp[~keep].sum())
    if e[-1] < 5:
        o, e = o[:-1], e[:-1]
        e *= o.sum() / e.sum()
    p = stats.chisquare(o, e).pvalue
    assert p > 1e-4, (psi, x, p)


def noise_saturation(psi: float) -> int:
    """Smallest count k with rint(k*255/psi) >= 255."""
    k = 0
    while np.rint(k * 255.0 / psi) < 255:
        k += 1
    return k


@pytest.mark.gpu_path
@pytest.mark.parametrize("device", DEVICES)
def test_torch_sampler_blocks_are_independent_and_seeded(device):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2 * BLOCK_IMAGES + 5, 4, 4, 3), dtype=np.uint8)
    noise = TorchPhotonNoise(16, device)
    full = noise.apply(x, seed=3, stream=1)
    again = noise.apply(x, seed=3, stream=1)
    np.testing.assert_array_equal(full, again)
    # a block depends only on (seed, stream, block index, pixels)
    np.testing.assert_array_equal(full[BLOCK_IMAGES : 2 * BLOCK_IMAGES],
                                  noise.apply_block(x[BLOCK_IMAGES : 2 * BLOCK_IMAGES], 3, 1, 1))
    assert not np.array_equal(full, noise.apply(x, seed=4, stream=1))
    assert block_seed(3, 1, 1) != block_seed(3, 1, 2) and block_seed(3, 1, 1) < 2**63


def test_torch_sampler_bad_device_and_levels():
    with pytest.raises(UserError, match="unknown device"):
        TorchPhotonNoise(16, "gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            TorchPhotonNoise(16, "cuda")
    else:
        with pytest.raises(UserError, match="normal approximation"):
            TorchPhotonNoise(5000, "cuda")


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    from official_format_fixtures import write_cifar10_batches

    from noisebench.generators.sources.cifar10 import load_cifar10

    d = tmp_path_factory.mktemp("psi_torch")
    return d, load_cifar10(write_cifar10_batches(d / "src", n_train=30, n_test=10), verify=False)


@pytest.mark.gpu_path
def test_build_with_torch_sampler_records_it_and_differs_from_tables(cifar):
    from noisebench.format import open_file
    from noisebench.generators.builds.images import build_psi

    d, data = cifar
    (torch_a,) = build_psi(data, [16], d / "torch_a", sampler="torch", with_clean=False)
    (torch_b,) = build_psi(data, [16], d / "torch_b", sampler="torch", with_clean=False)
    (tables,) = build_psi(data, [16], d / "tables", with_clean=False)
    params = {}
    sums = {}
    for tag, path in (("a", torch_a), ("b", torch_b), ("tables", tables)):
        with open_file(path) as f:  # verified open: recorded checksums match the bytes
            params[tag] = dict(f.meta)["params"]
            params[tag] = json.loads(params[tag]) if isinstance(params[tag], str) else params[tag]
        with h5py.File(path, "r") as f:
            sums[tag] = json.loads(f.attrs["checksums"])
    assert params["a"]["sampler"].startswith("torch.poisson on cpu")
    assert params["tables"]["sampler"].startswith("exact inverse-CDF tables")
    assert sums["a"] == sums["b"]  # same seed, same device: same bytes
    assert sums["a"]["train/x"] != sums["tables"]["train/x"]  # a different draw from the table sampler
    assert sums["a"]["train/y"] == sums["tables"]["train/y"]


def test_cli_psi_device_errors(cli, tmp_path):
    r = cli("make", "psi", "--level", "16", "--sampler", "bogus", "--out", str(tmp_path))
    assert r.code != 0 and r.err.startswith("error:") and "sampler" in r.err
    r = cli("make", "psi", "--level", "16", "--device", "cuda", "--sampler", "tables", "--out", str(tmp_path))
    assert r.code != 0 and r.err.startswith("error:")
    if not torch.cuda.is_available():
        r = cli("make", "psi", "--level", "16", "--device", "cuda", "--out", str(tmp_path))
        assert r.code != 0 and "CUDA is not available" in r.err
    assert not any(tmp_path.iterdir())
