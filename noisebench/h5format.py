"""The noisebench HDF5 dataset format: atomic writing, checksums, and safe reading.

One self-describing file per dataset variant (see docs/FORMAT.md). Writers build the file
under a temporary name in the destination folder and rename it into place only once every
dataset is complete and its sha256 recorded, so a crash never leaves a half-written file
under the final name. Readers validate structure before touching data, never follow soft or
external links, and bound every allocation, because files are shared between labs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from noisebench import __version__
from noisebench.errors import UserError
from noisebench.safe_output import (check_final, create_temp, discard, disk_error, host, pid_alive, place,
                                    remove_stale_temps)

FORMAT_MAGIC = "noisebench-dataset"
FORMAT_VERSION = 2  # 2: val split everywhere, `split`, `source_fingerprint`, `metadata_sha256`
MIN_FORMAT_VERSION = 2  # older files are refused with the command that rebuilds them
KINDS = ("synth", "psi", "mnist-flip", "clean", "corrupt", "corrupt-test")
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
_STR_ATTRS = ("noisebench_format", "kind", "variant", "task", "created", "noisebench_version", "pair_key",
              "dataset", "clean_reference", "flip_mode", "source_fingerprint", "metadata_sha256")
_INT_ATTRS = ("format_version", "seed", "n_flipped")
_REAL_ATTRS = ("psi", "nominal_rate", "realized_rate")
_DICT_JSON_ATTRS = ("params", "source", "checksums", "split")


def _h5py():
    import h5py

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


def check_output_path(path: Path, force: bool) -> Path:
    """Validate an output file path before any work starts (one clear error, nothing written)."""
    path = Path(path)
    check_final(path, force)  # symlinks and non-regular files refused; existing without --force refused
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UserError(f"cannot write {path}: {parent} is not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {parent}: {e.strerror or e}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {parent}: permission denied")
    return path


def check_free_space(folder: Path, need_bytes: int, what: str) -> None:
    """Refuse (UserError) before any work when `folder`'s file system cannot hold `need_bytes` more."""
    import shutil

    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if need_bytes > free:
        raise UserError(f"{what} needs about {need_bytes / 2**30:.2f} GiB but {probe} has only "
                        f"{free / 2**30:.2f} GiB free; free space or choose another --out")


_compress_pool = None


def _pool():
    """Threads that deflate chunks (zlib releases the GIL, so they use every core)."""
    global _compress_pool
    if _compress_pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _compress_pool = ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="nb-deflate")
    return _compress_pool


_hash_pool = None


def _hasher():
    """One thread that runs sha256 updates in submission order (hashlib releases the GIL on big
    buffers, so hashing overlaps the HDF5 writes of the calling thread)."""
    global _hash_pool
    if _hash_pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _hash_pool = ThreadPoolExecutor(1, thread_name_prefix="nb-sha256")
    return _hash_pool


