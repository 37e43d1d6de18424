"""Tiny files in the exact official formats, and tiny noisebench image files built from them.

Reusable by any test:

    from official_format_fixtures import write_cifar10_batches, write_mnist_idx, build_tiny_image_files
    paths = build_tiny_image_files(tmp_path)   # {'cifar10': .../cifar10.h5, 'cifar10-psi16': ..., 'mnist': ..., 'mnist-flip0.1': ...}

No downloads: CIFAR-10 batches are pickles of dicts with the real keys (b'data' N×3072 uint8
channel-planar, b'labels', b'batch_label', b'filenames'; batches.meta with b'label_names');
MNIST idx files have the real headers (magic 2051 images / 2049 labels), gzipped or plain.
Their md5s cannot match the official ones, so builds pass verify=False (or register the md5s).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _images(rng, n, shape):
    """Smooth-ish random images (a gradient plus noise) so previews look like something."""
    base = np.linspace(0, 255, shape[0] * shape[1]).reshape(shape[0], shape[1], *([1] * (len(shape) - 2)))
    noise = rng.integers(0, 256, size=(n, *shape))
    return ((base[None] + noise) / 2).astype(np.uint8)


def _labels(rng, n, k=10):
    """Labels covering every class when n >= k."""
    y = np.arange(n) % k
    return rng.permutation(y).astype(np.int64)


def write_cifar10_batches(root, n_train: int = 50, n_test: int = 20, seed: int = 0) -> Path:
    """Write ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}; returns that folder.

    n_train images are spread over the 5 training batches (batch i gets its share)."""
    rng = np.random.default_rng(seed)
    d = Path(root) / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    x = _images(rng, n_train + n_test, (32, 32, 3))
    y = np.concatenate([_labels(rng, n_train), _labels(rng, n_test)])
    planar = x.transpose(0, 3, 1, 2).reshape(len(x), 3072)
    bounds = np.linspace(0, n_train, 6).astype(int)
    for i in range(5):
        s, e = bounds[i], bounds[i + 1]
        _dump(d / f"data_batch_{i + 1}", planar[s:e], y[s:e], f"training batch {i + 1} of 5")
    _dump(d / "test_batch", planar[n_train:], y[n_train:], "testing batch 1 of 1")
    meta = {b"num_cases_per_batch": 10000, b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_vis": 3072}
    with open(d / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return d


def _dump(path: Path, data: np.ndarray, labels: np.ndarray, batch_label: str) -> None:
    obj = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(data, dtype=np.uint8),
        b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(labels))],
    }
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in arr.shape) + arr.astype(np.uint8).tobytes()


def write_mnist_idx(root, n_train: int = 120, n_test: int = 30, gz: bool = True, seed: int = 0) -> Path:
    """Write the four MNIST idx files (magic 2051/2049) into ROOT/MNIST/raw; returns that folder."""
    rng = np.random.default_rng(seed)
    d = Path(root) / "MNIST" / "raw"
    d.mkdir(parents=True, exist_ok=True)
    files = {
        "train-images-idx3-ubyte": (_images(rng, n_train, (28, 28)), 2051),
        "train-labels-idx1-ubyte": (_labels(rng, n_train), 2049),
        "t10k-images-idx3-ubyte": (_images(rng, n_test, (28, 28)), 2051),
        "t10k-labels-idx1-ubyte": (_labels(rng, n_test), 2049),
    }
    for name, (arr, magic) in files.items():
        data = _idx_bytes(arr, magic)
        if gz:
            with gzip.GzipFile(d / (name + ".gz"), "wb", mtime=0) as f:
                f.write(data)
        else:
            (d / name).write_bytes(data)
    return d


def write_image_folder(root, n_per_class: int = 3, classes=("cat", "dog", "frog"), size=(16, 12), seed: int = 0,
                       mode: str = "RGB") -> Path:
    """ROOT/train/<class>/*.png and ROOT/test/<class>/*.png (size = (width, height))."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for split in ("train", "test"):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
                Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(d / f"{i}.png")
    return root


def write_npz(path, n_train: int = 40, n_test: int = 10, shape=(8, 8, 3), k: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8), y_train=_labels(rng, n_train, k),
             x_test=rng.integers(0, 256, (n_test, *shape), dtype=np.uint8), y_test=_labels(rng, n_test, k))
    return Path(path)


def build_tiny_image_files(tmpdir, n_cifar_train: int = 50, n_cifar_test: int = 20, n_mnist_train: int = 120,
                           n_mnist_test: int = 30) -> dict:
    """Build tiny cifar10.h5, cifar10-psi16.h5, mnist.h5, mnist-flip0.1.h5 with the real builders.

    Returns {'cifar10', 'cifar10-psi16', 'mnist', 'mnist-flip0.1', 'out', 'cifar_src', 'mnist_src'} paths.
    """
    from noisebench.generators.builds.images import build_clean_images, build_flip, build_psi, build_split_clean
    from noisebench.generators.sources.cifar10 import load_cifar10
    from noisebench.generators.sources.mnist import load_mnist

    tmpdir = Path(tmpdir)
    out = tmpdir / "datasets"
    csrc = write_cifar10_batches(tmpdir / "src", n_cifar_train, n_cifar_test)
    msrc = write_mnist_idx(tmpdir / "src", n_mnist_train, n_mnist_test)
    cifar = load_cifar10(csrc, verify=False)
    mnist = load_mnist(msrc, verify=False)
    paths = {"out": out, "cifar_src": csrc, "mnist_src": msrc}
    paths["cifar10"] = build_clean_images(cifar, out)
    paths["cifar10-psi16"] = build_psi(cifar, [16], out, workers=1, with_clean=False)[0]
    paths["mnist"] = build_split_clean(mnist, out, val_size=10000)
    paths["mnist-flip0.1"] = build_flip(mnist, out, rate=0.1, with_clean=False)[-1]
    return paths


# ------------------------------------------------------------------ more official layouts


def write_cifar100_python(root, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """ROOT/cifar-100-python/{train,test,meta}: dicts with b'data' N×3072 uint8 (channel-planar),
    b'fine_labels' (0..99), b'coarse_labels' (fine // 5 here), b'filenames', b'batch_label'; meta with
    b'fine_label_names' (100) and b'coarse_label_names' (20). Returns that folder."""
    rng = np.random.default_rng(seed)
    d = Path(root) / "cifar-100-python"
    d.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        x = _images(rng, n, (32, 32, 3))
        fine = _labels(rng, n, 100)
        obj = {b"filenames": [f"img_{i:05d}.png".encode() for i in range(n)], b"batch_label": f"{split} batch".encode(),
               b"fine_labels": [int(v) for v in fine], b"coarse_labels": [int(v) // 5 for v in fine],
               b"data": np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(n, 3072))}
        with open(d / split, "wb") as f:
            pickle.dump(obj, f, protocol=2)
    meta = {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}
    with open(d / "meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return d


def write_fashion_mnist_idx(root, n_train: int = 120, n_test: int = 30, seed: int = 1) -> Path:
    """The four idx files (gzipped) in ROOT/FashionMNIST/raw (torchvision's layout); returns that folder."""
    tmp = write_mnist_idx(Path(root) / "_fm", n_train, n_test, gz=True, seed=seed)
    d = Path(root) / "FashionMNIST" / "raw"
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(d)
    tmp.parent.rmdir()
    tmp.parent.parent.rmdir()
    return d


def write_svhn_mat(root, n_train: int = 60, n_test: int = 20, extra: int = 0, seed: int = 0) -> Path:
    """ROOT/svhn/{train,test[,extra]}_32x32.mat: X 32×32×3×N uint8, y N×1 uint8 in 1..10 (10 = digit 0)."""
    import scipy.io

    rng = np.random.default_rng(seed)
    d = Path(root) / "svhn"
    d.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test), ("extra", extra)):
        if n:
            x = _images(rng, n, (32, 32, 3)).transpose(1, 2, 3, 0)
            y = (_labels(rng, n) + 1).astype(np.uint8)[:, None]  # 1..10
            scipy.io.savemat(d / f"{split}_32x32.mat", {"X": np.ascontiguousarray(x), "y": y})
    return d


def write_cifar_n(path, arrays: dict, pickled: bytes | None = None) -> Path:
    """A CIFAR-N style label file: a torch zip archive (archive/data.pkl, archive/version) whose pickle is
    a dict of numpy int64 arrays, as in the release (or the given raw pickle bytes)."""
    import zipfile

    data = pickled if pickled is not None else pickle.dumps(
        {k: np.asarray(v) for k, v in arrays.items()}, protocol=2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/version", "3\n")
    return Path(path)


def cifar10n_arrays(clean: np.ndarray, seed: int = 0) -> dict:
    """clean_label plus the five CIFAR-10N label sets, with noise rates near the published ones."""
    rng = np.random.default_rng(seed)
    out = {"clean_label": clean}
    for key, rate in (("aggre_label", 0.09), ("worse_label", 0.4), ("random_label1", 0.17),
                      ("random_label2", 0.18), ("random_label3", 0.18)):
        flip = rng.random(clean.size) < rate
        out[key] = np.where(flip, (clean + rng.integers(1, 10, clean.size)) % 10, clean)
    return out
