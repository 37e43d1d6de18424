"""Benchmark: the 19 corruptions of CIFAR-10-C's generator, ours (batched, seeded, block-wise) vs a per-image reference.

    python bench/corruptions.py                    # 10,000 images per severity, all 19 corruptions
    python bench/corruptions.py --images 2000 --only fog,zoom_blur
    python bench/corruptions.py --build        # also the end-to-end `make cifar10-c` into HDF5 files

For each corruption and severity 1..5: ours = `corrupt_blocks` (the code every build runs: blocks of
256 images, --workers threads) on N synthetic CIFAR-sized images; reference = the original's one-image-
at-a-time transcription (tests/corruption_reference.py: numpy/scipy/Pillow in place of OpenCV and
scikit-image; for motion blur, snow, frost and spatter OpenCV, scikit-image and the `imagecorruptions`
transcription of ImageMagick's motion blur, as the original calls them: the `corruptions` extra) timed on
--ref-images images and scaled to N. Prints wall-clock and CPU seconds per corruption (all five
severities), the per-image reference's estimate and the ratio, and the suite total (goal: the whole
19 × 5 × 10,000 in under 3 minutes on 2 cores). The images are smooth class templates plus noise
(bench/_bench_data.py), so blurs and JPEG see realistic content.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000, help="images per severity (CIFAR-10 test set: 10,000)")
    ap.add_argument("--ref-images", type=int, default=200, help="images the per-image reference is timed on")
    ap.add_argument("--workers", type=int, default=2, help="threads for ours")
    ap.add_argument("--only", default="", help="comma list of corruptions (default: all 19)")
    ap.add_argument("--build", action="store_true",
                    help="also time build_cifar10_c end to end (corruption + gzip-1 + sha256 + atomic writes)")
    args = ap.parse_args(argv)

    from _bench_data import synthetic_images  # noqa: E402
    from corruption_reference import per_image  # noqa: E402

    from noisebench.corruptors.sets import ALL
    from noisebench.generators.builds.corrupt import STREAM, corrupt_blocks
    from noisebench.generators.builds.corrupt_params import image_corruption, resolve_params

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(ALL)
    x, _ = synthetic_images("cifar10", args.images, seed=0)
    print(f"{args.images} images 32x32x3 per severity, ours with {args.workers} threads; reference per image on "
          f"{args.ref_images} images, scaled; load average at start {os.getloadavg()[0]:.2f}")
    print("ours: wall-clock s and CPU s (all threads) for 5 severities; reference: CPU s (one thread, scaled to "
          "--images); ratio = reference CPU / ours CPU")
    print(f"{'corruption':18s} {'ours s':>8s} {'cpu s':>7s} {'img/s':>8s} {'ref cpu s':>12s} {'ratio':>7s}")
    total = total_ref = total_cpu = 0.0
    for name in names:
        entry = image_corruption(name)
        ours = ref = cpu = 0.0
        for s in range(1, 6):
            p = resolve_params(entry, s)
            t, c = time.perf_counter(), time.process_time()
            for _ in corrupt_blocks(entry, x, p, 0, STREAM["test"], args.workers):
                pass
            ours += time.perf_counter() - t
            cpu += time.process_time() - c
            rng = np.random.default_rng(s)
            c = time.process_time()
            for img in x[: args.ref_images]:
                np.clip(np.rint(per_image(name, img, rng, **p)), 0, 255).astype(np.uint8)
            ref += (time.process_time() - c) * args.images / args.ref_images
        total += ours
        total_ref += ref
        total_cpu += cpu
        print(f"{name:18s} {ours:8.2f} {cpu:7.2f} {5 * args.images / ours:8.0f} {ref:12.1f} {ref / cpu:6.1f}x", flush=True)
    print(f"{'suite':18s} {total:8.2f} {total_cpu:7.2f} {'':8s} {total_ref:12.1f} {total_ref / total_cpu:6.1f}x")
    if len(names) == len(ALL) and args.images >= 10_000:
        print(f"goal: whole suite under 180 s on 2 cores -> {'met' if total < 180 else 'NOT met'} ({total:.1f} s); "
              f"load average at end {os.getloadavg()[0]:.2f}")
    else:
        print(f"(partial run: the goal is for all 19 corruptions at 10,000 images; load average {os.getloadavg()[0]:.2f})")
    if args.build:
        _build(names, args)


def _build(names, args) -> None:
    """The whole `make cifar10-c` into a temporary folder: files of 5 × N images per corruption."""
    import tempfile

    from _bench_data import write_synthetic  # noqa: E402

    from noisebench.generators.builds.cifar10c import build_cifar10_c

    with tempfile.TemporaryDirectory() as tmp:
        clean = write_synthetic(Path(tmp) / "cifar10.h5", "cifar10", n_train=256, n_test=args.images)
        t, c = time.perf_counter(), time.process_time()
        paths = build_cifar10_c(clean, names, [1, 2, 3, 4, 5], Path(tmp), workers=args.workers)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        size = sum(p.stat().st_size for p in paths)
    print(f"make cifar10-c end to end: {len(paths)} files, {size / 2**30:.2f} GiB, {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
