"""`noisebench export`: CSV / JSONL / TensorBoard / RobustBench-JSON read back by standard readers."""

from __future__ import annotations

import csv
import json

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from official_format_fixtures import build_tiny_image_files

    from noisebench.cli import main

    tmp = tmp_path_factory.mktemp("exp")
    paths = build_tiny_image_files(tmp, n_cifar_train=40, n_cifar_test=16, n_mnist_train=60, n_mnist_test=20)
    db = tmp / "r.db"
    try:
        main(["robustness", "--activation", "relu,tanh", "--data", str(paths["mnist-flip0.1"]), "--seeds", "1",
              "--epochs", "2", "--batch-size", "16", "--db", str(db)])
    except SystemExit as e:
        assert e.code in (0, None)
    return db


def test_csv_export_reads_back(cli, db, tmp_path):
    r = cli("export", "--db", db, "--format", "csv", "--out", tmp_path)
    assert r.code == 0, r.err
    epochs = list(csv.DictReader(open(tmp_path / "epochs.csv")))
    runs = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert len(runs) == 4 and len(epochs) == 8  # 2 activations x clean/dirty, 2 epochs each
    head = list(epochs[0])
    assert head.index("epoch") < head.index("train_loss") < head.index("val_loss") < head.index("test_loss") < head.index("lr")
    assert {e["activation"] for e in epochs} == {"relu", "tanh"}
    assert all(0 <= float(e["val_acc"]) <= 1 for e in epochs)
    assert {r["role"] for r in runs} == {"clean", "dirty"} and all(r["status"] == "ok" for r in runs)
    # never overwritten without --force
    again = cli("export", "--db", db, "--format", "csv", "--out", tmp_path)
    assert again.code != 0 and "already exists; pass --force" in again.err
    assert cli("export", "--db", db, "--format", "csv", "--out", tmp_path, "--force").code == 0


def test_jsonl_export_reads_back(cli, db, tmp_path):
    assert cli("export", "--db", db, "--format", "jsonl", "--out", tmp_path).code == 0
    recs = [json.loads(line) for line in open(tmp_path / "runs.jsonl")]
    assert len(recs) == 4 and all(len(r["epochs"]) == 2 and r["config"]["epochs"] == 2 for r in recs)


def test_robustbench_json_export(cli, db, tmp_path):
    assert cli("export", "--db", db, "--format", "robustbench-json", "--out", tmp_path).code == 0
    docs = {p.name: json.loads(p.read_text()) for p in (tmp_path / "robustbench").glob("*.json")}
    assert set(docs) == {"mnist_cnn__relu.json", "mnist_cnn__tanh.json"}
    d = docs["mnist_cnn__relu.json"]
    assert 0 <= d["clean_acc"] <= 100 and list(d["corruptions_acc"]) and "train-time" in d["protocol"]


def test_tensorboard_export_reads_back(cli, db, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert cli("export", "--db", db, "--format", "tensorboard", "--out", tmp_path).code == 0
    runs = sorted((tmp_path / "tensorboard").iterdir())
    assert len(runs) == 4
    acc = EventAccumulator(str(runs[0]))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "val/val_loss" in tags and "train/train_loss" in tags
    assert [e.step for e in acc.Scalars("val/val_loss")] == [1, 2] or [e.step for e in acc.Scalars("val/val_loss")] == [0, 1]


def test_bad_format_is_one_line(cli, db, tmp_path):
    r = cli("export", "--db", db, "--format", "parquet", "--out", tmp_path)
    assert r.code != 0 and "--format must be one of" in r.err


def test_results_schema_is_declared_once():
    """The DDL, the column lists and docs/RESULTS.md all come from harness/results/schema.py."""
    import sqlite3
    from pathlib import Path

    from noisebench.harness.results import db as results_db
    from noisebench.harness.results import export
    from noisebench.harness.results import schema as results_schema

    doc = (Path(__file__).resolve().parents[1] / "docs" / "RESULTS.md").read_text()
    assert results_schema.markdown() in doc  # regenerate the page when the schema changes
    con = sqlite3.connect(":memory:")
    con.executescript(results_db._SCHEMA)
    for t in results_schema.TABLES:
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({t.name})")]
        assert cols == [c.name for c in t.columns]
    assert results_db.RUN_COLUMNS == results_schema.columns("runs")
    assert set(export.RUN_FIELDS) <= set(results_db.RUN_COLUMNS)


def test_live_tensorboard_curves_from_train_and_robustness(cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    clean, dirty = build(SynthParams(rows=300), tmp_path)
    tb = tmp_path / "tb"
    r = cli("train", "--data", dirty, "--epochs", "3", "--db", tmp_path / "r.db", "--tensorboard", tb, "--quiet")
    assert r.code == 0, r.err
    (run,) = list(tb.iterdir())
    assert run.name.startswith("synth-300-dirty-mlp-relu-dirty")  # the data's identity, then the run
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert [e.step for e in acc.Scalars("val/val_loss")] == [1, 2, 3]
    r = cli("robustness", "--data", dirty, "--activation", "elu", "--seeds", "1", "--epochs", "2",
            "--db", tmp_path / "r.db", "--tensorboard", tb, "--quiet")
    assert r.code == 0, r.err
    assert len(list(tb.iterdir())) == 3  # + elu clean and elu dirty


def test_tensorboard_dir_that_is_a_file_is_refused_before_training(cli, tmp_path):
    pytest.importorskip("tensorboard")
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    clean, dirty = build(SynthParams(rows=300), tmp_path)
    f = tmp_path / "afile"
    f.write_text("x")
    r = cli("train", "--data", dirty, "--epochs", "1", "--db", tmp_path / "r.db", "--tensorboard", f, "--quiet")
    assert r.code == 2 and "is not a folder" in r.err and not (tmp_path / "r.db").exists()
