"""Untrusted HDF5 files (issue 7): malformed or hostile files are refused with one clear line by
`open_file`, `verify`, `info` and training; links are never followed, nothing is unpickled, and no
allocation is unbounded. Includes hypothesis fuzzing of structures/attributes and of raw bytes."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noisebench.errors import UserError
from noisebench.format import DatasetWriter, open_file, verify
from noisebench.share.info import render

FUZZ = settings(max_examples=int(os.environ.get("NOISEBENCH_FUZZ_EXAMPLES", "30")), deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A small valid synth pair (regression) to mutate."""
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    clean, dirty = build(SynthParams(rows=70, seed=0), tmp_path_factory.mktemp("valid"), workers=1)
    return Path(clean), Path(dirty)


@pytest.fixture(autouse=True, scope="module")
def _short_parse_timeout():
    """A hung libhdf5 parse is cut after 2 s here (60 s in production); tiny files parse in milliseconds."""
    import noisebench.format.reader as h5f

    old, h5f.PARSE_TIMEOUT_S = h5f.PARSE_TIMEOUT_S, 2.0
    yield
    h5f.PARSE_TIMEOUT_S = old


def _one_line_refusal(r, where: str = "") -> None:
    assert r.code != 0, (where, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.err, (where, r.err)


class _Trap:
    """Unpickling this creates the marker file: proof that something was unpickled."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ------------------------------------------------------------------ hostile mutations
def _ext_link(f, tmp):
    del f["val/x"]
    f["val/x"] = h5py.ExternalLink(str(tmp / "elsewhere.h5"), "/val/x")


def _soft_link(f, tmp):
    del f["val/y"]
    f["val/y"] = h5py.SoftLink("/train/y")


def _object_ds(f, tmp):
    f.create_dataset("truth/names", data=np.array(["a", "bb"], dtype=object), dtype=h5py.string_dtype())


def _vlen_ds(f, tmp):
    d = f.create_dataset("truth/ragged", (2,), dtype=h5py.vlen_dtype(np.int32))
    d[0], d[1] = np.arange(3, dtype=np.int32), np.arange(5, dtype=np.int32)


def _ref_ds(f, tmp):
    f.create_dataset("truth/refs", data=[f["train/x"].ref], dtype=h5py.ref_dtype)


def _compound_ds(f, tmp):
    f.create_dataset("truth/rec", data=np.zeros(3, dtype=[("a", "i4"), ("b", "f8")]))


def _pickle_opaque_ds(f, tmp):
    _Trap.marker = str(tmp / "UNPICKLED")
    f.create_dataset("truth/blob", data=np.void(pickle.dumps(_Trap())))


def _pickle_attr(f, tmp):
    _Trap.marker = str(tmp / "UNPICKLED")
    f.attrs["params"] = np.void(pickle.dumps(_Trap()))


def _huge_chunks(f, tmp):
    f.create_dataset("truth/big", shape=(200_000, 100), dtype=np.float64, chunks=(100_000, 100))


def _sparse_bomb(f, tmp):
    del f["train/x"]
    f.create_dataset("train/x", shape=(50 * 10**9 // 40, 10), dtype=np.float32, chunks=(1024, 10))  # 50 GB, nothing stored


def _wrong_length(f, tmp):
    del f["val/y"]
    f["val/y"] = np.zeros(3, np.float32)


def _scalar_x(f, tmp):
    del f["val/x"]
    f["val/x"] = np.float32(1.0)


def _huge_attr(f, tmp):
    f.attrs["notes"] = np.zeros(300_000, np.float64)  # 2.4 MB


def _array_kind(f, tmp):
    f.attrs["kind"] = np.array([b"synth", b"psi"])


def _int_kind(f, tmp):
    f.attrs["kind"] = 5


def _absurd_classes(f, tmp):
    f.attrs["num_classes"] = 10**12


def _newer_version(f, tmp):
    f.attrs["format_version"] = 99


def _deep_json(f, tmp):
    f.attrs["params"] = "[" * 200_000 + "]" * 200_000


def _bad_json(f, tmp):
    f.attrs["source"] = "{not json"


def _list_checksums(f, tmp):
    f.attrs["checksums"] = '["train/x"]'


def _nan_psi(f, tmp):
    f.attrs["psi"] = float("nan")


def _link_cycle(f, tmp):
    f["train"]["loop"] = f["train"]  # a hard link from a group to itself


def _virtual(f, tmp):
    layout = h5py.VirtualLayout(shape=(10,), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(tmp / "elsewhere.h5"), "data", shape=(10,))
    f.create_virtual_dataset("truth/virtual", layout)


def _external_storage(f, tmp):
    (tmp / "raw.bin").write_bytes(b"\0" * 400)
    f.create_dataset("truth/ext", shape=(100,), dtype=np.float32, external=[(str(tmp / "raw.bin"), 0, 400)])


def _plugin_filter(f, tmp):
    f.create_dataset("truth/scaled", data=np.arange(100, dtype=np.int32), scaleoffset=0, chunks=(50,))


HOSTILE = {
    "external link": (_ext_link, "external link"),
    "soft link": (_soft_link, "soft link"),
    "object/string dataset": (_object_ds, "unsupported type"),
    "vlen dataset": (_vlen_ds, "unsupported type"),
    "reference dataset": (_ref_ds, "unsupported type"),
    "compound dataset": (_compound_ds, "unsupported type"),
    "opaque pickle dataset": (_pickle_opaque_ds, "unsupported type"),
    "opaque pickle attribute": (_pickle_attr, "unsupported type"),
    "huge chunk declaration": (_huge_chunks, "chunks"),
    "unallocated 50 GB dataset": (_sparse_bomb, "stores only"),
    "x/y length mismatch": (_wrong_length, "inputs but"),
    "scalar x": (_scalar_x, "scalar"),
    "attribute over 1 MiB": (_huge_attr, "limit"),
    "array attribute": (_array_kind, "array"),
    "int kind": (_int_kind, "must be a string"),
    "absurd num_classes": (_absurd_classes, "num_classes"),
    "newer format_version": (_newer_version, "newer"),
    "deeply nested JSON": (_deep_json, "not valid JSON"),
    "invalid JSON": (_bad_json, "not valid JSON"),
    "checksums not a map": (_list_checksums, "JSON object"),
    "NaN psi": (_nan_psi, "finite number"),
    "hard-link cycle": (_link_cycle, "deeper than"),
    "virtual dataset": (_virtual, "virtual dataset"),
    "external raw storage": (_external_storage, "external files"),
    "non-standard filter": (_plugin_filter, "filter"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_file_refused_everywhere(cli, tmp_path, valid, case):
    """open_file, verify, `info`, `verify` and `train` refuse each hostile file with one clear line."""
    mutate, msg = HOSTILE[case]
    evil = tmp_path / "evil.h5"
    shutil.copy(valid[0], evil)
    with h5py.File(evil, "r+") as f:
        mutate(f, tmp_path)
    with pytest.raises(UserError, match=msg):
        open_file(evil)
    with pytest.raises(UserError):
        verify(evil)
    for args in (("info", evil), ("verify", evil), ("train", "--data", evil, "--epochs", "1", "--db", tmp_path / "r.db")):
        _one_line_refusal(cli(*args), f"{case}: {args[0]}")
    assert not (tmp_path / "UNPICKLED").exists(), "something was unpickled"
    assert not (tmp_path / "r.db").exists() or _db_rows(tmp_path / "r.db") == 0


def _db_rows(db: Path) -> int:
    from noisebench.harness.results.db import ResultsDB

    with ResultsDB(db) as d:
        return d.count()


def test_non_regular_file_is_refused_without_blocking(tmp_path):
    """A FIFO (or device) named like a dataset is refused before it is opened, so nothing blocks."""
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        open_file(fifo)


# ------------------------------------------------------------------ training-time checks
def _write_nb(path: Path, *, x, y, task, dataset, num_classes=None, kind="clean", variant="clean"):
    attrs = {"dataset": dataset}
    if num_classes is not None:
        attrs["num_classes"] = num_classes
    with DatasetWriter(path, kind=kind, params={"t": 1}, seed=0, task=task, variant=variant, attrs=attrs) as w:
        for split, sl in (("train", slice(0, 40)), ("val", slice(40, None))):
            w.write(f"{split}/x", x[sl])
            w.write(f"{split}/y", y[sl])
    return path


def _tab(n=50, bad=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 10)).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    if bad == "x":
        x[5, 3] = np.nan
    if bad == "y":
        y[5] = np.inf
    return x, y


def _img(n=50, label_hi=9, channels=1, label_dtype=np.int64):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28, channels), dtype=np.uint8)
    y = (np.arange(n) % 10).astype(label_dtype)
    y[7] = label_hi
    return x, y


BAD_TRAINING = {
    "NaN in tabular inputs": (dict(task="regression", dataset="synth", kind="synth"), lambda: _tab(bad="x"), "NaN or infinite"),
    "inf in regression targets": (dict(task="regression", dataset="synth", kind="synth"), lambda: _tab(bad="y"), "NaN or infinite"),
    "label == num_classes": (dict(task="classification", dataset="mnist", num_classes=10), lambda: _img(label_hi=10), r"outside \[0, 10\)"),
    "negative label": (dict(task="classification", dataset="mnist", num_classes=10), lambda: _img(label_hi=-1), r"outside \[0, 10\)"),
    # float labels and 5-channel images are refused when the file is opened (tests/test_hostile_inputs.py)
}


@pytest.mark.parametrize("case", list(BAD_TRAINING))
def test_training_refuses_implausible_data(cli, tmp_path, case):
    """Valid-format files with bad content: `train` refuses before training; nothing is recorded."""
    kw, make, msg = BAD_TRAINING[case]
    x, y = make()
    path = _write_nb(tmp_path / "bad.h5", x=x, y=y, **kw)
    assert all(s == "ok" for _, s, _ in verify(path))  # the checksums are fine: only the content is wrong
    db = tmp_path / "r.db"
    r = cli("train", "--data", path, "--epochs", "1", "--db", db)
    _one_line_refusal(r, case)
    import re

    assert re.search(msg, r.err), r.err
    assert not db.exists() or _db_rows(db) == 0

    from noisebench.data.loaders import load_split

    with pytest.raises(UserError, match=msg):
        load_split(path, "train")


# ------------------------------------------------------------------ fuzzing
_REQUIRED = {
    "noisebench_format": "noisebench-dataset", "format_version": 2, "kind": "synth", "params": "{}", "seed": 0,
    "created": "2024-01-01T00:00:00+00:00", "checksums": "{}",
}
_attr_values = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=30), st.booleans(),
    st.sampled_from(['{"a": 1}', "[1, 2]", "{}", "null", '"x"', "nan", "{bad"]),
    st.lists(st.integers(-5, 5), min_size=2, max_size=4).map(np.array),
    st.lists(st.text(max_size=3), min_size=1, max_size=3).map(lambda v: np.array(v, dtype=h5py.string_dtype())),
)
_dtypes = st.sampled_from(["u1", "i8", "f4", "f8", "<f2", ">i4", "?", "S4", "O", "c8", "V4", "compound"])
_names = st.sampled_from(["train/x", "train/y", "val/x", "val/y", "test/x", "test/y", "truth/a", "x", "train/x/z"])


def _make_array(dt: str, shape):
    if dt == "O":
        return np.array(["v"] * int(np.prod(shape)), dtype=object).reshape(shape), h5py.string_dtype()
    if dt == "compound":
        return np.zeros(shape, dtype=[("a", "i4"), ("b", "f8")]), None
    if dt == "V4":
        return np.zeros(shape, dtype="V4"), None
    return np.ones(shape, dtype=dt), None


@FUZZ
@given(
    attrs=st.dictionaries(st.sampled_from(list(_REQUIRED) + ["num_classes", "psi", "task", "source", "confusion_matrix", "pair_key"]),
                          _attr_values, max_size=6),
    keep_required=st.booleans(),
    dsets=st.lists(st.tuples(_names, _dtypes, st.lists(st.integers(0, 4), min_size=0, max_size=3)), max_size=6),
    chunked=st.booleans(),
)
def test_fuzz_random_structures(tmp_path_factory, attrs, keep_required, dsets, chunked):
    """Random attributes, dtypes, shapes and layouts: open_file/verify/render succeed or raise UserError."""
    path = tmp_path_factory.mktemp("fz") / "f.h5"
    with h5py.File(path, "w") as f:
        if keep_required:
            for k, v in _REQUIRED.items():
                f.attrs[k] = v
        for k, v in attrs.items():
            try:
                f.attrs[k] = v
            except (ValueError, TypeError):
                pass  # not storable (e.g. embedded NUL in a string): nothing to test
        for name, dt, shape in dsets:
            shape = tuple(shape)
            try:
                arr, h5dt = _make_array(dt, shape)
                kw = {"chunks": True} if chunked and shape and all(shape) else {}
                f.create_dataset(name, data=arr, dtype=h5dt, **kw)
            except (ValueError, TypeError, KeyError):
                pass  # name clash (x is a dataset and a group) or unsupported combination: skip
    _must_succeed_or_usererror(path)


def _must_succeed_or_usererror(path: Path) -> None:
    try:
        with open_file(path) as nb:
            render(nb)
    except UserError:
        pass
    try:
        verify(path)
    except UserError:
        pass


class _Blob(bytes):
    def __repr__(self) -> str:  # keep hypothesis' failure reports short
        return f"<{len(self)} bytes of a valid file>"


@pytest.fixture(scope="module")
def valid_bytes(valid):
    return _Blob(valid[1].read_bytes())


@FUZZ
@given(data=st.data())
def test_fuzz_byte_corruption(tmp_path_factory, valid_bytes, data):
    """Random byte flips (biased to the metadata near the start), overwrites and truncations of a
    valid file: open_file/verify/render succeed or raise UserError, never another exception or a hang."""
    raw = bytearray(valid_bytes)
    n = len(raw)
    how = data.draw(st.sampled_from(["flip", "flip-meta", "overwrite", "truncate"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, n - 1))]
    elif how == "overwrite":
        start = data.draw(st.integers(0, n - 1))
        length = data.draw(st.integers(1, 256))
        fill = data.draw(st.sampled_from([0x00, 0xFF, 0x7F]))
        raw[start : start + length] = bytes([fill]) * len(raw[start : start + length])
    else:
        hi = min(n, 4096) if how == "flip-meta" else n
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, hi - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    path = tmp_path_factory.mktemp("corrupt") / "c.h5"
    path.write_bytes(bytes(raw))
    _must_succeed_or_usererror(path)


def test_libhdf5_global_heap_hang_is_cut_off(cli, tmp_path, valid):
    """Regression (found by test_fuzz_byte_corruption): zeroing 256 bytes inside the global heap of
    the string attributes makes libhdf5 loop forever (holding the GIL) while reading an attribute.
    The forked parse guard kills it and refuses the file with one line instead of hanging."""
    raw = bytearray(valid[1].read_bytes())
    start = raw.find(b"GCOL") + 1238
    raw[start : start + 256] = bytes(256)
    bad = tmp_path / "heap.h5"
    bad.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="did not finish"):
        open_file(bad)
    r = cli("info", bad)
    _one_line_refusal(r, "info")
    assert "did not finish" in r.err


def test_loading_more_than_available_memory_is_refused(cli, tmp_path, valid, monkeypatch):
    """A split is loaded for training only if it fits in the memory available now."""
    import noisebench.format.reader as h5f
    from noisebench.data.loaders import load_split

    monkeypatch.setattr(h5f, "available_memory", lambda: 1000)  # bytes
    with pytest.raises(UserError, match="memory"):
        load_split(valid[0], "train")
    r = cli("train", "--data", valid[0], "--epochs", "1", "--db", tmp_path / "r.db")
    _one_line_refusal(r, "train")
    assert "memory" in r.err
