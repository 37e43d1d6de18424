"""The noisebench HDF5 format declaration: what a file holds, how it is stored, and how it is hashed.

The magic string, versions, kinds and splits, chunking and compression, the typed root attributes
and the limits applied when reading files from elsewhere (see docs/FORMAT.md); the sha256
definition shared by writer and reader. Imports nothing else of noisebench's file format.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT_MAGIC = "noisebench-dataset"
FORMAT_VERSION = 2  # 2: val split everywhere, `split`, `source_fingerprint`, `metadata_sha256`
MIN_FORMAT_VERSION = 2  # older files are refused with the command that rebuilds them


@dataclass(frozen=True)
class FileKind:
    """What the format says of one file kind: the dataset card's title (``{src}``, ``{corruption}`` and
    ``{variant}`` filled in from the file) and whether its training labels or targets differ from its clean
    twin's (the corruption is on them, so twin checks do not compare train/y)."""

    title: str
    train_labels_differ: bool = False


# The file kinds, declared once: a file of another kind is refused; the writer of each is one build module
# (generators/builds/*.py, generators/synth/files.py, generators/cifar_n.py).
FILE_KINDS = {
    "synth": FileKind("hidden-function regression dataset ({variant})", train_labels_differ=True),
    "psi": FileKind("ψ-corrupted (photon-limited Poisson noise) copy of {src}"),
    "mnist-flip": FileKind("label-flipped copy of {src}", train_labels_differ=True),
    "clean": FileKind("clean reference copy of {src}"),
    "corrupt": FileKind("{corruption}-corrupted copy of {src}"),
    "corrupt-test": FileKind("{corruption}-corrupted test set of {src} (test only, by severity)"),
    "label-noise": FileKind("{src} with real human label noise (CIFAR-N)", train_labels_differ=True),
}
KINDS = tuple(FILE_KINDS)
SPLITS = ("train", "val", "test")

# Compression chosen by measurement (bench/compression.py, bench/RESULTS.md): integer data
# (images, labels, indices) gets gzip level 1, readable by every HDF5 build (unlike lzf/blosc):
# psi-corrupted images take only psi+1 distinct values and shrink 3.6x. Float data (synth rows)
# is stored uncompressed: gzip saves only 9-18% on standardised random floats but makes writing
# 60x slower, which would dominate `synth --rows 100000000`.
IMAGE_CHUNK_SAMPLES = 256
TABULAR_CHUNK_ROWS = 1 << 14
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 1

# Limits applied when reading files from elsewhere.
MAX_ATTR_BYTES = 1 << 20  # 1 MiB per attribute
MAX_CHUNK_BYTES = 64 << 20  # refuse chunk declarations over 64 MiB
READ_SLAB_BYTES = 32 << 20  # hash and copy in slabs of this size
ALLOWED_DTYPE_KINDS = "uifb"  # unsigned, signed, float, bool; never object/vlen/compound/reference
REQUIRED_ATTRS = ("noisebench_format", "format_version", "kind", "params", "seed", "created", "checksums")
MAX_GROUP_DEPTH = 16  # deeper nesting (or a hard-link cycle) is refused, never recursed into
MAX_OBJECTS = 10_000  # groups + datasets in one file
MAX_CLASSES = 100_000  # num_classes above this would make absurd model heads
# Filters a dataset may use: gzip, shuffle, fletcher32 (built into HDF5) and lzf (built into h5py).
# Anything else would make HDF5 search for and load a filter plugin (a shared library) or, like
# scale-offset/n-bit, defeat the expansion bound below.
ALLOWED_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}
# gzip's best case is about 1032:1, so a dataset whose logical size exceeds its stored bytes by more
# than this declares data it does not contain (a sparse/unallocated bomb that reads as gigabytes of fill).
MAX_EXPANSION = 1100
EXPANSION_SLACK_BYTES = 1 << 20
# Typed root attributes: a wrong type is a damaged/hostile file, refused with one line.
STR_ATTRS = ("noisebench_format", "kind", "variant", "task", "created", "noisebench_version", "pair_key",
              "dataset", "clean_reference", "flip_mode", "source_fingerprint", "metadata_sha256")
INT_ATTRS = ("format_version", "seed", "n_flipped")
REAL_ATTRS = ("psi", "nominal_rate", "realized_rate", "realized_rate_all")
DICT_JSON_ATTRS = ("params", "source", "checksums", "split")


def import_h5py():
    return h5py


def sha256_update(h: "hashlib._Hash", block: np.ndarray) -> None:
    """Hash a block as its C-order bytes in little-endian byte order (the format's definition)."""
    block = np.ascontiguousarray(block)
    if block.dtype.byteorder == ">":
        block = block.astype(block.dtype.newbyteorder("<"))
    h.update(memoryview(block).cast("B"))


def _row_slab(shape: tuple[int, ...], itemsize: int) -> int:
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize) if len(shape) > 1 else itemsize
    return max(1, READ_SLAB_BYTES // row_bytes)


def dataset_sha256(dset) -> str:
    """sha256 of a stored dataset, read in bounded slabs."""
    h = hashlib.sha256()
    if dset.shape is None or len(dset.shape) == 0:
        sha256_update(h, np.asarray(dset[()]))
        return h.hexdigest()
    n = dset.shape[0]
    step = _row_slab(dset.shape, dset.dtype.itemsize)
    for start in range(0, n, step):
        sha256_update(h, dset[start : start + step])
    return h.hexdigest()


def _json_default(o: Any):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_json_default)


# older private names, kept for callers outside the package
_h5py = import_h5py
_DICT_JSON_ATTRS = DICT_JSON_ATTRS
_INT_ATTRS = INT_ATTRS
_REAL_ATTRS = REAL_ATTRS
_STR_ATTRS = STR_ATTRS
