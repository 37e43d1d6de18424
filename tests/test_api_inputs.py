"""The documented Python API and CLI on inputs a user passes as the README shows: a drawn seed,
tensors of every float dtype, one name where a list is expected, float images for the ψ sampler,
exit codes that match the README, a damaged results database."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import hostile_inputs  # noqa: E402,F401

import noisebench as nb  # noqa: E402
from noisebench.errors import UserError  # noqa: E402


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


def test_synth_seed_none_draws_and_records_a_seed():
    a = nb.synth(rows=200, seed=None)
    seed = a.truth["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**32
    again = nb.synth(rows=200, seed=seed)  # the recorded seed reproduces the arrays
    assert np.array_equal(a.x_train_dirty, again.x_train_dirty) and np.array_equal(a.y_val, again.y_val)
    assert nb.synth(rows=200, seed=3).truth["seed"] == 3


def test_corrupt_bfloat16_tensor_comes_back_bfloat16():
    torch = pytest.importorskip("torch")
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y16 = nb.corrupt(x.to(torch.bfloat16), "gaussian_noise", severity=3, seed=1)
    y32 = nb.corrupt(x.to(torch.bfloat16).float(), "gaussian_noise", severity=3, seed=1)
    assert y16.dtype == torch.bfloat16 and y16.shape == x.shape
    assert torch.equal(y16, y32.to(torch.bfloat16))  # the same corruption as its exact float32 copy


def test_study_takes_one_activation_name_as_a_name(data):
    configs = nb.Study(data=str(data["dirty"]), activations="relu", seeds=1).plan()
    assert {c.activation for c in configs} == {"relu"} and len(configs) == 2  # clean + dirty, not r/e/l/u


def test_photon_noise_float_input_is_converted_not_zeroed():
    from noisebench.corruptors.poisson_photon import PhotonNoise

    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    noise = PhotonNoise(16)
    ref = noise.apply(u8, seed=5)
    for dt in (np.float32, np.float64):
        out = noise.apply(u8.astype(dt) / 255.0, seed=5)
        assert out.dtype == dt and out.shape == u8.shape
        assert np.array_equal(np.rint(out.astype(np.float64) * 255).astype(np.uint8), ref)
        assert out.max() > 0
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        noise.apply(u8.astype(np.float32), seed=5)  # float 0..255 is not a float image
    with pytest.raises(UserError, match="uint8 or float"):
        noise.apply(u8.astype(np.int16), seed=5)


def test_garbage_schema_version_is_one_clear_line(cli, data, tmp_path):
    db = tmp_path / "r.db"
    r = cli("train", "--data", data["dirty"], "--epochs", "1", "--device", "cpu", "--db", db, "--quiet")
    assert r.code == 0, r.err
    with sqlite3.connect(db) as c:
        c.execute("UPDATE meta SET value = 'v2-garbage' WHERE name = 'schema_version'")
    c.close()
    for args in (("report", "--db", db, "--out", tmp_path / "rep"),
                 ("train", "--data", data["dirty"], "--epochs", "1", "--device", "cpu", "--db", db)):
        r = cli(*args)
        lines = r.err.strip().splitlines()
        assert r.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.err
        assert "schema_version" in lines[0] and "v2-garbage" in lines[0] and "ValueError" not in r.err


def test_seed_past_the_range_is_refused_before_training(cli, data, tmp_path):
    db = tmp_path / "r.db"
    r = cli("train", "--data", data["dirty"], "--epochs", "1", "--device", "cpu", "--db", db,
            "--seed", str(2**63))
    assert r.code == 2 and r.err.startswith("error: --seed") and "epoch 1" not in r.out + r.err
    assert not db.exists()  # refused before the database or any training


def test_get_checksum_mismatch_exits_1_as_the_readme_says(cli, data, tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "1 verification mismatch (`verify`; `get`" in readme
    src = data["dirty"]
    wrong = hashlib.sha256(b"other").hexdigest()
    r = cli("get", src.resolve().as_uri(), "--sha256", wrong, "--out", tmp_path / "o")
    assert r.code == 1 and "sha256 mismatch" in r.err
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    assert cli("get", src.resolve().as_uri(), "--sha256", good, "--out", tmp_path / "o").code == 0
