"""Hostile input, part 2 (issue 13, classes 1, 2, 3): crafted files in the real formats. CIFAR-10
pickles that try to allocate, call or build more than the official batches contain; idx headers
that overflow or lie; .npz archives with absurd labels, dtypes or headers; images that are bombs,
16-bit, transparent or multi-frame; HDF5 files with unexpected dtypes or versions. Each is refused
with one UserError line (and `error:` on the CLI), in bounded memory and time."""

from __future__ import annotations

import gzip
import pickle
import resource
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches, write_mnist_idx  # noqa: E402
from test_reliability_bad_input import assert_one_line_error  # noqa: E402

from noisebench.errors import UserError  # noqa: E402

pytestmark = pytest.mark.timeout(60)
RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Call:
    """Pickles as `func(*args)` (and `.__setstate__(state)` when state is given): a crafted REDUCE/BUILD."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _batch(data=None, labels=None, extra=None) -> dict:
    d = {b"batch_label": b"training batch 1 of 5", b"filenames": [b"a.png", b"b.png"],
         b"data": np.zeros((2, 3072), np.uint8) if data is None else data, b"labels": [0, 1] if labels is None else labels}
    d.update(extra or {})
    return d


def _nested(depth: int) -> list:
    x: list = [0]
    for _ in range(depth):
        x = [x, x]  # 2**depth leaves, stored once each level (pickle memoizes shared lists)
    return x


def _raw(*ops: bytes) -> bytes:
    return b"\x80\x02" + b"".join(ops) + b"."


def _glob(mod: str, name: str) -> bytes:
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


P = lambda obj: pickle.dumps(obj, protocol=2)  # noqa: E731
PICKLES = {
    "bytearray of 2**31 bytes": (P(_batch(data=Call(bytearray, (2**31,)))), "refusing to load __builtin__.bytearray"),
    "bytes of 2**40": (P(_batch(labels=Call(bytes, (2**40,)))), r"bytes\(\) with arguments"),
    "list of range(10**10)": (P(_batch(labels=Call(list, (Call(range, (10**10,)),)))), "refusing to load"),
    "numpy.ndarray called with a huge shape": (P(_batch(data=Call(np.ndarray, ((2**40,),)))), "refusing to call"),
    "_reconstruct with a huge shape": (P(_batch(data=Call(RECONSTRUCT, (np.ndarray, (2**40,), b"b")))), "unexpected arguments"),
    "array state declares 10**12 rows": (P(_batch(data=Call(RECONSTRUCT, (np.ndarray, (0,), b"b"),
                                                            (1, (10**12, 3072), np.dtype("u1"), False, b"")))), "array shape|limit"),
    "array state shape and data disagree": (P(_batch(data=Call(RECONSTRUCT, (np.ndarray, (0,), b"b"),
                                                               (1, (2, 3072), np.dtype("u1"), False, b"x" * 10)))), "does not match"),
    "object array": (P(_batch(labels=np.array([0, "x"], dtype=object))), "not a plain numeric type"),
    "huge void dtype": (P(_batch(data=Call(np.dtype, ("V100000000", False, True)))), "not a plain numeric type"),
    "dtype state with fields": (P(_batch(data=Call(np.dtype, ("u1", False, True), (3, "|", None, ("a",), {"a": (np.dtype("u1"), 0)}, 1, 1, 0)))), "dtype state"),
    "os.system": (P(_batch(labels=Call(__import__("os").system, ("echo pwned",)))), "refusing to load"),
    "builtins.eval": (P(_batch(labels=Call(eval, ("1+1",)))), "refusing to load __builtin__.eval"),
    "subclass via NEWOBJ opcode": (_raw(_glob("numpy", "dtype"), b")", b"\x81"), "opcode not allowed"),
    "INST opcode": (b"(i" + b"os\nsystem\n" + b".", "opcode not allowed"),
    "set opcode": (b"\x80\x04\x8f\x94.", "opcode not allowed"),
    "memo index 2**32-1": (_raw(b"}", b"r\xff\xff\xff\xff"), "lacks"),
    "SETITEM on an array": (P(np.zeros(2, np.uint8))[:-1] + b"K\x00K\x05s.", "refusing to add items to a ndarray"),
    "APPEND on a dict": (_raw(b"}", b"K\x01", b"a"), "refusing to add items to a dict"),
    "protocol-5 out-of-band array": (pickle.dumps(_batch(), protocol=5), "refusing to load"),
    "bytes declared 2**60 long": (_raw(b"\x8e" + struct.pack("<Q", 2**60)), "truncated or corrupted"),
    "frame declared 2**60 long": (b"\x80\x04\x95" + struct.pack("<Q", 2**60) + b"}.", "lacks"),
    "truncated batch": (P(_batch())[:200], "truncated or corrupted|not a CIFAR-10 batch"),
    "labels nested 2**40 deep-shared": (P(_batch(labels=_nested(40))), "labels must be integers"),
    "label 2**62": (P(_batch(labels=[0, 2**62])), "labels must be integers in 0..9"),
    "label 10**100": (P(_batch(labels=[10**100, 0])), "labels must be integers in 0..9"),
    "negative label": (P(_batch(labels=[-1, 0])), "labels must be integers in 0..9"),
    "float64 data": (P(_batch(data=np.zeros((2, 3072)))), "uint8 N×3072"),
    "3071 columns": (P(_batch(data=np.zeros((2, 3071), np.uint8))), "uint8 N×3072"),
    "labels count differs": (P(_batch(labels=[0, 1, 2])), "one integer per image"),
    "unexpected entry": (P(_batch(extra={b"__class__": 1})), "unexpected entry"),
    "tuple key": (P(_batch(extra={(1, (2, (3,))): 1})), "unexpected entry 'tuple'"),
    "not a dict": (P([1, 2, 3]), "expected a dict"),
}


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    return write_cifar10_batches(tmp_path_factory.mktemp("cifar"), 10, 5)


@pytest.mark.timeout(300)  # a hang guard, not a speed bound
@pytest.mark.parametrize("case", list(PICKLES))
def test_crafted_cifar_pickle_refused(cifar, tmp_path, case):
    from noisebench.generators.sources.cifar10 import load_cifar10

    payload, msg = PICKLES[case]
    d = tmp_path / "cifar-10-batches-py"
    shutil.copytree(cifar, d)
    (d / "data_batch_3").write_bytes(payload)
    peak = _peak_mb()
    with pytest.raises(UserError, match=msg) as e:
        load_cifar10(d, verify=False)
    assert "\n" not in str(e.value)
    assert _peak_mb() - peak < 200, "the refusal allocated memory"


def test_crafted_pickle_on_the_cli(cli, cifar, tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    shutil.copytree(cifar, d)
    (d / "test_batch").write_bytes(PICKLES["bytearray of 2**31 bytes"][0])
    r = cli("make", "psi", "--level", "16", "--source", d, "--no-verify", "--out", tmp_path / "o")
    assert_one_line_error(r)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.h5"))


@pytest.mark.parametrize("names, msg", [([b"cat\x1b[2J"] + [b"x%d" % i for i in range(9)], "control characters"),
                                        ([b"a"] * 11, "10 class names"), ("airplane", "10 class names")])
def test_hostile_cifar_meta(cifar, tmp_path, names, msg):
    from noisebench.generators.sources.cifar10 import load_cifar10

    d = tmp_path / "cifar-10-batches-py"
    shutil.copytree(cifar, d)
    (d / "batches.meta").write_bytes(P({b"label_names": names, b"num_cases_per_batch": 10, b"num_vis": 3072}))
    with pytest.raises(UserError, match=msg):
        load_cifar10(d, verify=False)


def test_official_layout_still_loads(cifar):
    """The restricted loader accepts exactly what the official batches contain."""
    from noisebench.generators.sources.cifar10 import load_cifar10

    data = load_cifar10(cifar, verify=False)
    assert data.x_train.shape == (10, 32, 32, 3) and data.x_train.dtype == np.uint8
    assert data.class_names[0] == "airplane"


# ------------------------------------------------------------------ idx
def _idx(magic: int, dims, data: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + data


IDX = {
    "dims overflow int64": (_idx(2051, [2**32 - 1] * 3, bytes(100)), "items"),
    "dims disagree with size": (_idx(2051, [100, 28, 28], bytes(28 * 28 * 10)), "truncated"),
    "more data than declared": (_idx(2051, [1, 28, 28], bytes(28 * 28 * 2)), "holds"),
    "count over the image bound": (_idx(2051, [6_000_000, 1, 1], bytes(10)), "items"),
    "zero-size images": (_idx(2051, [10, 0, 28], b""), "pixels"),
    "side 5000": (_idx(2051, [1, 5000, 1], bytes(5000)), "pixels"),
    "wrong magic": (_idx(2049, [10], bytes(10)), "magic"),
    "header cut short": (struct.pack(">I", 2051) + b"\x00\x00", "truncated"),
}


@pytest.mark.parametrize("case", list(IDX))
def test_crafted_idx_refused(tmp_path, case):
    from noisebench.generators.sources.mnist import load_mnist

    d = write_mnist_idx(tmp_path, 20, 10, gz=False)
    (d / "train-images-idx3-ubyte").write_bytes(IDX[case][0])
    with pytest.raises(UserError, match=IDX[case][1]):
        load_mnist(d, verify=False)


def test_idx_gzip_bomb_stops_at_the_limit(tmp_path, monkeypatch):
    """A small .gz that inflates past the decompressed-size cap is refused after reading cap+1 bytes."""
    from noisebench.generators.sources import mnist as mnist_source

    monkeypatch.setattr(mnist_source, "MAX_BYTES", 1 << 20)
    d = write_mnist_idx(tmp_path, 20, 10)
    with gzip.open(d / "t10k-images-idx3-ubyte.gz", "wb") as g:
        g.write(_idx(2051, [10_000, 28, 28], b""))
        for _ in range(8):
            g.write(bytes(1 << 20))
    assert (d / "t10k-images-idx3-ubyte.gz").stat().st_size < 100_000
    with pytest.raises(UserError, match="larger than"):
        mnist_source.load_mnist(d, verify=False)


def test_idx_label_out_of_range(tmp_path):
    from noisebench.generators.sources.mnist import load_mnist

    d = write_mnist_idx(tmp_path, 20, 10, gz=False)
    (d / "t10k-labels-idx1-ubyte").write_bytes(_idx(2049, [10], bytes([200] * 10)))
    with pytest.raises(UserError, match="0..9"):
        load_mnist(d, verify=False)
