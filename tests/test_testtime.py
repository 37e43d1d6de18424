"""The test-time protocol (CIFAR-10-C style): a tiny study end to end on official-format fixtures, resume,
the evaluations table's migration, and CE / mCE / relative mCE against a hand computation."""

from __future__ import annotations

import shlex
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches  # noqa: E402

from noisebench.harness.results.db import ResultsDB  # noqa: E402

ARGS = ["--protocol", "test-time", "--corruptions", "gaussian_noise,fog", "--severity", "1,3", "--activation", "elu",
        "--seeds", "1", "--epochs", "1", "--batch-size", "16", "--subset", "12", "--device", "cpu", "--model", "ttcnn"]
TINY_MODEL = """
from torch import nn
import noisebench as nb

@nb.register_model("ttcnn", task="classification", default_input=(3, 32, 32))
def ttcnn(act, in_shape, num_outputs):
    return nn.Sequential(nn.Conv2d(in_shape[0], 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), act(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_outputs))
"""


@pytest.fixture
def tiny_model(tmp_path, monkeypatch):
    """A registered 4-channel CNN (with BatchNorm, so eval mode matters), loaded as a plug-in and removed after."""
    import noisebench.registry.plugins as plugins
    from noisebench.registry import MODELS
    from noisebench.registry.plugins import ENV_VAR, load_plugin

    monkeypatch.delenv(ENV_VAR, raising=False)
    loaded = dict(plugins._loaded)
    (tmp_path / "ttplug.py").write_text(TINY_MODEL)
    load_plugin(tmp_path / "ttplug.py")
    yield "ttcnn"
    MODELS.unregister("ttcnn")
    plugins._loaded.clear()
    plugins._loaded.update(loaded)


@pytest.fixture(scope="module")
def clean_file(tmp_path_factory):
    from noisebench.generators.builds.images import build_clean_images
    from noisebench.generators.sources.cifar10 import load_cifar10

    tmp = tmp_path_factory.mktemp("tt")
    src = write_cifar10_batches(tmp / "src", n_train=40, n_test=16)
    return build_clean_images(load_cifar10(src, verify=False), tmp / "data")


