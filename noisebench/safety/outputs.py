"""Writing output files safely: private temp files, exclusive final placement, no symlinks, cleanup.

Every output (datasets, report files, plots, pending results) is written to a temp file created
next to it with O_CREAT|O_EXCL|O_NOFOLLOW (a planted file or symlink at the temp name is never
written through), named `.NAME.PID@HOST.RANDOM.tmp` so a later start can tell whose it is, and
registered for removal on any exit path (exception, SIGINT/SIGTERM, interpreter exit). The finished
temp file is placed under its final name

* without --force by `os.link(temp, final)`, which fails if the name exists: of two writers racing
  for one name exactly one wins, the other gets one `error:` line and nothing is overwritten;
* with --force by `os.replace`, which replaces a directory entry and never writes through it.

A symbolic link (or anything but a regular file) at the final name is refused either way.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
import stat
import threading
from pathlib import Path
from typing import Iterator

from noisebench.errors import UserError

# errnos meaning "the storage failed", reported as one line naming the file
DISK_ERRNOS = {code: os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)}
DISK_ERRNOS[errno.EFBIG] = f"{os.strerror(errno.EFBIG)} (over the file system's or the file-size limit, ulimit -f)"
_ERRNO_IN_TEXT = re.compile(r"errno = (\d+)")
# link() is not supported everywhere (some FUSE/SMB/vfat mounts): fall back to a checked rename
_NO_LINK = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.EACCES}


class OutputExists(UserError):
    """The final name exists (or another writer placed it first) and --force was not given."""


# -------------------------------------------------------------------------------- temp registry
_registry: set[str] = set()
_lock = threading.Lock()


def register(path: str | os.PathLike) -> None:
    with _lock:
        _registry.add(os.fspath(path))


def unregister(path: str | os.PathLike) -> None:
    with _lock:
        _registry.discard(os.fspath(path))


def _remove(p: str) -> None:
    try:
        st = os.lstat(p)
    except OSError:
        return
    try:
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(p, ignore_errors=True)
        else:
            os.unlink(p)
    except OSError:
        pass


def cleanup_registered() -> list[str]:
    """Remove every registered temp file/folder of this process (signal handlers, atexit)."""
    if os.getpid() != _owner_pid:
        return []  # a forked child never removes its parent's temps
    with _lock:
        items = sorted(_registry)
        _registry.clear()
    for p in items:
        _remove(p)
    return items


_owner_pid = os.getpid()
atexit.register(cleanup_registered)


# -------------------------------------------------------------------------------- names
def host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists (another user's) or unparsable: keep the file
    return True


def temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}@{host()}.{secrets.token_hex(4)}.tmp")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete `.NAME.PID@HOST.*.tmp` files (or folders) of `path` left by a killed writer on this host.

    Only temps whose writer process no longer exists are removed: a concurrent writer's (live pid)
    and other hosts' (a shared folder) are left alone. Returns what was removed."""
    path = Path(path)
    pat = re.compile(r"^\." + re.escape(path.name) + r"\.(\d+)@([A-Za-z0-9-]+)\.[A-Za-z0-9_]+\.tmp$")
    me, removed = host(), []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for q in entries:
        m = pat.match(q.name)
        if not m or m.group(2) != me:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or pid_alive(pid):
            continue
        _remove(str(q))
        if not os.path.lexists(q):
            removed.append(q)
    return removed


