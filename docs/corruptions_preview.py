"""Regenerate docs/corruptions_preview.png: two synthetic 32×32 scenes under each of the 19 corruptions, severities 1..5.

    python docs/corruptions_preview.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def scenes() -> np.ndarray:
    """Two procedural 32×32 RGB scenes (no downloads): sky, sun, house, grass; and a striped ball."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    a = np.zeros((32, 32, 3))
    a[...] = np.stack([90 + 2 * yy, 140 + 2 * yy, 230 - yy], -1)  # sky
    sun = (xx - 24) ** 2 + (yy - 7) ** 2 < 20
    a[sun] = (250, 220, 60)
    a[yy > 22] = np.stack([40 + 0 * xx, 150 + 20 * np.sin(xx), 50 + 0 * xx], -1)[yy > 22]  # grass
    house = (xx > 5) & (xx < 17) & (yy > 13) & (yy <= 22)
    a[house] = (190, 60, 50)
    roof = (yy > 7) & (yy <= 13) & (np.abs(xx - 11) < (yy - 7))
    a[roof] = (110, 70, 40)
    a[(xx > 9) & (xx < 13) & (yy > 17) & (yy <= 22)] = (60, 40, 30)  # door
    b = np.zeros((32, 32, 3))
    b[...] = np.stack([230 - 3 * xx, 220 - 2 * yy, 200 + 0 * xx], -1)
    ball = (xx - 16) ** 2 + (yy - 15) ** 2 < 100
    stripes = (np.floor((xx + yy) / 4) % 2 == 0)
    b[ball & stripes] = (30, 60, 200)
    b[ball & ~stripes] = (240, 240, 240)
    b[yy > 26] = (120, 90, 60)
    return np.clip(np.rint(np.stack([a, b])), 0, 255).astype(np.uint8)


def main(out: Path = Path(__file__).with_name("corruptions_preview.png")) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from noisebench.corruptors.sets import ALL
    from noisebench.generators.builds.corrupt import apply_corruption

    x = scenes()
    names = sorted(ALL)  # the 19 at the CIFAR-10-C constants
    fig, axes = plt.subplots(len(names), 12, figsize=(12, len(names) * 1.05), dpi=52)
    for r, name in enumerate(names):
        cols = [x] + [apply_corruption(name, x, severity=s, seed=0) for s in range(1, 6)]
        for i in range(2):
            for c, img in enumerate(cols):
                ax = axes[r, i * 6 + c]
                ax.imshow(img[i], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title("clean" if c == 0 else f"s{c}", fontsize=9)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=0.14, right=0.99, top=0.97, bottom=0.01, wspace=0.05, hspace=0.08)
    fig.savefig(out, dpi=52)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
