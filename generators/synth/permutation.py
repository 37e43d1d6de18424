"""A keyed pseudo-random permutation of range(n), computed per index (no O(n) table).

An alternating unbalanced Feistel network on the smallest bit width covering n (so the
domain is < 2n), with cycle walking to stay inside [0, n). Each index is mapped
independently, so any slice of the permutation can be computed in any order, by any number
of workers, with identical results: this is what lets `noisebench synth` stream datasets
larger than RAM. Arithmetic is in uint32 when n <= 2**32 (twice as fast as uint64).
"""

from __future__ import annotations

import numpy as np

ROUNDS = 4

# multiply-xorshift finalisers (murmur3 fmix32 / splitmix64 constants)
_MIX = {
    np.uint32: (np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35), (16, 13, 16)),
    np.uint64: (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), (30, 27, 31)),
}


class IndexPermutation:
    """Bijection of [0, n) keyed by ROUNDS round keys; `perm(idx)` maps an array of indices."""

    def __init__(self, n: int, keys: np.ndarray):
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = int(n)
        self.bits = max(2, int(self.n - 1).bit_length())
        self.dtype = np.uint32 if self.bits <= 32 else np.uint64
        keys = np.asarray(keys, dtype=np.uint64)[:ROUNDS]
        if keys.shape[0] != ROUNDS:
            raise ValueError(f"need {ROUNDS} round keys")
        self.keys = [self.dtype(int(k) & ((1 << (8 * np.dtype(self.dtype).itemsize)) - 1)) for k in keys]
        lo_bits = self.bits // 2
        self.splits = [(self.bits - lo_bits, lo_bits) if r % 2 == 0 else (lo_bits, self.bits - lo_bits) for r in range(ROUNDS)]

    @classmethod
    def from_seed_sequence(cls, n: int, ss: np.random.SeedSequence) -> "IndexPermutation":
        return cls(n, ss.generate_state(ROUNDS, dtype=np.uint64))

    def _rounds(self, v: np.ndarray) -> np.ndarray:
        t = self.dtype
        m1, m2, (s1, s2, s3) = _MIX[t]
        for (a, b), k in zip(self.splits, self.keys):
            # v = hi (a bits) | lo (b bits)  ->  lo (b bits) | hi ^ F(lo) (a bits)
            hi, lo = v >> t(b), v & t((1 << b) - 1)
            z = lo ^ k
            z ^= z >> t(s1)
            z *= m1
            z ^= z >> t(s2)
            z *= m2
            z ^= z >> t(s3)
            hi ^= z & t((1 << a) - 1)
            v = (lo << t(a)) | hi
        return v

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"indices must lie in [0, {self.n})")  # cycle walking would not end
        with np.errstate(over="ignore"):
            out = self._rounds(idx.astype(self.dtype))
            bad = out >= self.n
            while bad.any():  # cycle walking: the domain is < 2n, so < 1 extra pass on average
                out[bad] = self._rounds(out[bad])
                bad = out >= self.n
        return out.astype(np.int64)
