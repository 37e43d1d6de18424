"""Verified data at training time: re-hash a file's arrays before it is used, cache the success.

`verify_for_training(path)` runs the format's own verification (noisebench.format.reader.verify: every
recorded sha256 recomputed) and refuses the file in one line on any mismatch, missing or
unlisted dataset. A success is remembered in a small JSON cache file keyed by the file's
absolute path, size, mtime_ns, ctime_ns, device, inode and the digest of its recorded checksums, so
repeated runs on an unchanged file do not rehash it; any change to the file is verified again: a
rewrite changes mtime/inode, editing the checksums changes their digest, and an edit in place whose
mtime is then restored (`touch -d`, `os.utime`) still moves ctime, which no user can set back.

The cache lives in `$NOISEBENCH_CACHE_DIR` (default `~/.cache/noisebench`), is written atomically
(temp file + rename), and a damaged or unreadable cache is ignored (the file is simply rehashed).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from noisebench.errors import UserError
from noisebench.format.reader import open_file, verify
from noisebench.harness.run.data import checksums_digest

CACHE_ENV = "NOISEBENCH_CACHE_DIR"
CACHE_FILE = "verified-files.json"
CACHE_VERSION = 2  # 2: keys add ctime and device
MAX_ENTRIES = 2000
MAX_CACHE_BYTES = 4 << 20

_MEMO: dict = {}  # this process's successes: stat key -> True


def cache_dir() -> Path:
    from noisebench.user_cache import cache_root  # NOISEBENCH_CACHE_DIR, XDG_CACHE_HOME, ~/.cache

    return cache_root()


def _cache_path() -> Path:
    return cache_dir() / CACHE_FILE


def file_key(path: Path, checksums_digest: str) -> str:
    """Cache key of a file's current state: absolute path, size, mtime_ns, ctime_ns (the kernel sets it on
    every write, chmod or utime: it cannot be restored), device, inode, checksums digest."""
    p = Path(path).resolve()
    st = p.stat()
    blob = json.dumps([str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev, st.st_ino, checksums_digest])
    return hashlib.sha256(blob.encode()).hexdigest()


def _read_cache() -> dict:
    p = _cache_path()
    try:
        if p.stat().st_size > MAX_CACHE_BYTES:
            return {}
        d = json.loads(p.read_text())
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    if not isinstance(d, dict) or d.get("version") != CACHE_VERSION or not isinstance(d.get("entries"), dict):
        return {}
    return {k: v for k, v in d["entries"].items() if isinstance(k, str) and isinstance(v, dict)}


def _write_cache(entries: dict) -> None:
    """Atomic replace; failures (read-only home, full disk) only cost a rehash next time."""
    p = _cache_path()
    if len(entries) > MAX_ENTRIES:  # keep the most recent
        entries = dict(sorted(entries.items(), key=lambda kv: kv[1].get("at", 0))[-MAX_ENTRIES:])
    tmp = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "w") as f:
            json.dump({"version": CACHE_VERSION, "entries": entries}, f)
        os.replace(tmp, p)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def is_cached(path: Path, checksums_digest: str) -> bool:
    try:
        k = file_key(path, checksums_digest)
    except OSError:
        return False
    return k in _MEMO or k in _read_cache()


def verify_for_training(path: str | Path) -> str:
    """Verify `path`'s arrays against its recorded checksums (cached); returns the checksums digest.

    Raises UserError (one line) when the file does not verify: nothing may be trained on it."""

    path = Path(path)
    if not path.exists():
        raise UserError(f"data file {path} not found")
    with open_file(path) as f:
        digest = checksums_digest(f.meta["checksums"])
    try:
        key = file_key(path, digest)
    except OSError as e:
        raise UserError(f"{path}: cannot stat ({e.strerror or e})") from None
    if key in _MEMO:
        return digest
    entries = _read_cache()
    if key in entries:
        _MEMO[key] = True
        return digest
    rows = verify(path)
    bad = [(n, st, d) for n, st, d in rows if st != "ok"]
    if bad:
        n, st, d = bad[0]
        more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UserError(f"{path}: data does not match its recorded checksums ({n}: {st}, {d}){more}; "
                        "refusing to train on it (rebuild the file or restore the original)")
    # the file must not have changed while it was hashed
    try:
        if file_key(path, digest) != key:
            raise UserError(f"{path}: the file changed while it was verified; run again")
    except OSError as e:
        raise UserError(f"{path}: cannot stat ({e.strerror or e})") from None
    _MEMO[key] = True
    entries = _read_cache()  # merge with what other processes wrote meanwhile
    entries[key] = {"path": str(path.resolve()), "at": time.time()}
    _write_cache(entries)
    return digest


def clear_memo() -> None:
    """Forget this process's verifications (tests; the on-disk cache is unaffected)."""
    _MEMO.clear()
