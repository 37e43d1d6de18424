"""The synth files' held-out test split: rows of the same hidden functions in neither train nor val,
clean in both files, and runs on synth select on val and report test at that epoch."""

from __future__ import annotations

import h5py
import numpy as np

import noisebench as nb
from noisebench.harness.results.db import ResultsDB


def test_synth_has_a_held_out_test_split_and_runs_report_it(cli, tmp_path):
    r = cli("synth", "--rows", "700", "--out", tmp_path)
    assert r.code == 0, r.err
    with h5py.File(tmp_path / "synth-700-clean.h5") as c, h5py.File(tmp_path / "synth-700-dirty.h5") as d:
        assert c["train/x"].shape == (500, 10) and c["val/x"].shape == (200, 10) and c["test/x"].shape == (200, 10)
        assert np.array_equal(c["test/x"][()], d["test/x"][()]) and np.array_equal(c["test/y"][()], d["test/y"][()])
        seen = np.concatenate([c["train/x"][()], c["val/x"][()]])
        test = c["test/x"][()]
    for j in range(test.shape[1]):  # no test value of a column is a train or val value of it; same range
        assert not np.isin(test[:, j], seen[:, j]).any()
        half_step = np.diff(np.sort(seen[:, j])).max() / 2
        assert seen[:, j].min() <= test[:, j].min() and test[:, j].max() <= seen[:, j].max() + half_step * 1.01
    api = nb.synth(700, seed=0)
    assert np.array_equal(api.x_test, test)
    db = tmp_path / "r.db"
    r = cli("train", "--data", tmp_path / "synth-700-dirty.h5", "--epochs", "2", "--device", "cpu", "--db", db)
    assert r.code == 0, r.err
    assert "selected epoch" in r.out and ", test 0." in r.out and "reported selected_test_loss" in r.out
    with ResultsDB(db) as d:
        (run,) = d.runs()
    assert run["metric"] == "selected_test_loss" and np.isfinite(run["metric_value"])
