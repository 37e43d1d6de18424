"""Shared helpers of the training/data benchmarks: synthetic CIFAR-10-like / MNIST-like noisebench
files (learnable, so a short run's accuracy means something), and a one-line machine description.

The images are a per-class smooth template (a random 4x4 pattern upsampled to full size) plus
per-image uniform noise, so a few hundred steps of any zoo model separate the classes, yet the
first steps do not. Files are real noisebench files (DatasetWriter: gzip-1 chunks of 256 images,
sha256 checksums), kind "clean", with attrs dataset=cifar10|mnist and num_classes=10, so the
harness treats them exactly like the real ones (crop+flip augmentation for cifar10, none for mnist).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHAPES = {"cifar10": (32, 32, 3), "mnist": (28, 28)}


def synthetic_images(kind: str, n: int, seed: int, num_classes: int = 10, templates_seed: int = 1234):
    """(x uint8 [n, *shape], y int64 [n]): class template + uniform noise, written in slabs."""
    shape = SHAPES[kind]
    h, w = shape[:2]
    c = shape[2] if len(shape) == 3 else 1
    trng = np.random.default_rng(templates_seed)  # the same classes in train and test
    small = trng.uniform(-1, 1, size=(num_classes, 4, 4, c)).astype(np.float32)
    templates = np.repeat(np.repeat(small, -(-h // 4), axis=1), -(-w // 4), axis=2)[:, :h, :w]
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % num_classes).astype(np.int64)
    y = rng.permutation(y)
    x = np.empty((n, h, w, c), dtype=np.uint8)
    for s in range(0, n, 4096):
        e = min(n, s + 4096)
        noise = rng.integers(-90, 91, size=(e - s, h, w, c), dtype=np.int16).astype(np.float32)
        x[s:e] = np.clip(128 + 60 * templates[y[s:e]] + noise, 0, 255).astype(np.uint8)
    return (x if len(shape) == 3 else x[..., 0]), y


def write_synthetic(path: str | Path, kind: str = "cifar10", n_train: int = 512, n_test: int = 256,
                    seed: int = 0) -> Path:
    """A noisebench file with train, val (n_test images) and test splits of synthetic `kind` images."""
    from noisebench.format import DatasetWriter

    path = Path(path)
    w = DatasetWriter(path, kind="clean", variant="clean", params={"synthetic": kind, "n_train": n_train,
                      "n_test": n_test}, seed=seed, force=True,
                      attrs={"dataset": kind, "num_classes": 10, "class_names": [str(i) for i in range(10)]})
    with w:
        for split, n, s in (("train", n_train, seed), ("val", n_test, seed + 2), ("test", n_test, seed + 1)):
            x, y = synthetic_images(kind, n, s)
            xs = w.create(f"{split}/x", x.shape, np.uint8)
            ys = w.create(f"{split}/y", y.shape, np.int64)
            for i in range(0, n, 8192):
                xs.append(x[i : i + 8192])
                ys.append(y[i : i + 8192])
    return path


@contextlib.contextmanager
def bench_files(kinds, n_train: int, n_test: int, data_dir: str | None = None, given: dict | None = None):
    """{kind: path} of synthetic files in a temporary folder (or `data_dir`, kept and reused)."""
    given = dict(given or {})
    with contextlib.ExitStack() as stack:
        d = Path(data_dir) if data_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nb-bench-")))
        d.mkdir(parents=True, exist_ok=True)
        out = {}
        for k in kinds:
            if k in given:
                out[k] = Path(given[k])
                continue
            p = d / f"bench-{k}-{n_train}-{n_test}-val.h5"
            if not p.exists():
                write_synthetic(p, k, n_train, n_test)
            out[k] = p
        yield out


def machine_line(device) -> str:
    """Machine, load, torch version, device and date for the header of a benchmark's output."""
    import torch

    try:
        model = next(ln.split(":", 1)[1].strip() for ln in subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=5).stdout.splitlines() if ln.startswith("Model name"))
    except Exception:  # noqa: BLE001
        model = platform.processor() or platform.machine()
    try:
        load = "load avg %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load n/a"
    dev = str(device)
    if getattr(device, "type", str(device)) == "cuda":
        dev += f" ({torch.cuda.get_device_name(device)})"
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{date}; CPU {model}, {os.cpu_count()} CPUs ({load}); torch {torch.__version__} "
            f"({torch.get_num_threads()} threads); device {dev}")


def sync(device) -> None:
    import torch

    if getattr(device, "type", None) == "cuda":
        torch.cuda.synchronize(device)