def test_tiny_test_time_study_end_to_end_and_resume(cli, clean_file, tmp_path, monkeypatch, tiny_model):
    import noisebench.harness.plan.driver as executors
    from noisebench.harness.run.data import dataset_digest

    trained = []
    real = executors.execute_run
    monkeypatch.setattr(executors, "execute_run", lambda cfg, **kw: trained.append(cfg.label()) or real(cfg, **kw))
    db = tmp_path / "r.db"
    r = cli("robustness", "--data", clean_file, "--db", db, *ARGS)
    assert r.code == 0, r.err
    assert "baseline relu added" in r.out and "mCE" in r.out and "relative mCE" in r.out
    assert "mean corruption acc (2 corruptions)" in r.out  # the mean names its set: not the benchmark 15
    # exactly one training per (activation, seed), on the clean file, weights saved under the run key
    assert sorted(trained) == ["ttcnn/elu/clean/lr0.001/s0", "ttcnn/relu/clean/lr0.001/s0"]
    folder = clean_file.parent
    sets = {n: folder / f"cifar10-c-{n}.h5" for n in ("gaussian_noise", "fog")}
    assert all(p.is_file() for p in sets.values())  # built on the spot next to the clean file
    with ResultsDB(db) as d:
        runs = d.runs()
        evs = d.evaluations()
    assert len(runs) == 2 and {x["status"] for x in runs} == {"ok"} and {x["role"] for x in runs} == {"clean"}
    assert all((tmp_path / "checkpoints" / x["key"][:2] / x["key"] / "selected.pt").is_file() for x in runs)
    # clean + 2 corruptions x 2 severities per run, on the subset's 12 test rows
    assert len(evs) == 2 * (1 + 2 * 2)
    assert {(e["corruption"], e["severity"]) for e in evs} == {("clean", 0), ("gaussian_noise", 1), ("gaussian_noise", 3),
                                                                ("fog", 1), ("fog", 3)}
    assert {e["n"] for e in evs} == {12} and {e["protocol"] for e in evs} == {"test-time"}
    for e in evs:
        if e["corruption"] != "clean":
            assert e["set_sha256"] == dataset_digest(sets[e["corruption"]])
    for x in runs:  # the saved weights are the val-selected ones: clean test accuracy equals the run's own
        clean_ev = [e for e in evs if e["run_key"] == x["key"] and e["corruption"] == "clean"][0]
        assert clean_ev["acc"] == pytest.approx(x["final"]["selected_test_acc"], abs=1e-9)
    # resume: nothing trained, nothing evaluated again
    trained.clear()
    r = cli("robustness", "--data", clean_file, "--db", db, *ARGS)
    assert r.code == 0, r.err
    assert trained == [] and "0 runs trained" in r.out and "0 evaluations recorded, 10 already there" in r.out
    with ResultsDB(db) as d:
        assert [e["recorded_at"] for e in d.evaluations()] == [e["recorded_at"] for e in evs]
    # a run in the database without its weights is trained again (with them), and says so
    import shutil

    shutil.rmtree(tmp_path / "checkpoints" / runs[0]["key"][:2] / runs[0]["key"])
    r = cli("robustness", "--data", clean_file, "--db", db, *ARGS)
    assert r.code == 0, r.err
    assert len(trained) == 1 and "without its saved weights" in r.out and "1 of them to save missing weights" in r.out
    # a severity the found set does not hold: one line, with the rebuild command
    r = cli("robustness", "--data", clean_file, "--db", db, *ARGS[:4], "--severity", "1,5", *ARGS[6:])
    assert r.code != 0 and "holds severities 1,3" in r.err and "--force" in r.err
    # run as printed, the hint rebuilds the set; repeated --corruptions and --severity flags add up
    rep = ["--corruptions", "gaussian_noise", "--corruptions", "fog", "--severity", "1", "--severity", "5"]
    for _ in range(3):
        r = cli("robustness", "--data", clean_file, "--db", db, *ARGS[:2], *rep, *ARGS[6:])
        if r.code == 0:
            break
        hint = r.err.split("rebuild it: ", 1)[1].strip()
        assert hint.startswith("noisebench make cifar10-c ") and f"--data {clean_file}" in hint
        h = cli(*shlex.split(hint)[1:])
        assert h.code == 0, h.err
    assert r.code == 0, r.err
    with ResultsDB(db) as d:
        got = {(e["corruption"], e["severity"]) for e in d.evaluations()}
    assert {("gaussian_noise", 1), ("gaussian_noise", 5), ("fog", 1), ("fog", 5)} <= got
    # the converted official files (a name we do not implement, e.g. snow) are a separate study; runs reused
    import numpy as np

    from noisebench.format import open_file

    with open_file(clean_file) as f:
        x, y = f.datasets["test/x"][()], f.datasets["test/y"][()]
    rel = tmp_path / "CIFAR-10-C"
    rel.mkdir()
    np.save(rel / "snow.npy", np.concatenate([255 - x] * 5))
    np.save(rel / "labels.npy", np.tile(y, 5))
    assert cli("make", "cifar10-c", "--release", rel, "--data", clean_file, "--out", tmp_path / "official").code == 0
    trained.clear()
    r = cli("robustness", "--data", clean_file, "--db", db, *ARGS[:2], "--official", "--corruptions", "snow",
            "--datasets-dir", tmp_path / "official",
            "--severity", "2,5", *ARGS[6:])
    assert r.code == 0, r.err
    assert trained == [] and "4 evaluations recorded, 2 already there" in r.out and "official CIFAR-10-C files" in r.out
    # the report: train-time section unchanged by the evaluations, test-time section apart
    assert cli("report", "--db", db, "--out", tmp_path / "rep").code == 0
    assert cli("report", "--db", db, "--out", tmp_path / "rep_tt", "--protocol", "train-time", "--no-plots").code == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    train_md = (tmp_path / "rep_tt" / "report.md").read_text()
    assert md.startswith(train_md) and "train-time protocol" in train_md and "Test-time" not in train_md
    assert "# Test-time protocol (CIFAR-10-C style)" in md[len(train_md):]
    assert "| snow · 5 |" in md and "noisebench corrupted sets" in md and "official CIFAR-10-C files" in md
    assert (tmp_path / "rep" / "summary.csv").read_text() == (tmp_path / "rep_tt" / "summary.csv").read_text()
    files = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"testtime_accuracy.csv", "testtime_scores.csv"} <= files
    for kind in ("severity", "heatmap"):
        assert {ext for n in files if n.startswith(f"testtime_{kind}_") for ext in [n.rsplit(".", 1)[1]]} == {"png", "pdf", "svg"}
    assert "mCE" in (tmp_path / "rep" / "tables.tex").read_text()


