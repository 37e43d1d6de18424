"""A regression run that explodes is a null run (worse than predicting the training mean), counted
as null and kept out of the means, as classification runs at chance are."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import hostile_inputs  # noqa: E402,F401

from noisebench.harness.results.db import ResultsDB  # noqa: E402


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


def test_exploding_regression_run_is_null(cli, data, tmp_path):
    db = tmp_path / "r.db"
    r = cli("train", "--data", data["dirty"], "--epochs", "3", "--lr", "1000", "--device", "cpu", "--db", db)
    assert r.code == 0, r.err
    assert "null run: worse than the mean at epoch 2" in r.out
    with ResultsDB(db) as d:
        (run,) = d.runs()
    assert run["status"] == "null" and "training mean" in run["null_cause"]
    # a healthy run at the recipe's LR is ok (it beats the mean by far)
    r = cli("train", "--data", data["dirty"], "--epochs", "3", "--device", "cpu", "--db", db)
    assert r.code == 0 and ": ok;" in r.out, r.out + r.err


def test_null_regression_run_counted_not_averaged(cli, data, tmp_path):
    db = tmp_path / "r.db"
    r = cli("robustness", "--data", data["dirty"], "--activation", "relu", "--seeds", "1", "--epochs", "3",
            "--lr", "1000", "--device", "cpu", "--db", db)
    assert r.code == 0, r.err
    assert "2 null" in r.out, r.out
