"""Photon-limited Poisson noise of peak ψ ("psi"), with an exact table-driven Poisson sampler.

Our definition (docs/IMAGES.md; the source study never published its code):

    y = clip(round(Poisson(ψ·x/255) · 255/ψ), 0, 255)      for a pixel x in [0, 255]

`round` is round-half-to-even (numpy's `rint`). Lower ψ means fewer photons and more noise.

Why tables: numpy's Poisson sampler costs ~100 ns per draw and is the bottleneck of a build.
Pixels take only 256 values and ψ is fixed per build, so for every intensity v we build once the
inverse CDF of Poisson(λ_v = ψ·v/255) quantised to 32-bit uniforms:

    T_v[k] = floor(2^32 · P(X ≤ k)),   sample k = min{k : u < T_v[k]}  for u uniform in [0, 2^32).

Each category therefore gets probability T_v[k] − T_v[k−1] over 2^32, i.e. the exact pmf up to
the resolution of the uniforms (|error| < 2^-32 per category). The table for v stops at K_v, the
first k with P(X > k) < 2^-32; the u ≥ T_v[K_v] that remain (probability < 2^-32) are *not*
rounded away: they are drawn exactly from the conditional tail X | X > K_v by inverse CDF in
float64 (scipy's pmf/sf), so the tail is exact too. For the photon corruption every count at or
above the saturation point (the first k with round(k·255/ψ) ≥ 255) gives 255, so those counts
are merged into one category whose threshold is 2^32 and no tail draw is needed.

Lookup is vectorised: the top GUIDE_BITS bits of u and the intensity index a uint16 table holding
the output directly when no threshold falls inside that bucket of uniforms (most pixels); for the
few others a guide table gives the first candidate category and a short vectorised linear search
finishes the inverse. One 32-bit uniform per pixel comes from SFC64.random_raw (two per 64-bit
word). Random streams are per fixed block of BLOCK_IMAGES images,
SeedSequence(seed, spawn_key=(stream, block)), so the output bytes depend only on (seed, stream,
block index, pixels) and never on the number of threads or the chunk size used to build a file.
The key leaves the level out, so all levels of one seed share their uniforms (common random numbers);
`PhotonNoise(psi, independent_stream=True)` adds the level to the key (`make psi --independent-levels`).
"""

from __future__ import annotations

import math
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np

from noisebench.errors import UserError
from noisebench.safety.bounds import PSI_MAX, PSI_MIN

U32 = 1 << 32
GUIDE_BITS = 11
AMBIGUOUS = 0x8000  # fast-table marker: a threshold falls inside this bucket of uniforms
BLOCK_IMAGES = 256  # images per random-stream block (= the HDF5 chunk of image files)
PAPER_LEVELS = (8.0, 16.0, 32.0, 64.0)
MAX_TABLE_WIDTH = 1 << 22  # refuse absurd ψ whose tables would not fit in memory


def validate_level(level) -> float:
    """ψ must be a finite number in [PSI_MIN, PSI_MAX] = [1e-3, 1e6] (noisebench.safety.bounds): below 1e-3 nearly
    every pixel becomes 0, above 1e6 the result equals the clean image."""

    try:
        psi = float(level)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"--level must be a positive number, got {level!r}") from None
    if not math.isfinite(psi) or psi <= 0:
        raise UserError(f"--level must be a finite number > 0, got {level}")
    if psi > PSI_MAX:
        raise UserError(f"--level {level} is too large (at most {PSI_MAX:g}; ψ → ∞ is the clean image)")
    if psi < PSI_MIN:
        raise UserError(f"--level {level} is too small (at least {PSI_MIN:g}; smaller ψ turns every pixel black)")
    return psi


def format_level(psi: float) -> str:
    """16 → '16', 12.5 → '12.5' (used in file names). Exact: distinct levels never share a name
    (16.00000000001 → '16.00000000001'; the shortest repr that reads back as the same float)."""
    psi = float(psi)
    if psi.is_integer():
        return str(int(psi))
    short = f"{psi:.10g}"
    return short if float(short) == psi else repr(psi)


def photon_reference(x: np.ndarray, psi: float, rng: np.random.Generator) -> np.ndarray:
    """The definition written directly with numpy's sampler (slow; for tests and the benchmark)."""
    k = rng.poisson(psi * x.astype(np.float64) / 255.0)
    return np.clip(np.rint(k * (255.0 / psi)), 0, 255).astype(np.uint8)


