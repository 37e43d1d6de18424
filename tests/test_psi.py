"""ψ (photon-limited Poisson) corruption: sampler exactness, statistics, determinism, CLI, preview."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches  # noqa: E402

from noisebench.corruptors.poisson_photon import (  # noqa: E402
    U32,
    PhotonNoise,
    PoissonTable,
    format_level,
    photon_reference,
)
from noisebench.format import open_file  # noqa: E402

LAMS = [0.05, 0.7, 3.0, 16.0, 64.0, 250.0]


def _uniforms(n, seed):
    return np.random.default_rng(seed).bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]


def _chi2_p(counts, expected):
    """p-value of a chi-square goodness-of-fit test, merging bins with expected < 5."""
    obs, exp = [], []
    co = ce = 0.0
    for o, e in zip(counts, expected):
        co += o
        ce += e
        if ce >= 5:
            obs.append(co)
            exp.append(ce)
            co = ce = 0.0
    if ce:
        obs[-1] += co
        exp[-1] += ce
    obs, exp = np.array(obs), np.array(exp)
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def test_table_probabilities_equal_the_poisson_pmf_to_uniform_resolution():
    table = PoissonTable(LAMS)
    for v, lam in enumerate(LAMS):
        sel = table.owner == v
        thr = table.thr_m1[sel].astype(np.int64) + 1
        real = thr[:-1]  # drop the sentinel
        start = int(np.flatnonzero(sel)[0])
        k0 = int(table.tail_k[start]) - (len(real) - 1)
        probs = np.diff(np.concatenate([[0], real])) / U32
        pmf = stats.poisson.pmf(np.arange(k0, k0 + len(real)), lam)
        pmf[0] = stats.poisson.cdf(k0, lam)  # the first category also holds everything below the window
        assert np.abs(probs - pmf).max() < 2.0 ** -31, lam
        # what the table leaves over is the exact tail, drawn separately
        assert abs((U32 - real[-1]) / U32 - stats.poisson.sf(k0 + len(real) - 1, lam)) < 2.0 ** -31


@pytest.mark.parametrize("lam", [0.7, 3.0, 16.0, 64.0])
def test_chi_square_against_the_poisson_pmf(lam):
    n = 60_000
    table = PoissonTable([lam])
    k = table.sample_from_uniforms(np.zeros(n, np.int64), _uniforms(n, 1), np.random.default_rng(2))
    kmax = int(k.max())
    counts = np.bincount(k, minlength=kmax + 1)
    expected = stats.poisson.pmf(np.arange(kmax + 1), lam) * n
    expected[-1] += stats.poisson.sf(kmax, lam) * n
    assert _chi2_p(counts, expected) > 1e-4


def test_tail_uniforms_are_drawn_exactly_from_the_conditional_tail():
    lam = 16.0
    table = PoissonTable([lam])
    top = np.full(4000, U32 - 1, np.uint32)  # every uniform beyond the table
    k = table.sample_from_uniforms(np.zeros(len(top), np.int64), top, np.random.default_rng(3))
    K = int(table.tail_k[0])
    assert (k > K).all()
    # P(X = K+1 | X > K) is large; compare with the exact conditional pmf
    p1 = stats.poisson.pmf(K + 1, lam) / stats.poisson.sf(K, lam)
    assert abs((k == K + 1).mean() - p1) < 4 * math.sqrt(p1 * (1 - p1) / len(k)) + 1e-3


@pytest.mark.parametrize("psi", [8.0, 12.5, 64.0])
def test_photon_output_distribution_is_exact(psi):
    """Chi-square of the noisy values of one intensity against the pmf of round(Poisson·255/ψ), clipped."""
    noise = PhotonNoise(psi)
    v, n = 100, 60_000
    out = noise.apply(np.full((n // 64, 8, 8, 1), v, np.uint8), seed=5).ravel()
    lam = psi * v / 255
    ks = np.arange(0, int(lam + 20 * math.sqrt(lam) + 50))
    ys = np.clip(np.rint(ks * 255.0 / psi), 0, 255).astype(int)
    exp = np.zeros(256)
    np.add.at(exp, ys, stats.poisson.pmf(ks, lam))
    exp[255] += stats.poisson.sf(ks[-1], lam)
    support = exp > 0
    counts = np.bincount(out, minlength=256)
    assert counts[~support].sum() == 0
    assert _chi2_p(counts[support], exp[support] * n) > 1e-4


def test_mean_and_variance_follow_the_photon_model():
    psi = 16.0
    noise = PhotonNoise(psi)
    for v in (10, 40, 64):
        x = np.full((100, 16, 16, 3), v, np.uint8)
        y = noise.apply(x, seed=1).astype(np.float64).ravel()
        var = v * 255 / psi
        assert abs(y.mean() - v) < 4 * math.sqrt(var / y.size) + 0.5
        assert abs(y.var() / (var + 1 / 12) - 1) < 0.05
    assert (noise.apply(np.zeros((2, 4, 4, 3), np.uint8)) == 0).all()  # no light, no photons


def test_matches_the_reference_definition_in_distribution():
    x = np.random.default_rng(0).integers(0, 256, (200, 8, 8, 3), dtype=np.uint8)
    ours = PhotonNoise(8).apply(x, seed=0).astype(float)
    ref = photon_reference(x, 8, np.random.default_rng(1)).astype(float)
    assert abs(ours.mean() - ref.mean()) < 1.0
    assert abs(ours.std() / ref.std() - 1) < 0.02


def test_large_psi_tends_to_identity():
    x = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    err = {psi: np.abs(PhotonNoise(psi).apply(x, seed=0).astype(int) - x).mean() for psi in (16, 1e3, 2e4)}
    assert err[16] > err[1e3] > err[2e4]
    assert err[2e4] < 1.3


def test_same_seed_same_bytes_regardless_of_threads_and_chunking():
    x = np.random.default_rng(0).integers(0, 256, (700, 4, 4, 3), dtype=np.uint8)  # 3 blocks, the last partial
    noise = PhotonNoise(16)
    a = noise.apply(x, seed=9, workers=1, blocks_per_job=1)
    b = noise.apply(x, seed=9, workers=2, blocks_per_job=2)
    c = noise.apply(x, seed=9, workers=3, blocks_per_job=5)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert not np.array_equal(a, noise.apply(x, seed=10, workers=1))


def test_format_level():
    assert format_level(16) == "16" and format_level(12.5) == "12.5" and format_level(8.0) == "8"


# ------------------------------------------------------------------ files and CLI


@pytest.fixture(scope="module")
def cifar_src(tmp_path_factory):
    return write_cifar10_batches(tmp_path_factory.mktemp("src"), n_train=30, n_test=10)


def _checksums(path):
    with open_file(path) as f:
        return f.meta["checksums"]


def test_make_psi_writes_noisy_file_and_clean_reference(cli, cifar_src, tmp_path):
    r = cli("make", "psi", "--level", "16", "--source", cifar_src, "--no-verify", "--out", tmp_path)
    assert r.code == 0, r.err
    dirty, clean = tmp_path / "cifar10-psi16.h5", tmp_path / "cifar10.h5"
    assert dirty.exists() and clean.exists()
    with open_file(dirty) as f, open_file(clean) as g:
        assert f.kind == "psi" and f.meta["variant"] == "dirty" and f.meta["clean_reference"] == "cifar10.h5"
        assert g.kind == "clean" and g.meta["variant"] == "clean"
        assert f.meta["pair_key"] == g.meta["pair_key"] and f.meta["dataset"] == "cifar10"
        assert f.meta["num_classes"] == 10 and "airplane" in f.meta["class_names"]
        assert f.splits == g.splits == ["train", "val", "test"]
        for s in ("train", "val", "test"):
            fx, gx = f.datasets[f"{s}/x"], g.datasets[f"{s}/x"]
            assert fx.shape == gx.shape and fx.dtype == np.uint8 and fx.shape[1:] == (32, 32, 3)
            assert np.array_equal(f.datasets[f"{s}/y"][:], g.datasets[f"{s}/y"][:])
            assert not np.array_equal(fx[:], gx[:])  # train, val and test are all noisy
    assert cli("verify", dirty).code == 0
    info = cli("info", dirty)
    assert "psi:" in info.out and "16" in info.out


def test_psi_build_is_reproducible_across_workers(cli, cifar_src, tmp_path):
    from noisebench.generators.builds.images import build_psi
    from noisebench.generators.sources.cifar10 import load_cifar10

    data = load_cifar10(cifar_src, verify=False)
    a = build_psi(data, [16], tmp_path / "a", seed=3, workers=1, blocks_per_job=1, with_clean=False)[0]
    b = build_psi(data, [16], tmp_path / "b", seed=3, workers=2, blocks_per_job=3, with_clean=False)[0]
    c = build_psi(data, [16], tmp_path / "c", seed=4, workers=2, with_clean=False)[0]
    assert a.name == "cifar10-psi16-s3.h5"
    assert _checksums(a) == _checksums(b)
    assert _checksums(a)["train/x"] != _checksums(c)["train/x"]


def test_all_levels_and_fractional_level(cli, cifar_src, tmp_path):
    r = cli("make", "psi", "--all", "--level", "12.5", "--source", cifar_src, "--no-verify", "--out", tmp_path)
    assert r.code == 0, r.err
    names = sorted(p.name for p in tmp_path.glob("*.h5"))
    assert names == sorted(["cifar10.h5", "cifar10-psi12.5.h5"] + [f"cifar10-psi{n}.h5" for n in (8, 16, 32, 64)])
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("level", ["0", "-1", "nan", "inf", "-inf", "abc"])
def test_bad_levels_fail_cleanly(cli, cifar_src, tmp_path, level):
    r = cli("make", "psi", "--level", level, "--source", cifar_src, "--no-verify", "--out", tmp_path)
    assert r.code != 0 and r.err.startswith("error:") and len(r.err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_missing_level_and_existing_output(cli, cifar_src, tmp_path):
    r = cli("make", "psi", "--source", cifar_src, "--out", tmp_path)
    assert r.code == 2 and "--level" in r.err
    assert cli("make", "psi", "--level", "16", "--source", cifar_src, "--no-verify", "--out", tmp_path).code == 0
    before = _checksums(tmp_path / "cifar10-psi16.h5")
    r = cli("make", "psi", "--level", "16", "--source", cifar_src, "--no-verify", "--out", tmp_path)
    assert r.code == 2 and "--force" in r.err
    r = cli("make", "psi", "--level", "16", "--seed", "1", "--source", cifar_src, "--no-verify", "--out", tmp_path)
    assert r.code == 0 and (tmp_path / "cifar10-psi16-s1.h5").exists()
    assert cli("make", "psi", "--level", "16", "--source", cifar_src, "--no-verify", "--out", tmp_path, "--force").code == 0
    assert _checksums(tmp_path / "cifar10-psi16.h5") == before


def test_make_cifar10_clean_reference(cli, cifar_src, tmp_path):
    r = cli("make", "cifar10", "--source", cifar_src, "--no-verify", "--out", tmp_path)
    assert r.code == 0, r.err
    with open_file(tmp_path / "cifar10.h5") as f:
        assert f.kind == "clean" and f.splits == ["train", "val", "test"]
        shapes = f.split_shapes()
        assert shapes["train"]["x"] == (25, 32, 32, 3) and shapes["val"]["x"] == (5, 32, 32, 3)  # 30 // 6 = 5 val
        assert shapes["test"]["x"] == (10, 32, 32, 3)
    assert cli("make", "cifar10", "--source", cifar_src, "--no-verify", "--out", tmp_path).code == 2


def test_preview_side_by_side(cli, cifar_src, tmp_path):
    assert cli("make", "psi", "--level", "8", "--source", cifar_src, "--no-verify", "--out", tmp_path).code == 0
    png = tmp_path / "grid.png"
    r = cli("preview", tmp_path / "cifar10-psi8.h5", "--out", png, "--per-class", "2")
    assert r.code == 0, r.err
    assert "clean | noisy" in r.out
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] > 200 and im.size[1] > 200
    assert cli("preview", tmp_path / "cifar10-psi8.h5", "--out", png).code == 2  # exists
    assert cli("preview", tmp_path / "nope.h5", "--out", tmp_path / "x.png").code == 2