class StreamingArray:
    """A dataset of known final shape filled in row order; its sha256 is computed on the fly.

    For gzip datasets without the shuffle filter (uint8 images), chunk-aligned blocks are
    deflated in a thread pool and stored with `write_direct_chunk`: the same bytes a reader
    gets from HDF5's own deflate filter (a zlib stream at the same level), but compressed on
    all cores instead of one (bench/RESULTS.md, "psi build").
    """

    def __init__(self, dset, mirror_of: "StreamingArray | None" = None, hash_in_thread: bool = False):
        self.dset = dset
        self.rows = dset.shape[0]
        self.filled = 0
        self._hash = hashlib.sha256()
        # mirror_of: a stream the caller fills with exactly the same blocks (e.g. a split shared by
        # two files); its digest is reused instead of hashing the same bytes twice.
        self._mirror = mirror_of
        # hash_in_thread: hash on the background thread; the caller must not modify a block after append.
        self._threaded = hash_in_thread
        self._pending: list = []
        self._chunk = dset.chunks[0] if dset.chunks else 0
        self._direct = bool(
            self._chunk and dset.compression == COMPRESSION and not dset.shuffle and not dset.fletcher32
            and dset.compression_opts == COMPRESSION_LEVEL
        )

    def append(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=self.dset.dtype)
        n = block.shape[0]
        if self.filled + n > self.rows:
            raise ValueError(f"{self.dset.name}: writing past the declared {self.rows} rows")
        if n:
            if self._direct and self.filled % self._chunk == 0 and n >= 2 * self._chunk:
                self._write_chunks(block)
            else:
                self.dset[self.filled : self.filled + n] = block
            if self._mirror is not None:
                pass
            elif self._threaded:
                self._pending.append(_hasher().submit(sha256_update, self._hash, block))
                if len(self._pending) > 8:  # bounded memory: at most 8 blocks waiting per stream
                    self._pending.pop(0).result()
            else:
                sha256_update(self._hash, block)
            self.filled += n

    def _write_chunks(self, block: np.ndarray) -> None:
        import zlib

        c, n, start = self._chunk, block.shape[0], self.filled
        full = n if start + n == self.rows else n - n % c  # a partial chunk only at the very end
        pieces = []
        for i in range(0, full, c):
            piece = block[i : i + c]
            if piece.shape[0] < c:  # HDF5 stores edge chunks at full size
                pad = np.zeros((c,) + block.shape[1:], block.dtype)
                pad[: piece.shape[0]] = piece
                piece = pad
            pieces.append((start + i, np.ascontiguousarray(piece)))
        zero = (0,) * (block.ndim - 1)
        compressed = _pool().map(lambda item: zlib.compress(memoryview(item[1]).cast("B"), COMPRESSION_LEVEL), pieces)
        for (offset, _), data in zip(pieces, compressed):
            self.dset.id.write_direct_chunk((offset,) + zero, data)
        if full < n:
            self.dset[start + full : start + n] = block[full:]

    def hexdigest(self) -> str:
        if self.filled != self.rows:
            raise ValueError(f"{self.dset.name}: {self.filled} of {self.rows} rows written")
        if self._mirror is not None:
            if self._mirror.rows != self.rows:
                raise ValueError(f"{self.dset.name}: mirrored stream has {self._mirror.rows} rows, not {self.rows}")
            return self._mirror.hexdigest()
        while self._pending:
            self._pending.pop(0).result()
        return self._hash.hexdigest()


