"""One build path for ψ: `make psi --level L` is the ψ corruption's own spelling of `make corrupt psi --param
level=L` -- the same file name, the same datasets and attributes, and (with the clock fixed) the same bytes.
Likewise for label flips: `make mnist-flip --rate R` is the label corruption's `make corrupt label_flip --param
rate=R` (MNIST, --val-size 10,000 by default in both spellings)."""

from __future__ import annotations

import datetime as real_dt
import hashlib

import h5py
import numpy as np
import pytest
from official_format_fixtures import write_cifar10_batches, write_mnist_idx


class _FixedClock:
    """Stands in for the writer's `datetime` module: every file is `created` at the same instant."""

    timezone = real_dt.timezone

    class datetime:
        @staticmethod
        def now(tz=None):
            return real_dt.datetime(2026, 1, 1, tzinfo=real_dt.timezone.utc)


def _content(path):
    """Every dataset (shape, dtype, chunks, filters, values, attributes) and every group's attributes."""
    out = {}
    with h5py.File(path, "r") as f:
        def attrs(o):
            return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in o.attrs.items()}

        out["/"] = attrs(f)

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.shape, str(obj.dtype), obj.chunks, obj.compression,
                             hashlib.sha256(obj[()].tobytes()).hexdigest(), attrs(obj))
            else:
                out[name] = attrs(obj)

        f.visititems(visit)
    return out


@pytest.fixture
def fixed_clock(monkeypatch):
    import noisebench.format.writer as hw

    monkeypatch.setattr(hw, "_dt", _FixedClock)


def test_make_psi_and_make_corrupt_psi_write_the_same_file(tmp_path, cli, fixed_clock):
    src = write_cifar10_batches(tmp_path / "src", 300, 60)
    out = tmp_path / "out"
    r = cli("make", "psi", "--level", "16", "--source", src, "--no-verify", "--workers", "2", "--out", out)
    assert r.code == 0, r.err
    psi_file = out / "cifar10-psi16.h5"
    first = psi_file.read_bytes()
    psi_file.rename(tmp_path / "from-make-psi.h5")

    r = cli("make", "corrupt", "psi", "--param", "level=16", "--source", src, "--no-verify", "--workers", "1",
            "--out", out)
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.glob("*.h5")) == ["cifar10-psi16.h5", "cifar10.h5"]  # the ψ file's own name
    assert _content(psi_file) == _content(tmp_path / "from-make-psi.h5")
    assert psi_file.read_bytes() == first  # same data, seed and clock: byte for byte
    with h5py.File(psi_file, "r") as f:
        assert f.attrs["kind"] == "psi" and float(f.attrs["psi"]) == 16.0

    r = cli("info", psi_file)
    assert r.code == 0, r.err


def test_both_spellings_refuse_and_keep_alike(tmp_path, cli):
    src = write_cifar10_batches(tmp_path / "src", 120, 30)
    out = tmp_path / "out"
    assert cli("make", "psi", "--level", "8,16", "--source", src, "--no-verify", "--out", out).code == 0
    r = cli("make", "corrupt", "psi", "--param", "level=16", "--source", src, "--no-verify", "--out", out)
    assert r.code != 0 and "--force" in r.err  # the file is there: refused before loading anything
    r = cli("make", "corrupt", "psi", "--severity", "3", "--source", src, "--no-verify", "--out", out)
    assert r.code != 0 and "no severity 3" in r.err


# ------------------------------------------------------------------ label flips


@pytest.mark.parametrize("own, generic", [
    (["--rate", "0.1"], ["--param", "rate=0.1"]),
    (["--rate", "0.25", "--mode", "pair", "--seed", "3", "--split-seed", "1"],
     ["--param", "mode=pair", "--param", "rate=0.25", "--seed", "3", "--split-seed", "1"]),
    (["--matrix", "{T}"], ["--param", "matrix={T}"]),
])
def test_make_mnist_flip_and_make_corrupt_label_flip_write_the_same_file(tmp_path, cli, fixed_clock, own, generic):
    from noisebench.format import open_file
    from noisebench.rebuild_hint import rebuild_command

    src = write_mnist_idx(tmp_path / "src", n_train=120, n_test=20)
    t = np.full((10, 10), 0.05)
    np.fill_diagonal(t, 0.55)
    np.savetxt(tmp_path / "T.csv", t, delimiter=",")
    files = {}
    for spelling, args in (("own", ["make", "mnist-flip", *own]), ("generic", ["make", "corrupt", "label_flip", *generic])):
        out = tmp_path / spelling
        r = cli(*[a.replace("{T}", str(tmp_path / "T.csv")) for a in args], "--source", src, "--no-verify", "--out", out)
        assert r.code == 0, r.err
        assert "realized" in r.out  # both print the flip counts
        files[spelling] = sorted(out.glob("*.h5"))
    assert [p.name for p in files["own"]] == [p.name for p in files["generic"]]  # the mnist-flip file names
    for a, b in zip(files["own"], files["generic"]):
        assert _content(a) == _content(b)
        assert a.read_bytes() == b.read_bytes()  # same data, seed and clock: byte for byte (the clean twin too)
    flip, = [p for p in files["generic"] if p.name not in ("mnist.h5", "mnist-split1.h5")]  # not the clean twin
    with open_file(flip) as f:
        assert f.kind == "mnist-flip"
        assert rebuild_command(f.meta, card=True).startswith(f"noisebench make mnist-flip {own[0]}")


def test_both_flip_spellings_refuse_an_existing_file_alike(tmp_path, cli):
    src = write_mnist_idx(tmp_path / "src", n_train=60, n_test=10)
    out = tmp_path / "out"
    assert cli("make", "mnist-flip", "--rate", "0.1", "--source", src, "--no-verify", "--out", out).code == 0
    first = (out / "mnist-flip0.1.h5").read_bytes()
    errs = []
    for args in (["mnist-flip", "--rate", "0.1"], ["corrupt", "label_flip", "--param", "rate=0.1"]):
        r = cli("make", *args, "--source", src, "--no-verify", "--out", out)
        assert r.code == 2 and "--force" in r.err, r.err
        errs.append(r.err)
    assert errs[0] == errs[1] and errs[0].startswith("error:") and errs[0].count("\n") == 1
    assert (out / "mnist-flip0.1.h5").read_bytes() == first
    r = cli("make", "corrupt", "label_flip", "--param", "rate=0.1", "--seed", "1", "--force", "--source", src,
            "--no-verify", "--out", out)
    assert r.code == 0 and (out / "mnist-flip0.1-s1.h5").exists(), r.err
    for bad, msg in ((["--severity", "3"], "no severity 3"), (["--param", "mode=diagonal"], "symmetric or pair"),
                     (["--param", "rate=1.5"], "within [0, 1]"), (["--param", "level=3"], "no parameter level")):
        r = cli("make", "corrupt", "label_flip", *bad, "--source", src, "--no-verify", "--out", tmp_path / "x")
        assert r.code == 2 and msg in r.err and r.err.count("\n") == 1, (bad, r.err)
    assert not (tmp_path / "x").exists()
