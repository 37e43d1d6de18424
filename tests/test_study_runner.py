"""The one study runner (harness/plan/study_runner.py): one resume rule with a pluggable "is it done" check, each
run key trained once; `robustness` with two dirty files sharing a clean twin (clean runs trained once, rows
labelled by file, the recipe line showing --model/--lr)."""

from __future__ import annotations

from pathlib import Path

import pytest
from official_format_fixtures import write_mnist_idx

from noisebench.harness.plan.study_runner import make_executor, run_configs, unique, with_weights
from noisebench.harness.results.db import ResultsDB


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    out = tmp_path_factory.mktemp("synth")
    clean, dirty = build(SynthParams(rows=200), out)
    return Path(clean), Path(dirty)


def _configs(dirty):
    from noisebench.harness.plan.expand import expand
    from noisebench.harness.plan.spec import GridSpec

    return expand(GridSpec(data=[dirty], activations=["relu"], seeds=[0], overrides={"epochs": 1}))


def test_one_resume_rule_with_a_pluggable_done_check(synth, tmp_path):
    configs = _configs(synth[1])
    assert len(configs) == 2
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_configs(configs + configs, db, make_executor("local"))  # planned twice: trained once
        assert (out.planned, out.ran, out.ok) == (2, 2, 2) and len(db.runs()) == 2
        assert run_configs(configs, db, make_executor("local")).skipped == 2  # the train-time rule: key in the db
        weights = tmp_path / "w"
        rule = with_weights(lambda k: weights / k)  # test-time: the key and its weights
        assert not rule(configs[0], db)
        again = run_configs(configs, db, make_executor("local"), is_done=rule)
        assert (again.ran, again.skipped) == (2, 0)
        weights.mkdir()
        for c in configs:
            (weights / c.key()).write_bytes(b"w")
        assert run_configs(configs, db, make_executor("local"), is_done=rule).skipped == 2
    assert unique(configs + configs) == configs


def test_unknown_executor_is_one_line(cli, synth, tmp_path):
    r = cli("robustness", "--executor", "slurm", "--data", synth[1], "--db", tmp_path / "r.db")
    assert r.code != 0 and "--executor must be local or ray" in r.err and "Traceback" not in r.err


def test_robustness_two_dirty_files_sharing_a_clean_twin(cli, tmp_path):
    src = write_mnist_idx(tmp_path / "src", 60, 20)
    out = tmp_path / "data"
    for rate in ("0.2", "0.4"):
        r = cli("make", "mnist-flip", "--rate", rate, "--source", src, "--no-verify", "--out", out)
        assert r.code == 0, r.err
    files = sorted(out.glob("mnist-flip*.h5"))
    assert [f.name for f in files] == ["mnist-flip0.2.h5", "mnist-flip0.4.h5"]
    db = tmp_path / "r.db"
    r = cli("robustness", "--activation", "relu", "--data", files[0], "--data", files[1], "--seeds", "1",
            "--epochs", "1", "--batch-size", "16", "--model", "mnist_cnn", "--lr", "0.002", "--db", db)
    assert r.code == 0, r.err
    assert "3 runs trained (3 ok, 0 null, 0 failed)" in r.out  # the shared clean run once, not twice
    with ResultsDB(db) as d:
        assert sorted(x["role"] for x in d.runs()) == ["clean", "dirty", "dirty"]
    for f in files:  # one block per dirty file, labelled by it
        assert sum(1 for line in r.out.splitlines() if line.startswith(f"{f.name} (mnist)")) == 1
    assert sum(1 for line in r.out.splitlines() if line.startswith("relu ")) == 2
    recipe = [line for line in r.err.splitlines() + r.out.splitlines() if "recipe" in line and "clean twin" in line]
    assert len(recipe) == 2 and all("model mnist_cnn (--model)" in line and "lr 0.002 (--lr)" in line
                                    for line in recipe), recipe