@dataclass
class DatasetWriter:
    """Build one noisebench file atomically.

    Use as a context manager; on a clean exit the checksums are recorded and the temporary file
    is renamed over `path`; on any exception the temporary file is removed and `path` is untouched.
    """

    path: Path
    kind: str
    params: dict
    seed: int
    task: str = "classification"
    variant: str = "clean"
    source: dict | None = None
    pair_key: str = ""
    force: bool = False
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        self.path = check_output_path(Path(self.path), self.force)
        self._streams: dict[str, StreamingArray] = {}
        self._h5 = None
        self._tmp: Path | None = None
        self._fd, self._fd_id = -1, None

    # -- context management -------------------------------------------------
    def __enter__(self) -> "DatasetWriter":
        h5py = _h5py()
        remove_stale_temps(self.path)  # a killed earlier writer's leftovers (dead pid, this host)
        self._tmp = create_temp(self.path)  # O_EXCL|O_NOFOLLOW, removed on any exit path
        try:
            self._h5 = h5py.File(self._tmp, "w", libver=("v110", "latest"), track_order=True)
            self._fd = int(self._h5.id.get_vfd_handle())
            self._fd_id = _ident(os.fstat(self._fd))
        except BaseException as e:
            discard(self._tmp)
            self._tmp = None
            _raise_disk_error(e, self.path)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._abandon()
            if exc is not None:
                _raise_disk_error(exc, self.path)
            return False
        try:
            self._finalize()
            self._h5.flush()  # a full disk fails here, with every object still open (a failing close crashed libhdf5)
            self._h5.close()
            self._h5 = None
            with open(self._tmp, "rb+") as f:
                os.fsync(f.fileno())
            tmp, self._tmp = self._tmp, None
            place(tmp, self.path, self.force)  # exclusive without --force: one of two racing writers wins
        except BaseException as e:
            self._abandon()
            _raise_disk_error(e, self.path)
            raise
        remove_stale_temps(self.path)
        return False

    def _abandon(self) -> None:
        """Drop the unfinished file. Its HDF5 handle is closed with its descriptor pointed at an
        anonymous in-memory file: after a failed write (full disk) libhdf5 retries the flush when
        the file is closed or at exit, and crashed the process (SIGSEGV) doing so."""
        if self._h5 is not None:
            try:
                if _ident(os.fstat(self._fd)) == self._fd_id:  # still our temp file's descriptor
                    sink = _discard_sink()
                    try:
                        os.dup2(sink, self._fd)
                    finally:
                        os.close(sink)
            except Exception:  # noqa: BLE001 - best effort; the file is discarded either way
                pass
            self._streams.clear()
            try:
                self._h5.close()
            except Exception:  # noqa: BLE001
                pass
            self._h5 = None
        discard(self._tmp)
        self._tmp = None

    # -- content --------------------------------------------------------------
    def create(self, name: str, shape: tuple[int, ...], dtype, chunk_rows: int | None = None,
               mirror_of: StreamingArray | None = None, hash_in_thread: bool = False) -> StreamingArray:
        """Declare a dataset of final `shape` to be filled in row order with `.append`.

        `mirror_of` / `hash_in_thread`: see `StreamingArray` (both only change how the digest is
        computed, never the digest)."""
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        if chunk_rows is None:
            chunk_rows = IMAGE_CHUNK_SAMPLES if len(shape) >= 3 else TABULAR_CHUNK_ROWS
        kwargs: dict[str, Any] = {}
        if shape[0] > 0:
            kwargs["chunks"] = (min(chunk_rows, shape[0]),) + shape[1:]
            if dtype.kind in "uib":
                kwargs["compression"] = COMPRESSION
                kwargs["compression_opts"] = COMPRESSION_LEVEL
                kwargs["shuffle"] = dtype.itemsize > 1
        dset = self._h5.create_dataset(name, shape=shape, dtype=dtype, track_times=False, **kwargs)
        stream = StreamingArray(dset, mirror_of=mirror_of, hash_in_thread=hash_in_thread)
        self._streams[name] = stream
        return stream

    def write(self, name: str, array: np.ndarray, chunk_rows: int | None = None) -> None:
        """Write a whole array at once."""
        array = np.asarray(array)
        if array.ndim == 0:
            array = array.reshape(1)
        self.create(name, array.shape, array.dtype, chunk_rows).append(array)

    def group_attrs(self, group: str) -> Any:
        return self._h5.require_group(group).attrs

    def _finalize(self) -> None:
        checksums = {}
        for name, stream in self._streams.items():
            digest = stream.hexdigest()
            stream.dset.attrs["sha256"] = digest
            checksums[name.strip("/")] = digest
        a = self._h5.attrs
        a["noisebench_format"] = FORMAT_MAGIC
        a["format_version"] = FORMAT_VERSION
        a["noisebench_version"] = __version__
        a["kind"] = self.kind
        a["variant"] = self.variant
        a["task"] = self.task
        a["params"] = to_json(self.params)
        a["seed"] = int(self.seed)
        a["created"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        a["source"] = to_json(self.source or {})
        a["pair_key"] = self.pair_key
        a["checksums"] = to_json(checksums)
        for k, v in self.attrs.items():
            a[k] = to_json(v) if isinstance(v, (dict, list, tuple)) else v
        record_metadata_digest(self._h5, str(self.path))


def record_metadata_digest(h5, where: str = "") -> None:
    """(Re)record the root `metadata_sha256` of an h5py file open for writing, over all its other attributes.

    The writer calls it last; a tool that deliberately rewrites attributes calls it to re-seal the file."""
    from noisebench import metadata_digest

    h5.attrs[metadata_digest.DIGEST_ATTR] = metadata_digest.record(
        metadata_digest.collect(h5, lambda attrs, n: _read_attr(attrs, n, where), where))


def _discard_sink() -> int:
    """A descriptor that accepts any write: an anonymous in-memory file (it also takes HDF5's final
    truncate), or /dev/null where a file-size limit (ulimit -f) would fail writes to a file."""
    try:
        import resource

        limited = resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):  # pragma: no cover
        limited = True
    if hasattr(os, "memfd_create") and not limited:
        return os.memfd_create("nb-discard")
    return os.open(os.devnull, os.O_RDWR)


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _raise_disk_error(e: BaseException, path: Path) -> None:
    """A full disk / quota / file-size limit / I/O error while writing `path` becomes one line."""
    if isinstance(e, Exception) and not isinstance(e, UserError):
        why = disk_error(e)
        if why is not None:
            raise UserError(f"cannot write {path}: {why}; nothing was written (temp file removed)") from None


