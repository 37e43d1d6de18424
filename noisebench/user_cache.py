"""The per-user cache folder: ``$NOISEBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/noisebench``, else
``~/.cache/noisebench``. noisebench never writes into its own package folder at run time (installs may be
read-only: a shared environment, a container run as another user), so everything it caches goes here:
verification results, throughput probes, numba's compiled kernels (``numba/``)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

CACHE_ENV = "NOISEBENCH_CACHE_DIR"
_noted: set = set()


def cache_root() -> Path:
    d = os.environ.get(CACHE_ENV)
    if d:
        return Path(d).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "noisebench"
    return Path.home() / ".cache" / "noisebench"


def writable_dir(path: Path) -> bool:
    """True when `path` exists or can be created and a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
        return True
    except OSError:
        return False


def note_once(key: str, msg: str) -> None:
    """One `note: ...` line on stderr per process."""
    if key not in _noted:
        _noted.add(key)
        print(f"note: {msg}", file=sys.stderr)


def configure_numba() -> bool:
    """Point numba's on-disk cache at a writable per-user folder; False (caching off, with a note) when none is.

    ``NUMBA_CACHE_DIR`` set by the user wins. Otherwise numba would cache beside the package's modules when
    they are writable (an install changed at run time) and fail with "no locator available" when they are not.
    Call before decorating with ``njit(cache=...)``."""
    import numba

    user = os.environ.get("NUMBA_CACHE_DIR")
    target = Path(user).expanduser() if user else cache_root() / "numba"
    if writable_dir(target):
        numba.config.CACHE_DIR = str(target)
        return True
    note_once("numba", f"no writable cache folder ({target}; set {CACHE_ENV} or NUMBA_CACHE_DIR): the synth "
                       "kernels are compiled in memory on every run (a few seconds)")
    return False
