"""Glass blur (CIFAR-10-C): Gaussian blur, local pixel moves, Gaussian blur.

The original: x = uint8(gaussian(x, sigma)·255) (truncated); then `iterations` times, for every
position (h, w) scanned from (H−d, W−d) down to (d+1, d+1), d = max_delta, it draws
(dx, dy) = randint(−d, d, size=2) (so each in [−d, d−1]) and runs
`x[h, w], x[h', w'] = x[h', w'], x[h, w]` with (h', w') = (h+dy, w+dx). With numpy views this
tuple "swap" only *copies* x[h', w'] into x[h, w]; we reproduce what the code computes. With d = 1
(all five CIFAR-10-C severities) every source position is one the scan has not reached yet, so one
iteration is a single gather over the whole batch; for d > 1 (Tiny-ImageNet-C, ImageNet-C) the scan order
matters: a source already visited holds its final value, and pointer doubling follows each chain of copies
(a few gathers over the batch, no loop over positions). Finally gaussian(x, sigma) again.
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors._image_ops import REFERENCE, check_images, check_range, from01, gaussian_hw, unit01
from noisebench.registry import register_corruption

SEVERITIES = {1: {"sigma": 0.05, "max_delta": 1, "iterations": 1}, 2: {"sigma": 0.25, "max_delta": 1, "iterations": 1},
              3: {"sigma": 0.4, "max_delta": 1, "iterations": 1}, 4: {"sigma": 0.25, "max_delta": 1, "iterations": 2},
              5: {"sigma": 0.4, "max_delta": 1, "iterations": 2}}
RANGES = {"sigma": (0.0, 32.0), "max_delta": (1, 16), "iterations": (0, 10)}
TINY_IMAGENET_C = {1: {"sigma": 0.1, "max_delta": 1, "iterations": 1}, 2: {"sigma": 0.5, "max_delta": 1, "iterations": 1}, 3: {"sigma": 0.6, "max_delta": 1, "iterations": 2},
                   4: {"sigma": 0.7, "max_delta": 2, "iterations": 1}, 5: {"sigma": 0.9, "max_delta": 2, "iterations": 2}}
IMAGENET_C = {1: {"sigma": 0.7, "max_delta": 1, "iterations": 2}, 2: {"sigma": 0.9, "max_delta": 2, "iterations": 1}, 3: {"sigma": 1.0, "max_delta": 2, "iterations": 3},
              4: {"sigma": 1.1, "max_delta": 3, "iterations": 2}, 5: {"sigma": 1.5, "max_delta": 4, "iterations": 2}}
CONSTANTS = {"cifar10-c": SEVERITIES, "tiny-imagenet-c": TINY_IMAGENET_C, "imagenet-c": IMAGENET_C}


def draw_offsets(rng, n: int, h: int, w: int, d: int, iterations: int) -> np.ndarray:
    """(n, iterations, rows, cols, 2) int64: (dx, dy) per scanned position, scan order h, w descending."""
    rows, cols = max(0, h - 2 * d), max(0, w - 2 * d)
    return rng.integers(-d, d, size=(n, iterations, rows, cols, 2))


def local_moves(x: np.ndarray, off: np.ndarray, d: int) -> np.ndarray:
    """Apply the original's scan of copies x[h, w] <- x[h+dy, w+dx] to a uint8 batch (in place)."""
    n, h, w, _ = x.shape
    rows, cols = off.shape[2], off.shape[3]
    if rows == 0 or cols == 0:
        return x
    hs = np.arange(h - d, d, -1)  # scan order, as drawn
    ws = np.arange(w - d, d, -1)
    ni = np.arange(n)[:, None, None]
    for it in range(off.shape[1]):
        dx, dy = off[:, it, :, :, 0], off[:, it, :, :, 1]
        if d == 1:  # sources lie up/left (dy, dx in {-1, 0}): not yet written in this scan
            src = x[ni, hs[None, :, None] + dy, ws[None, None, :] + dx]
            x[:, h - d : d : -1, w - d : d : -1] = src
        else:  # sources already written in this scan: follow each chain of copies to its first unwritten source
            x[:] = _scan_copies(x, hs, ws, dy, dx)
    return x


def _scan_copies(x: np.ndarray, hs: np.ndarray, ws: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """The result of the scan x[h, w] <- x[h+dy, w+dx] (positions in scan order hs × ws) for any offsets.

    A source the scan has already visited holds its own final value, so final(p) = final(src(p)) when src(p)
    comes earlier in the scan and x[src(p)] otherwise: pointer doubling finds each chain's end in
    O(log length) gathers over the whole batch."""
    n, h, w, c = x.shape
    rows, cols = hs.size, ws.size
    rank = np.full((h, w), np.iinfo(np.int64).max, np.int64)  # scan position; unvisited: never earlier
    rank[hs[:, None], ws[None, :]] = np.arange(rows * cols).reshape(rows, cols)
    p = (hs[:, None] * w + ws[None, :]).ravel()  # flat positions, scan order
    src = ((hs[None, :, None] + dy) * w + (ws[None, None, :] + dx)).reshape(n, -1)  # (n, rows·cols)
    earlier = rank.ravel()[src] < np.arange(rows * cols)[None, :]
    flat_idx = np.arange(h * w, dtype=np.int32)  # int32 indices: half the memory of a block's pointers
    nxt = np.broadcast_to(flat_idx, (n, h * w)).copy()  # chain pointer per flat position
    term_src = np.broadcast_to(flat_idx, (n, h * w)).copy()  # where a chain's end reads from
    nxt[:, p] = np.where(earlier, src, p[None, :])
    term_src[:, p] = src
    while True:
        jumped = np.take_along_axis(nxt, nxt, axis=1)
        if np.array_equal(jumped, nxt):
            break
        nxt = jumped
    flat = x.reshape(n, h * w, c)
    idx = np.take_along_axis(term_src, nxt, axis=1)
    return np.take_along_axis(flat, idx[:, :, None], axis=1).reshape(n, h, w, c)


@register_corruption("glass_blur", target="images", severities=SEVERITIES, constants=CONSTANTS, ranges=RANGES, reference=REFERENCE,
                     description="blur, local pixel moves within max_delta, blur")
def glass_blur(x, rng, *, sigma: float = 0.4, max_delta: int = 1, iterations: int = 1):
    """x: uint8 (N, H, W, C) -> uint8."""
    x = check_images(x, "glass_blur")
    sigma = check_range("glass_blur", "sigma", sigma, *RANGES["sigma"])
    d = check_range("glass_blur", "max_delta", max_delta, *RANGES["max_delta"], integer=True)
    iterations = check_range("glass_blur", "iterations", iterations, *RANGES["iterations"], integer=True)
    n, h, w, _ = x.shape
    y = gaussian_hw(unit01(x), sigma)
    y = (y * 255).astype(np.uint8)  # the original's np.uint8(...) truncation (values are within [0, 255])
    off = draw_offsets(rng, n, h, w, d, iterations)
    y = local_moves(y, off, d)
    return from01(gaussian_hw(unit01(y), sigma))