def _thresholds(lam: float, k_hi: int | None) -> tuple[int, np.ndarray, bool]:
    """Window start `lo` and quantised CDF thresholds T[lo..K] (int64, values in [1, 2^32]).

    If k_hi is given, counts >= k_hi are merged into the last category (threshold 2^32, no tail).
    Returns (lo, T, has_tail); has_tail means u >= T[-1] must be drawn from X | X > K.
    """
    from scipy.special import pdtr, pdtrc  # Poisson cdf and sf (regularised incomplete gamma)

    if lam == 0.0:
        return 0, np.array([U32], np.int64), False
    sd = math.sqrt(lam)
    a = max(0, int(math.floor(lam - 8 * sd - 10)))
    b = int(math.ceil(lam + 9 * sd + 30))
    while pdtrc(b, lam) >= 2.0**-34:
        b = 2 * b + 10
    if k_hi is not None:
        a = min(a, k_hi)
        b = min(b, k_hi)
    if b - a + 1 > MAX_TABLE_WIDTH:
        raise UserError(f"ψ={lam} needs a table of {b - a + 1} entries; use a smaller --level")
    ks = np.arange(a, b + 1)
    low = ks < lam  # below the mean the cdf is the accurate side, above it the sf
    cdf = np.empty(len(ks))
    sf = np.empty(len(ks))
    cdf[low] = pdtr(ks[low], lam)
    sf[low] = 1.0 - cdf[low]
    sf[~low] = pdtrc(ks[~low], lam)
    cdf[~low] = 1.0 - sf[~low]
    t = np.where(low, np.floor(cdf * U32), U32 - np.ceil(sf * U32)).astype(np.int64)
    t = np.maximum.accumulate(np.clip(t, 0, U32))
    nz = np.flatnonzero(t > 0)
    lo_i = int(nz[0]) if nz.size else 0
    full = np.flatnonzero(t >= U32)
    if k_hi is not None and b == k_hi:
        t[-1] = U32  # saturation category: every count >= k_hi
        full = np.flatnonzero(t >= U32)
    if full.size:
        hi_i = int(full[0])
        has_tail = False
    else:
        # first k with P(X > k) < 2^-32 (exists: b was chosen with sf(b) < 2^-34)
        hi_i = int(np.flatnonzero(sf < 2.0**-32)[0])
        has_tail = True
        t[hi_i] = min(int(t[hi_i]), U32 - 1)
    return a + lo_i, t[lo_i : hi_i + 1].copy(), has_tail


