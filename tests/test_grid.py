"""Grid files and flags (parsing, validation, expansion), the local executor, resume, dry-run,
the node column, and `--executor ray` without Ray. No Ray needed (see test_grid_ray.py)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from noisebench.errors import UserError
from noisebench.harness.plan.driver import run_grid
from noisebench.harness.plan.expand import expand
from noisebench.harness.plan.local_executor import LocalExecutor
from noisebench.harness.plan.spec import load_grid, parse_grid, parse_seeds
from noisebench.harness.results.db import ResultsDB


def _have_toml() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(m) is not None for m in ("tomllib", "tomli"))


# Grid files are TOML: Python >= 3.11 (tomllib) or the tomli package.
pytestmark = pytest.mark.skipif(not _have_toml(), reason="needs tomllib (Python >= 3.11) or tomli")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    from noisebench.cli import main

    d = tmp_path_factory.mktemp("gridsynth")
    with pytest.raises(SystemExit) as e:
        main(["synth", "--rows", "300", "--out", str(d)])
    assert e.value.code == 0
    return d


def _toml(tmp_path: Path, body: str, name: str = "grid.toml") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


# -- parsing and validation ----------------------------------------------------------------------
def test_parse_full_grid(synth, tmp_path):
    p = _toml(tmp_path, f"""
