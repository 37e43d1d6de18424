"""`noisebench get`: download a published noisebench file, verify it, and only then name it.

* Schemes: http, https and file (anything else is refused).
* The download goes to `<out>/<name>.part`; an interrupted download (connection closed early,
  timeout) is resumed with an HTTP Range request, on the next attempt or the next run. A server
  that ignores Range makes the download restart from byte 0. A resumed `.part` whose result does
  not match `--sha256` (left by a download of other content) is discarded and downloaded once afresh.
* When complete, the file's sha256 must equal `--sha256`, and then every dataset checksum inside
  it must match (`noisebench verify`); only then is `.part` renamed to `<name>` (atomic). On a
  mismatch the `.part` file is deleted and nothing exists under the final name.
* Bounded: at most `max_bytes` (default MAX_BYTES) are accepted, checked against Content-Length
  before reading and against the bytes actually received; each network operation times out after
  `timeout` seconds; a fixed number of attempts.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from noisebench.errors import UserError, VerificationFailed
from noisebench.format.reader import verify
from noisebench.share.files import check_new_path

MAX_BYTES = 64 << 30  # 64 GiB: larger than any file noisebench builds from CIFAR-10/MNIST by far
TIMEOUT_S = 30.0
ATTEMPTS = 4
BLOCK = 1 << 20
RETRY_DELAY_S = 0.2  # times the attempt number, at most 2 s
USER_AGENT = "noisebench-get"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")

Progress = Callable[[int], None] | None


def _name_from_url(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    name = urllib.parse.unquote(path.rsplit("/", 1)[-1])
    return name


def _check_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise UserError(f"cannot use {name!r} as a file name; pass --name NAME")
    return name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            h.update(block)
    return h.hexdigest()


class _Truncated(Exception):
    pass


def _http_attempt(url: str, part: Path, max_bytes: int, timeout: float, progress: Progress) -> None:
    """One request; appends to `part` (resuming with Range); raises _Truncated when the body ends early."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - scheme checked by the caller
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # our .part is already as long as (or longer than) the file: start over
            part.unlink()
            raise _Truncated("range not satisfiable; restarting") from None
        raise UserError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise _Truncated(f"cannot connect ({reason})") from None
    with resp:
        status = getattr(resp, "status", 200)
        length = resp.headers.get("Content-Length")
        mode = "ab"
        if have and status == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                raise UserError(f"{url}: the server answered the resume request with a wrong Content-Range")
            expected_total = have + int(length) if length and length.isdigit() else None
        else:
            mode, have = "wb", 0  # a full response: start from byte 0
            expected_total = int(length) if length and length.isdigit() else None
        if expected_total is not None and expected_total > max_bytes:
            raise UserError(f"{url}: {expected_total} bytes is over the limit of {max_bytes} bytes (--max-bytes)")
        got = have
        with open(part, mode) as out:
            while True:
                try:
                    block = resp.read(BLOCK)
                except (socket.timeout, TimeoutError, ConnectionError, OSError) as e:
                    raise _Truncated(f"connection lost after {got} bytes ({e})") from None
                except Exception as e:  # noqa: BLE001 - http.client.IncompleteRead and friends
                    raise _Truncated(f"connection lost after {got} bytes ({type(e).__name__})") from None
                if not block:
                    break
                got += len(block)
                if got > max_bytes:
                    raise UserError(f"{url}: more than {max_bytes} bytes (--max-bytes); refusing it")
                out.write(block)
                if progress:
                    progress(len(block))
            out.flush()
            os.fsync(out.fileno())
        if expected_total is not None and got < expected_total:
            raise _Truncated(f"connection closed after {got} of {expected_total} bytes")


def _copy_file_url(url: str, part: Path, max_bytes: int) -> None:
    src = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if not src.is_file():
        raise UserError(f"{url}: no such file")
    if src.stat().st_size > max_bytes:
        raise UserError(f"{url}: {src.stat().st_size} bytes is over the limit of {max_bytes} bytes (--max-bytes)")
    with open(src, "rb") as fi, open(part, "wb") as fo:
        shutil.copyfileobj(fi, fo, BLOCK)
        fo.flush()
        os.fsync(fo.fileno())


def fetch(url: str, sha256: str, out: Path = Path("."), name: str | None = None, force: bool = False,
          max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT_S, attempts: int = ATTEMPTS,
          progress: Progress = None) -> Path:
    """Download `url` to `out/name`, verified (outer sha256, then internal checksums). Returns the path."""
    if not isinstance(sha256, str) or not _HEX64.match(sha256):
        raise UserError("--sha256 must be 64 hexadecimal digits (the published file's sha256)")
    sha256 = sha256.lower()
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise UserError(f"{url}: only http://, https:// and file:// URLs are supported")
    if max_bytes <= 0 or timeout <= 0:
        raise UserError("--max-bytes and --timeout must be positive")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    final = check_new_path(out / _check_name(name or _name_from_url(url)), force)
    part = final.with_name(final.name + ".part")
    import fcntl

    lock = final.with_name(f".{final.name}.lock")
    lock_fh = open(lock, "a")
    try:
        fcntl.flock(lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(lock_fh.fileno()).st_ino != os.stat(lock).st_ino:  # removed by a finishing downloader
            raise OSError("stale lock")
    except OSError:
        lock_fh.close()
        raise UserError(f"another `noisebench get` is downloading {final}; wait for it") from None
    try:
        if scheme == "file":
            _copy_file_url(url, part, max_bytes)
        else:
            stale = part.exists() and part.stat().st_size > 0
            _download(url, part, max_bytes, timeout, attempts, progress)
            if stale and _sha256(part) != sha256:  # an old .part of other content: one fresh try
                part.unlink()
                _download(url, part, max_bytes, timeout, attempts, progress)
        _verify_and_place(part, final, sha256, url)
    finally:
        lock.unlink(missing_ok=True)  # while still holding the lock
        lock_fh.close()
    return final


def _download(url: str, part: Path, max_bytes: int, timeout: float, attempts: int, progress: Progress) -> None:
    last = ""
    for i in range(max(1, attempts)):
        try:
            _http_attempt(url, part, max_bytes, timeout, progress)
            return
        except _Truncated as e:
            last = str(e)
            time.sleep(min(2.0, RETRY_DELAY_S * (i + 1)))
    have = part.stat().st_size if part.exists() else 0
    hint = f"; rerun the same command to resume from {part} ({have} bytes)" if have else ""
    raise UserError(f"{url}: download failed after {attempts} attempts ({last}){hint}")


def _verify_and_place(part: Path, final: Path, sha256: str, url: str) -> None:
    actual = _sha256(part)
    if actual != sha256:
        part.unlink(missing_ok=True)
        raise VerificationFailed(f"{url}: sha256 mismatch (expected {sha256}, got {actual}); nothing was saved")
    try:
        rows = verify(part)
    except UserError as e:
        part.unlink(missing_ok=True)
        raise UserError(f"{url}: the downloaded file is not a valid noisebench file ({e}); nothing was saved") from None
    bad = [r for r in rows if r[1] != "ok"]
    if bad:
        part.unlink(missing_ok=True)
        raise VerificationFailed(f"{url}: {len(bad)} internal checksum(s) do not match ({bad[0][0]}: {bad[0][1]}); "
                        "nothing was saved")
    os.replace(part, final)
