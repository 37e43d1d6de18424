"""End-to-end: robustness grid on tiny data (DB and printed table agree), resume after an
interruption, report files, lr-find, and the image path (tiny MNIST/CIFAR files)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import torch

from noisebench.harness.plan.pairs import pair_for
from noisebench.harness.plan.robustness import plan, run_grid, summarize
from noisebench.harness.report.stats import summarize as stat_summary
from noisebench.harness.results.db import ResultsDB

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    out = tmp_path_factory.mktemp("synth")
    clean, dirty = build(SynthParams(rows=300), out)
    return Path(clean), Path(dirty)


def test_robustness_table_agrees_with_db(cli, synth, tmp_path):
    db = tmp_path / "r.db"
    r = cli("robustness", "--activation", "relu,tanh", "--data", synth[1], "--seeds", "2", "--epochs", "2", "--db", db)
    assert r.code == 0, r.err
    assert "delta (dirty − clean)" in r.out and "test MSE" in r.out
    assert "clean last epoch" in r.out and "dirty last epoch" in r.out
    assert "8 runs trained (8 ok, 0 null, 0 failed)" in r.out
    with ResultsDB(db) as d:
        rows = d.runs()
        assert len(rows) == 8 and {x["status"] for x in rows} == {"ok"}
        for act in ("relu", "tanh"):
            # synth has a held-out test split: the compared number is test MSE at the val-selected epoch
            assert {x["final"]["metric"] for x in rows} == {"selected_test_loss"}
            clean = {x["seed"]: x["final"]["selected_test_loss"] for x in rows if x["activation"] == act and x["role"] == "clean"}
            dirty = {x["seed"]: x["final"]["selected_test_loss"] for x in rows if x["activation"] == act and x["role"] == "dirty"}
            assert sorted(clean) == sorted(dirty) == [0, 1]
            c, dd = stat_summary(clean.values()), stat_summary(dirty.values())
            delta = stat_summary([dirty[s] - clean[s] for s in clean])
            line = next(l for l in r.out.splitlines() if l.startswith(act + " "))
            assert f"{c.mean:.4g} ± {c.std:.2g}" in line
            assert f"{dd.mean:.4g} ± {dd.std:.2g}" in line
            assert f"{delta.mean:.4g} ± {delta.std:.2g}" in line
            assert f"[{delta.ci_lo:.4g}, {delta.ci_hi:.4g}]" in line
            assert re.search(r"2/2\s+0\s+0$", line)
            # the last epoch's value beside the selected one (clean, then dirty)
            lc = stat_summary(x["final"]["last_test_loss"] for x in rows if x["activation"] == act and x["role"] == "clean")
            ld = stat_summary(x["final"]["last_test_loss"] for x in rows if x["activation"] == act and x["role"] == "dirty")
            assert f"{c.mean:.4g} ± {c.std:.2g}  {lc.mean:.4g} ± {lc.std:.2g}" in re.sub(r" {2,}", "  ", line)
            assert f"{dd.mean:.4g} ± {dd.std:.2g}  {ld.mean:.4g} ± {ld.std:.2g}" in re.sub(r" {2,}", "  ", line)
            assert len(d.epochs(rows[0]["key"])) == 2
    # a second invocation trains nothing
    r = cli("robustness", "--activation", "relu,tanh", "--data", synth[1], "--seeds", "2", "--epochs", "2", "--db", db)
    assert r.code == 0 and "0 runs trained" in r.out and "8 already in" in r.out


def test_resume_after_interrupt(synth, tmp_path):
    db = ResultsDB(tmp_path / "r.db")
    configs = plan([pair_for(synth[1])], ["relu", "elu"], [0], {"epochs": 1})
    assert len(configs) == 4

    def stop_after_two(res, outcome):
        if outcome.ran == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_grid(configs, db, progress=False, on_result=stop_after_two)
    assert db.count() == 2
    done = {r["key"] for r in db.runs()}
    assert done == {c.key() for c in configs[:2]}
    out = run_grid(configs, db, progress=False)
    assert (out.ran, out.skipped) == (2, 2)
    assert db.count() == 4 and {r["key"] for r in db.runs()} == {c.key() for c in configs}
    # --force reruns all, still one row per key
    out = run_grid(configs, db, force=True, progress=False)
    assert out.ran == 4 and db.count() == 4
    rows = summarize(db, configs)
    assert [r.activation for r in rows] == ["relu", "elu"] and all(r.delta.n == 1 for r in rows)
    db.close()


@pytest.mark.timeout(600)  # a hang guard, not a speed bound
def test_parallel_jobs_interrupt_and_resume(synth, tmp_path):
    db = ResultsDB(tmp_path / "r.db")
    configs = plan([pair_for(synth[1])], ["relu"], [0, 1], {"epochs": 1})

    def stop_after_one(res, outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_grid(configs, db, progress=False, on_result=stop_after_one, jobs=2)
    assert db.count() == 1
    out = run_grid(configs, db, progress=False)  # resume sequentially (no second worker spawn)
    assert (out.ran, out.skipped) == (3, 1) and db.count() == 4
    # the run done in a worker has the same numbers as in this process: results do not depend on --jobs
    from noisebench.harness.run.runner import execute_run

    first = [c for c in configs if c.key() == min(db.runs(), key=lambda r: r["recorded_at"])["key"]][0]
    assert execute_run(first).final["val_loss"] == db.runs(key=first.key())[0]["final"]["val_loss"]
    db.close()



def test_null_runs_counted_in_table(cli, synth, tmp_path):
    r = cli("robustness", "--activation", "relu", "--data", synth[1], "--seeds", "1", "--epochs", "3",
            "--optimizer", "sgd", "--lr", "1000", "--db", tmp_path / "r.db")
    assert r.code == 0, r.err
    assert "2 null" in r.out
    line = next(l for l in r.out.splitlines() if l.startswith("relu "))
    assert re.search(r"0/1\s+2\s+0$", line)


def test_report_and_lr_find(cli, synth, tmp_path):
    db = tmp_path / "r.db"
    assert cli("robustness", "--activation", "relu,elu", "--data", synth[1], "--seeds", "2", "--epochs", "2",
               "--db", db).code == 0
    out = tmp_path / "report"
    r = cli("report", "--db", db, "--out", out)
    assert r.code == 0, r.err
    md = (out / "report.md").read_text()
    assert "| data · setting | relu | elu |" in md and "**" in md and "Welch" in md and "Null runs" in md
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["activation"] for r in rows} == {"relu", "elu"}
    with open(out / "delta.csv") as f:
        drows = list(csv.DictReader(f))
    assert len(drows) == 2 and all(r["delta_direction"] == "dirty-clean" for r in drows)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert any(p.startswith("curves_synth") for p in pngs) and any(p.startswith("delta_") for p in pngs)
    assert cli("report", "--db", tmp_path / "none.db").code == 2
    r = cli("lr-find", "--data", synth[0], "--iters", "30", "--plot", tmp_path / "lr.png")
    assert r.code == 0, r.err
    assert "suggested LR" in r.out and (tmp_path / "lr.png").stat().st_size > 1000


def test_image_datasets_end_to_end(cli, tmp_path):
    pytest.importorskip("noisebench.generators.builds.images")
    from official_format_fixtures import build_tiny_image_files
    from trust_helpers import ensure_val_split

    paths = build_tiny_image_files(tmp_path, n_cifar_train=40, n_cifar_test=16, n_mnist_train=60, n_mnist_test=20)
    for name in ("cifar10", "cifar10-psi16"):  # files of format version 1 have no val split
        ensure_val_split(paths[name])
    db = tmp_path / "r.db"
    # MNIST: CNN, StepLR recipe; the flipped file finds mnist.h5 through clean_reference
    r = cli("robustness", "--activation", "relu", "--data", paths["mnist-flip0.1"], "--seeds", "1", "--epochs", "1",
            "--batch-size", "16", "--db", db)
    assert r.code == 0, r.err
    assert "clean − dirty" in r.out and "val top-1" in r.out
    # CIFAR/psi: device-side crop+flip augmentation path, a small CIFAR model
    r = cli("train", "--data", paths["cifar10-psi16"], "--epochs", "1", "--batch-size", "20",
            "--db", db)
    assert r.code == 0, r.err
    with ResultsDB(db) as d:
        rows = d.runs()
        assert len(rows) == 3 and all(x["status"] == "ok" for x in rows)
        img = [x for x in rows if x["model"] == "resnet18_tv"][0]
        assert 0 <= img["final"]["val_acc"] <= 1 and "val_top3" in img["final"]
        assert img["data_info"]["val_split"] == "val"
        f = img["final"]
        assert f["metric"] == "selected_test_acc" and f["selection_rule"] == "max_val_acc"
        assert f["metric_value"] == f["selected_test_acc"] and f["last_test_acc"] == f["test_acc"]
    # a tabular model on image data: one clear line
    r = cli("train", "--data", paths["cifar10"], "--model", "mlp", "--epochs", "1", "--db", db)
    assert r.code == 2 and "cannot train on" in r.err