# -------------------------------------------------------------------------------- checks
def check_final(final: Path, force: bool, what: str = "output") -> None:
    """Refuse a symlink or a non-regular file at `final`, and an existing file without --force."""
    try:
        st = os.lstat(final)
    except FileNotFoundError:
        return
    except OSError as e:
        raise UserError(f"cannot check {what} {final}: {e.strerror or e}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UserError(f"{what} {final} is a symbolic link; refusing to write through it (remove it or choose another name)")
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{what} {final} is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{what} {final} is not a regular file (device, FIFO or socket); refusing to replace it")
    if not force:
        raise OutputExists(f"{final} already exists; pass --force to overwrite it")


def disk_error(e: BaseException) -> str | None:
    """A short reason if `e` is a storage failure (full disk, quota, file-size limit, I/O error), else None.
    Also recognises HDF5's errors, which carry the errno only in their text."""
    code = getattr(e, "errno", None)
    if code not in DISK_ERRNOS:
        m = _ERRNO_IN_TEXT.search(str(e))
        code = int(m.group(1)) if m else None
    if code in DISK_ERRNOS:
        return DISK_ERRNOS[code]
    text = str(e).lower()
    if "database or disk is full" in text:
        return DISK_ERRNOS[errno.ENOSPC]
    if "disk i/o error" in text:
        return DISK_ERRNOS[errno.EIO]
    return None


# -------------------------------------------------------------------------------- writing
def create_temp(final: Path, directory: bool = False) -> Path:
    """A new private temp file (or folder) next to `final`, registered for cleanup."""
    final = Path(final)
    for _ in range(100):
        tmp = temp_name(final)
        try:
            if directory:
                os.mkdir(tmp, 0o700)
            else:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                             | getattr(os, "O_CLOEXEC", 0), 0o600)
                os.close(fd)
        except FileExistsError:
            continue
        except OSError as e:
            raise UserError(f"cannot write to {final.parent}: {e.strerror or e}") from None
        register(tmp)
        return tmp
    raise UserError(f"cannot create a temp file next to {final}")


def discard(tmp: Path | None) -> None:
    if tmp is not None:
        _remove(os.fspath(tmp))
        unregister(tmp)


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


file_mode = _file_mode  # the mode a new file gets under this process's umask


def writable_parent(path: Path) -> Path:
    """Create `path`'s folder if needed and check it is a writable folder (one clear error otherwise)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UserError(f"cannot write {path}: {parent} is not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {parent}: {e.strerror or e}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {parent}: permission denied")
    return parent


def place(tmp: Path, final: Path, force: bool, what: str = "output") -> None:
    """Move the finished `tmp` to `final` (exclusively without `force`); `tmp` is gone afterwards."""
    tmp, final = Path(tmp), Path(final)
    try:
        os.chmod(tmp, _file_mode())  # temps are created 0600; give the usual file mode
        check_final(final, force, what)
        if force:
            os.replace(tmp, final)
        else:
            try:
                os.link(tmp, final, follow_symlinks=False)
            except FileExistsError:
                raise OutputExists(f"{final} was created by another writer meanwhile; kept theirs, discarded this "
                                   "one (pass --force to overwrite)") from None
            except OSError as e:
                if e.errno not in _NO_LINK:
                    raise
                if os.path.lexists(final):
                    raise OutputExists(f"{final} already exists; pass --force to overwrite it") from None
                os.rename(tmp, final)
            else:
                os.unlink(tmp)
        unregister(tmp)
        _fsync_dir(final.parent)
    except OSError as e:
        discard(tmp)
        why = disk_error(e) or (e.strerror or str(e))
        raise UserError(f"cannot write {final}: {why}; nothing was written") from None
    except BaseException:
        discard(tmp)
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(final: str | os.PathLike, force: bool, what: str = "output") -> Iterator[Path]:
    """`with atomic_output(p, force) as tmp:` write `tmp`; on success it becomes `p` (see `place`),
    on any exception (full disk included: one line) it is removed and `p` is untouched."""
    final = Path(final)
    check_final(final, force, what)
    remove_stale_temps(final)
    tmp = create_temp(final)
    try:
        yield tmp
    except OSError as e:
        discard(tmp)
        why = disk_error(e)
        if why is None:
            raise
        raise UserError(f"cannot write {final}: {why}; nothing was written") from None
    except BaseException:
        discard(tmp)
        raise
    place(tmp, final, force, what)


def write_bytes(final: str | os.PathLike, data: bytes, force: bool, what: str = "output") -> Path:
    """Write `data` to `final` atomically and safely (see `atomic_output`)."""
    with atomic_output(final, force, what) as tmp:
        with open(tmp, "r+b") as f:  # the temp exists (O_EXCL-created); never re-create it by name
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(final)
