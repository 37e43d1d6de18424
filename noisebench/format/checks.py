"""Validation of untrusted noisebench files: attributes, group walk, datasets and split types.

Readers validate structure before touching data, never follow soft or external links, and bound
every allocation, because files are shared between labs. Every refusal is a one-line UserError.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from noisebench.errors import UserError
from noisebench.format.spec import (
    ALLOWED_DTYPE_KINDS,
    ALLOWED_FILTERS,
    DICT_JSON_ATTRS,
    EXPANSION_SLACK_BYTES,
    INT_ATTRS,
    MAX_ATTR_BYTES,
    MAX_CHUNK_BYTES,
    MAX_CLASSES,
    MAX_EXPANSION,
    MAX_GROUP_DEPTH,
    MAX_OBJECTS,
    REAL_ATTRS,
    STR_ATTRS,
    import_h5py,
)


def read_attr_checked(attrs, name: str, where: str) -> Any:
    """Read one attribute with a size bound; decode bytes; refuse non-scalar object types."""
    try:
        aid = attrs.get_id(name)
        size = aid.get_storage_size()
    except Exception as e:  # noqa: BLE001 - damaged attribute headers
        raise UserError(f"{where}: unreadable attribute {name!r} ({e})") from None
    if size > MAX_ATTR_BYTES:
        raise UserError(f"{where}: attribute {name!r} is {size} bytes, over the {MAX_ATTR_BYTES}-byte limit")
    try:
        dt = aid.dtype
        plain = dt.kind in "uifbSU" and dt.fields is None and dt.subdtype is None
        is_str = import_h5py().check_string_dtype(dt) is not None
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{where}: unreadable attribute {name!r} ({e})") from None
    if not (plain or is_str):
        raise UserError(f"{where}: attribute {name!r} has unsupported type {dt} (only numbers and strings are allowed)")
    try:
        v = attrs[name]
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{where}: unreadable attribute {name!r} ({e})") from None
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and (v.dtype.kind == "O" or v.size > 1):
        raise UserError(f"{where}: attribute {name!r} is an array; noisebench attributes are scalars")
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0] if v.size else None
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        v = v.item()
    return v


def walk_checked(group, prefix: str, out: dict, where: str, depth: int = 0, seen: list | None = None) -> None:
    """Collect hard-linked datasets, refusing soft/external links and unsafe datasets."""
    h5py = import_h5py()
    seen = [0] if seen is None else seen
    if depth > MAX_GROUP_DEPTH:
        raise UserError(f"{where}: groups nested deeper than {MAX_GROUP_DEPTH} levels (or a link cycle); refusing it")
    try:
        names = list(group.keys())
    except Exception as e:  # noqa: BLE001 - damaged group headers
        raise UserError(f"{where}: damaged group {prefix or '/'} ({first_line(e)})") from None
    for name in names:
        seen[0] += 1
        if seen[0] > MAX_OBJECTS:
            raise UserError(f"{where}: more than {MAX_OBJECTS} objects; refusing it")
        full = f"{prefix}{name}"
        try:
            link = group.get(name, getlink=True)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{where}: damaged link {full} ({first_line(e)})") from None
        if isinstance(link, h5py.ExternalLink):
            raise UserError(f"{where}: {full} is an external link to another file; refusing to follow it")
        if isinstance(link, h5py.SoftLink):
            raise UserError(f"{where}: {full} is a soft link; noisebench files contain none")
        if not isinstance(link, h5py.HardLink):
            raise UserError(f"{where}: {full} is a user-defined link; refusing it")
        try:
            obj = group.get(name)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{where}: damaged object {full} ({first_line(e)})") from None
        if isinstance(obj, h5py.Group):
            walk_checked(obj, f"{full}/", out, where, depth + 1, seen)
        elif isinstance(obj, h5py.Dataset):
            _check_dataset(obj, full, where)
            out[full] = obj
        else:
            raise UserError(f"{where}: {full} is neither a group nor a dataset")


def first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


def _check_dataset(dset, name: str, where: str) -> None:
    try:
        _check_dataset_inner(dset, name, where)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - damaged dataset headers raise assorted h5py errors
        raise UserError(f"{where}: damaged dataset {name} ({first_line(e)})") from None


def _check_dataset_inner(dset, name: str, where: str) -> None:
    dt = dset.dtype
    if dt.kind not in ALLOWED_DTYPE_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise UserError(f"{where}: dataset {name} has unsupported type {dt} (only plain numeric data is allowed)")
    if dset.shape is None:
        raise UserError(f"{where}: dataset {name} has no shape")
    if dset.is_virtual:
        raise UserError(f"{where}: dataset {name} is a virtual dataset mapping other files; refusing it")
    if dset.external:
        raise UserError(f"{where}: dataset {name} stores its data in external files; refusing it")
    if dset.chunks is not None:
        chunk_bytes = int(np.prod(dset.chunks, dtype=np.int64)) * dt.itemsize
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise UserError(f"{where}: dataset {name} declares {chunk_bytes}-byte chunks (limit {MAX_CHUNK_BYTES})")
    dcpl = dset.id.get_create_plist()
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in ALLOWED_FILTERS:
            raise UserError(f"{where}: dataset {name} uses HDF5 filter {code}, which noisebench files never use "
                            f"(allowed: {', '.join(ALLOWED_FILTERS.values())}); refusing it")
    logical = int(np.prod(dset.shape, dtype=np.float64)) * dt.itemsize if dset.shape else dt.itemsize
    stored = int(dset.id.get_storage_size())
    if logical > MAX_EXPANSION * stored + EXPANSION_SLACK_BYTES:
        raise UserError(f"{where}: dataset {name} declares {logical} bytes but stores only {stored}; refusing it "
                        "(unallocated or impossible compression ratio)")


# What the writers store, and so all the reader accepts for a split's x and y (see docs/FORMAT.md):
# images uint8 (N,H,W) or (N,H,W,C) with C = 1 or 3 and int64 labels; tabular float32 (N,F) with
# float32 regression targets or int64 class labels. Anything else (float16/float64 inputs, int8 or
# float labels, 5-channel or zero-size images) is refused when the file is opened.
SPLIT_X_DTYPES = {"uint8": "images", "float32": "tabular"}


def check_split_dtypes(dx, dy, task: str, where: str) -> None:
    xd, yd = np.dtype(dx.dtype), np.dtype(dy.dtype)
    xs, ys = tuple(dx.shape), tuple(dy.shape)
    if xd.str not in ("|u1", "<f4") or xd.name not in SPLIT_X_DTYPES:
        raise UserError(f"{where}: inputs x are {xd.str}; noisebench files hold uint8 images or float32 features")
    if len(ys) != 1:
        raise UserError(f"{where}: y has shape {ys}; expected one target per sample (N,)")
    if xd.name == "uint8":
        if len(xs) not in (3, 4) or (len(xs) == 4 and xs[3] not in (1, 3)):
            raise UserError(f"{where}: images must be uint8 (N,H,W) or (N,H,W,C) with C = 1 or 3, got {xs}")
        if not all(1 <= v <= 4096 for v in xs[1:3]):
            raise UserError(f"{where}: image size {xs[1:3]} outside 1..4096 pixels per side")
    elif len(xs) != 2 or xs[1] < 1:
        raise UserError(f"{where}: float inputs must be tabular (N, features) with at least one feature, got {xs}")
    if task == "classification":
        if yd.str != "<i8":
            raise UserError(f"{where}: classification labels must be integers stored as int64, got {yd.str}")
    elif task == "regression":
        if yd.str != "<f4":
            raise UserError(f"{where}: regression targets must be float32, got {yd.str}")
    else:
        raise UserError(f"{where}: unknown task {task!r} (classification or regression)")


def parse_json_attr(meta: dict, key: str, where: str) -> Any:
    raw = meta.get(key)
    if raw in (None, ""):
        return {}
    try:
        return json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        raise UserError(f"{where}: attribute {key!r} is not valid JSON") from None


def check_attr_types(meta: dict, where: str) -> None:
    def bad(key, what):
        raise UserError(f"{where}: attribute {key!r} must be {what}, got {type(meta[key]).__name__} {str(meta[key])[:40]!r}")

    for key in STR_ATTRS + DICT_JSON_ATTRS:
        if key in meta and not isinstance(meta[key], str):
            bad(key, "a string")
    for key in INT_ATTRS:
        if key in meta and (not isinstance(meta[key], int) or isinstance(meta[key], bool)):
            bad(key, "an integer")
    for key in REAL_ATTRS:
        if key in meta and (not isinstance(meta[key], (int, float)) or isinstance(meta[key], bool)
                            or not np.isfinite(meta[key])):
            bad(key, "a finite number")
    nc = meta.get("num_classes")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or not 1 <= nc <= MAX_CLASSES):
        bad("num_classes", f"an integer in 1..{MAX_CLASSES}")


# older private names, kept for callers outside the package
_read_attr = read_attr_checked
_check_attr_types = check_attr_types
_first_line = first_line
_parse_json_attr = parse_json_attr
_walk_checked = walk_checked
