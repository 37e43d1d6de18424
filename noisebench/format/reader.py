"""Reading noisebench files: open and validate (guarded against libhdf5 hangs), verify checksums.

`open_file` validates structure before touching data (noisebench.format.checks) and returns a
read-only `NoisebenchFile`; `verify` recomputes every recorded sha256, the split record and the
metadata digest; loading is refused when it would not fit in the memory available now.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from noisebench.errors import UserError
from noisebench.format import digest as metadata_digest
from noisebench.format.checks import (
    check_attr_types,
    check_split_dtypes,
    first_line,
    parse_json_attr,
    read_attr_checked,
    walk_checked,
)
from noisebench.format.spec import (
    DICT_JSON_ATTRS,
    FORMAT_MAGIC,
    FORMAT_VERSION,
    KINDS,
    MIN_FORMAT_VERSION,
    REQUIRED_ATTRS,
    SPLITS,
    dataset_sha256,
    import_h5py,
)


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
    h5py = import_h5py()
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
            meta[name] = read_attr_checked(h5.attrs, name, where)
        if not isinstance(meta.get("noisebench_format"), str) or meta.get("noisebench_format") != FORMAT_MAGIC:
            raise UserError(f"{where}: not a noisebench dataset (HDF5 without the noisebench attributes)")
        missing = [a for a in REQUIRED_ATTRS if a not in meta]
        if missing:
            raise UserError(f"{where}: damaged noisebench file, missing attribute(s) {', '.join(missing)}")
        check_attr_types(meta, where)
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
        for key in DICT_JSON_ATTRS:
            meta[key] = parse_json_attr(meta, key, where)
            if not isinstance(meta[key], dict):
                raise UserError(f"{where}: attribute {key!r} must be a JSON object")
        if not all(isinstance(v, str) for v in meta["checksums"].values()):
            raise UserError(f"{where}: attribute 'checksums' must map dataset names to hex strings")
        for key in list(meta):
            if key.endswith("_json"):
                meta[key] = parse_json_attr(meta, key, where)
        datasets: dict = {}
        walk_checked(h5, "", datasets, where)
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
            raise UserError(f"{where}: damaged HDF5 file ({first_line(e)})") from e
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

    where = str(f.path)
    attrs = metadata_digest.collect(f.h5, lambda a, n: read_attr_checked(a, n, where), where)
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
