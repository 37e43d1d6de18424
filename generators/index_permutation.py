"""A keyed pseudo-random permutation of range(n), computed per index (no O(n) table).

A balanced Feistel network on the smallest even bit width covering n, with cycle walking to
stay inside [0, n). Each index is mapped independently, so any slice of the permutation can
be computed in any order, by any number of workers, with identical results: this is what lets
`noisebench synth` stream datasets larger than RAM.
"""

from __future__ import annotations

import numpy as np

ROUNDS = 4
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(v: np.ndarray, key: np.uint64) -> np.ndarray:
    """splitmix64 finaliser of (v xor key): a cheap, well-mixed round function."""
    z = v ^ key
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


class IndexPermutation:
    """Bijection of [0, n) keyed by 64-bit round keys; `perm(idx)` maps an array of indices."""

    def __init__(self, n: int, keys: np.ndarray):
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = int(n)
        bits = max(2, int(self.n - 1).bit_length())
        bits += bits % 2
        self.half = bits // 2
        self.mask = np.uint64((1 << self.half) - 1)
        self.keys = np.asarray(keys, dtype=np.uint64)[:ROUNDS]
        if self.keys.shape[0] != ROUNDS:
            raise ValueError(f"need {ROUNDS} round keys")

    @classmethod
    def from_seed_sequence(cls, n: int, ss: np.random.SeedSequence) -> "IndexPermutation":
        return cls(n, ss.generate_state(ROUNDS, dtype=np.uint64))

    def _feistel(self, v: np.ndarray) -> np.ndarray:
        h = np.uint64(self.half)
        left, right = v >> h, v & self.mask
        for k in self.keys:
            left, right = right, left ^ (_mix(right, k) & self.mask)
        return (left << h) | right

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            out = self._feistel(np.asarray(idx, dtype=np.uint64))
            bad = out >= np.uint64(self.n)
            while bad.any():  # cycle walking: expected < 4 extra passes, on a shrinking subset
                out[bad] = self._feistel(out[bad])
                bad = out >= np.uint64(self.n)
        return out.astype(np.int64)
