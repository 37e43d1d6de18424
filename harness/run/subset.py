"""``--subset N``: a stratified subset of every split, for smoke studies.

Every run of a study with ``--subset N`` trains on the same N training rows (and evaluates on at
most N val and N test rows): the indices depend only on the labels, N and a fixed subset seed, so
a clean file and its dirty twin (same labels where labels are not the corruption, same split)
get the same rows. For classification each class keeps its share (largest remainder, at least
one row per class while N allows); for regression the rows are a seeded random sample. ``subset``
is part of the run's configuration, so subset runs are distinct runs in the database.
"""

from __future__ import annotations

import numpy as np

from noisebench.errors import UserError

SUBSET_SEED = 20_240_601
MAX_SUBSET = 1 << 31


def validate_subset(n) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= int(n) <= MAX_SUBSET:
        raise UserError(f"--subset must be an integer in [2, {MAX_SUBSET}], got {n!r}")
    return int(n)


def subset_indices(y: np.ndarray, n: int, classification: bool) -> np.ndarray:
    """Sorted indices of a stratified (classification) or random (regression) subset of size min(n, len(y))."""
    y = np.asarray(y)
    total = y.shape[0]
    if n >= total:
        return np.arange(total)
    rng = np.random.Generator(np.random.PCG64(SUBSET_SEED))
    if not classification:
        return np.sort(rng.permutation(total)[:n])
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse)
    share = counts * (n / total)
    take = np.floor(share).astype(np.int64)
    take = np.maximum(take, np.minimum(1, counts)) if n >= len(classes) else take
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    i = 0
    while take.sum() < n and i < 10 * len(order) + n:  # largest remainder fills the rest
        c = order[i % len(order)]
        if take[c] < counts[c]:
            take[c] += 1
        i += 1
    while take.sum() > n:  # the at-least-one rule overshot: trim the largest classes
        take[np.argmax(take)] -= 1
    out = []
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        out.append(rng.permutation(members)[: take[c]])
    return np.sort(np.concatenate(out))
