"""`noisebench export-data`: exports round-trip through np.load, torchvision ImageFolder and datasets.load_from_disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from share_fixtures import build_share_files  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return build_share_files(tmp_path_factory.mktemp("export"))


def _arrays(path):
    with h5py.File(path, "r") as f:
        splits = [s for s in ("train", "val", "test") if f"{s}/x" in f]
        names = json.loads(f.attrs["class_names"]) if "class_names" in f.attrs else None
        return {s: (f[f"{s}/x"][:], f[f"{s}/y"][:]) for s in splits}, names


@pytest.mark.parametrize("key", ["mnist-flip0.1", "synth-dirty", "lab-psi8"])
def test_npz_roundtrip(files, tmp_path, cli, key):
    r = cli("export-data", files[key], "--format", "npz", "--out", tmp_path)
    assert r.code == 0, r.err
    want, names = _arrays(files[key])
    with np.load(tmp_path / f"{Path(files[key]).stem}.npz", allow_pickle=False) as z:
        assert sorted(z.files) == sorted([f"{v}_{s}" for s in want for v in "xy"] + (["class_names"] if names else []))
        for s, (x, y) in want.items():
            assert z[f"x_{s}"].dtype == x.dtype and np.array_equal(z[f"x_{s}"], x)
            assert z[f"y_{s}"].dtype == y.dtype and np.array_equal(z[f"y_{s}"], y)
        if names:
            assert z["class_names"].tolist() == names


def _imagefolder_check(root: Path, want: dict, names: list, gray: bool):
    from PIL import Image
    from torchvision.datasets import ImageFolder

    for s, (x, y) in want.items():
        loader = (lambda p: Image.open(p).copy()) if gray else None
        # tiny fixtures: the stratified val split leaves some classes without an image (their folders stay)
        ds = ImageFolder(root / s, loader=loader, allow_empty=True) if gray else ImageFolder(root / s, allow_empty=True)
        assert len(ds) == len(y)
        assert [c.split("_", 1)[-1] for c in ds.classes] == names[: len(ds.classes)]
        for path, label in ds.samples:
            i = int(Path(path).stem)
            assert label == y[i]
        for k in range(len(ds)):
            img, label = ds[k]
            i = int(Path(ds.samples[k][0]).stem)
            a = np.asarray(img)
            assert np.array_equal(a, x[i][..., 0] if gray else x[i]) and label == y[i]


def test_imagefolder_roundtrip_rgb_with_class_names(files, tmp_path, cli):
    r = cli("export-data", files["cifar10-psi16"], "--format", "imagefolder", "--out", tmp_path)
    assert r.code == 0, r.err
    root = tmp_path / "cifar10-psi16-imagefolder"
    want, names = _arrays(files["cifar10-psi16"])
    assert sorted(p.name for p in (root / "train").iterdir())[:2] == ["0_airplane", "1_automobile"]
    _imagefolder_check(root, want, names, gray=False)
    assert (root / "classes.txt").read_text().splitlines()[9] == "9\ttruck"


def test_imagefolder_roundtrip_grayscale(files, tmp_path, cli):
    r = cli("export-data", files["mnist-flip0.1"], "--format", "imagefolder", "--out", tmp_path)
    assert r.code == 0, r.err
    want, names = _arrays(files["mnist-flip0.1"])
    _imagefolder_check(tmp_path / "mnist-flip0.1-imagefolder", want, names, gray=True)


def test_class_folders_sort_in_label_order():
    from noisebench.share.export_data import class_folder_names

    names = [f"c{i}" for i in range(12)] + ["a/b", ".."]
    folders = class_folder_names(names)
    assert sorted(folders) == folders and folders[12] == "12_a-b" and folders[13] == "13"


def test_tabular_refuses_images_and_nothing_is_overwritten(files, tmp_path, cli):
    for fmt in ("imagefolder", "hf"):
        r = cli("export-data", files["synth-dirty"], "--format", fmt, "--out", tmp_path)
        assert r.code != 0 and r.err.startswith("error:") and len(r.err.strip().splitlines()) == 1
        assert ("npz only" in r.err) or ("datasets" in r.err)
    assert list(tmp_path.iterdir()) == []
    assert cli("export-data", files["lab"], "--format", "npz", "--out", tmp_path).code == 0
    target = tmp_path / "lab.npz"
    target.write_bytes(b"keep")
    r = cli("export-data", files["lab"], "--format", "npz", "--out", tmp_path)
    assert r.code != 0 and "--force" in r.err and target.read_bytes() == b"keep"
    assert cli("export-data", files["lab"], "--format", "npz", "--out", tmp_path, "--force").code == 0
    assert target.read_bytes()[:2] == b"PK"
    r = cli("export-data", files["lab"], "--format", "parquet", "--out", tmp_path)
    assert r.code != 0 and "npz, imagefolder, hf" in r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.npz"]  # no temp files left behind


def test_imagefolder_force_replaces_whole_tree(files, tmp_path, cli):
    assert cli("export-data", files["lab-psi8"], "--format", "imagefolder", "--out", tmp_path).code == 0
    root = tmp_path / "lab-psi8-s2-imagefolder"
    (root / "stray.txt").write_text("x")
    assert cli("export-data", files["lab-psi8"], "--format", "imagefolder", "--out", tmp_path).code != 0
    assert cli("export-data", files["lab-psi8"], "--format", "imagefolder", "--out", tmp_path, "--force").code == 0
    assert not (root / "stray.txt").exists() and sorted(p.name for p in (root / "train").iterdir())[0] == "0_ant"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab-psi8-s2-imagefolder"]


def test_hf_roundtrip(files, tmp_path, cli):
    datasets = pytest.importorskip("datasets", reason="datasets not installed (pip install 'noisebench[share]')")
    r = cli("export-data", files["cifar10-psi16"], "--format", "hf", "--out", tmp_path)
    assert r.code == 0, r.err
    dd = datasets.load_from_disk(str(tmp_path / "cifar10-psi16-hf"))
    want, names = _arrays(files["cifar10-psi16"])
    assert sorted(dd.keys()) == sorted(want)
    for s, (x, y) in want.items():
        assert dd[s].features["label"].names == names
        assert np.array_equal(np.stack([np.asarray(im) for im in dd[s]["image"]]), x)
        assert np.array_equal(np.asarray(dd[s]["label"]), y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10-psi16-hf"]  # cache removed


def test_hf_without_datasets_names_the_extra(files, tmp_path, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    r = cli("export-data", files["cifar10-psi16"], "--format", "hf", "--out", tmp_path)
    assert r.code != 0 and "noisebench[share]" in r.err and len(r.err.strip().splitlines()) == 1


def test_imagefolder_keeps_empty_class_folders(files, tmp_path, cli):
    """A split without some class keeps that class's (empty) folder, so labels stay aligned."""
    import shutil

    from torchvision.datasets import ImageFolder

    p = tmp_path / "few.h5"
    shutil.copy(files["lab"], p)
    with h5py.File(p, "r") as f:
        y = f["test/y"][:]
    missing = int(np.setdiff1d(np.arange(4), y)[0]) if len(np.unique(y)) < 4 else None
    if missing is None:  # drop a class from test by relabelling it (the checksum is refreshed to match)
        from noisebench.format import dataset_sha256

        with h5py.File(p, "a") as f:
            y2 = np.where(y == 3, 0, y)
            f["test/y"][:] = y2
            cs = json.loads(f.attrs["checksums"])
            cs["test/y"] = dataset_sha256(f["test/y"])
            f.attrs["checksums"] = json.dumps(cs, sort_keys=True)
        missing, y = 3, y2
    assert cli("export-data", p, "--format", "imagefolder", "--out", tmp_path / "o").code == 0
    root = tmp_path / "o" / "few-imagefolder" / "test"
    assert len(list(root.iterdir())) == 4 and not any((root / sorted(d.name for d in root.iterdir())[missing]).iterdir())
    ds = ImageFolder(root, allow_empty=True)
    assert len(ds.classes) == 4 and sorted(lbl for _, lbl in ds.samples) == sorted(y.tolist())
