"""One build path for ψ: `make psi --level L` is the ψ corruption's own spelling of `make corrupt psi --param
level=L` -- the same file name, the same datasets and attributes, and (with the clock fixed) the same bytes."""

from __future__ import annotations

import datetime as real_dt
import hashlib

import h5py
import numpy as np
import pytest
from official_format_fixtures import write_cifar10_batches


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
