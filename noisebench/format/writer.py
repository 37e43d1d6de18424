"""Writing noisebench files atomically: output checks, streaming datasets with on-the-fly sha256.

Writers build the file under a temporary name in the destination folder and rename it into place
only once every dataset is complete and its sha256 recorded, so a crash never leaves a
half-written file under the final name. A full disk or quota becomes one line.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from noisebench import __version__
from noisebench.errors import UserError
from noisebench.format import digest as metadata_digest
from noisebench.format.checks import read_attr_checked
from noisebench.format.spec import (
    COMPRESSION,
    COMPRESSION_LEVEL,
    FORMAT_MAGIC,
    FORMAT_VERSION,
    IMAGE_CHUNK_SAMPLES,
    KINDS,
    TABULAR_CHUNK_ROWS,
    import_h5py,
    sha256_update,
    to_json,
)
from noisebench.safety.outputs import (
    check_final,
    create_temp,
    discard,
    disk_error,
    host,
    pid_alive,
    place,
    remove_stale_temps,
    writable_parent,
)


def check_output_path(path: Path, force: bool) -> Path:
    """Validate an output file path before any work starts (one clear error, nothing written)."""
    path = Path(path)
    check_final(path, force)  # symlinks and non-regular files refused; existing without --force refused
    writable_parent(path)
    return path


def check_free_space(folder: Path, need_bytes: int, what: str) -> None:
    """Refuse (UserError) before any work when `folder`'s file system cannot hold `need_bytes` more."""

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
        h5py = import_h5py()
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

    h5.attrs[metadata_digest.DIGEST_ATTR] = metadata_digest.record(
        metadata_digest.collect(h5, lambda attrs, n: read_attr_checked(attrs, n, where), where))


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
