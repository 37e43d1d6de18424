"""Measurements behind docs/PROTOCOL.md: ψ levels' shared random numbers, and the clipping bias.

    python bench/psi_levels.py                       # synthetic pixels, uniform over 0..255
    python bench/psi_levels.py --source ~/data/cifar-10-batches-py --no-verify   # real images (first 2,000)

1. Residual correlation across levels. A build draws one 32-bit uniform per pixel from the stream
   (seed, split, block) for every level (common random numbers, the default), or one stream per level
   (`make psi --independent-levels`). For each pair of levels: Pearson correlation of the residuals
   y_ψ − x over all pixels, common next to independent; and of the centred residuals y_ψ − E[y_ψ | x]
   (without the clipping bias, which alone correlates independent levels slightly through x).
2. Clipping bias. y = clip(round(Poisson(ψx/255)·255/ψ), 0, 255): counts above ψ are clipped to 255,
   so for bright x the mean output falls below x. E[y] − x, exactly (summing the Poisson pmf) and
   measured from our sampler, for x = 200..255 and per level; also the part due to rounding alone
   (the same sum without the clip).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LEVELS = (8.0, 16.0, 32.0, 64.0)


def exact_mean(psi: float, x: np.ndarray, clip: bool = True) -> np.ndarray:
    """E[y] for each intensity in x, by summing the Poisson pmf far into the tail."""
    from scipy import stats

    lam = psi * x.astype(np.float64) / 255.0
    kmax = int(lam.max() + 20 * np.sqrt(lam.max()) + 50)
    k = np.arange(kmax + 1)
    y = np.rint(k * 255.0 / psi)
    if clip:
        y = np.clip(y, 0, 255)
    pmf = stats.poisson.pmf(k[None, :], lam[:, None])
    return (pmf * y[None, :]).sum(axis=1)


def correlations(x: np.ndarray, seed: int) -> list[tuple[str, float, float]]:
    from noisebench.corruptors.poisson_photon import PhotonNoise

    xf = x.astype(np.float64).ravel()
    res, cen = {}, {}
    for psi in LEVELS:
        mean_y = exact_mean(psi, np.arange(256))[x.ravel()]  # m(x) = E[y | x]: removes the clipping bias
        for ind in (False, True):
            y = PhotonNoise(psi, independent_stream=ind).apply(x, seed=seed, stream=1).astype(np.float64).ravel()
            res[ind, psi] = y - xf
            cen[ind, psi] = y - mean_y
    rows = []
    for a, b in ((8, 16), (16, 32), (32, 64), (8, 32), (16, 64), (8, 64)):
        rows.append((f"ψ {a} vs {b}", *(np.corrcoef(d[ind, a], d[ind, b])[0, 1]
                                         for d in (res, cen) for ind in (False, True))))
    return rows


def clipping(n_per_x: int, seed: int) -> list[tuple]:
    from noisebench.corruptors.poisson_photon import PhotonNoise

    xs = np.arange(200, 256)
    rows = []
    for psi in LEVELS:
        ex = exact_mean(psi, xs) - xs
        noclip = exact_mean(psi, xs, clip=False) - xs
        imgs = np.repeat(xs.astype(np.uint8), n_per_x).reshape(len(xs), n_per_x, 1, 1)
        measured = PhotonNoise(psi).apply(imgs.reshape(-1, 1, 1, 1), seed=seed).reshape(len(xs), n_per_x)
        meas = measured.astype(np.float64).mean(axis=1) - xs
        se = measured.astype(np.float64).std(axis=1).mean() / np.sqrt(n_per_x)
        pick = {v: i for i, v in enumerate(xs)}
        rows.append((psi, [ex[pick[v]] for v in (200, 224, 240, 255)], ex.mean(), meas.mean(), se / np.sqrt(len(xs)),
                     noclip.mean()))
    return rows


def load_pixels(args) -> tuple[np.ndarray, str]:
    if args.source is None:
        rng = np.random.default_rng(args.seed)
        return rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8), f"{args.images} synthetic images, uniform pixels"
    from noisebench.generators.image_inputs import resolve_source

    data = resolve_source("cifar10", Path(args.source), False, not args.no_verify, Path("."), None)
    return data.x_train[: args.images], f"first {min(args.images, len(data.x_train))} training images of {data.name}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000, help="images for the correlation (default 2000)")
    ap.add_argument("--source", default=None, help="an image source (CIFAR-10 folder, image folder, .npz)")
    ap.add_argument("--no-verify", action="store_true", help="skip the official md5 check of --source")
    ap.add_argument("--per-x", type=int, default=20000, help="draws per intensity for the measured clipping bias")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    x, what = load_pixels(args)
    print(f"## Residual correlation across ψ levels ({what}; {x.size:,} pixels)\n")
    print("| levels | y − x, common random numbers (default) | y − x, --independent-levels "
          "| y − m(x), common | y − m(x), independent |")
    print("|---|---:|---:|---:|---:|")
    for name, common, indep, ccommon, cindep in correlations(x, args.seed):
        print(f"| {name} | {common:.4f} | {indep:+.4f} | {ccommon:.4f} | {cindep:+.4f} |")

    print(f"\n## Clipping bias E[y] − x for bright pixels (measured: {args.per_x:,} draws per intensity)\n")
    print("| ψ | x = 200 | x = 224 | x = 240 | x = 255 | mean over x = 200..255, exact | measured (ours) | rounding only (no clip) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for psi, at, mean_exact, mean_meas, se, noclip in clipping(args.per_x, args.seed):
        cells = " | ".join(f"{v:+.2f}" for v in at)
        print(f"| {psi:g} | {cells} | {mean_exact:+.2f} | {mean_meas:+.2f} ± {se:.2f} | {noclip:+.3f} |")


if __name__ == "__main__":
    main()
