"""The "infinite" hidden-function multivariate regression dataset, streamed into HDF5 (docs/FORMAT.md).

Definition (deterministic in (seed, rows, cols, dirty_frac, sigma)):

* domain: `rows` evenly spaced values over [-875, 875) (rows=7000 gives arange(-875, 875, 0.25));
* column j is an independent pseudo-random permutation of the domain (a keyed Feistel
  permutation, so any row can be computed without materialising the column);
* 11 constants C ~ U[-1, 1); hidden functions f0=C0 sin x, f1=C1 cos x, f2=C2 x+C3,
  f3=C4 x^2+C5 x+C6, f4=C7 x^3+C8 x^2+C9 x+C10; columns 0-4 use f0-f4, columns >= 5 a seeded
  random choice among them (same constants);
* X = column values standardised by the domain's mean and (population) std; y = row mean of
  the f_j(x_j) standardised by f_j's mean and std over the domain;
* split: the first floor(5/7 rows) rows train, the rest val (rows are already in random order);
  the same split for the clean and the dirty file (fixing the source notebook's leak);
* test: n_val further rows (2,000 for rows=7000) held out from both: the same hidden functions
  and constants at the midpoints of the domain grid, DOMAIN_LO + (k + 1/2) * step, column j an
  independent keyed permutation of those midpoints, so no test value equals a train or val value;
  standardised with the train/val domain's statistics;
* dirty: exactly floor(dirty_frac * n_train) training rows, chosen by another keyed permutation,
  get independent N(0, sigma^2) offsets on every (standardised) feature and on the target.
  Val is clean in both files.

Everything is computed in fixed blocks of BLOCK rows with per-block random streams, so the bytes
do not depend on the writer's chunk size or on how many workers compute them.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from noisebench.errors import UserError
from noisebench.generators.synth import kernel as synth_kernel
from noisebench.generators.synth.permutation import IndexPermutation
from noisebench.safety.bounds import check_seed, check_sigma

BLOCK = 1 << 16  # rows per deterministic block
DOMAIN_LO, DOMAIN_HI = -875.0, 875.0
N_FUNCS = 5
N_CONSTS = 11
MAX_ROWS = 1 << 48  # far beyond any disk; keeps the index permutation and float64 domain exact
TRAIN_FRACTION = (5, 7)  # 5000 train / 2000 val for 7000 rows

# Stream ids for SeedSequence spawn keys: one independent random stream per purpose.
_S_CONSTS, _S_COLPERM, _S_DIRTYPERM, _S_NOISE, _S_TESTPERM = 1, 2, 3, 4, 5

FUNCTION_FORMULAS = (
    "C0*sin(x)",
    "C1*cos(x)",
    "C2*x + C3",
    "C4*x^2 + C5*x + C6",
    "C7*x^3 + C8*x^2 + C9*x + C10",
)


@dataclass(frozen=True)
class SynthParams:
    rows: int = 7000
    cols: int = 10
    dirty_frac: float = 0.1
    sigma: float = 0.5
    seed: int = 0

    def validate(self) -> None:
        if not isinstance(self.rows, int) or self.rows < 2:
            raise UserError(f"--rows must be an integer >= 2 (one train and one val row), got {self.rows}")
        if self.rows > MAX_ROWS:
            raise UserError(f"--rows must be at most {MAX_ROWS} (2^48), got {self.rows}")
        if not isinstance(self.cols, int) or self.cols < 1:
            raise UserError(f"--cols must be an integer >= 1, got {self.cols}")
        if self.cols > 10_000:
            raise UserError(f"--cols must be at most 10000, got {self.cols}")
        if not (isinstance(self.dirty_frac, (int, float)) and 0.0 <= self.dirty_frac <= 1.0):
            raise UserError(f"--dirty-frac must be within [0, 1], got {self.dirty_frac}")
        if not (isinstance(self.sigma, (int, float)) and math.isfinite(self.sigma) and self.sigma >= 0):
            raise UserError(f"--sigma must be a finite number >= 0, got {self.sigma}")

        check_sigma(self.sigma)  # at most 1e6: offsets on standardised data stay finite in float32
        check_seed(self.seed)

    @property
    def n_train(self) -> int:
        return max(1, self.rows * TRAIN_FRACTION[0] // TRAIN_FRACTION[1])

    @property
    def n_val(self) -> int:
        return self.rows - self.n_train

    @property
    def n_test(self) -> int:
        """Held-out test rows (clean, in both files): as many as val."""
        return self.n_val

    @property
    def n_dirty(self) -> int:
        return int(math.floor(self.dirty_frac * self.n_train + 1e-9))


def _ss(seed: int, stream: int, *more: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(stream, *more))


def apply_function(fid: int, c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Evaluate hidden function `fid` with constants `c` (length 11) at x (float64)."""
    if fid == 0:
        return c[0] * np.sin(x)
    if fid == 1:
        return c[1] * np.cos(x)
    if fid == 2:
        return c[2] * x + c[3]
    if fid == 3:
        return (c[4] * x + c[5]) * x + c[6]
    if fid == 4:
        return ((c[7] * x + c[8]) * x + c[9]) * x + c[10]
    raise ValueError(f"unknown function id {fid}")