def test_test_time_bad_input_is_one_line(cli, clean_file, tmp_path):
    db = tmp_path / "r.db"
    r = cli("robustness", "--data", clean_file, "--db", db, *ARGS[:2], "--corruptions", "nosuch")
    assert r.code != 0 and "nosuch" in r.err and "Traceback" not in r.err
    r = cli("robustness", "--data", clean_file, "--db", db, *ARGS[:2], "--severity", "0,2")
    assert r.code != 0 and "outside 1..5" in r.err
    r = cli("robustness", "--data", clean_file, "--db", db, "--protocol", "sometimes")
    assert r.code != 0 and "train-time or test-time" in r.err
    r = cli("robustness", "--data", clean_file, "--db", db, *ARGS[:2], "--official")
    assert r.code != 0 and "--release" in r.err
    assert not db.exists()


# ---------------------------------------------------------------- a worked example, by hand
ACC = {  # activation -> seed -> (clean, {(corruption, severity): accuracy})
    "relu": {0: (0.90, {("gaussian_noise", 1): 0.80, ("gaussian_noise", 2): 0.60, ("fog", 1): 0.70, ("fog", 2): 0.50}),
             1: (0.80, {("gaussian_noise", 1): 0.70, ("gaussian_noise", 2): 0.50, ("fog", 1): 0.60, ("fog", 2): 0.40})},
    "elu": {0: (0.95, {("gaussian_noise", 1): 0.85, ("gaussian_noise", 2): 0.75, ("fog", 1): 0.65, ("fog", 2): 0.55}),
            1: (0.85, {("gaussian_noise", 1): 0.75, ("gaussian_noise", 2): 0.65, ("fog", 1): 0.55, ("fog", 2): 0.45})},
    "tanh": {0: (0.50, {("gaussian_noise", 1): 0.40, ("gaussian_noise", 2): 0.30, ("fog", 1): 0.20})},  # incomplete
}


def _fill(db_path: Path) -> None:
    from noisebench.harness.run.config import RunConfig
    from noisebench.harness.run.data import RunResult

    with ResultsDB(db_path) as d:
        for act, seeds in ACC.items():
            for seed, (clean, cells) in seeds.items():
                cfg = RunConfig("resnet18", act, "/x/cifar10.h5", "d" * 64, "clean", 1, 8, 1e-3, "adam", "fixed", 0.0, seed)
                key = f"{act}-{seed}".ljust(64, "0")
                d.record(RunResult(key=key, config=cfg.to_dict(), status="ok", final={"metric": "selected_test_acc",
                         "selected_test_acc": clean}, data_info={"dataset": "cifar10"}))
                base = dict(run_key=key, weights_sha256="w", model="resnet18", activation=act, seed=seed,
                            dataset="cifar10", clean_file="cifar10.h5", n=100)
                d.record_evaluation(dict(base, corruption="clean", severity=0, set_file="cifar10.h5", set_sha256="d", acc=clean))
                for (c, s), a in cells.items():
                    d.record_evaluation(dict(base, corruption=c, severity=s, set_file=f"cifar10-c-{c}.h5", set_sha256=c, acc=a))