_host = host  # names kept for callers and tests
_pid_alive = pid_alive


# ---------------------------------------------------------------------------- reading


def _read_attr(attrs, name: str, where: str) -> Any:
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
        is_str = _h5py().check_string_dtype(dt) is not None
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


def _walk_checked(group, prefix: str, out: dict, where: str, depth: int = 0, seen: list | None = None) -> None:
    """Collect hard-linked datasets, refusing soft/external links and unsafe datasets."""
    h5py = _h5py()
    seen = [0] if seen is None else seen
    if depth > MAX_GROUP_DEPTH:
        raise UserError(f"{where}: groups nested deeper than {MAX_GROUP_DEPTH} levels (or a link cycle); refusing it")
    try:
        names = list(group.keys())
    except Exception as e:  # noqa: BLE001 - damaged group headers
        raise UserError(f"{where}: damaged group {prefix or '/'} ({_first_line(e)})") from None
    for name in names:
        seen[0] += 1
        if seen[0] > MAX_OBJECTS:
            raise UserError(f"{where}: more than {MAX_OBJECTS} objects; refusing it")
        full = f"{prefix}{name}"
        try:
            link = group.get(name, getlink=True)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{where}: damaged link {full} ({_first_line(e)})") from None
        if isinstance(link, h5py.ExternalLink):
            raise UserError(f"{where}: {full} is an external link to another file; refusing to follow it")
        if isinstance(link, h5py.SoftLink):
            raise UserError(f"{where}: {full} is a soft link; noisebench files contain none")
        if not isinstance(link, h5py.HardLink):
            raise UserError(f"{where}: {full} is a user-defined link; refusing it")
        try:
            obj = group.get(name)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{where}: damaged object {full} ({_first_line(e)})") from None
        if isinstance(obj, h5py.Group):
            _walk_checked(obj, f"{full}/", out, where, depth + 1, seen)
        elif isinstance(obj, h5py.Dataset):
            _check_dataset(obj, full, where)
            out[full] = obj
        else:
            raise UserError(f"{where}: {full} is neither a group nor a dataset")


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


def _check_dataset(dset, name: str, where: str) -> None:
    try:
        _check_dataset_inner(dset, name, where)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - damaged dataset headers raise assorted h5py errors
        raise UserError(f"{where}: damaged dataset {name} ({_first_line(e)})") from None


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


@dataclass
class NoisebenchFile:
    """A validated, opened noisebench file (read-only). Close it, or use it as a context manager."""

    path: Path
    h5: Any
    meta: dict
    datasets: dict

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self.h5.close()

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def task(self) -> str:
        return self.meta.get("task", "classification")

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if f"{s}/x" in self.datasets and f"{s}/y" in self.datasets]

    def split_shapes(self) -> dict[str, dict[str, tuple]]:
        return {s: {"x": self.datasets[f"{s}/x"].shape, "y": self.datasets[f"{s}/y"].shape} for s in self.splits}


