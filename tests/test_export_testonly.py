"""Test-only corrupted sets (`make cifar10-c`: every clean test image at each severity) keep their
`test/severity` through `export-data` (npz key, ImageFolder folder level, Hugging Face column), and
their card measures the noise against the clean twin, per severity."""

from __future__ import annotations

import h5py
import numpy as np
import pytest


@pytest.fixture(scope="module")
def cfiles(tmp_path_factory):
    from official_format_fixtures import write_cifar10_batches

    from noisebench.cli import main

    tmp = tmp_path_factory.mktemp("testonly")
    src = write_cifar10_batches(tmp / "raw", n_train=30, n_test=12)
    out = tmp / "o"
    for args in (["make", "cifar10", "--source", str(src), "--no-verify", "--out", str(out)],
                 ["make", "cifar10-c", "--corruptions", "gaussian_noise", "--severity", "1,3", "--out", str(out)]):
        try:
            main(args)
        except SystemExit as e:
            assert e.code in (0, None)
    return out / "cifar10.h5", out / "cifar10-c-gaussian_noise.h5"


def _stored(path):
    with h5py.File(path, "r") as f:
        return f["test/x"][:], f["test/y"][:], f["test/severity"][:]


def test_npz_keeps_the_severity(cli, cfiles, tmp_path):
    r = cli("export-data", cfiles[1], "--format", "npz", "--out", tmp_path)
    assert r.code == 0, r.err
    x, y, sev = _stored(cfiles[1])
    with np.load(tmp_path / "cifar10-c-gaussian_noise.npz", allow_pickle=False) as z:
        assert np.array_equal(z["severity_test"], np.repeat([1, 3], 12)) and np.array_equal(z["severity_test"], sev)
        assert np.array_equal(z["x_test"], x) and np.array_equal(z["y_test"], y)


def test_imagefolder_has_a_severity_level(cli, cfiles, tmp_path):
    from torchvision.datasets import ImageFolder

    r = cli("export-data", cfiles[1], "--format", "imagefolder", "--out", tmp_path)
    assert r.code == 0, r.err
    root = tmp_path / "cifar10-c-gaussian_noise-imagefolder" / "test"
    assert sorted(p.name for p in root.iterdir()) == ["severity1", "severity3"]
    x, y, sev = _stored(cfiles[1])
    for k in (1, 3):
        ds = ImageFolder(root / f"severity{k}", allow_empty=True)
        assert len(ds) == 12
        rows = [int(p.rsplit("/", 1)[1][:-4]) for p, _ in ds.samples]  # file name = row in the split
        assert all(sev[i] == k and y[i] == label for i, (_, label) in zip(rows, ds.samples, strict=True))
        img, label = ds[0]
        assert np.array_equal(np.asarray(img), x[rows[0]])


def test_hf_has_a_severity_column(cli, cfiles, tmp_path):
    datasets = pytest.importorskip("datasets")
    r = cli("export-data", cfiles[1], "--format", "hf", "--out", tmp_path)
    assert r.code == 0, r.err
    dd = datasets.load_from_disk(str(tmp_path / "cifar10-c-gaussian_noise-hf"))
    _, y, sev = _stored(cfiles[1])
    assert dd["test"]["severity"] == sev.tolist() and dd["test"]["label"] == y.tolist()


def test_card_measures_the_noise_against_the_clean_twin_per_severity(cli, cfiles, tmp_path):
    r = cli("card", cfiles[1], "--out", tmp_path)
    assert r.code == 0, r.err
    text = (tmp_path / "cifar10-c-gaussian_noise.card.md").read_text()
    assert "not measured" not in text and "against clean twin cifar10.h5 (its test images, per severity)" in text
    x, _, _ = _stored(cfiles[1])
    with h5py.File(cfiles[0], "r") as f:
        clean = f["test/x"][:].astype(np.float64)
    psnr = {}
    for k, block in ((1, x[:12]), (3, x[12:])):
        psnr[k] = 10 * np.log10(255**2 / np.mean((block.astype(np.float64) - clean) ** 2))
        row = next(line for line in text.splitlines() if line.startswith(f"| test severity {k} |"))
        assert f"{psnr[k]:.4g}" in row
    assert psnr[3] < psnr[1]  # harsher severity, more noise
