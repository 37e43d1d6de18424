"""Label flipping (docs/IMAGES.md): symmetric, pair and custom-transition-matrix noise on class labels.

* symmetric (default): each label is flipped with probability `rate` to a class drawn uniformly
  from the *other* K-1 classes (never to itself);
* pair: each label is flipped with probability `rate` from i to (i+1) mod K;
* matrix: a K×K row-stochastic matrix T (rows = true class): the noisy label of a sample of
  class i is drawn from row i (T[i, i] is the probability of keeping the label).

Deterministic in (seed, labels): one random stream, SeedSequence(seed, spawn_key=(STREAM_FLIP,)).

Registered as the label corruption ``label_flip`` (target "labels", parameters rate, mode, matrix): its files are
built by `noisebench make corrupt label_flip --param rate=0.1`, whose own spelling is `noisebench make mnist-flip
--rate 0.1` (the same file, mnist-flip0.1.h5; the flip file kind, generators/builds/flip.py). Image-only paths
(`nb.corrupt`, `nb.Corrupt`, `make cifar10-c`, test-time `robustness --corruptions`) refuse it.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.registry import register_corruption
from noisebench.safety.bounds import MAX_MATRIX_BYTES
from noisebench.safety.inputs import read_bytes

MODES = ("symmetric", "pair", "matrix")
STREAM_FLIP = 21
ROW_SUM_TOL = 1e-6


def validate_rate(rate) -> float:
    try:
        r = float(rate)
    except (TypeError, ValueError):
        raise UserError(f"--rate must be a number in [0, 1], got {rate!r}") from None
    if not math.isfinite(r) or r < 0 or r > 1:
        raise UserError(f"--rate must be within [0, 1], got {rate}")
    return r


def format_rate(rate: float) -> str:
    """0.1 → '0.1' (used in file names); exact, so distinct rates never share a name."""
    short = f"{float(rate):.10g}"
    return short if float(short) == float(rate) else repr(float(rate))


def load_matrix(path: Path, num_classes: int) -> np.ndarray:
    """Read a K×K transition matrix from .npy, .csv or .txt and validate it (one clear error)."""

    path = Path(path)
    if path.is_dir():
        raise UserError(f"--matrix {path}: is a directory; give a .npy, .csv or .txt file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv", ".txt", ".tsv", ".dat"):
        raise UserError(f"--matrix {path}: unknown extension {suffix!r}; use .npy, .csv or .txt")
    raw = read_bytes(path, "--matrix", MAX_MATRIX_BYTES)  # a regular file of bounded size, read once
    try:
        if suffix == ".npy":
            from noisebench.safety.npz import npy_from_bytes

            m = npy_from_bytes(raw, f"--matrix {path}", max_elements=num_classes * num_classes)
        elif suffix == ".csv":
            m = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.float64, ndmin=2)
        else:
            m = np.loadtxt(io.BytesIO(raw), dtype=np.float64, ndmin=2)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - numpy raises ValueError/OSError variants
        raise UserError(f"--matrix {path}: cannot read a numeric matrix ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return validate_matrix(m, num_classes, str(path))


def validate_matrix(m, num_classes: int, where: str = "matrix") -> np.ndarray:
    m = np.asarray(m)
    if m.dtype.kind not in "uif":
        raise UserError(f"--matrix {where}: must contain numbers, got dtype {m.dtype}")
    m = m.astype(np.float64)
    if m.shape != (num_classes, num_classes):
        raise UserError(f"--matrix {where}: must be {num_classes}x{num_classes} (rows = true class), got shape {m.shape}")
    if not np.isfinite(m).all():
        r, c = np.argwhere(~np.isfinite(m))[0]
        raise UserError(f"--matrix {where}: entry [{r}, {c}] is not a finite number")
    if (m < 0).any():
        r, c = np.argwhere(m < 0)[0]
        raise UserError(f"--matrix {where}: entry [{r}, {c}] is negative ({m[r, c]:g}); probabilities must be >= 0")
    sums = m.sum(axis=1)
    for i, s in enumerate(sums):
        if abs(s - 1.0) > ROW_SUM_TOL:
            raise UserError(f"--matrix {where}: row {i} sums to {s:.6g}, not 1 (each row is the distribution of the noisy label of class {i})")
    return m / sums[:, None]


def matrix_digest(m: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(m, dtype="<f8").tobytes()).hexdigest()[:8]


def mode_matrix(mode: str, rate: float, k: int) -> np.ndarray:
    """The transition matrix of symmetric/pair noise (for the record)."""
    if mode == "symmetric":
        m = np.full((k, k), rate / (k - 1) if k > 1 else 0.0)
        np.fill_diagonal(m, 1.0 - rate if k > 1 else 1.0)
        return m
    if mode == "pair":
        m = np.eye(k) * (1.0 - rate)
        for i in range(k):
            m[i, (i + 1) % k] += rate
        return m
    raise ValueError(mode)


def check_mode(mode: str) -> str:
    """symmetric or pair (a transition matrix is given as a file or an array instead); else one clear error."""
    if mode not in MODES[:2]:
        raise UserError(f"--mode must be symmetric or pair (or give --matrix FILE), got {mode!r}")
    return mode


@dataclass
class FlipResult:
    noisy: np.ndarray  # int64
    flip_mask: np.ndarray  # bool
    transition: np.ndarray  # nominal K×K
    nominal_rate: float
    realized_rate: float
    confusion: np.ndarray  # K×K counts, rows = true, cols = noisy


def flip_labels(labels: np.ndarray, num_classes: int, seed: int, mode: str = "symmetric", rate: float = 0.1,
                matrix: np.ndarray | None = None) -> FlipResult:
    y = np.asarray(labels, dtype=np.int64)
    k = int(num_classes)
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES[:2])} (or give --matrix), got {mode!r}")
    if y.size and (y.min() < 0 or y.max() >= k):
        raise UserError(f"labels must lie in [0, {k - 1}]")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(STREAM_FLIP,))))
    n = y.shape[0]
    if mode in ("symmetric", "pair"):
        rate = validate_rate(rate)
        if k < 2 and rate > 0:
            raise UserError("label flipping needs at least 2 classes")
        mask = rng.random(n) < rate
        if mode == "symmetric":
            shift = rng.integers(1, max(k, 2), size=n)  # uniform over the k-1 other classes
        else:
            shift = np.ones(n, np.int64)
        noisy = np.where(mask, (y + shift) % k, y)
        trans = mode_matrix(mode, rate, k)
        nominal = rate
    else:
        if matrix is None:
            raise ValueError("matrix mode needs a matrix")
        trans = validate_matrix(matrix, k)
        cum = np.cumsum(trans, axis=1)
        cum[:, -1] = 1.0
        u = rng.random(n)
        noisy = np.empty(n, np.int64)
        for c in range(k):  # per class: a vectorised inverse CDF over its row
            sel = np.flatnonzero(y == c)
            noisy[sel] = np.minimum(np.searchsorted(cum[c], u[sel], side="right"), k - 1)
        mask = noisy != y
        counts = np.bincount(y, minlength=k).astype(np.float64)
        nominal = float((counts * (1 - np.diag(trans))).sum() / max(1, n))
    conf = np.zeros((k, k), np.int64)
    np.add.at(conf, (y, noisy), 1)
    return FlipResult(noisy=noisy.astype(np.int64), flip_mask=mask, transition=trans, nominal_rate=float(nominal),
                      realized_rate=float(mask.mean()) if n else 0.0, confusion=conf)


@register_corruption(
    "label_flip", target="labels", ranges={"rate": (0.0, 1.0)}, tag="flip",
    description="label flips: each training label flips with probability rate (symmetric: to another class; "
                "pair: i -> i+1 mod K; or a KxK transition matrix file)",
    reference="noisebench's label-flipped MNIST (docs/IMAGES.md)",
    file_kind="flip",  # its files: mnist-flip0.1.h5, kind "mnist-flip", train/y flipped (generators/builds/flip.py)
    command="make mnist-flip",  # its own spelling: make mnist-flip --rate R == make corrupt label_flip --param rate=R
)
def label_flip(y: np.ndarray, rng: np.random.Generator, num_classes: int | None = None, *, rate: float = 0.1,
               mode: str = "symmetric", matrix: str = "") -> np.ndarray:
    """y: integer labels (N,) -> the flipped labels (int64, same shape). `matrix`: a .npy/.csv/.txt file of a K×K
    transition matrix (overrides rate and mode); `num_classes` K defaults to max(y) + 1. Draws one seed from
    `rng` for `flip_labels` (file builds seed it with --seed directly)."""
    y = np.asarray(y)
    k = int(num_classes) if num_classes is not None else (int(y.max()) + 1 if y.size else 1)
    seed = int(rng.integers(0, 2**63 - 1))
    if matrix is not None and not (isinstance(matrix, str) and not matrix):
        m = load_matrix(Path(matrix), k) if isinstance(matrix, (str, Path)) else validate_matrix(matrix, k)
        return flip_labels(y, k, seed, mode="matrix", matrix=m).noisy
    return flip_labels(y, k, seed, mode=check_mode(mode), rate=rate).noisy


STREAM_VAL = 22


def stratified_val_split(labels: np.ndarray, n_val: int, seed: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: (train_idx, val_idx), both sorted; per-class val counts by largest remainder."""
    y = np.asarray(labels, np.int64)
    n = y.shape[0]
    if n_val <= 0:
        return np.arange(n), np.empty(0, np.int64)
    counts = np.bincount(y, minlength=num_classes)
    exact = counts * (n_val / n)
    alloc = np.floor(exact).astype(np.int64)
    rest = n_val - int(alloc.sum())
    order = np.lexsort((np.arange(num_classes), -(exact - alloc)))
    for c in order[:rest]:
        alloc[c] += 1
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(STREAM_VAL,))))
    val = []
    for c in range(num_classes):
        idx = np.flatnonzero(y == c)
        if alloc[c]:
            val.append(rng.permutation(idx)[: alloc[c]])
        else:
            rng.permutation(idx)  # keep the stream layout independent of the allocation
    val_idx = np.sort(np.concatenate(val)) if val else np.empty(0, np.int64)
    keep = np.ones(n, bool)
    keep[val_idx] = False
    return np.flatnonzero(keep), val_idx


def effective_val_size(requested: int, n_train_source: int) -> int:
    """min(requested, floor(n/6)): 10,000 of MNIST's 60,000, scaled down for smaller sources."""
    if requested < 0:
        raise UserError(f"--val-size must be >= 0, got {requested}")
    return int(min(requested, n_train_source // 6))
