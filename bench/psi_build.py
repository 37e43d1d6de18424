"""Benchmark: building ψ-corrupted CIFAR-10-sized data (N×32×32×3 uint8 synthetic pixels).

    python bench/psi_build.py            # 6,000 images
    python bench/psi_build.py --full     # 60,000 images (the size of CIFAR-10 train + test)

Compares, for the noise itself (in memory):
  ours (1 thread / all threads)  exact table sampler, corruptors/poisson_photon.py
  (a) per-image loop             np.random.poisson on each image, then round/clip
  (b) vectorised numpy           Generator.poisson on the whole array, then round/clip
  (c) memory floor               np.copyto of the array (one read + one write)
and the whole build into HDF5 (noise + gzip-1 + sha256 + atomic write), with absolute times,
ns/pixel and ratios. Timings are the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="60,000 images instead of 6,000")
    ap.add_argument("--images", type=int, default=None, help="number of images (overrides --full)")
    ap.add_argument("--psi", type=float, default=16.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="threads for ours (default: cores, at most 8)")
    ap.add_argument("--skip-loop", action="store_true", help="skip the slow per-image loop")
    args = ap.parse_args(argv)

    from noisebench.corruptors.poisson_photon import PhotonNoise, default_workers
    from noisebench.generators.builds.images import build_psi
    from noisebench.generators.sources.custom import ImageData

    n = args.images or (60_000 if args.full else 6_000)
    psi = args.psi
    workers = args.workers or default_workers()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    px = x.size
    scale = 255.0 / psi

    import scipy.special  # noqa: F401 - import cost is not table-build cost

    t = time.perf_counter()
    noise = PhotonNoise(psi)
    t_table = time.perf_counter() - t

    def ours(w):
        return lambda: noise.apply(x, seed=0, workers=w)

    def loop():
        out = np.empty_like(x)
        for i in range(n):
            k = np.random.poisson(x[i] * (psi / 255.0))
            out[i] = np.clip(np.rint(k * scale), 0, 255)
        return out

    gen = np.random.default_rng(1)

    def vectorised():
        k = gen.poisson(x * (psi / 255.0))
        return np.clip(np.rint(k * scale), 0, 255).astype(np.uint8)

    dst = np.empty_like(x)

    def floor():
        np.copyto(dst, x)

    rows = []
    rows.append(("ours, 1 thread", best_of(ours(1), args.repeat)))
    rows.append((f"ours, {workers} threads", best_of(ours(workers), args.repeat)))
    if not args.skip_loop:
        rows.append(("(a) per-image np.random.poisson loop", best_of(loop, 1 if n > 10_000 else args.repeat)))
    rows.append(("(b) numpy Generator.poisson, whole array", best_of(vectorised, 1 if n > 10_000 else args.repeat)))
    rows.append(("(c) memory floor (np.copyto)", best_of(floor, args.repeat)))

    data = ImageData(name="bench", x_train=x[: n * 5 // 6], y_train=np.zeros(n * 5 // 6, np.int64),
                     x_test=x[n * 5 // 6 :], y_test=np.zeros(n - n * 5 // 6, np.int64), class_names=["a"])
    with tempfile.TemporaryDirectory() as d:
        def build():
            build_psi(data, [psi], Path(d), seed=0, force=True, workers=workers, with_clean=False)

        t_build = best_of(build, max(1, args.repeat - 1))
        size = sum(p.stat().st_size for p in Path(d).glob("*.h5"))

    ref = rows[1][1]
    print(f"psi build benchmark: {n} images x 32x32x3 = {px:,} pixels, psi={psi:g}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"python {platform.python_version()}; table build {t_table * 1e3:.0f} ms (once per level)")
    print(f"{'method':44s} {'seconds':>9s} {'ns/pixel':>9s} {'x ours':>8s}")
    for name, sec in rows:
        print(f"{name:44s} {sec:9.3f} {sec / px * 1e9:9.2f} {sec / ref:8.2f}")
    print(f"{'full build into HDF5 (gzip-1, sha256, atomic)':44s} {t_build:9.3f} {t_build / px * 1e9:9.2f} "
          f"{t_build / ref:8.2f}   file {size / 1e6:.1f} MB")
    loop_row = [s for name, s in rows if name.startswith("(a)")]
    if loop_row:
        print(f"speed-up of ours ({workers} threads) over the per-image loop: {loop_row[0] / ref:.1f}x; "
              f"over vectorised numpy: {rows[-2][1] / ref:.1f}x")


if __name__ == "__main__":
    main()
