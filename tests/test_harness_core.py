"""RunConfig keys, execute_run (null runs, checksum check), the results database, bad input."""

from __future__ import annotations

import json
import pickle
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from noisebench.errors import UserError
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.run.config import RunConfig
from noisebench.harness.run.data import RunResult, config_for_file, dataset_digest
from noisebench.harness.run.runner import execute_run

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    out = tmp_path_factory.mktemp("synth")
    clean, dirty = build(SynthParams(rows=300), out)
    return Path(clean), Path(dirty)


def _cfg(path, **kw):
    base = dict(model="mlp", activation="relu", epochs=2, batch_size=64, lr=1e-3, optimizer="adam",
                lr_policy="fixed", weight_decay=1e-10, seed=0)
    base.update(kw)
    return config_for_file(path, **base)


def test_runconfig_key_and_roundtrip(synth):
    c = _cfg(synth[1], extra={"gamma": 0.7, "step_size": 2})
    assert c.role == "dirty"
    d = json.loads(json.dumps(c.to_dict()))
    c2 = RunConfig.from_dict(d)
    assert c2 == c and c2.key() == c.key()
    assert replace(c, device="cuda:3").key() == replace(c, device="cuda:0").key()  # device type, not index
    for change in (dict(device="cuda:3"), dict(compile=True)):  # device type and compile are in the identity
        assert replace(c, **change).key() != c.key()
    assert replace(c, data="/elsewhere/x.h5").key() == c.key()  # the content digest identifies the data
    for change in (dict(seed=1), dict(lr=1e-2), dict(activation="elu"), dict(extra=(("gamma", 0.5),))):
        assert replace(c, **change).key() != c.key()
    assert c.data_sha256 == dataset_digest(synth[1])


def test_execute_run_ok_and_result_is_portable(synth):
    r = execute_run(_cfg(synth[0]))
    assert r.status == "ok" and r.null_cause is None and len(r.epochs) == 2
    assert r.final["metric"] == "selected_test_loss" and r.final["val_mse"] == r.final["val_loss"] > 0
    assert r.final["selection_rule"] == "min_val_loss" and r.final["last_epoch"] == 2
    best = min(r.epochs, key=lambda e: e["val_loss"])  # selected on val; synth's held-out test reported there
    assert r.final["metric_value"] == best["test_loss"]
    assert r.epochs[-1]["samples_per_s"] > 0 and r.hostname and r.code_version and r.device == "cpu"
    r2 = pickle.loads(pickle.dumps(r))
    assert RunResult.from_dict(json.loads(json.dumps(r2.to_dict()))).to_dict() == r.to_dict()
    # fresh weights per (config, seed): the same config gives the same numbers
    assert execute_run(_cfg(synth[0])).final["val_loss"] == r.final["val_loss"]


def test_null_run_on_divergent_config(synth):
    r = execute_run(_cfg(synth[1], lr=1000.0, optimizer="sgd", epochs=5))
    assert r.status == "null"
    assert "non-finite" in r.null_cause
    assert len(r.epochs) < 5  # stopped early


def test_checksum_mismatch_is_a_clear_error(synth):
    c = replace(_cfg(synth[0]), data_sha256="0" * 64)
    with pytest.raises(UserError, match="does not match the run's data_sha256"):
        execute_run(c)


def test_results_db_record_is_idempotent_and_replaces(synth, tmp_path):
    db = ResultsDB(tmp_path / "r.db")
    r = execute_run(_cfg(synth[0], epochs=1))
    assert not db.has(r.key)
    db.record(r)
    db.record(r)
    assert db.has(r.key) and db.count() == 1 and len(db.epochs(r.key)) == 1
    r.final["val_loss"] = 123.0
    r.epochs = r.epochs + [dict(r.epochs[0], epoch=2)]
    db.record(r)  # force rerun: replaces, never duplicates
    rows = db.runs(key=r.key)
    assert len(rows) == 1 and rows[0]["final"]["val_loss"] == 123.0 and len(db.epochs(r.key)) == 2
    assert db.runs(activation="relu", status=["ok", "null"])[0]["key"] == r.key
    failed = RunResult(key="f" * 64, config=r.config, status="failed", error="boom")
    db.record(failed)
    assert not db.has(failed.key)  # failed runs are retried
    mode = db.conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"
    db.close()
    assert sqlite3.connect(tmp_path / "r.db").execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_results_db_rejects_non_db(tmp_path):
    p = tmp_path / "x.db"
    p.write_text("not a database at all" * 100)
    with pytest.raises(UserError, match="not a noisebench results database"):
        ResultsDB(p)


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--model", "nosuchnet"], "unknown model"),
        (["--activation", "nosuchact"], "activation"),
        (["--model", "resnet18"], "cannot train on"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--optimizer", "rmsprop"], "unknown optimizer"),
    ],
)
def test_train_bad_input_one_line(cli, synth, tmp_path, args, msg):
    r = cli("train", "--data", synth[1], "--epochs", "1", "--db", tmp_path / "r.db", *args)
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0]


def test_missing_data_file_one_line(cli, tmp_path):
    for cmd in (["train"], ["robustness"], ["lr-find"]):
        r = cli(*cmd, "--data", tmp_path / "nope.h5", "--db", tmp_path / "r.db") if cmd != ["lr-find"] else \
            cli(*cmd, "--data", tmp_path / "nope.h5")
        assert r.code == 2 and r.err.count("\n") == 1 and "not found" in r.err


def test_missing_suite_file_names_the_build_command(cli, tmp_path):
    r = cli("robustness", "--suite", "synth", "--datasets-dir", tmp_path, "--db", tmp_path / "r.db")
    assert r.code == 2 and "noisebench synth --rows 7000" in r.err and r.err.count("\n") == 1


def test_train_command_records_and_skips(cli, synth, tmp_path):
    db = tmp_path / "r.db"
    r = cli("train", "--data", synth[0], "--epochs", "2", "--db", db)
    assert r.code == 0, r.err
    assert "epoch   2" in r.out and "recorded in" in r.out
    r = cli("train", "--data", synth[0], "--epochs", "2", "--db", db)
    assert r.code == 0 and "already in" in r.out
    with ResultsDB(db) as d:
        assert d.count() == 1