def test_mce_matches_a_hand_computation(cli, tmp_path):
    from noisebench.harness.report.testtime import collect_testtime

    db = tmp_path / "hand.db"
    _fill(db)
    with ResultsDB(db, readonly=True) as d:
        (st,) = collect_testtime(d, "relu")
    assert st.corruptions == ["gaussian_noise", "fog"] and st.severities == [1, 2]  # noise family before weather
    # baseline (relu) seed-mean errors: gn 0.25, 0.45 (sum 0.70); fog 0.35, 0.55 (sum 0.90); clean 0.15
    elu, relu, tanh = st.scores["elu"], st.scores["relu"], st.scores["tanh"]
    assert elu.ce["gaussian_noise"] == pytest.approx({0: 0.40 / 0.70, 1: 0.60 / 0.70}, abs=1e-12)
    assert elu.ce["fog"] == pytest.approx({0: 0.80 / 0.90, 1: 1.00 / 0.90}, abs=1e-12)
    assert elu.mce == pytest.approx({0: (0.40 / 0.70 + 0.80 / 0.90) / 2, 1: (0.60 / 0.70 + 1.00 / 0.90) / 2}, abs=1e-12)
    # relative: (sum_s E - 2 E_clean) / (sum_s E_base - 2 E_base_clean) = gn (0.40 - 0.10) / 0.40, fog (0.80 - 0.10) / 0.60
    assert elu.rel_ce["gaussian_noise"] == pytest.approx({0: 0.75, 1: 0.75}, abs=1e-12)
    assert elu.rel_mce == pytest.approx({0: (0.75 + 0.70 / 0.60) / 2, 1: (0.75 + 0.70 / 0.60) / 2}, abs=1e-12)
    assert elu.mca == pytest.approx({0: 0.70, 1: 0.60}, abs=1e-12)
    # the baseline's own mCE is 100 % on average over its seeds; relative mCE too
    assert relu.summary(relu.mce).mean == pytest.approx(1.0, abs=1e-12)
    assert relu.summary(relu.rel_mce).mean == pytest.approx(1.0, abs=1e-12)
    assert tanh.complete_seeds == [] and tanh.mce == {}  # a missing (corruption, severity): no mCE, no mean
    # the report's tables print the same numbers (mean ± sample std over seeds, in %)
    assert cli("report", "--db", db, "--out", tmp_path / "rep", "--no-plots").code == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    mce = [(0.40 / 0.70 + 0.80 / 0.90) / 2, (0.60 / 0.70 + 1.00 / 0.90) / 2]
    std = abs(mce[0] - mce[1]) / 2 ** 0.5
    tt = md[md.index("# Test-time protocol"):]
    row = [ln for ln in tt.splitlines() if ln.startswith("| elu |")][0]
    assert f"{100 * sum(mce) / 2:.1f} ± {100 * std:.1f}" in row  # 85.7 ± 18.0
    assert row == "| elu | 90.0 ± 7.1 | 65.0 ± 7.1 | 35.0 ± 7.1 | 85.7 ± 18.0 | 95.8 ± 0.0 | 2/2 |"
    assert "| tanh | 50.0 (n = 1) | n/a | n/a | n/a | n/a | 0/1 |" in tt
    assert "| mCE | 100.0 ± 18.0 | 85.7 ± 18.0 | n/a |" in tt  # relu: 87.3 and 112.7 over its seeds


def test_older_database_gets_the_evaluations_table(tmp_path):
    db = tmp_path / "old.db"
    with ResultsDB(db) as d:
        pass
    con = sqlite3.connect(db)
    con.execute("DROP TABLE evaluations")
    con.commit()
    con.close()
    with ResultsDB(db, readonly=True) as d:  # read-only view of an old database: no evaluations, no error
        assert d.evaluations() == [] and not d.has_evaluation("k", "fog", 1, "s", "w")
    with ResultsDB(db) as d:  # opened for writing: migrated in place
        d.record_evaluation(dict(run_key="k", corruption="fog", severity=1, set_file="f.h5", set_sha256="s",
                                 weights_sha256="w", n=3, acc=0.5, model="m", activation="relu", seed=0, clean_file="c.h5"))
        assert d.has_evaluation("k", "fog", 1, "s", "w") and not d.has_evaluation("k", "fog", 1, "other", "w")
