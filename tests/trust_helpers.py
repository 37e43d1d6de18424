"""Test helpers that edit noisebench files in place with h5py (for tamper and twin tests)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np


def rechecksum(path: Path) -> None:
    """Record the current sha256 of every dataset (as the writer does), so `verify` passes again."""
    from noisebench.format import dataset_sha256

    with h5py.File(path, "a") as f:
        sums = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                d = dataset_sha256(obj)
                obj.attrs["sha256"] = d
                sums[name] = d

        f.visititems(visit)
        f.attrs["checksums"] = json.dumps(sums, sort_keys=True)
    reseal(path)


def reseal(path: Path) -> None:
    """Re-record the metadata digest over the file's current attributes (as the writer does last)."""
    from noisebench.format import record_metadata_digest

    with h5py.File(path, "a") as f:
        record_metadata_digest(f, str(path))


def set_attr(path: Path, name: str, value) -> None:
    with h5py.File(path, "a") as f:
        f.attrs[name] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def replace_array(path: Path, name: str, array: np.ndarray, keep_checksums: bool = True) -> None:
    with h5py.File(path, "a") as f:
        del f[name]
        f.create_dataset(name, data=array)
    if not keep_checksums:
        rechecksum(path)


def ensure_val_split(path: Path, n_val: int = 8) -> Path:
    """Give a train/test file a val split carved from the end of train (no-op when it has one)."""
    with h5py.File(path, "a") as f:
        if "val" in f:
            return Path(path)
        x, y = f["train/x"][...], f["train/y"][...]
        del f["train"]
        f.create_dataset("train/x", data=x[:-n_val])
        f.create_dataset("train/y", data=y[:-n_val])
        f.create_dataset("val/x", data=x[-n_val:])
        f.create_dataset("val/y", data=y[-n_val:])
    rechecksum(path)
    return Path(path)
