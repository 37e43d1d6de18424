"""What every file records about its split and its source, and the pair key built from them.

Root attributes (docs/FORMAT.md):

* `split` (JSON) = {"method", "seed", "val_size", "n_train", "n_val", "n_test", "val_indices_sha256"}:
  `val_indices_sha256` is the sha256 of the sorted val indices (positions in the source's official
  training set, or generated rows for synth) as int64 little-endian bytes;
* `source_fingerprint`: sha256 identifying the source data's content.

Files built from one source with one split (a clean file and all its corrupted twins) have equal
`split` and `source_fingerprint`, and therefore equal `pair_key`.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from noisebench.format.reader import indices_sha256  # noqa: F401 - re-exported: the split record's definition


def range_sha256(start: int, stop: int, block: int = 1 << 20) -> str:
    """indices_sha256(arange(start, stop)) computed in bounded memory."""
    h = hashlib.sha256()
    for s in range(int(start), int(stop), block):
        h.update(np.arange(s, min(s + block, int(stop)), dtype="<i8").tobytes())
    return h.hexdigest()


def split_record(method: str, seed: int | None, n_train: int, n_val: int, n_test: int, val_indices_sha256: str) -> dict:
    """The `split` attribute (val_size is the number of val samples actually carved)."""
    return {"method": method, "seed": seed, "val_size": int(n_val), "n_train": int(n_train), "n_val": int(n_val),
            "n_test": int(n_test), "val_indices_sha256": val_indices_sha256}


def pair_key(name: str, source_fingerprint: str, split: dict) -> str:
    """`NAME:src=<source fingerprint>:split=<16 hex of the split record>` - equal for twins only."""
    sdig = hashlib.sha256(json.dumps(split, sort_keys=True).encode()).hexdigest()[:16]
    return f"{name}:src={source_fingerprint}:split={sdig}"
