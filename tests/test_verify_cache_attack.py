"""The training-time verification cache against an edit in place whose mtime is restored: the next
`train` rehashes the file and refuses it, in agreement with `noisebench verify`."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import h5py
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import hostile_inputs  # noqa: E402,F401


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


def test_in_place_edit_with_restored_mtime_is_verified_again(cli, data, tmp_path, monkeypatch):
    monkeypatch.setenv("NOISEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "synth-2000-dirty.h5"
    shutil.copy(data["dirty"], f)
    shutil.copy(data["clean"], tmp_path / data["clean"].name)
    db = tmp_path / "r.db"
    args = ["train", "--data", f, "--epochs", "1", "--device", "cpu", "--db", db, "--quiet"]
    r = cli(*args)
    assert r.code == 0, r.err  # verified, and the success cached
    before = os.stat(f)
    with h5py.File(f, "r+") as h:  # the attack: change one target in place ...
        h["train/y"][0] = h["train/y"][0] + 5.0
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and put the mtime back
    after = os.stat(f)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    r = cli("verify", f)
    assert r.code == 1 and "MISMATCH" in r.out.upper() + r.err.upper()
    r = cli(*args[:-1], "--seed", "1")
    assert r.code == 2 and "does not match its recorded checksums" in r.err and "train/y" in r.err
