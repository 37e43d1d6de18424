"""Compiled (numba) row kernel of the hidden-function dataset: one pass per row, no temporaries.

The same definition as `HiddenFunctionDataset.block_numpy` (the readable reference, used by the
tests to check this kernel): the keyed Feistel permutation of `permutation.py`, evaluated
per scalar, then standardisation and the hidden functions. About 10x faster than the numpy
version, which spends its time allocating temporaries (bench/synth_build.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from noisebench.user_cache import configure_numba

CACHE = configure_numba()  # a per-user folder, never the package's; False: no writable folder, compile in memory

_M32 = np.uint64(0xFFFFFFFF)


@njit(cache=CACHE, inline="always")
def _rounds(v, bits, keys, wide):
    lo_bits = bits // 2
    m1 = np.uint64(0xBF58476D1CE4E5B9) if wide else np.uint64(0x85EBCA6B)
    m2 = np.uint64(0x94D049BB133111EB) if wide else np.uint64(0xC2B2AE35)
    s1 = np.uint64(30) if wide else np.uint64(16)
    s2 = np.uint64(27) if wide else np.uint64(13)
    s3 = np.uint64(31) if wide else np.uint64(16)
    full = np.uint64(0xFFFFFFFFFFFFFFFF) if wide else np.uint64(0xFFFFFFFF)
    for r in range(4):
        if r % 2 == 0:
            a = np.uint64(bits - lo_bits)
            b = np.uint64(lo_bits)
        else:
            a = np.uint64(lo_bits)
            b = np.uint64(bits - lo_bits)
        one = np.uint64(1)
        hi = v >> b
        lo = v & ((one << b) - one)
        z = lo ^ keys[r]
        z ^= z >> s1
        z = (z * m1) & full
        z ^= z >> s2
        z = (z * m2) & full
        z ^= z >> s3
        hi ^= z & ((one << a) - one)
        v = (lo << a) | hi
    return v


@njit(cache=CACHE, nogil=True)
def permute(idx, n, bits, keys, wide):
    """Vector form of IndexPermutation.__call__ (used to test the kernel against numpy)."""
    out = np.empty(idx.shape[0], np.int64)
    nn = np.uint64(n)
    for r in range(idx.shape[0]):
        v = _rounds(np.uint64(idx[r]), bits, keys, wide)
        while v >= nn:
            v = _rounds(v, bits, keys, wide)
        out[r] = np.int64(v)
    return out


@njit(cache=CACHE, inline="always")
def _f(fid, c, x):
    if fid == 0:
        return c[0] * np.sin(x)
    if fid == 1:
        return c[1] * np.cos(x)
    if fid == 2:
        return c[2] * x + c[3]
    if fid == 3:
        return (c[4] * x + c[5]) * x + c[6]
    return ((c[7] * x + c[8]) * x + c[9]) * x + c[10]


@njit(cache=CACHE, nogil=True)
def block(start, stop, n, bits, keys, wide, lo, step, x_mean, x_std, fids, consts, f_mean, f_std, xs, y):
    """Fill xs[(stop-start), cols] and y[(stop-start)] (float64) for rows [start, stop)."""
    cols = fids.shape[0]
    nn = np.uint64(n)
    for r in range(stop - start):
        i = np.uint64(start + r)
        acc = 0.0
        for j in range(cols):
            v = _rounds(i, bits, keys[j], wide)
            while v >= nn:
                v = _rounds(v, bits, keys[j], wide)
            raw = lo + np.float64(v) * step
            xs[r, j] = (raw - x_mean) / x_std
            fid = fids[j]
            acc += (_f(fid, consts, raw) - f_mean[fid]) / f_std[fid]
        y[r] = acc / cols


# -- narrow domains (n <= 2**32): uint32 Feistel rounds over whole columns --------------------------
# The same arithmetic as `_rounds(..., wide=False)` (the narrow rounds mask every step to 32 bits),
# written as branch-free loops over a contiguous column of indices so LLVM vectorises them (eight
# 32-bit lanes per AVX2 instruction instead of one row at a time). Cycle walking is done on a
# compacted list of the indices still outside [0, n), again vectorised. The floating-point
# operations per row are the same ones in the same order as `block`, so the bytes are identical.

_MASK32 = np.uint64(0xFFFFFFFF)


@njit(cache=CACHE, inline="always")
def _round32(v, a, b, mb, ma, k):
    hi = v >> b
    lo = v & mb
    z = lo ^ k
    z ^= z >> np.uint64(16)
    z = (z * np.uint64(0x85EBCA6B)) & _MASK32
    z ^= z >> np.uint64(13)
    z = (z * np.uint64(0xC2B2AE35)) & _MASK32
    z ^= z >> np.uint64(16)
    hi ^= z & ma
    return ((lo << a) | hi) & _MASK32


@njit(cache=CACHE, nogil=True)
def _rounds32_inplace(w, m, bits, k):
    """Apply the four narrow rounds to w[:m] (uint32) in place; one vectorisable loop."""
    one = np.uint64(1)
    lo_bits = np.uint64(bits // 2)
    hi_bits = np.uint64(bits) - lo_bits
    m_lo = (one << lo_bits) - one
    m_hi = (one << hi_bits) - one
    k0, k1, k2, k3 = k[0], k[1], k[2], k[3]
    for i in range(m):
        v = np.uint64(w[i])
        v = _round32(v, hi_bits, lo_bits, m_lo, m_hi, k0)  # even rounds: a = bits - bits//2, b = bits//2
        v = _round32(v, lo_bits, hi_bits, m_hi, m_lo, k1)
        v = _round32(v, hi_bits, lo_bits, m_lo, m_hi, k2)
        v = _round32(v, lo_bits, hi_bits, m_hi, m_lo, k3)
        w[i] = np.uint32(v)


@njit(cache=CACHE, nogil=True)
def permute_narrow(start, count, n, bits, k, v, bad, w):
    """v[:count] = permutation of start + arange(count) (n <= 2**32); bad, w: uint32 scratch of count."""
    for i in range(count):
        v[i] = np.uint32(start + i)
    _rounds32_inplace(v, count, bits, k)
    nn = np.uint32(n) if n < (1 << 32) else np.uint32(0xFFFFFFFF)
    full = n >= (1 << 32)
    m = 0
    if not full:
        for i in range(count):  # branch-free compaction (about 40% of indices need another pass)
            x = v[i]
            bad[m] = i
            w[m] = x
            m += x >= nn
    while m > 0:  # cycle walking on the indices still outside [0, n)
        _rounds32_inplace(w, m, bits, k)
        m2 = 0
        for i in range(m):
            x = w[i]
            r = bad[i]
            v[r] = x  # rewritten again later while x is still outside [0, n)
            w[m2] = x
            bad[m2] = r
            m2 += x >= nn
        m = m2


@njit(cache=CACHE, nogil=True)
def block_narrow(start, stop, n, bits, keys, lo, step, x_mean, x_std, fids, consts, f_mean, f_std, xs, y):
    """`block` for n <= 2**32 (same arguments and bytes), column by column."""
    cols = fids.shape[0]
    count = stop - start
    v = np.empty(count, np.uint32)
    bad = np.empty(count, np.uint32)
    w = np.empty(count, np.uint32)
    raw = np.empty(count, np.float64)
    acc = np.zeros(count, np.float64)
    k32 = np.empty(4, np.uint64)
    for j in range(cols):
        for r in range(4):
            k32[r] = keys[j, r] & _MASK32
        permute_narrow(start, count, n, bits, k32, v, bad, w)
        for r in range(count):
            raw[r] = lo + np.float64(v[r]) * step
        for r in range(count):
            xs[r, j] = (raw[r] - x_mean) / x_std
        fid = fids[j]
        fm = f_mean[fid]
        fs = f_std[fid]
        if fid == 0:
            c0 = consts[0]
            for r in range(count):
                acc[r] += (c0 * np.sin(raw[r]) - fm) / fs
        elif fid == 1:
            c1 = consts[1]
            for r in range(count):
                acc[r] += (c1 * np.cos(raw[r]) - fm) / fs
        elif fid == 2:
            c2, c3 = consts[2], consts[3]
            for r in range(count):
                acc[r] += ((c2 * raw[r] + c3) - fm) / fs
        elif fid == 3:
            c4, c5, c6 = consts[4], consts[5], consts[6]
            for r in range(count):
                x = raw[r]
                acc[r] += (((c4 * x + c5) * x + c6) - fm) / fs
        else:
            c7, c8, c9, c10 = consts[7], consts[8], consts[9], consts[10]
            for r in range(count):
                x = raw[r]
                acc[r] += ((((c7 * x + c8) * x + c9) * x + c10) - fm) / fs
    for r in range(count):
        y[r] = acc[r] / cols

