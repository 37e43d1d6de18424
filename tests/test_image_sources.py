"""The three kinds of image sources (official formats, image folder, .npz) and every bad input."""

from __future__ import annotations

import gzip
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import (  # noqa: E402
    build_tiny_image_files,
    write_cifar10_batches,
    write_image_folder,
    write_mnist_idx,
    write_npz,
)

from noisebench.errors import UserError  # noqa: E402
from noisebench.format import open_file  # noqa: E402
from noisebench.generators.sources import cifar10 as cifar10_source
from noisebench.generators.sources import mnist as mnist_source
from noisebench.generators.sources.custom import load_image_folder, load_npz, md5_file  # noqa: E402

# ------------------------------------------------------------------ CIFAR-10 python batches


def test_cifar_official_format_roundtrip(tmp_path):
    d = write_cifar10_batches(tmp_path, n_train=25, n_test=7, seed=1)
    data = cifar10_source.load_cifar10(tmp_path, verify=False)  # parent folder works too
    assert data.x_train.shape == (25, 32, 32, 3) and data.x_test.shape == (7, 32, 32, 3)
    assert data.class_names[0] == "airplane" and data.num_classes == 10
    # channel-planar rows became NHWC: pixel (0,0) of image 0 has R,G,B from offsets 0, 1024, 2048
    with open(d / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    assert list(data.x_train[0, 0, 0]) == [raw[b"data"][0, 0], raw[b"data"][0, 1024], raw[b"data"][0, 2048]]
    assert data.y_train[0] == raw[b"labels"][0]
    assert data.source["verified"] is False


def test_cifar_checksum_mismatch_is_a_clear_error(tmp_path, cli):
    d = write_cifar10_batches(tmp_path)
    with pytest.raises(UserError, match="differs from the official"):
        cifar10_source.load_cifar10(d)
    r = cli("make", "psi", "--level", "16", "--source", d, "--out", tmp_path / "out")
    assert r.code == 2 and "md5" in r.err and "--no-verify" in r.err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.h5"))


def test_cifar_verified_path_with_registered_checksums(tmp_path, monkeypatch, cli):
    d = write_cifar10_batches(tmp_path)
    table = {p.name: md5_file(p) for p in d.iterdir()}
    monkeypatch.setattr(cifar10_source, "OFFICIAL_MD5", table)
    data = cifar10_source.load_cifar10(d)
    assert data.source["verified"] is True
    r = cli("make", "cifar10", "--source", d, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    # one corrupted byte now fails the check
    p = d / "data_batch_3"
    b = bytearray(p.read_bytes())
    b[-10] ^= 0xFF
    p.write_bytes(bytes(b))
    with pytest.raises(UserError, match="data_batch_3: md5"):
        cifar10_source.load_cifar10(d)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code_even_with_no_verify(tmp_path):
    d = write_cifar10_batches(tmp_path)
    with open(d / "data_batch_2", "wb") as f:
        pickle.dump({b"data": _Evil()}, f, protocol=2)
    with pytest.raises(UserError, match="refusing to load"):
        cifar10_source.load_cifar10(d, verify=False)


@pytest.mark.parametrize("damage", ["truncate", "missing", "garbage", "no_data_key", "bad_shape"])
def test_damaged_cifar_batches(tmp_path, damage, cli):
    d = write_cifar10_batches(tmp_path)
    p = d / "data_batch_4"
    if damage == "truncate":
        p.write_bytes(p.read_bytes()[:500])
    elif damage == "missing":
        p.unlink()
    elif damage == "garbage":
        p.write_bytes(b"not a pickle at all")
    elif damage == "no_data_key":
        with open(p, "wb") as f:
            pickle.dump({b"labels": [1, 2]}, f, protocol=2)
    elif damage == "bad_shape":
        with open(p, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, f, protocol=2)
    with pytest.raises(UserError, match="data_batch_4"):
        cifar10_source.load_cifar10(d, verify=False)
    out = tmp_path / "out"
    r = cli("make", "psi", "--level", "8", "--source", d, "--no-verify", "--out", out)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert not out.exists() or not list(out.iterdir())  # nothing half-written


# ------------------------------------------------------------------ MNIST idx


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_gz_and_plain(tmp_path, gz):
    d = write_mnist_idx(tmp_path, n_train=60, n_test=12, gz=gz, seed=2)
    data = mnist_source.load_mnist(tmp_path, verify=False)
    assert data.x_train.shape == (60, 28, 28, 1) and data.y_test.shape == (12,)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    raw = (gzip.decompress if gz else (lambda b: b))((d / name).read_bytes())
    assert int.from_bytes(raw[:4], "big") == 2051
    assert np.array_equal(data.x_train[0, :, :, 0], np.frombuffer(raw[16 : 16 + 784], np.uint8).reshape(28, 28))


def test_mnist_checksums(tmp_path, monkeypatch):
    d = write_mnist_idx(tmp_path, gz=True)
    with pytest.raises(UserError, match="differs from the official"):
        mnist_source.load_mnist(d)
    monkeypatch.setattr(mnist_source, "OFFICIAL_MD5", {p.name: md5_file(p) for p in d.iterdir()})
    assert mnist_source.load_mnist(d).source["verified"] is True


def test_mnist_plain_files_need_no_verify(tmp_path):
    write_mnist_idx(tmp_path, gz=False)
    with pytest.raises(UserError, match=r"\.gz"):
        mnist_source.load_mnist(tmp_path)


@pytest.mark.parametrize("damage", ["magic", "truncated", "badgzip", "count"])
def test_damaged_mnist(tmp_path, damage):
    d = write_mnist_idx(tmp_path, gz=damage == "badgzip")
    if damage == "badgzip":
        p = d / "t10k-labels-idx1-ubyte.gz"
        p.write_bytes(p.read_bytes()[:15])
        match = "t10k-labels"
    else:
        p = d / ("train-labels-idx1-ubyte" if damage != "truncated" else "train-images-idx3-ubyte")
        b = bytearray(p.read_bytes())
        if damage == "magic":
            b[3] = 3
        elif damage == "truncated":
            b = b[:-100]
        else:  # labels count disagrees with images count
            b = b[:8] + b[8:-5]
            b[4:8] = (len(b) - 8).to_bytes(4, "big")
        p.write_bytes(bytes(b))
        match = "magic|truncated|labels"
    with pytest.raises(UserError, match=match):
        mnist_source.load_mnist(d, verify=False)


# ------------------------------------------------------------------ image folder and npz


def test_image_folder_source(tmp_path, cli):
    root = write_image_folder(tmp_path / "mylab", n_per_class=3, classes=("cat", "dog", "frog"), size=(16, 12))
    data = load_image_folder(root)
    assert data.name == "mylab" and data.class_names == ["cat", "dog", "frog"]
    assert data.x_train.shape == (9, 12, 16, 3) and list(np.bincount(data.y_train)) == [3, 3, 3]
    r = cli("make", "psi", "--level", "32", "--source", root, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    with open_file(tmp_path / "out" / "mylab-psi32.h5") as f:
        assert f.meta["dataset"] == "mylab" and f.meta["clean_reference"] == "mylab.h5"
        assert f.meta["class_names"] == '["cat", "dog", "frog"]' or "cat" in f.meta["class_names"]
    assert (tmp_path / "out" / "mylab.h5").exists()


def test_grayscale_folder_and_mixed_sizes(tmp_path):
    root = write_image_folder(tmp_path / "g", classes=("a", "b"), mode="L", size=(8, 8))
    assert load_image_folder(root).x_train.shape[1:] == (8, 8, 1)
    from PIL import Image

    Image.fromarray(np.zeros((5, 5), np.uint8)).save(root / "train" / "a" / "odd.png")
    with pytest.raises(UserError, match="resize"):
        load_image_folder(root)
    (root / "train" / "a" / "odd.png").unlink()
    (root / "train" / "b" / "broken.png").write_bytes(b"nope")
    with pytest.raises(UserError, match="cannot read image"):
        load_image_folder(root)


def test_npz_source(tmp_path, cli):
    p = write_npz(tmp_path / "lab.npz", n_train=60, n_test=10, shape=(8, 8), k=4)
    data = load_npz(p)
    assert data.x_train.shape == (60, 8, 8, 1) and data.num_classes == 4
    r = cli("make", "mnist-flip", "--rate", "0.5", "--source", p, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    assert (tmp_path / "out" / "lab-flip0.5.h5").exists() and (tmp_path / "out" / "lab.h5").exists()
    r = cli("make", "psi", "--level", "8", "--source", p, "--name", "other", "--out", tmp_path / "out")
    assert r.code == 0 and (tmp_path / "out" / "other-psi8.h5").exists()


def test_bad_npz(tmp_path):
    np.savez(tmp_path / "a.npz", x_train=np.zeros((2, 4, 4), np.uint8), y_train=np.zeros(2, np.int64))
    with pytest.raises(UserError, match="missing x_test"):
        load_npz(tmp_path / "a.npz")
    (tmp_path / "b.npz").write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable"):
        load_npz(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", x_train=np.zeros((2, 4, 4)), y_train=np.zeros(2, np.int64),
             x_test=np.zeros((1, 4, 4)), y_test=np.zeros(1, np.int64) + 9, class_names=np.array(["a", "b"]))
    with pytest.raises(UserError):
        load_npz(tmp_path / "c.npz")


# ------------------------------------------------------------------ source resolution errors


def test_source_errors(cli, tmp_path):
    r = cli("make", "psi", "--level", "8", "--source", tmp_path / "nope", "--out", tmp_path / "o")
    assert r.code == 2 and "no such file" in r.err
    (tmp_path / "empty").mkdir()
    r = cli("make", "mnist-flip", "--source", tmp_path / "empty", "--out", tmp_path / "o")
    assert r.code == 2 and "unrecognised layout" in r.err
    (tmp_path / "x.txt").write_text("hi")
    assert cli("make", "psi", "--level", "8", "--source", tmp_path / "x.txt", "--out", tmp_path / "o").code == 2
    r = cli("make", "psi", "--level", "8", "--out", tmp_path / "o")
    assert r.code == 2 and "--download" in r.err
    r = cli("make", "mnist", "--out", tmp_path / "o", "--source", tmp_path / "empty", "--download")
    assert r.code == 2 and "not both" in r.err


def test_raw_folder_is_used_by_default(cli, tmp_path):
    write_cifar10_batches(tmp_path / "raw")
    r = cli("make", "psi", "--level", "16", "--no-verify", "--out", tmp_path)
    assert r.code == 0, r.err
    assert (tmp_path / "cifar10-psi16.h5").exists()


def test_build_tiny_image_files(tmp_path):
    paths = build_tiny_image_files(tmp_path)
    for key in ("cifar10", "cifar10-psi16", "mnist", "mnist-flip0.1"):
        assert paths[key].name == f"{key}.h5"
        with open_file(paths[key]) as f:
            assert f.meta["dataset"] in ("cifar10", "mnist")
    with open_file(paths["mnist"]) as a, open_file(paths["mnist-flip0.1"]) as b:
        assert a.meta["pair_key"] == b.meta["pair_key"]


def test_download_path_with_a_stubbed_fetch(cli, tmp_path, monkeypatch):
    """--download fetches into OUT/raw and then loads with verification (network replaced by fixtures)."""

    def fake_cifar(root):
        d = write_cifar10_batches(root)
        monkeypatch.setattr(cifar10_source, "OFFICIAL_MD5", {p.name: md5_file(p) for p in d.iterdir()})
        return root

    def fake_mnist(root):
        d = write_mnist_idx(root)
        monkeypatch.setattr(mnist_source, "OFFICIAL_MD5", {p.name: md5_file(p) for p in d.iterdir()})
        return root

    monkeypatch.setattr(cifar10_source, "download_cifar10", fake_cifar)
    monkeypatch.setattr(mnist_source, "download_mnist", fake_mnist)
    assert cli("make", "psi", "--level", "16", "--download", "--out", tmp_path).code == 0
    assert (tmp_path / "raw" / "cifar-10-batches-py" / "test_batch").exists()
    assert cli("make", "mnist-flip", "--download", "--out", tmp_path).code == 0
    with open_file(tmp_path / "mnist-flip0.1.h5") as f:
        assert f.meta["source"]["verified"] is True and f.meta["source"]["kind"] == "mnist-idx"


def test_download_failure_is_one_line(cli, tmp_path, monkeypatch):
    import types

    def boom(*a, **k):
        raise OSError("network is unreachable")

    # a stub module: the real download functions are looked up here (and importing torchvision is slow)
    stub = types.ModuleType("torchvision.datasets.utils")
    stub.download_and_extract_archive = boom
    stub.download_url = boom
    monkeypatch.setitem(sys.modules, "torchvision.datasets.utils", stub)
    r = cli("make", "cifar10", "--download", "--out", tmp_path)
    assert r.code == 2 and "downloading CIFAR-10" in r.err and "--source" in r.err
    r = cli("make", "mnist", "--download", "--out", tmp_path)
    assert r.code == 2 and "downloading" in r.err
