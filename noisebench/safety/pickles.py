"""A restricted unpickler for numeric dataset pickles (the CIFAR-10 "python version" batches).

The official batches hold a dict with bytes/str keys, lists of ints and bytes, and one numpy
uint8 array, pickled the way numpy pickles arrays:

    numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')      # an empty array
    BUILD (1, shape, numpy.dtype('u1', False, True), False, raw_bytes)  # ndarray.__setstate__
    numpy.dtype('u1', False, True) + BUILD (3, '|', None, None, None, -1, -1, 0)

plus, in Python-3 protocol-2 files, `_codecs.encode(text, 'latin1')` for every bytes object.
`safe_loads` runs the pure-Python unpickler with a reduced opcode table and allows exactly that:

* only the opcodes of plain data (ints, floats, str/bytes, lists, tuples, dicts, memo) plus
  GLOBAL/STACK_GLOBAL, REDUCE and BUILD; NEWOBJ, INST, OBJ, extensions, persistent ids and sets are
  refused;
* GLOBAL resolves only the names above (never importing anything), REDUCE calls only checking
  wrappers of them (`numpy.ndarray` itself can never be called, so no allocation by a declared
  shape), and BUILD is accepted only on arrays/dtypes with the exact state layouts above, with
  dtype among plain integer/float types and the raw bytes matching the shape;
* every size comes from bytes present in the file (the memo is a dict, not an index-sized
  list; declared lengths beyond the data are truncation errors), and the caller caps the file
  size, so memory and time are linear in the (bounded) file size.

Every refusal is a `pickle.UnpicklingError`.
"""

from __future__ import annotations

import codecs
import io
import pickle

import numpy as np

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, whatever module it lives in
_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1", "<u2", "<i2", "<u4", "<i4", "<u8",
           "<i8", "<f4", "<f8", "|u1", "|i1", "|b1"}
MAX_ARRAY_ELEMENTS = 1 << 31  # per array; the file-size cap bounds the real total far below this


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


_NDARRAY = _Marker("numpy.ndarray")


def _reconstruct(subtype, shape, code):
    if subtype is not _NDARRAY or shape != (0,) or code not in (b"b", "b"):
        raise pickle.UnpicklingError("array reconstruction with unexpected arguments")
    return _RECONSTRUCT(np.ndarray, (0,), b"b")


def _dtype(spec, align=False, copy=True):
    if not isinstance(spec, str) or spec not in _DTYPES or not isinstance(align, bool) or not isinstance(copy, bool):
        raise pickle.UnpicklingError(f"dtype {str(spec)[:20]!r} is not a plain numeric type")
    return np.dtype(spec)


def _encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode with unexpected arguments")
    return codecs.encode(text, "latin1")


def _bytes(*args):
    if args:  # only bytes() (how protocol 2 writes b""); bytes(n) would allocate n bytes
        raise pickle.UnpicklingError("bytes() with arguments")
    return b""


_GLOBALS = {
    ("builtins", "bytes"): _bytes,
    ("__builtin__", "bytes"): _bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
}
_CALLABLE = (_reconstruct, _dtype, _encode, _bytes)


def _check_array_state(inst: np.ndarray, state) -> None:
    if not (isinstance(state, tuple) and len(state) == 5):
        raise pickle.UnpicklingError("array state is not (version, shape, dtype, fortran, data)")
    version, shape, dtype, fortran, raw = state
    if version != 1 or not isinstance(fortran, bool) or not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("array state has an unexpected layout")
    if dtype.kind not in "uifb" or dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize > 8:
        raise pickle.UnpicklingError(f"array of type {dtype} is not plain numeric data")
    if not isinstance(shape, tuple) or len(shape) > 8 or not all(type(s) is int and 0 <= s <= MAX_ARRAY_ELEMENTS for s in shape):
        raise pickle.UnpicklingError("array shape is not a short tuple of sizes")
    n = 1
    for s in shape:
        n *= s
    if n > MAX_ARRAY_ELEMENTS:
        raise pickle.UnpicklingError(f"array of {n} elements is over the {MAX_ARRAY_ELEMENTS} limit")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != n * dtype.itemsize:
        raise pickle.UnpicklingError("array data does not match its declared shape")


def _check_dtype_state(state) -> None:
    if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in ("|", "<", ">", "=")
            and state[2] is None and state[3] is None and state[4] is None and state[5] == -1 and state[6] == -1
            and state[7] == 0):
        raise pickle.UnpicklingError("dtype state has an unexpected layout")


class _SafeUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcode table can be reduced
    _ALLOWED_OPS = {
        "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP", "NONE", "NEWTRUE", "NEWFALSE",
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
        "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
        "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
        "EMPTY_LIST", "LIST", "APPEND", "APPENDS", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
        "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS",
        "PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET", "MEMOIZE",
        "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD",
    }
    dispatch = {}

    def find_class(self, module, name):
        obj = _GLOBALS.get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(f"refusing to load {str(module)[:60]}.{str(name)[:60]} from a dataset pickle")
        return obj

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is f for f in _CALLABLE) or not isinstance(args, tuple) or len(args) > 3:
            raise pickle.UnpicklingError(f"refusing to call {func!r:.60} while unpickling")
        self.stack[-1] = func(*args)

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray and inst.shape == (0,):
            _check_array_state(inst, state)
        elif type(inst) is np.dtype or isinstance(inst, np.dtype):
            _check_dtype_state(state)
        else:
            raise pickle.UnpicklingError(f"refusing to set the state of a {type(inst).__name__}")
        inst.__setstate__(state)

    def _target(self, kind, idx):
        obj = self.stack[idx] if idx < 0 else self.stack[-1]
        if type(obj) is not kind:
            raise pickle.UnpicklingError(f"refusing to add items to a {type(obj).__name__}")

    def load_append(self):
        self._target(list, -2)
        pickle._Unpickler.load_append(self)

    def load_appends(self):
        items = self.pop_mark()
        if type(self.stack[-1]) is not list:
            raise pickle.UnpicklingError(f"refusing to add items to a {type(self.stack[-1]).__name__}")
        self.stack[-1].extend(items)

    def load_setitem(self):
        self._target(dict, -3)
        pickle._Unpickler.load_setitem(self)

    def load_setitems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not dict:
            raise pickle.UnpicklingError(f"refusing to add items to a {type(target).__name__}")
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]


for _code, _fn in pickle._Unpickler.dispatch.items():
    _name = next((n for n in dir(pickle) if n.isupper() and getattr(pickle, n) == bytes([_code])), None)
    if _name in _SafeUnpickler._ALLOWED_OPS:
        _SafeUnpickler.dispatch[_code] = _fn
for _op, _fn in ((pickle.REDUCE, "load_reduce"), (pickle.BUILD, "load_build"), (pickle.APPEND, "load_append"),
                  (pickle.APPENDS, "load_appends"), (pickle.SETITEM, "load_setitem"), (pickle.SETITEMS, "load_setitems")):
    _SafeUnpickler.dispatch[_op[0]] = getattr(_SafeUnpickler, _fn)


def _refuse(self):
    raise pickle.UnpicklingError("pickle opcode not allowed in a dataset pickle")


class _Dispatch(dict):
    def __missing__(self, key):
        return _refuse


_SafeUnpickler.dispatch = _Dispatch(_SafeUnpickler.dispatch)


def safe_loads(data: bytes):
    """Unpickle DATA with the restrictions above (bytes of Python-2 str become bytes)."""
    return _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
