"""`noisebench export` keys every run by its data's identity (dataset, kind, level, corruption,
severity, subset): two label-flip rates and a --subset run of the same model and activation are
never merged, and seeds are counted as seeds."""

from __future__ import annotations

import csv
import importlib.util
import json

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from official_format_fixtures import write_mnist_idx

    from noisebench.cli import main
    from noisebench.generators.builds.images import build_flip, build_split_clean
    from noisebench.generators.sources.mnist import load_mnist

    tmp = tmp_path_factory.mktemp("expid")
    mnist = load_mnist(write_mnist_idx(tmp / "src", 60, 20), verify=False)
    out = tmp / "datasets"
    build_split_clean(mnist, out, val_size=10000)
    f1 = build_flip(mnist, out, rate=0.1, with_clean=False)[-1]
    f2 = build_flip(mnist, out, rate=0.2, with_clean=False)[-1]
    db = tmp / "r.db"
    live = ["--tensorboard", str(tmp / "live")] if importlib.util.find_spec("tensorboard") else []
    for args in (["--data", f1, "--seeds", "2"], ["--data", f2, "--seeds", "2"], ["--data", f1, "--seeds", "1", "--subset", "20"]):
        try:
            main(["robustness", "--activation", "relu", "--epochs", "1", "--batch-size", "16", "--db", str(db), "--quiet",
                  *live, *map(str, args)])
        except SystemExit as e:
            assert e.code in (0, None)
    return db


def test_robustbench_json_keys_each_dataset_identity_and_counts_seeds(cli, db, tmp_path):
    r = cli("export", "--db", db, "--format", "robustbench-json", "--out", tmp_path)
    assert r.code == 0, r.err
    docs = {p.name: json.loads(p.read_text()) for p in (tmp_path / "robustbench").glob("*.json")}
    assert len(docs) == 2  # the full data and the --subset 20 runs: never averaged together
    full = next(d for d in docs.values() if not dict(d["setting"]["extra"]).get("subset"))
    sub = next(d for d in docs.values() if dict(d["setting"]["extra"]).get("subset") == 20)
    assert set(full["corruptions_acc"]) == {"mnist-flip0.1", "mnist-flip0.2"}
    assert full["n_seeds"] == {"clean": 2, "mnist-flip0.1": 2, "mnist-flip0.2": 2}  # the clean runs are shared
    assert full["seeds"]["mnist-flip0.2"] == [0, 1] and full["clean_acc"] is not None
    assert set(sub["corruptions_acc"]) == {"mnist-flip0.1-subset20"} and sub["n_seeds"]["mnist-flip0.1-subset20"] == 1


def test_epochs_csv_and_tensorboard_names_tell_the_datasets_apart(cli, db, tmp_path):
    assert cli("export", "--db", db, "--format", "csv", "--out", tmp_path).code == 0
    epochs = list(csv.DictReader(open(tmp_path / "epochs.csv")))
    runs = list(csv.DictReader(open(tmp_path / "runs.csv")))
    ids = {e["data_id"] for e in epochs}
    assert ids == {"mnist-clean", "mnist-flip0.1", "mnist-flip0.2", "mnist-clean-subset20", "mnist-flip0.1-subset20"}
    assert {e["level"] for e in epochs if e["role"] == "dirty"} == {"0.1", "0.2"}
    assert {r["data_id"] for r in runs} == ids and len(runs) == 8
    pytest.importorskip("tensorboard")
    assert cli("export", "--db", db, "--format", "tensorboard", "--out", tmp_path / "tb").code == 0
    names = [p.name for p in (tmp_path / "tb" / "tensorboard").iterdir()]
    assert len(names) == 8
    assert sum(n.startswith("mnist-flip0.2-") for n in names) == 2
    assert sum(n.startswith("mnist-flip0.1-subset20-") for n in names) == 1


def test_live_tensorboard_names_tell_the_datasets_apart(db):
    pytest.importorskip("tensorboard")
    names = [p.name for p in (db.parent / "live").iterdir()]
    assert len(names) == 8
    assert sum(n.startswith("mnist-flip0.1-mnist_cnn-relu-dirty") for n in names) == 2
    assert sum(n.startswith("mnist-flip0.2-mnist_cnn-relu-dirty") for n in names) == 2
    assert sum(n.startswith("mnist-flip0.1-subset20-") for n in names) == 1
