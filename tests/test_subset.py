"""--subset N: stratified, shared by clean and dirty twins, a distinct run in the database."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from noisebench.errors import UserError
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.run.subset import subset_indices, validate_subset

torch.set_num_threads(1)


def test_stratified_and_deterministic():
    y = np.repeat(np.arange(10), [100, 100, 100, 100, 100, 50, 50, 50, 25, 25])
    idx = subset_indices(y, 140, True)
    assert len(idx) == 140 and len(np.unique(idx)) == 140 and np.all(np.diff(idx) > 0)
    counts = np.bincount(y[idx], minlength=10)
    assert np.array_equal(counts, [20, 20, 20, 20, 20, 10, 10, 10, 5, 5])
    assert np.array_equal(idx, subset_indices(y, 140, True))
    assert len(subset_indices(y, 10_000, True)) == len(y)
    small = subset_indices(y, 12, True)
    assert len(small) == 12 and set(y[small]) == set(range(10))  # every class while N allows
    reg = subset_indices(np.zeros(500), 50, False)
    assert len(reg) == 50 and len(np.unique(reg)) == 50


@pytest.mark.parametrize("bad", [0, 1, -5, 2**40, 3.5, "10", True])
def test_bad_subset_values(bad):
    with pytest.raises(UserError, match="--subset must be"):
        validate_subset(bad)


def test_subset_runs_are_distinct_runs(cli, tmp_path):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    clean, dirty = build(SynthParams(rows=400), tmp_path)
    db = tmp_path / "r.db"
    base = ("robustness", "--activation", "relu", "--data", dirty, "--seeds", "1", "--epochs", "1", "--db", db)
    assert cli(*base, "--subset", "60").code == 0
    assert cli(*base).code == 0
    with ResultsDB(db) as d:
        runs = d.runs()
    assert len(runs) == 4  # clean + dirty, with and without the subset
    sub = [r for r in runs if dict(map(tuple, r["extra"])).get("subset") == 60]
    assert len(sub) == 2
    r = cli(*base, "--subset", "1")
    assert r.code != 0 and "--subset must be" in r.err
