"""Reading `.npz` archives from users without trusting their headers.

`read_npz(path, required, optional, max_elements)` opens a regular file of bounded size, checks it
is a zip archive (a `.npy` renamed `.npz` is named as such), and for every wanted member reads
the `.npy` header first: plain numeric or string dtypes only (never object arrays, never
pickles), shape within `max_elements[name]`, and the header's shape x itemsize equal to the bytes
the member declares. Only then is the data read, exactly that many bytes (a member that
decompresses to less is truncated; one that would decompress to more is never read past its
size). The declared total must fit in the memory available now.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile

import numpy as np

from noisebench.errors import UserError
from noisebench.safety import bounds
from noisebench.safety import inputs as safe_input

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"


def _header(fp, where: str, name: str):
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp, max_header_size=10_000)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp, max_header_size=10_000)
        else:
            raise ValueError(f"npy format version {version}")
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - malformed headers raise ValueError/SyntaxError/...
        raise UserError(f"{where}: member {name!r} has a damaged .npy header ({' '.join(str(e).split())[:120]})") from None
    return shape, fortran, dtype


MAX_MEMBERS = 1000
MAX_DIRECTORY_BYTES = 1 << 20


def _check_directory_size(f, where: str) -> None:
    """Bound the zip's central directory (entry count and size) before zipfile parses all of it."""

    size = os.fstat(f.fileno()).st_size
    f.seek(max(0, size - (1 << 16) - 22))
    tail = f.read()
    i = tail.rfind(b"PK\x05\x06")
    if i < 0 or len(tail) - i < 22:
        raise UserError(f"{where}: not a readable .npz file (no zip directory; truncated?)")
    entries, cd_size = struct.unpack("<HI", tail[i + 10 : i + 16])
    if entries > MAX_MEMBERS or cd_size > MAX_DIRECTORY_BYTES:
        raise UserError(f"{where}: zip directory lists {entries} members in {cd_size} bytes "
                        f"(at most {MAX_MEMBERS} members, {MAX_DIRECTORY_BYTES} bytes); not a dataset .npz")


def read_npz(path, required: tuple, optional: tuple = (), max_elements: dict | None = None) -> dict:
    """{name: ndarray} for the required (and present optional) members; every defect is one UserError."""
    where = str(path)
    max_elements = max_elements or {}
    f = safe_input.open_regular(path, "--source", bounds.MAX_NPZ_BYTES)
    with f:
        head = f.read(8)
        if head.startswith(NPY_MAGIC):
            raise UserError(f"{where}: is a single .npy array renamed .npz; save the arrays with numpy.savez "
                            "(x_train, y_train, x_test, y_test)")
        if not head.startswith(ZIP_MAGIC):
            raise UserError(f"{where}: not a readable .npz file (no zip signature)")
        _check_directory_size(f, where)
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise UserError(f"{where}: not a readable .npz file (damaged zip: {' '.join(str(e).split())[:120]})") from None
        with zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            missing = [k for k in required if k not in members]
            if missing:
                raise UserError(f"{where}: the .npz must contain {', '.join(required)} (missing {', '.join(missing)})")
            wanted = [k for k in required + tuple(optional) if k in members]
            infos = {k: zf.getinfo(members[k]) for k in wanted}
            declared = sum(i.file_size for i in infos.values())
            from noisebench.format.reader import available_memory

            avail = available_memory()
            if declared > bounds.MAX_NPZ_BYTES or (avail is not None and declared > avail):
                raise UserError(f"{where}: the arrays declare {declared} bytes, more than "
                                f"{'the memory available' if avail is not None and declared > avail else 'the limit'}; refusing it")
            return {k: _read_member(zf, infos[k], where, k, max_elements.get(k)) for k in wanted}


def _read_member(zf, info, where: str, name: str, max_elems: int | None) -> np.ndarray:
    try:
        fp = zf.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, ValueError) as e:
        raise UserError(f"{where}: cannot read member {name!r} ({' '.join(str(e).split())[:120]})") from None
    with fp:
        shape, fortran, dtype = _header(fp, where, name)
        if dtype.hasobject or dtype.kind not in "biufSU" or dtype.fields is not None or dtype.subdtype is not None:
            raise UserError(f"{where}: {name} has dtype {dtype} (only plain numbers or strings are read; never objects)")
        n = 1
        for s in shape:
            n *= int(s)
        if max_elems is not None and n > max_elems:
            raise UserError(f"{where}: {name} declares shape {tuple(shape)} ({n} elements, at most {max_elems})")
        nbytes = n * dtype.itemsize
        header_len = fp.tell()
        if header_len + nbytes != info.file_size:
            raise UserError(f"{where}: {name} declares shape {tuple(shape)} ({nbytes} bytes) but the member holds "
                            f"{info.file_size - header_len} bytes")
        data = bytearray(nbytes)  # writable, filled in place: one copy of the data in memory
        view, got = memoryview(data), 0
        try:
            while got < nbytes:
                k = fp.readinto(view[got:])
                if not k:
                    break
                got += k
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise UserError(f"{where}: member {name!r} is damaged ({' '.join(str(e).split())[:120]})") from None
        finally:
            view.release()
    if got != nbytes:
        raise UserError(f"{where}: member {name!r} is truncated")
    arr = np.frombuffer(data, dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C")


def npy_from_bytes(raw: bytes, where: str, max_elements: int) -> np.ndarray:
    """A plain numeric array from the bytes of a .npy file, header checked before any allocation."""

    fp = io.BytesIO(raw)
    shape, fortran, dtype = _header(fp, where, "array")
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise UserError(f"{where}: dtype {dtype} is not plain numbers")
    n = 1
    for s in shape:
        n *= int(s)
    if n > max_elements:
        raise UserError(f"{where}: declares shape {tuple(shape)} ({n} elements, at most {max_elements})")
    if len(raw) - fp.tell() != n * dtype.itemsize:
        raise UserError(f"{where}: declares shape {tuple(shape)} but holds {len(raw) - fp.tell()} bytes of data")
    return np.frombuffer(raw, dtype=dtype, offset=fp.tell()).reshape(shape, order="F" if fortran else "C").copy()