def _parse_json_attr(meta: dict, key: str, where: str) -> Any:
    raw = meta.get(key)
    if raw in (None, ""):
        return {}
    try:
        return json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        raise UserError(f"{where}: attribute {key!r} is not valid JSON") from None


def _check_attr_types(meta: dict, where: str) -> None:
    def bad(key, what):
        raise UserError(f"{where}: attribute {key!r} must be {what}, got {type(meta[key]).__name__} {str(meta[key])[:40]!r}")

    for key in _STR_ATTRS + _DICT_JSON_ATTRS:
        if key in meta and not isinstance(meta[key], str):
            bad(key, "a string")
    for key in _INT_ATTRS:
        if key in meta and (not isinstance(meta[key], int) or isinstance(meta[key], bool)):
            bad(key, "an integer")
    for key in _REAL_ATTRS:
        if key in meta and (not isinstance(meta[key], (int, float)) or isinstance(meta[key], bool)
                            or not np.isfinite(meta[key])):
            bad(key, "a finite number")
    nc = meta.get("num_classes")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or not 1 <= nc <= MAX_CLASSES):
        bad("num_classes", f"an integer in 1..{MAX_CLASSES}")


# libhdf5 can loop forever on some corrupted metadata (seen: a damaged global heap while reading a
# string attribute, found by tests/test_reliability_untrusted.py's fuzzer). The loop holds the GIL,
# so no thread can interrupt it: the first open of each file in a process is therefore parsed in a
# forked child first, killed after PARSE_TIMEOUT_S. Results are cached per (device, inode, size, mtime).
PARSE_TIMEOUT_S = 60.0
_parse_ok: dict = {}


def _parse_guard(path: Path) -> None:
    if not hasattr(os, "fork") or os.environ.get("NOISEBENCH_NO_PARSE_GUARD"):
        return
    try:
        st = path.stat()
    except OSError:
        return  # _open_validated reports it
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key in _parse_ok:
        if _parse_ok[key] is not True:
            raise UserError(_parse_ok[key])
        return
    import signal
    import time
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pid = os.fork()
    if pid == 0:  # child: parse, report by exit status, never run the parent's cleanup
        code = 0
        try:
            _open_validated(path).close()
        except UserError:
            code = 3
        except BaseException:  # noqa: BLE001
            code = 4
        os._exit(code)
    deadline = time.monotonic() + PARSE_TIMEOUT_S
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            _parse_ok[key] = (f"{path}: damaged HDF5 file (parsing its metadata did not finish within "
                              f"{PARSE_TIMEOUT_S:g} s); refusing it")
            raise UserError(_parse_ok[key])
        time.sleep(delay)
        delay = min(0.05, delay * 2)
    if os.WIFSIGNALED(status):
        _parse_ok[key] = (f"{path}: damaged HDF5 file (parsing its metadata crashed the HDF5 library, "
                          f"signal {os.WTERMSIG(status)}); refusing it")
        raise UserError(_parse_ok[key])
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        _parse_ok[key] = True
    # on failure the in-process open below raises the same UserError with its message


def open_file(path: str | Path, chunk_cache_bytes: int | None = None) -> NoisebenchFile:
    """Open and validate a noisebench file; every failure is a UserError with one clear line.

    Parsing is guarded against libhdf5 hangs and crashes on damaged files (see _parse_guard).
    `chunk_cache_bytes` sizes HDF5's per-dataset cache of decompressed chunks (default 1 MiB..8 MiB
    depending on the HDF5 build): random access to images needs it to hold many chunks."""
    path = Path(path)
    if path.is_file():
        _parse_guard(path)
    return _open_validated(path, chunk_cache_bytes)


