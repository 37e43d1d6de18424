"""A study's report, written by `noisebench study` over runs already in its database (a resumed
study): accuracy CIs stay inside [0, 1] and name their method, a published number compared with two
seeds is reported as a test without power (n shown), the † best setting per data file is chosen on
val accuracy (never test), and the last epoch's test value is shown beside the selected one."""

from __future__ import annotations

import csv

import pytest

PRESET = """
[study]
name = "ci-check"
description = "two LRs, two seeds"
source = "a worked example"
layout = "lr x activation"

[[datasets]]
build = "mnist-flip"
rate = 0.1

[[grid]]
data = ["mnist-flip0.1.h5"]
models = ["mnist_cnn"]
activations = ["relu"]
lrs = [0.001, 0.01]
seeds = 2
epochs = 1
add_clean = false

[[reported]]
data = "mnist-flip0.1"
metric = "test_acc"
ours = "selected_test_acc"
rows = "lr"
columns = ["relu"]
values = [[0.001, 0.30]]
source = "a published table"
"""

# (lr, seed) -> (selected test, selected val, last test): LR 1e-3 is better on test, LR 1e-2 on val
VALUES = {(0.001, 0): (0.60, 0.50, 0.55), (0.001, 1): (0.98, 0.52, 0.57),
          (0.01, 0): (0.70, 0.80, 0.40), (0.01, 1): (0.71, 0.81, 0.42)}


@pytest.fixture
def study(tmp_path):
    from official_format_fixtures import write_mnist_idx

    from noisebench.format.reader import open_file
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.run.data import RunResult, data_info
    from noisebench.harness.studies.datasets import build_missing
    from noisebench.harness.studies.plan import plan
    from noisebench.harness.studies.preset import load_preset

    preset = tmp_path / "ci-check.toml"
    preset.write_text(PRESET)
    src = write_mnist_idx(tmp_path / "src", 60, 20)
    data, db = tmp_path / "data", tmp_path / "r.db"
    p = load_preset(str(preset))
    build_missing(p, data, source=src, verify=False, echo=lambda m: None)
    with open_file(data / "mnist-flip0.1.h5") as f:
        info = data_info(dict(f.meta))
    configs = plan(p, data)
    assert len(configs) == 4
    with ResultsDB(db) as rdb:
        for c in configs:
            t, v, last = VALUES[(c.lr, c.seed)]
            final = {"metric": "selected_test_acc", "metric_value": t, "selected_test_acc": t, "selected_val_acc": v,
                     "last_test_acc": last, "last_val_acc": v - 0.1, "selected_epoch": 1, "last_epoch": 2}
            epochs = [{"epoch": e, "train_loss": 1.0 / e, "val_acc": v, "test_acc": t} for e in (1, 2)]
            rdb.record(RunResult(key=c.key(), config=c.to_dict(), status="ok", epochs=epochs, final=final, wall_s=1.0,
                                 device="cpu", hostname="h", code_version="x", data_info=info))
    return {"preset": preset, "data": data, "db": db, "out": tmp_path / "report"}


def test_study_report_ci_power_dagger_on_val_and_last_epoch(cli, study):
    r = cli("study", study["preset"], "--data-dir", study["data"], "--db", study["db"], "--out", study["out"])
    assert r.code == 0, r.err
    assert "0 runs trained" in r.out and "1 not tested: fewer than 3 seeds" in r.out
    (row,) = list(csv.DictReader(open(study["out"] / "reported.csv")))
    assert row["n"] == "2" and float(row["mean"]) == pytest.approx(0.79)
    assert 0.0 <= float(row["ci95_lo"]) and float(row["ci95_hi"]) <= 1.0 and row["ci95_clipped"] == "True"
    assert row["reported_inside_ci95"] == "" and row["verdict"].startswith("no power (n = 2 < 3 seeds")
    md = (study["out"] / "report.md").read_text()
    assert "clipped to the metric's range" in md and "no power (n = 2" in md
    final = md.split("## mnist: test top-1 accuracy at the val-selected epoch")[1].split("\n## ")[0]
    lines = {line.split(" | ")[0].lstrip("| "): line for line in final.splitlines() if line.startswith("| mnist-flip0.1")}
    hi, lo = lines["mnist-flip0.1 · lr=0.01"], lines["mnist-flip0.1 · lr=0.001"]
    assert "†" in hi and "†" not in lo  # chosen on val (0.805 > 0.51), though LR 1e-3 is better on test
    assert "chosen on val top-1 accuracy at the val-selected epoch (never on test)" in final
    assert "; last 0.56 ± 0.014" in lo and "; last 0.41 ± 0.014" in hi  # the last epoch's test beside the selected
    assert list(study["out"].glob("layout_*.png")) and list(study["out"].glob("by_lr_*.svg"))
    r = cli("report", "--db", study["db"], "--out", study["out"].parent / "plain")  # `report`: the same rules
    assert r.code == 0, r.err
    plain = (study["out"].parent / "plain" / "report.md").read_text()
    plain = plain.split("## mnist: test top-1 accuracy at the val-selected epoch")[1].split("\n## ")[0]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in plain.splitlines() if line.startswith("| mnist-flip0.1 ·")}
    assert "†" in rows["mnist-flip0.1 · lr=0.01"] and "†" not in rows["mnist-flip0.1 · lr=0.001"]
    assert "; last 0.56 ± 0.014" in rows["mnist-flip0.1 · lr=0.001"]
    summary = list(csv.DictReader(open(study["out"] / "summary.csv")))
    assert {(float(s["lr"]), round(float(s["last_mean"]), 3)) for s in summary} == {(0.001, 0.56), (0.01, 0.41)}
    assert all(0.0 <= float(s["ci95_lo"]) <= float(s["ci95_hi"]) <= 1.0 for s in summary)
