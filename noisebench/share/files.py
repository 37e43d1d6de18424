"""Small file-system helpers for the sharing commands (card, get, export-data).

Every output is written under a temporary name in its destination folder and renamed into place
(`os.replace`, atomic on POSIX), so an interrupted command never leaves a half-written file under
a final name; existing outputs are replaced only when the caller passes force=True.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from noisebench.errors import UserError
from noisebench.safety.outputs import file_mode, writable_parent, write_bytes


def check_new_path(path: Path, force: bool) -> Path:
    """Refuse an existing output (file or folder) unless force, and a symlink at its name always;
    make sure the parent is a writable folder."""
    path = Path(path)
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link; refusing to write through it (remove it or choose another name)")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")
    writable_parent(path)
    return path


def _dir_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` under a temporary name next to `path`, then move it over `path` (callers checked --force)."""
    write_bytes(path, data, force=True)


def temp_sibling(path: Path, is_dir: bool) -> Path:
    """A fresh hidden temporary file or folder next to `path` (the caller renames or removes it)."""
    path = Path(path)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, _dir_mode())
        return tmp
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, file_mode())
    return Path(tmp)


def replace_path(tmp: Path, final: Path) -> None:
    """Move a finished temp file/folder to `final`, replacing what is there (callers checked --force)."""
    tmp, final = Path(tmp), Path(final)
    if final.is_dir() and not final.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.replace(final, old / final.name)
        try:
            os.replace(tmp, final)
        except BaseException:
            os.replace(old / final.name, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def remove_path(p: Path) -> None:
    p = Path(p)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