[grid]
data = ["{synth}/synth-300-dirty.h5"]
models = ["mlp"]
activations = ["relu", "elu", "tact"]
lrs = [1e-4, 1e-3, 1e-2]
seeds = [0, 1, 2]
epochs = 2
batch_size = 32
weight_decay = 0.0
""")
    spec = load_grid(p)
    assert spec.activations == ["relu", "elu", "tact"] and spec.lrs == [1e-4, 1e-3, 1e-2] and spec.seeds == [0, 1, 2]
    assert spec.overrides == {"epochs": 2, "batch_size": 32, "weight_decay": 0.0}
    cfgs = expand(spec)
    assert len(cfgs) == 3 * 3 * 3 * 2  # activations x lrs x seeds x (clean, dirty)
    assert len({c.key() for c in cfgs}) == len(cfgs)
    assert [c.role for c in cfgs[:2]] == ["clean", "dirty"] and cfgs[0].seed == cfgs[1].seed
    assert all(Path(c.data).is_absolute() and c.epochs == 2 and c.batch_size == 32 for c in cfgs)
    assert {c.lr for c in cfgs} == {1e-4, 1e-3, 1e-2}


def test_defaults_from_recipe_and_seed_count(synth, tmp_path):
    p = _toml(tmp_path, f'[grid]\ndata = ["{synth}/synth-300-dirty.h5"]\nactivations = ["relu"]\nseeds = 2\n')
    cfgs = expand(load_grid(p))
    assert [c.seed for c in cfgs] == [0, 0, 1, 1]
    assert {(c.model, c.lr, c.epochs, c.optimizer) for c in cfgs} == {("mlp", 1e-3, 20, "adam")}


def test_explicit_clean_file_is_not_duplicated(synth, tmp_path):
    p = _toml(tmp_path, f'[grid]\ndata = ["{synth}/synth-300-clean.h5", "{synth}/synth-300-dirty.h5"]\n'
                        'activations = ["relu"]\nepochs = 1\nseeds = 1\n')
    cfgs = expand(load_grid(p))
    assert [c.role for c in cfgs] == ["clean", "dirty"]
    p2 = _toml(tmp_path, f'[grid]\ndata = ["{synth}/synth-300-dirty.h5"]\nactivations = ["relu"]\nadd_clean = false\nseeds = 1\n', "g2.toml")
    assert [c.role for c in expand(load_grid(p2))] == ["dirty"]


@pytest.mark.parametrize("body, msg", [
    ('[grid]\ndata = ["X"]\nactivations = ["relu"]\nepoch = 3\n', "unknown key [grid] 'epoch'"),
    ('[grid]\ndata = ["X"]\nactivations = ["relu"]\nepochs = "3"\n', "epochs must be an integer"),
    ('[grid]\ndata = ["X"]\nactivations = ["relu"]\nepochs = 0\n', "epochs must be >= 1"),
    ('[grid]\ndata = ["X"]\nactivations = ["relu"]\nlrs = [0.1, "x"]\n', "lrs must be a list of numbers"),
    ('[grid]\ndata = ["X"]\nactivations = ["relu"]\nseeds = [0, 0]\n', "seeds has duplicates"),
    ('[grid]\ndata = ["X"]\nactivations = ["relu"]\nseeds = 1.5\n', "seeds must be a positive integer or a list"),
    ('[grid]\ndata = ["X"]\nactivations = ["relu"]\nadd_clean = 1\n', "add_clean must be true or false"),
    ('[grid]\ndata = ["X"]\n', "needs activations"),
    ('[grid]\ndata = 3\nactivations = ["relu"]\n', "data must be a list of file paths"),
    ('data = ["X"]\n', "unknown table or key 'data'"),
    ('[grids]\n', "unknown table or key 'grids'"),
    ('', "missing [grid] table"),
    ('[grid\n', "not valid TOML"),
])
def test_bad_files(tmp_path, body, msg):
    p = _toml(tmp_path, body)
    with pytest.raises(UserError, match=None) as e:
        expand(load_grid(p))
    assert msg in str(e.value) and str(p) in str(e.value)


@pytest.mark.parametrize("line, msg", [
    ('activations = ["relu", "nosuchact"]', "unknown activation 'nosuchact'"),
    ('activations = ["relu"]\nmodels = ["resnet99"]', "unknown model 'resnet99'"),
    ('activations = ["relu"]\noptimizer = "lbfgs"', "unknown optimizer 'lbfgs'"),
    ('activations = ["relu"]\nlr_policy = "cosine"', "unknown lr_policy 'cosine'"),
])
def test_bad_names(synth, tmp_path, line, msg):
    p = _toml(tmp_path, f'[grid]\ndata = ["{synth}/synth-300-dirty.h5"]\n{line}\n')
    with pytest.raises(UserError) as e:
        expand(load_grid(p))
    assert msg in str(e.value)


def test_missing_files(synth, tmp_path):
    with pytest.raises(UserError, match="grid file .* not found"):
        load_grid(tmp_path / "nope.toml")
    p = _toml(tmp_path, '[grid]\ndata = ["nowhere/synth-dirty.h5"]\nactivations = ["relu"]\n')
    with pytest.raises(UserError, match="data file nowhere/synth-dirty.h5 not found"):
        expand(load_grid(p))


def test_model_data_mismatch_fails_before_training(synth, tmp_path):
    p = _toml(tmp_path, f'[grid]\ndata = ["{synth}/synth-300-dirty.h5"]\nactivations = ["relu"]\nmodels = ["resnet18"]\n')
    with ResultsDB(tmp_path / "r.db") as db, pytest.raises(UserError, match="cannot train on"):
        run_grid(expand(load_grid(p)), db, LocalExecutor())
    with ResultsDB(tmp_path / "r.db") as db:
        assert db.count() == 0


def test_parse_seeds_flags():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("4,7") == [4, 7] and parse_seeds("5,") == [5]
    for bad in ("0", "a", "1,1", "-1,2"):
        with pytest.raises(UserError):
            parse_seeds(bad)


def test_example_file_parses():
    from noisebench.harness.plan.spec import _toml_loads

    spec = parse_grid(_toml_loads((Path(__file__).parents[1] / "examples/grid.toml").read_text()), "examples/grid.toml")
    assert spec.activations and spec.data and spec.lrs == [1e-4, 1e-3, 1e-2] and spec.seeds == [0, 1, 2]


# -- local execution, resume, dry-run ------------------------------------------------------------
def _grid_file(synth: Path, tmp_path: Path, acts='["relu", "elu"]') -> Path:
    return _toml(tmp_path, f'[grid]\ndata = ["{synth}/synth-300-dirty.h5"]\nactivations = {acts}\n'
                           'seeds = 1\nepochs = 1\nbatch_size = 64\n')


def test_cli_local_grid_dry_run_and_resume(cli, synth, tmp_path):
    g, db = _grid_file(synth, tmp_path), tmp_path / "res.db"
    r = cli("grid", g, "--db", db, "--dry-run")
    assert r.code == 0, r.err
    assert r.out.count("todo ") == 4 and "4 runs: 0 done (0 null), 0 failed (will run again), 4 to run" in r.out
    assert not db.exists()  # a dry run writes nothing
    r = cli("grid", g, "--db", db)
    assert r.code == 0, r.err
    assert "4 runs trained (4 ok, 0 null, 0 failed), 0 already in" in r.out
    with ResultsDB(db) as rdb:
        rows = rdb.runs()
        assert len(rows) == 4 and all(x["node"].startswith("local:") for x in rows)
        first = {x["key"]: x["recorded_at"] for x in rows}
    # grow the grid: only the new activation's runs train; the old rows are untouched
    g3 = _grid_file(synth, tmp_path, '["relu", "elu", "tanh"]')
    r = cli("grid", g3, "--db", db, "--dry-run")
    assert "6 runs: 4 done (0 null), 0 failed (will run again), 2 to run" in r.out
    r = cli("grid", g3, "--db", db)
    assert "2 runs trained (2 ok, 0 null, 0 failed), 4 already in" in r.out, r.out
    with ResultsDB(db) as rdb:
        rows = rdb.runs()
        assert len(rows) == 6 and all(first[k] == t for k, t in ((x["key"], x["recorded_at"]) for x in rows) if k in first)


def test_cli_flags_override_file(cli, synth, tmp_path):
    g, db = _grid_file(synth, tmp_path), tmp_path / "res.db"
    r = cli("grid", g, "--db", db, "--dry-run", "--activation", "tanh", "--lr", "1e-2,1e-3", "--seeds", "0,5")
    assert r.code == 0, r.err
    assert "8 runs:" in r.out and "mlp/tanh/dirty/lr0.01/s5" in r.out and "relu" not in r.out
    r = cli("grid", "--data", synth / "synth-300-dirty.h5", "--activation", "relu", "--dry-run", "--db", db)
    assert r.code == 0 and "6 runs:" in r.out  # 3 seeds by default, as in robustness
    r = cli("grid", "--data", synth / "synth-300-dirty.h5", "--dry-run", "--db", db, "--subset", "50", "--seeds", "1")
    assert r.code == 0 and "2 runs:" in r.out
    r = cli("grid", "--db", db)
    assert r.code == 2 and "give a grid file" in r.err
    r = cli("grid", g, "--executor", "dask", "--db", db)
    assert r.code == 2 and "--executor must be local or ray" in r.err


def test_failed_run_recorded_then_retried(synth, tmp_path, monkeypatch):
    """A run that crashes is recorded as failed, the grid goes on, and the next start retries it."""
    cfgs = expand(load_grid(_grid_file(synth, tmp_path)))
    monkeypatch.setenv("NOISEBENCH_GRID_FAULT", f"raise:{tmp_path / 'marks'}:relu/dirty")
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_grid(cfgs, db, LocalExecutor())
        assert (out.ok, out.failed) == (3, 1) and "injected fault" in out.failures[0][1]
        bad = db.runs(status="failed")
        assert len(bad) == 1 and bad[0]["activation"] == "relu" and bad[0]["role"] == "dirty"
        out = run_grid(cfgs, db, LocalExecutor())  # the marker exists now: the retry succeeds
        assert (out.ran, out.ok, out.skipped) == (1, 1, 3)
        assert db.count() == 4 and len(db.runs(status="ok")) == 4


def test_digest_mismatch_is_a_recorded_failure(synth, tmp_path):
    """A file whose content differs from the planned digest (e.g. stale shared storage) fails that
    run with a clear error; the other runs go on."""
    from dataclasses import replace

    cfgs = expand(load_grid(_grid_file(synth, tmp_path)))
    bad = replace(cfgs[1], data_sha256="0" * 64)
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_grid([cfgs[0], bad, cfgs[2]], db, LocalExecutor(), preflight=False)
        assert (out.ok, out.failed) == (2, 1)
        row = db.runs(key=bad.key())[0]
        assert row["status"] == "failed" and "does not match the run's data_sha256" in row["error"]
        with pytest.raises(UserError, match="does not match"):  # with the driver's preflight: fails before any run
            run_grid([bad], db, LocalExecutor())


def test_local_worker_processes(synth, tmp_path):
    cfgs = expand(load_grid(_grid_file(synth, tmp_path)))
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_grid(cfgs[:2], db, LocalExecutor(jobs=2))
        assert out.ok == 2 and db.count() == 2 and len({r["key"] for r in db.runs()}) == 2


def test_node_column_added_to_old_database(tmp_path):
    p = tmp_path / "old.db"
    with ResultsDB(p) as db:
        db.conn.execute("ALTER TABLE runs DROP COLUMN node")  # a database from before the node column
    for _ in range(2):  # opening migrates it, idempotently
        ResultsDB(p).close()
    cols = [r[1] for r in sqlite3.connect(p).execute("PRAGMA table_info(runs)")]
    assert cols.count("node") == 1


def test_ray_executor_without_ray(cli, synth, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    r = cli("grid", _grid_file(synth, tmp_path), "--executor", "ray", "--db", tmp_path / "r.db")
    assert r.code == 2 and "pip install 'noisebench[ray]'" in r.err and len(r.err.strip().splitlines()) == 1


def test_unreachable_ray_address_fails_fast():
    import socket

    from noisebench.harness.plan.ray_executor import _probe

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(UserError, match="cannot reach the Ray cluster at 127.0.0.1"):
        _probe(f"127.0.0.1:{port}", timeout=2)
    with pytest.raises(UserError, match="expected auto, HOST:PORT"):
        _probe("nonsense")
    _probe("auto")
    _probe(None)
