"""Checks before SQLite touches a results-database path: ours, a regular file, writable.

SQLite opens anything: a FIFO (blocks), /dev/null (then creates `/dev/null-journal` next to it),
a directory, another program's database (to which `CREATE TABLE IF NOT EXISTS` adds our tables and
`journal_mode = WAL` changes its format). So before connecting:

* the path must be a regular file (or not exist yet), and not a symbolic link when writing;
* an existing file must be an SQLite database stamped with noisebench's `PRAGMA application_id`
  (APPLICATION_ID), or an unstamped one holding only noisebench's tables (databases created before
  the stamp existed; stamped on first write). Anything else is refused and left byte-identical;
* read-only files and folders are reported as such, in one line, before any work.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from noisebench.errors import UserError

APPLICATION_ID = 0x4E425244  # "NBRD": noisebench results database
SQLITE_MAGIC = b"SQLite format 3\x00"
try:  # every table noisebench creates, from the one schema definition
    from noisebench.harness.results.schema import TABLES as _TABLES

    OUR_TABLES = {t.name for t in _TABLES}
except ImportError:  # pragma: no cover
    OUR_TABLES = {"meta", "runs", "epochs"}


def _header(path: Path, follow: bool) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    fd = os.open(path, flags)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def _legacy_ours(path: Path) -> bool:
    """An unstamped database whose tables are exactly noisebench's (read without locks or side files)."""
    try:
        uri = f"{Path(path).resolve().as_uri()}?immutable=1"
        with sqlite3.connect(uri, uri=True) as c:
            names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not names or not names <= OUR_TABLES | {"sqlite_sequence"} or "runs" not in names:
                return False
            v = c.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            return v is not None
    except sqlite3.Error:
        return False


def check_db_path(path: Path, readonly: bool) -> bool:
    """Refuse (UserError) a path SQLite must not open; True if the file exists and has content."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if readonly:
            raise UserError(f"results database {path} not found; run `noisebench robustness` or `train` first") from None
        folder = path.parent if str(path.parent) else Path(".")
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(f"cannot create --db {path}: folder {folder} is read-only") from None
        return False
    except OSError as e:
        raise UserError(f"--db {path}: {e.strerror or e}") from None
    if stat.S_ISLNK(st.st_mode):
        if not readonly:
            raise UserError(f"--db {path} is a symbolic link; refusing to write through it (give the real path)")
        try:
            st = os.stat(path)
        except OSError as e:
            raise UserError(f"--db {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"--db {path} is a folder; give a database file name")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"--db {path} is not a regular file (device, FIFO or socket); refusing to open it")
    if st.st_size == 0:
        if readonly:
            raise UserError(f"{path} is empty, not a noisebench results database")
        return False
    try:
        head = _header(path, follow=readonly)
    except OSError as e:
        raise UserError(f"--db {path}: cannot read it ({e.strerror or e})") from None
    if not head.startswith(SQLITE_MAGIC):
        raise UserError(f"{path} is not a noisebench results database (not SQLite); left unchanged")
    app_id = int.from_bytes(head[68:72], "big") if len(head) >= 72 else 0
    if app_id != APPLICATION_ID and not (app_id == 0 and _legacy_ours(path)):
        who = f"application_id {app_id:#x}" if app_id else "other tables"
        raise UserError(f"{path} is another program's SQLite database ({who}), not a noisebench results database; "
                        "left unchanged")
    if not readonly:
        folder = path.parent if str(path.parent) else Path(".")
        if not os.access(path, os.W_OK):
            raise UserError(f"--db {path} is read-only; results cannot be recorded (use another --db or fix its permissions)")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(f"--db {path}: its folder {folder} is read-only (SQLite needs to create its journal there)")
    return True


def stamp(conn: sqlite3.Connection) -> None:
    """Mark the database as noisebench's (first write; idempotent)."""
    if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def connect_target(path: Path, readonly: bool) -> tuple[str, bool]:
    """(database, is_uri) for sqlite3.connect: a read-only file or folder (a read-only mount, an
    archive) is opened immutable, since SQLite could not create the WAL index it needs next to it."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if readonly and not (os.access(path, os.W_OK) and os.access(folder, os.W_OK | os.X_OK)):
        return f"{path.resolve().as_uri()}?mode=ro&immutable=1", True
    return str(path), False