class HiddenFunctionDataset:
    """All the ground truth of one (seed, rows, cols) dataset, and block-wise row generation."""

    def __init__(self, p: SynthParams):
        p.validate()
        self.p = p
        rng = np.random.Generator(np.random.PCG64(_ss(p.seed, _S_CONSTS)))
        self.constants = rng.uniform(-1.0, 1.0, N_CONSTS)
        extra = rng.integers(0, N_FUNCS, size=max(0, p.cols - N_FUNCS))
        self.function_ids = np.concatenate([np.arange(min(p.cols, N_FUNCS)), extra]).astype(np.int64)
        n = p.rows
        self.step = (DOMAIN_HI - DOMAIN_LO) / n
        self.x_mean = DOMAIN_LO + (n - 1) / 2 * self.step
        self.x_std = self.step * math.sqrt((n * n - 1) / 12.0)
        self.col_perms = [IndexPermutation.from_seed_sequence(n, _ss(p.seed, _S_COLPERM, j)) for j in range(p.cols)]
        self.dirty_perm = IndexPermutation.from_seed_sequence(p.n_train, _ss(p.seed, _S_DIRTYPERM))
        # the column permutations' round keys as one array, for the compiled kernel (built once, not per block)
        self._kernel_keys = np.array([[int(k) for k in perm.keys] for perm in self.col_perms], dtype=np.uint64)
        # importing numba and loading the cached kernel (~1 s) overlaps the numpy statistics below

        warm = threading.Thread(target=warm_kernel, args=(self,), daemon=True)
        warm.start()
        self.f_mean, self.f_std = self._function_stats()
        warm.join()

    def domain(self, k: np.ndarray) -> np.ndarray:
        return DOMAIN_LO + k.astype(np.float64) * self.step

    def _function_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and population std of each hidden function over the whole domain (fixed blocks)."""
        used = sorted(set(int(f) for f in self.function_ids))
        s1 = np.zeros(N_FUNCS)
        s2 = np.zeros(N_FUNCS)
        n = self.p.rows
        # two passes (mean, then centred squares) for accuracy with the cubic's large values;
        # per-block sums are computed on threads (numpy releases the GIL) and added in block order,
        # so the result does not depend on the thread count
        starts = range(0, n, BLOCK)

        def sums(start: int, mean: np.ndarray | None) -> np.ndarray:
            x = self.domain(np.arange(start, min(n, start + BLOCK)))
            out = np.zeros(N_FUNCS)
            for f in used:
                v = apply_function(f, self.constants, x)
                out[f] = v.sum() if mean is None else np.square(v - mean[f]).sum()
            return out

        def each(mean):
            if len(starts) < 4:
                return [sums(s, mean) for s in starts]

            with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
                return list(pool.map(lambda s: sums(s, mean), starts))

        for part in each(None):
            s1 += part
        mean = s1 / n
        for part in each(mean):
            s2 += part
        std = np.sqrt(s2 / n)
        std[std == 0] = 1.0  # constant function (only when rows are tiny): avoid 0/0
        return mean, std

    def block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Clean rows [start, stop): standardised X (float64, rows x cols) and y (float64)."""

        xs = np.empty((stop - start, self.p.cols))
        y = np.empty(stop - start)
        perm0 = self.col_perms[0]
        common = (DOMAIN_LO, self.step, self.x_mean, self.x_std, self.function_ids, self.constants,
                  self.f_mean, self.f_std, xs, y)
        if perm0.dtype == np.uint64:  # more than 2**32 rows: the generic per-row kernel
            synth_kernel.block(start, stop, self.p.rows, perm0.bits, self._kernel_keys, True, *common)
        else:  # uint32 rounds vectorised over whole columns (same bytes, ~4x faster)
            synth_kernel.block_narrow(start, stop, self.p.rows, perm0.bits, self._kernel_keys, *common)
        return xs, y

    def block_numpy(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The readable numpy reference of `block` (same definition; the tests compare them)."""
        idx = np.arange(start, stop, dtype=np.uint64)
        xs = np.empty((stop - start, self.p.cols))
        y = np.zeros(stop - start)
        for j, perm in enumerate(self.col_perms):
            raw = self.domain(perm(idx))
            xs[:, j] = (raw - self.x_mean) / self.x_std
            f = int(self.function_ids[j])
            y += (apply_function(f, self.constants, raw) - self.f_mean[f]) / self.f_std[f]
        y /= self.p.cols
        return xs, y

    def test_block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Held-out test rows [start, stop) (float64): the hidden functions at the domain grid's midpoints."""
        if not hasattr(self, "_test_perms"):
            self._test_perms = [IndexPermutation.from_seed_sequence(self.p.rows, _ss(self.p.seed, _S_TESTPERM, j))
                                for j in range(self.p.cols)]
        idx = np.arange(start, stop, dtype=np.uint64)
        xs = np.empty((stop - start, self.p.cols))
        y = np.zeros(stop - start)
        for j, perm in enumerate(self._test_perms):
            raw = DOMAIN_LO + (perm(idx).astype(np.float64) + 0.5) * self.step
            xs[:, j] = (raw - self.x_mean) / self.x_std
            f = int(self.function_ids[j])
            y += (apply_function(f, self.constants, raw) - self.f_mean[f]) / self.f_std[f]
        y /= self.p.cols
        return xs, y

    def dirty_in_block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Dirty training rows in [start, stop) (absolute indices, sorted) and their offsets.

        `start` must be a multiple of BLOCK so the noise stream is fixed per block.
        """
        stop = min(stop, self.p.n_train)
        if start >= stop or self.p.n_dirty == 0:
            return np.empty(0, np.int64), np.empty((0, self.p.cols + 1))
        rows = np.flatnonzero(self._dirty_perm_slice(start, stop) < self.p.n_dirty) + start
        rng = np.random.Generator(np.random.PCG64(_ss(self.p.seed, _S_NOISE, start // BLOCK)))
        offsets = rng.normal(0.0, self.p.sigma, size=(rows.shape[0], self.p.cols + 1))
        return rows.astype(np.int64), offsets

    def _dirty_perm_slice(self, start: int, stop: int) -> np.ndarray:
        """dirty_perm(arange(start, stop)): the compiled narrow kernel when it applies (same values)."""
        perm = self.dirty_perm
        if perm.dtype == np.uint64:
            return perm(np.arange(start, stop, dtype=np.uint64))

        count = stop - start
        v, bad, w = (np.empty(count, np.uint32) for _ in range(3))
        keys = np.array([int(k) for k in perm.keys], dtype=np.uint64)
        synth_kernel.permute_narrow(start, count, perm.n, perm.bits, keys, v, bad, w)
        return v

    def truth_attrs(self) -> dict:
        return {
            "function_ids": self.function_ids.tolist(),
            "function_formulas": list(FUNCTION_FORMULAS),
            "constants": self.constants.tolist(),
            "domain": [DOMAIN_LO, DOMAIN_HI, self.p.rows],
            "x_mean": self.x_mean,
            "x_std": self.x_std,
            "f_mean": self.f_mean.tolist(),
            "f_std": self.f_std.tolist(),
        }


def warm_kernel(gen: "HiddenFunctionDataset") -> None:
    """Load the compiled kernels (numba import + on-disk cache) on one row with placeholder statistics."""
    try:
        from noisebench.generators.synth import kernel as synth_kernel

        perm0 = gen.col_perms[0]
        if perm0.dtype == np.uint64:
            return
        c, one = gen.p.cols, np.ones(N_FUNCS)
        synth_kernel.block_narrow(0, 1, gen.p.rows, perm0.bits, gen._kernel_keys, DOMAIN_LO, gen.step, gen.x_mean,
                                  gen.x_std, gen.function_ids, gen.constants, one, one, np.empty((1, c)), np.empty(1))
    except Exception:  # noqa: BLE001 - only a warm-up: the real call reports any problem
        pass


def compute_block(gen: HiddenFunctionDataset, bstart: int, bstop: int):
    """Clean and dirty float32 rows of one block, plus the dirty rows' indices and offsets."""
    c = gen.p.cols
    xs, y = gen.block(bstart, bstop)
    xs32, y32 = xs.astype(np.float32), y.astype(np.float32)
    rows, off = gen.dirty_in_block(bstart, bstop)
    xd, yd = xs32, y32
    if rows.size:
        local = rows - bstart
        xd, yd = xs32.copy(), y32.copy()
        xd[local] = (xs[local] + off[:, :c]).astype(np.float32)
        yd[local] = (y[local] + off[:, c]).astype(np.float32)
    return xs32, y32, xd, yd, rows, off.astype(np.float32)
