"""Measure HDF5 compression choices for the two kinds of noisebench payloads.

Prints write time, read time and size for: no compression, gzip-1 (+shuffle), gzip-4, lzf,
on (a) synth float32 rows and (b) uint8 images (smooth synthetic scenes with and without
psi=16 Poisson noise, standing in for CIFAR-10, which is not available offline).

    python bench/compression.py
"""

from __future__ import annotations

import os
import tempfile
import time

import h5py
import numpy as np

from noisebench.generators.synth.generator import HiddenFunctionDataset, SynthParams


def payloads():
    g = HiddenFunctionDataset(SynthParams(rows=500_000))
    xs, _ = g.block(0, 500_000)
    yield "synth float32 (500000, 10)", xs.astype(np.float32), 1 << 14
    rng = np.random.default_rng(0)
    n = 5000
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    base = np.empty((n, 32, 32, 3), np.float64)
    for c in range(3):
        a, b, ph = rng.uniform(0.5, 4, (3, n, 1, 1))
        base[..., c] = 0.5 + 0.4 * np.sin(a * 6.28 * xx + ph) * np.cos(b * 6.28 * yy)
    clean = np.clip(base * 255 + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    yield "images uint8 (5000, 32, 32, 3) smooth+texture", clean, 256
    noisy = np.clip(np.round(rng.poisson(16 * clean / 255.0) * 255 / 16), 0, 255).astype(np.uint8)
    yield "images uint8 (5000, 32, 32, 3) psi=16 noisy", noisy, 256


OPTIONS = {
    "none": {},
    "gzip-1+shuffle": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
    "gzip-1": {"compression": "gzip", "compression_opts": 1},
    "gzip-4": {"compression": "gzip", "compression_opts": 4},
    "lzf": {"compression": "lzf"},
}


def main():
    with tempfile.TemporaryDirectory() as d:
        for label, arr, chunk in payloads():
            print(f"\n{label}: raw {arr.nbytes / 1e6:.1f} MB")
            print(f"  {'filter':<16}{'size MB':>9}{'ratio':>7}{'write s':>9}{'read s':>8}")
            for name, kw in OPTIONS.items():
                if name == "gzip-1+shuffle" and arr.dtype.itemsize == 1:
                    continue
                p = os.path.join(d, f"{name}.h5")
                t = time.perf_counter()
                with h5py.File(p, "w") as f:
                    f.create_dataset("x", data=arr, chunks=(chunk,) + arr.shape[1:], **kw)
                tw = time.perf_counter() - t
                t = time.perf_counter()
                with h5py.File(p, "r") as f:
                    f["x"][...]
                tr = time.perf_counter() - t
                size = os.path.getsize(p)
                print(f"  {name:<16}{size / 1e6:>9.1f}{arr.nbytes / size:>7.2f}{tw:>9.2f}{tr:>8.2f}")


if __name__ == "__main__":
    main()
