"""Reading files and names that come from users: regular files only, bounded sizes, clean names.

* `open_regular(path, what, max_bytes)` opens with O_NONBLOCK (so a FIFO swapped in after a check
  can never block the open), then checks the *opened* descriptor with fstat: only regular files of
  at most `max_bytes` are accepted; FIFOs, sockets, character/block devices (/dev/zero) and
  directories are refused with one line. Blocking mode is restored for the actual reads.
* `read_bytes` / `read_text` read such a file completely, never more than `max_bytes` (+1 to
  detect growth while reading).
* `check_name` refuses names with control characters (newlines, escape sequences, NUL, ...),
  surrounding whitespace or excessive length before they reach file names, attributes or a terminal.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat

from noisebench.errors import UserError
from noisebench.safety.bounds import MAX_NAME_CHARS
from noisebench.safety.text import has_control

MAX_LIST_ITEMS = 10_000


def split_list(value, flag: str) -> list[str]:
    """The one list parser of options: a comma string, one value or a list of them (repeated flags) -> the
    stripped, non-empty parts, in order. Control characters and more than MAX_LIST_ITEMS parts are refused;
    an option given but empty is an error."""
    if value is None:
        return []
    items = [value] if isinstance(value, (str, int, float)) else list(value)
    for v in items:
        if has_control(str(v)):
            raise UserError(f"{flag} {str(v)[:60]!r} contains control characters (newline, escape, ...); refusing it")
    out = [p for p in (part.strip() for v in items for part in str(v).split(",")) if p]
    if not out and items:
        raise UserError(f"{flag} is empty")
    if len(out) > MAX_LIST_ITEMS:
        raise UserError(f"{flag} lists {len(out)} entries (at most {MAX_LIST_ITEMS})")
    return out


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path, what: str, max_bytes: int | None = None) -> os.stat_result:
    """stat PATH (following links) and refuse anything but a regular file of at most max_bytes."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{what} {path}: no such file") from None
    except OSError as e:
        raise UserError(f"{what} {path}: cannot access it ({e.strerror})") from None
    _check_stat(st, path, what, max_bytes)
    return st


def _check_stat(st: os.stat_result, path, what: str, max_bytes: int | None) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{what} {path}: is {_kind(st.st_mode)}, not a regular file; refusing to read it")
    if max_bytes is not None and st.st_size > max_bytes:
        raise UserError(f"{what} {path}: {st.st_size} bytes is over the {max_bytes}-byte limit for this input")


def open_regular(path, what: str, max_bytes: int | None = None):
    """A binary file object for a regular file of bounded size (see module docstring)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UserError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path}: is a directory, not a regular file; refusing to read it") from None
    except OSError as e:
        try:  # sockets (ENXIO) and the like: name what it is
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise UserError(f"{what} {path}: is {_kind(st.st_mode)}, not a regular file; refusing to read it") from None
        raise UserError(f"{what} {path}: cannot open it ({e.strerror})") from None
    try:
        _check_stat(os.fstat(fd), path, what, max_bytes)
        fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, fl & ~getattr(os, "O_NONBLOCK", 0))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path, what: str, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most max_bytes (refused otherwise, in bounded memory)."""
    with open_regular(path, what, max_bytes) as f:
        try:  # read(n) allocates n bytes up front: ask for the file's size (+1 to see growth), not the cap
            size = min(max_bytes, os.fstat(f.fileno()).st_size)
            data = f.read(size + 1)
            if len(data) > size:  # it grew since fstat: the rest, still within the cap
                data += f.read(max_bytes + 1 - len(data))
        except OSError as e:
            raise UserError(f"{what} {path}: read failed ({e.strerror})") from None
    if len(data) > max_bytes:
        raise UserError(f"{what} {path}: grew past the {max_bytes}-byte limit while being read")
    return data


def read_text(path, what: str, max_bytes: int) -> str:
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{what} {path}: not UTF-8 text (byte {e.start})") from None


def check_name(value, what: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """A printable, single-line name: no control characters, no surrounding whitespace, bounded length."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{what} {value[:40]!r} is not UTF-8 text") from None
    if not isinstance(value, str):
        raise UserError(f"{what} must be a string, got {type(value).__name__}")
    if not value or not value.strip():
        raise UserError(f"{what} must not be empty")
    if has_control(value):
        raise UserError(f"{what} {value[:60]!r} contains control characters (newline, escape, ...); refusing it")
    if len(value) > max_chars:
        raise UserError(f"{what} is {len(value)} characters long (at most {max_chars})")
    if value != value.strip():
        raise UserError(f"{what} {value!r} has leading or trailing whitespace")
    return value


def check_stem(value: str, what: str = "--name") -> str:
    """A name used as a file-name stem: check_name plus no path separators and no leading dot."""
    check_name(value, what)
    if "/" in value or "\\" in value or value.startswith(".") or "\0" in value:
        raise UserError(f"{what} {value!r} must be a plain file-name stem (no '/', no leading '.')")
    return value


def is_regular(path) -> bool:
    """Non-raising: is PATH (following links) a regular file?"""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def file_digest(path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks (bounded memory)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