class PoissonTable:
    """Exact sampler of Poisson(λ_v) for a finite set of rates λ_v, indexed by category v.

    `values_out(k)` maps counts to output values (identity for plain counts); `saturate_at`
    merges all counts >= saturate_at[v] into one category (the photon model's 255).
    """

    def __init__(self, lams, saturate_at=None, out_map: Callable[[np.ndarray], np.ndarray] | None = None,
                 out_dtype=np.int64):
        lams = np.asarray(lams, dtype=np.float64)
        self.lams = lams
        self.out_dtype = np.dtype(out_dtype)
        self.out_map = out_map or (lambda k: k)
        thr, outs, tails, tail_lo = [], [], [], []
        guide = np.empty((len(lams), 1 << GUIDE_BITS), np.int64)
        offset = 0
        bucket_lo = (np.arange(1 << GUIDE_BITS, dtype=np.int64) << (32 - GUIDE_BITS))
        for v, lam in enumerate(lams):
            k_hi = None if saturate_at is None else int(saturate_at[v])
            lo, t, has_tail = _thresholds(float(lam), k_hi)
            ks = np.arange(lo, lo + len(t))
            out = np.asarray(self.out_map(ks)).astype(self.out_dtype)
            is_tail = np.zeros(len(t) + 1, bool)
            # sentinel after the window: threshold 2^32 stops every search; it is the tail category
            t = np.append(t, U32)
            out = np.append(out, out[-1])
            if has_tail:
                is_tail[-1] = True
            # first category whose threshold exceeds the bucket's smallest u
            guide[v] = offset + np.searchsorted(t, bucket_lo, side="right")
            thr.append(t)
            outs.append(out)
            tails.append(is_tail)
            tail_lo.append(np.full(len(t), lo + len(t) - 2, np.int64))  # K_v for the tail category
            offset += len(t)
        # thresholds stored as T-1 in uint32: advance while u > T-1, i.e. u >= T (T >= 1 always)
        t_all = np.concatenate(thr)
        self.thr_m1 = (np.maximum(t_all, 1) - 1).astype(np.uint32)
        self.out = np.concatenate(outs)
        self.is_tail = np.concatenate(tails)
        self.tail_k = np.concatenate(tail_lo)
        self.owner = np.concatenate([np.full(len(t), v, np.int64) for v, t in enumerate(thr)])
        self.guide = guide.astype(np.int32 if offset < 2**31 else np.int64).ravel()
        self.any_tail = bool(self.is_tail.any())
        # fast table: the answer when the bucket's uniforms all land in the guide's first candidate
        gi = self.guide.astype(np.int64)
        nb = 1 << GUIDE_BITS
        bucket_hi = ((np.arange(len(gi)) % nb) + 1) << (32 - GUIDE_BITS)  # one past the bucket's last u
        pure = (self.thr_m1[gi].astype(np.int64) + 1 >= bucket_hi) & ~self.is_tail[gi]
        outv = self.out[gi].astype(np.int64)
        pure &= (outv >= 0) & (outv < AMBIGUOUS)
        self.fast = np.where(pure, outv, AMBIGUOUS).astype(np.uint16)

    def sample_from_uniforms(self, cat: np.ndarray, u: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Outputs for categories `cat` (ints < len(lams)) and uint32 uniforms `u` (same shape).

        Fast path: one lookup of (category, top GUIDE_BITS bits of u) in a uint16 table that holds the
        answer whenever the whole bucket of uniforms falls in one category; the few ambiguous buckets
        (a threshold inside them) and the tail take the guide-table search. `rng` supplies the float64
        uniforms of the rare tail draws (needed only if the table has tails).
        """
        cat = np.asarray(cat)
        shape = cat.shape
        u = np.asarray(u, np.uint32).reshape(-1)
        g = np.left_shift(cat.reshape(-1), GUIDE_BITS, dtype=np.uint32, casting="unsafe")
        g |= u >> (32 - GUIDE_BITS)
        res = self.fast.take(g)
        amb = np.flatnonzero(res >= AMBIGUOUS)
        if amb.size:
            res = res.astype(self.out_dtype) if self.out_dtype.itemsize > 2 else res
            res[amb] = self._search(g[amb], u[amb], rng)
        return res.astype(self.out_dtype, copy=False).reshape(shape)

    def _search(self, g: np.ndarray, u: np.ndarray, rng) -> np.ndarray:
        idx = self.guide.take(g)
        need = np.flatnonzero(u > self.thr_m1.take(idx))
        while need.size:
            idx[need] += 1
            sub = u[need] > self.thr_m1.take(idx[need])
            need = need[sub]
        res = self.out.take(idx)
        if self.any_tail:
            tail = np.flatnonzero(self.is_tail.take(idx))
            if tail.size:
                if rng is None:
                    raise ValueError("a tail draw needs rng")
                ks = self._tail_counts(idx[tail], rng)
                res[tail] = np.asarray(self.out_map(ks)).astype(self.out_dtype)
        return res

    def _tail_counts(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Exact draws of X | X > K_v by inverse CDF in float64 (rare: probability < 2^-32 each)."""
        from scipy import stats  # here, not at import: listing corruptions must not load scipy

        w = rng.random(len(idx))
        out = np.empty(len(idx), np.int64)
        owners = self.owner[idx]
        for v in np.unique(owners):
            sel = np.flatnonzero(owners == v)
            lam = float(self.lams[v])
            k0 = int(self.tail_k[idx[sel[0]]])
            width = int(50 + 20 * math.sqrt(lam))
            while True:
                ks = np.arange(k0 + 1, k0 + 1 + width)
                cum = np.cumsum(np.exp(stats.poisson.logpmf(ks, lam) - stats.poisson.logsf(k0, lam)))
                if cum[-1] >= 1.0 - 1e-12 or width > 1 << 20:
                    break
                width *= 2
            out[sel] = ks[np.minimum(np.searchsorted(cum / cum[-1], w[sel], side="right"), len(ks) - 1)]
        return out


class PhotonNoise:
    """ψ-corruption of uint8 images: `apply_block(x, seed, stream, block)` and `apply(x, seed)`.

    By default the random numbers depend on (seed, stream, block) only, so every level built with one seed
    uses the same uniforms (common random numbers: level comparisons are less noisy). With
    `independent_stream=True` the level's float64 bits join the stream key: each level its own stream."""

    def __init__(self, psi: float, independent_stream: bool = False):
        self.psi = validate_level(psi)
        self.level_key = level_stream_key(self.psi) if independent_stream else None
        lams = self.psi * np.arange(256) / 255.0
        # saturation count: smallest k with rint(k*255/psi) >= 255
        k_sat = int(math.ceil(254.5 * self.psi / 255.0))
        while np.rint(k_sat * 255.0 / self.psi) < 255:
            k_sat += 1
        while k_sat > 0 and np.rint((k_sat - 1) * 255.0 / self.psi) >= 255:
            k_sat -= 1
        self.k_sat = k_sat
        psi_ = self.psi
        self.table = PoissonTable(
            lams,
            saturate_at=np.full(256, k_sat),
            out_map=lambda k: np.clip(np.rint(np.asarray(k) * (255.0 / psi_)), 0, 255),
            out_dtype=np.uint8,
        )

    def apply_block(self, x: np.ndarray, seed: int, stream: int, block: int) -> np.ndarray:
        """Corrupt one block of images with the random stream of (seed, stream, block)."""
        x = np.ascontiguousarray(x, dtype=np.uint8)
        key = (stream, block) if self.level_key is None else (stream, block, self.level_key)
        rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed, spawn_key=key)))
        n = x.size
        raw = rng.bit_generator.random_raw((n + 1) // 2)  # SFC64: two 32-bit uniforms per 64-bit word
        u = raw.view(np.uint32)[:n]
        return self.table.sample_from_uniforms(x, u, rng)

    def iter_blocks(self, x: np.ndarray, seed: int, stream: int, workers: int | None = None,
                    blocks_per_job: int = 4) -> Iterator[np.ndarray]:
        """Yield the corrupted images of `x` in order, in chunks of `blocks_per_job` blocks computed
        by a thread pool (numpy releases the GIL). Neither argument changes the output bytes."""
        n = x.shape[0]
        nblocks = (n + BLOCK_IMAGES - 1) // BLOCK_IMAGES
        workers = default_workers() if workers is None else max(1, int(workers))
        per = max(1, int(blocks_per_job))

        def job(first):
            last = min(nblocks, first + per)
            parts = [self.apply_block(x[b * BLOCK_IMAGES : (b + 1) * BLOCK_IMAGES], seed, stream, b)
                     for b in range(first, last)]
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

        starts = range(0, nblocks, per)
        if workers == 1:
            for b in starts:
                yield job(b)
            return
        with ThreadPoolExecutor(workers) as ex:
            pending: list = []
            it = iter(starts)
            for b in it:
                pending.append(ex.submit(job, b))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                res = pending.pop(0).result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(ex.submit(job, nxt))
                yield res

    def apply(self, x: np.ndarray, seed: int = 0, stream: int = 0, workers: int | None = None,
              blocks_per_job: int = 4) -> np.ndarray:
        """Corrupt uint8 images; float images in [0, 1] are quantised to uint8 as `nb.corrupt` does and
        the result comes back as `uint8 / 255` in their dtype. Other dtypes are refused."""
        x = np.asarray(x)
        if x.dtype.kind == "f":
            if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
                raise UserError("float images must be finite and in [0, 1] (uint8 images: 0..255)")
            u8 = np.rint(x.astype(np.float64) * 255.0).astype(np.uint8)
            return (self.apply(u8, seed, stream, workers, blocks_per_job) / 255.0).astype(x.dtype)
        if x.dtype != np.uint8:
            raise UserError(f"images must be uint8 or float in [0, 1], got dtype {x.dtype}")
        out = np.empty_like(x, dtype=np.uint8)
        pos = 0
        for blk in self.iter_blocks(x, seed, stream, workers, blocks_per_job):
            out[pos : pos + blk.shape[0]] = blk
            pos += blk.shape[0]
        return out


def level_stream_key(psi: float) -> int:
    """The level's IEEE-754 float64 bits as an integer (a stream key that no other level shares)."""

    return int.from_bytes(struct.pack("<d", float(psi)), "little")


def default_workers() -> int:
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover
        return max(1, min(8, os.cpu_count() or 1))
