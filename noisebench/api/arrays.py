"""The array-level Python API: label flips and the synthetic regression set as arrays, without
writing a file (``import noisebench as nb; nb.flip_labels(...)``, ``nb.synth(...)``).
File builds stay with the CLI's library functions; datasets are read with ``nb.open_dataset``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from noisebench.corruptors.label_flip import flip_labels as _flip
from noisebench.errors import UserError
from noisebench.generators.synth.generator import BLOCK, HiddenFunctionDataset, SynthParams, compute_block

__all__ = ["FlippedLabels", "SynthArrays", "flip_labels", "synth", "MAX_API_SYNTH_ROWS"]

MAX_API_SYNTH_ROWS = 50_000_000  # in memory; larger sets stream into a file with `noisebench synth`


class FlippedLabels(NamedTuple):
    labels: np.ndarray  # int64 noisy labels
    flip_mask: np.ndarray  # bool, True where the label changed
    transition: np.ndarray  # realized K x K transition matrix (rows = true class, each row sums to 1)


def _seed(seed, bits: int = 63) -> int:
    """`seed`, or for None a fresh one drawn from OS entropy in [0, 2**bits)."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(64 - bits))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**bits:
        raise UserError(f"seed must be None or an integer in [0, 2**{bits}), got {seed!r}")
    return int(seed)


def flip_labels(y, rate: float = 0.1, *, num_classes: int, mode="symmetric", seed: int | None = None) -> FlippedLabels:
    """Flip labels as ``noisebench make mnist-flip`` does.

    ``mode`` is ``"symmetric"`` (a flipped label goes to a uniformly chosen *other* class),
    ``"pair"`` (class i -> i+1 mod K) or a K x K row-stochastic matrix (rows = true class; then
    ``rate`` is ignored). Each label flips independently with probability ``rate`` (Bernoulli per
    label, not an exact count): the realized rate ``flip_mask.mean()`` differs from the nominal one
    by sampling noise, and the returned ``transition`` is the realized matrix (the row-normalised
    confusion counts) — report that one. ``seed=None`` draws fresh entropy.
    """

    arr = np.asarray(y)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise UserError(f"y must be a 1-D integer array, got {arr.dtype} {arr.shape}")
    if isinstance(mode, str):
        res = _flip(arr, int(num_classes), _seed(seed), mode=mode, rate=rate)
    else:
        res = _flip(arr, int(num_classes), _seed(seed), mode="matrix", matrix=np.asarray(mode, dtype=np.float64))
    conf = res.confusion.astype(np.float64)
    rows = conf.sum(axis=1, keepdims=True)
    realized = np.divide(conf, rows, out=np.eye(conf.shape[0]), where=rows > 0)
    return FlippedLabels(res.noisy, res.flip_mask, realized)


class SynthArrays(NamedTuple):
    x_train: np.ndarray  # float32 (n_train, cols), clean
    y_train: np.ndarray
    x_train_dirty: np.ndarray  # the same rows, with the dirty rows' offsets added
    y_train_dirty: np.ndarray
    x_val: np.ndarray  # clean in both variants
    y_val: np.ndarray
    truth: dict  # hidden functions, constants, dirty row indices and their offsets
    x_test: np.ndarray | None = None  # held-out test rows (clean in both variants; docs/FORMAT.md)
    y_test: np.ndarray | None = None


def synth(rows: int = 7000, seed: int | None = 0, *, cols: int = 10, dirty_frac: float = 0.1, sigma: float = 0.5) -> SynthArrays:
    """The hidden-function regression set in memory: the same numbers as the files of
    ``noisebench synth --rows ROWS --seed SEED`` (clean and dirty train, the shared clean val and test).
    ``seed=None`` draws a fresh 32-bit seed (the range of ``--seed``), recorded in ``truth["seed"]``."""

    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or not 2 <= int(rows) <= MAX_API_SYNTH_ROWS:
        raise UserError(f"rows must be an integer in [2, {MAX_API_SYNTH_ROWS:,}] (larger: noisebench synth streams to a file)")
    p = SynthParams(rows=int(rows), cols=int(cols), dirty_frac=float(dirty_frac), sigma=float(sigma), seed=_seed(seed, bits=32))
    p.validate()
    gen = HiddenFunctionDataset(p)
    parts = [compute_block(gen, s, min(s + BLOCK, p.rows)) for s in range(0, p.rows, BLOCK)]
    x, y, xd, yd = (np.concatenate([b[i] for b in parts]) for i in range(4))
    dirty_rows = np.concatenate([b[4] for b in parts])
    offsets = np.concatenate([b[5] for b in parts])
    n = p.n_train
    truth = dict(gen.truth_attrs(), seed=p.seed, dirty_rows=dirty_rows, offsets=offsets)
    tx, ty = gen.test_block(0, p.n_test)
    return SynthArrays(x[:n], y[:n], xd[:n], yd[:n], x[n:], y[n:], truth, tx.astype(np.float32), ty.astype(np.float32))