def _open_validated(path: Path, chunk_cache_bytes: int | None = None) -> NoisebenchFile:
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise UserError(f"{where}: no such file")
    if path.is_dir():
        raise UserError(f"{where}: is a directory, not a noisebench file")
    if not path.is_file():
        raise UserError(f"{where}: not a regular file (device, FIFO or socket); refusing to read it")
    if not os.access(path, os.R_OK):
        raise UserError(f"{where}: permission denied")
    h5py = _h5py()
    if not h5py.is_hdf5(path):
        raise UserError(f"{where}: not an HDF5 file")
    try:
        cache = {"rdcc_nbytes": int(chunk_cache_bytes), "rdcc_nslots": 100_003} if chunk_cache_bytes else {}
        h5 = h5py.File(path, "r", **cache)
    except Exception as e:  # noqa: BLE001 - truncated/damaged files raise various errors
        raise UserError(f"{where}: damaged HDF5 file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    try:
        meta = {}
        for name in h5.attrs.keys():
            meta[name] = _read_attr(h5.attrs, name, where)
        if not isinstance(meta.get("noisebench_format"), str) or meta.get("noisebench_format") != FORMAT_MAGIC:
            raise UserError(f"{where}: not a noisebench dataset (HDF5 without the noisebench attributes)")
        missing = [a for a in REQUIRED_ATTRS if a not in meta]
        if missing:
            raise UserError(f"{where}: damaged noisebench file, missing attribute(s) {', '.join(missing)}")
        _check_attr_types(meta, where)
        if meta["format_version"] < 1:
            raise UserError(f"{where}: format_version {meta['format_version']} is not a valid version (1..{FORMAT_VERSION})")
        if meta["format_version"] > FORMAT_VERSION:
            raise UserError(
                f"{where}: format_version {meta['format_version']} is newer than this noisebench understands "
                f"({FORMAT_VERSION}); upgrade noisebench"
            )
        if meta["format_version"] < MIN_FORMAT_VERSION:
            from noisebench.rebuild_hint import old_version_message

            raise UserError(old_version_message(where, meta))
        if meta["kind"] not in KINDS:
            raise UserError(f"{where}: unknown dataset kind {meta['kind']!r}")
        for key in _DICT_JSON_ATTRS:
            meta[key] = _parse_json_attr(meta, key, where)
            if not isinstance(meta[key], dict):
                raise UserError(f"{where}: attribute {key!r} must be a JSON object")
        if not all(isinstance(v, str) for v in meta["checksums"].values()):
            raise UserError(f"{where}: attribute 'checksums' must map dataset names to hex strings")
        for key in list(meta):
            if key.endswith("_json"):
                meta[key] = _parse_json_attr(meta, key, where)
        datasets: dict = {}
        _walk_checked(h5, "", datasets, where)
        nbf = NoisebenchFile(path=path, h5=h5, meta=meta, datasets=datasets)
        if not nbf.splits:
            raise UserError(f"{where}: damaged noisebench file, no split with both x and y")
        for s in nbf.splits:
            if not nbf.datasets[f"{s}/x"].shape or not nbf.datasets[f"{s}/y"].shape:
                raise UserError(f"{where}: split {s} has a scalar x or y; expected arrays with samples along axis 0")
            nx, ny = nbf.datasets[f"{s}/x"].shape[0], nbf.datasets[f"{s}/y"].shape[0]
            if nx != ny:
                raise UserError(f"{where}: split {s} has {nx} inputs but {ny} targets")
            check_split_dtypes(nbf.datasets[f"{s}/x"], nbf.datasets[f"{s}/y"], nbf.task, f"{where} [{s}]")
        return nbf
    except BaseException as e:
        try:
            h5.close()
        except Exception:  # noqa: BLE001 - closing a damaged file can fail too
            pass
        if isinstance(e, Exception) and not isinstance(e, UserError):
            # h5py raises KeyError/OSError/RuntimeError/... on damaged headers: all mean "damaged file"
            raise UserError(f"{where}: damaged HDF5 file ({_first_line(e)})") from e
        raise


METADATA_ROW = "(attributes)"
SPLIT_ROW = "(split)"


def indices_sha256(indices: np.ndarray) -> str:
    """sha256 of sorted indices as int64 little-endian bytes (the `split` record's val_indices_sha256)."""
    a = np.sort(np.asarray(indices, dtype=np.int64)).astype("<i8", copy=False)
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def split_status(f: NoisebenchFile) -> tuple[str, str] | None:
    """Does the `split` record match the stored splits (sizes, and truth/val_index's sha256 where stored)?
    None for files without a split record."""
    sp = f.meta.get("split")
    if not sp:
        return None
    problems = []
    for s in ("train", "val", "test"):
        want = sp.get(f"n_{s}")
        have = f.datasets[f"{s}/y"].shape[0] if s in f.splits else 0
        if want != have:
            problems.append(f"n_{s} {want} but the file holds {have}")
    vi = f.datasets.get("truth/val_index")
    if vi is not None:
        if vi.shape and vi.shape[0] > 50_000_000:
            problems.append("truth/val_index is implausibly large")
        elif indices_sha256(vi[()]) != sp.get("val_indices_sha256"):
            problems.append("truth/val_index does not match val_indices_sha256")
    return ("MISMATCH", "; ".join(problems)) if problems else ("ok", "sizes and val indices match the record")


def metadata_status(f: NoisebenchFile) -> tuple[str, str]:
    """(status, detail) of the file's attributes against its recorded metadata digest: ok / CHANGED / MISSING.

    CHANGED names the attributes edited, added or removed since the file was written."""
    from noisebench import metadata_digest

    where = str(f.path)
    attrs = metadata_digest.collect(f.h5, lambda a, n: _read_attr(a, n, where), where)
    return metadata_digest.check(f.meta.get(metadata_digest.DIGEST_ATTR), attrs)


def verify(path: str | Path) -> list[tuple[str, str, str]]:
    """Recompute every recorded sha256 and the metadata digest.

    Returns [(name, status, detail)]: one row per dataset (status ok/MISMATCH/MISSING/UNLISTED) and a last
    row named METADATA_ROW for the attributes (ok/CHANGED/MISSING); for files with a `split` record, a row
    named SPLIT_ROW before it (ok/MISMATCH: the record against the stored sizes and val indices)."""
    rows = []
    with open_file(path) as f:
        recorded: dict = f.meta["checksums"]
        if not isinstance(recorded, dict) or not recorded:
            raise UserError(f"{path}: no checksums recorded; cannot verify")
        for name, digest in recorded.items():
            dset = f.datasets.get(name)
            if dset is None:
                rows.append((name, "MISSING", "dataset listed in checksums is absent"))
                continue
            try:
                actual = dataset_sha256(dset)
            except Exception as e:  # noqa: BLE001 - corrupted chunks fail to decompress
                rows.append((name, "MISMATCH", f"unreadable data ({str(e).splitlines()[0] if str(e) else type(e).__name__})"))
                continue
            if actual == digest:
                rows.append((name, "ok", actual))
            else:
                rows.append((name, "MISMATCH", f"recorded {str(digest)[:16]}..., computed {actual[:16]}..."))
        for name in f.datasets:
            if name not in recorded:
                rows.append((name, "UNLISTED", "dataset not covered by any checksum"))
        split = split_status(f)
        if split is not None:
            rows.append((SPLIT_ROW, *split))
        rows.append((METADATA_ROW, *metadata_status(f)))
    return rows


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits_in_memory(dsets, where: str) -> None:
    """Refuse (UserError) to load datasets whose total size exceeds the memory available now."""
    need = sum(int(np.prod(d.shape, dtype=np.float64)) * d.dtype.itemsize for d in dsets)
    avail = available_memory()
    if avail is not None and need > avail:
        raise UserError(f"{where}: loading needs {need / 2**30:.1f} GiB but only {avail / 2**30:.1f} GiB of memory is available")


def iter_rows(dset, batch: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, dset.shape[0], batch):
        yield start, dset[start : start + batch]
