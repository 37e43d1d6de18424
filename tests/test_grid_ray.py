"""The Ray executor on a real local Ray cluster (2 CPUs, one ray.init for the module): a tiny grid,
a retry after a raised exception and after a killed worker, retries exhausted -> recorded failure,
a digest mismatch on the worker, and a driver killed mid-grid then resumed (no duplicates, nothing lost)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
if not any(__import__("importlib.util").util.find_spec(m) for m in ("tomllib", "tomli")):  # pragma: no cover
    pytest.skip("grid files need tomllib (Python >= 3.11) or tomli", allow_module_level=True)

from noisebench.harness.plan.driver import FAULT_ENV, run_grid  # noqa: E402
from noisebench.harness.plan.expand import expand  # noqa: E402
from noisebench.harness.plan.ray_executor import RayExecutor  # noqa: E402
from noisebench.harness.plan.spec import load_grid  # noqa: E402
from noisebench.harness.results.db import ResultsDB  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    from noisebench.cli import main

    d = tmp_path_factory.mktemp("raysynth")
    with pytest.raises(SystemExit):
        main(["synth", "--rows", "300", "--out", str(d)])
    return d


def _grid(synth: Path, tmp_path: Path, acts: str = '["relu", "elu"]', seeds: int = 1) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(f'[grid]\ndata = ["{synth}/synth-300-dirty.h5"]\nactivations = {acts}\n'
                 f'seeds = {seeds}\nepochs = 1\nbatch_size = 64\n')
    return p


def _executor(**kw) -> RayExecutor:
    kw.setdefault("gpus_per_run", 0)
    kw.setdefault("cpus_per_run", 1)
    return RayExecutor(**kw)


def test_tiny_grid_on_ray(cluster, synth, tmp_path):
    cfgs = expand(load_grid(_grid(synth, tmp_path)))
    node_ids = {n["NodeID"][:12] for n in ray.nodes() if n["Alive"]}
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_grid(cfgs, db, _executor(retries=0))
        assert (out.ran, out.ok, out.failed) == (4, 4, 0)
        rows = db.runs()
        assert sorted(r["key"] for r in rows) == sorted(c.key() for c in cfgs)
        assert all(r["node"].split("/")[1] in node_ids and r["device"] == "cpu" for r in rows)
        assert sum(out.nodes.values()) == 4
        again = run_grid(cfgs, db, _executor())  # resume: everything is done
        assert (again.ran, again.skipped) == (0, 4)


def test_resource_requests_checked(cluster, synth, tmp_path):
    from noisebench.errors import UserError

    cfgs = expand(load_grid(_grid(synth, tmp_path, '["relu"]')))
    with ResultsDB(tmp_path / "r.db") as db:
        with pytest.raises(UserError, match="the Ray cluster has no GPUs"):
            run_grid(cfgs, db, _executor(gpus_per_run=1))
        with pytest.raises(UserError, match="no Ray node has 0 GPU and 4 CPU"):
            run_grid(cfgs, db, _executor(cpus_per_run=4))
        assert db.count() == 0
        ex = RayExecutor(cpus_per_run=1)  # gpus_per_run auto: 0 on this CPU-only cluster
        run_grid(cfgs, db, ex)
        assert ex._gpus == 0 and len(db.runs(status="ok")) == 2


def test_retry_after_exception(cluster, synth, tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    monkeypatch.setenv(FAULT_ENV, f"raise:{marks}")  # the first attempt of every run raises
    cfgs = expand(load_grid(_grid(synth, tmp_path, '["relu"]')))
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_grid(cfgs, db, _executor(retries=1))
        assert (out.ok, out.failed) == (2, 0)
        assert len(list(marks.iterdir())) == 2  # each run did fail once, then succeeded on the retry


def test_retry_after_worker_death(cluster, synth, tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    monkeypatch.setenv(FAULT_ENV, f"exit:{marks}:dirty")  # the worker process dies (os._exit) on the first try
    cfgs = expand(load_grid(_grid(synth, tmp_path, '["relu"]')))
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_grid(cfgs, db, _executor(retries=2))
        assert (out.ok, out.failed) == (2, 0)
        assert len(list(marks.iterdir())) == 1


def test_retries_exhausted_recorded_as_failed(cluster, synth, tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, f"raise:{tmp_path / 'marks'}:mlp/elu/clean")
    cfgs = expand(load_grid(_grid(synth, tmp_path)))
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_grid(cfgs, db, _executor(retries=0))
        assert (out.ok, out.failed) == (3, 1)  # the grid went on
        bad = db.runs(status="failed")
        assert len(bad) == 1 and "injected fault" in bad[0]["error"] and "after 0 retries" in bad[0]["error"]
        assert bad[0]["activation"] == "elu" and bad[0]["role"] == "clean"
        again = run_grid(cfgs, db, _executor(retries=0))  # next start: only the failed run, now fine
        assert (again.ran, again.ok, again.skipped) == (1, 1, 3) and db.count() == 4


def test_digest_mismatch_on_worker(cluster, synth, tmp_path):
    cfgs = expand(load_grid(_grid(synth, tmp_path, '["relu"]')))
    bad = replace(cfgs[1], data_sha256="f" * 64)
    with ResultsDB(tmp_path / "r.db") as db:
        out = run_grid([cfgs[0], bad], db, _executor(retries=2), preflight=False)
        assert (out.ok, out.failed) == (1, 1)
        row = db.runs(key=bad.key())[0]
        assert "does not match the run's data_sha256" in row["error"] and "on node" in row["error"]
        assert "retries" not in row["error"]  # deterministic: recorded at once, not retried


def test_driver_killed_then_resumed(cluster, synth, tmp_path, cli):
    """Kill the driver (a subprocess) after its first results are recorded; the same command again
    trains only the missing runs: one row per run, all present, earlier rows untouched."""
    grid = _grid(synth, tmp_path, '["relu", "elu", "tanh"]')
    n = len(expand(load_grid(grid)))
    db_path = tmp_path / "r.db"
    cmd = [sys.executable, "-m", "noisebench", "grid", str(grid), "--executor", "ray", "--address", cluster,
           "--gpus-per-run", "0", "--retries", "0", "--db", str(db_path)]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", **{FAULT_ENV: "sleep:1.5"})
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 240
    done_before = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            if db_path.exists():
                try:
                    with ResultsDB(db_path, readonly=True) as db:
                        done_before = db.count()
                except Exception:  # noqa: BLE001 - being created
                    done_before = 0
                if done_before >= 1:
                    break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with ResultsDB(db_path) as db:
        before = {r["key"]: r["recorded_at"] for r in db.runs()}
    assert 1 <= len(before) < n
    r = cli(*cmd[3:])  # the same command again (in this process: it uses the test's Ray session)
    assert r.code == 0, r.out[-2000:] + r.err[-2000:]
    assert f"{n - len(before)} runs trained" in r.out and f"{len(before)} already in" in r.out
    with ResultsDB(db_path) as db:
        rows = db.runs()
        keys = [x["key"] for x in rows]
        assert len(keys) == len(set(keys)) == n == db.count()
        assert sorted(keys) == sorted(c.key() for c in expand(load_grid(grid)))
        assert all(x["status"] == "ok" for x in rows)
        assert all(before[x["key"]] == x["recorded_at"] for x in rows if x["key"] in before)


def test_robustness_on_ray(cluster, synth, tmp_path, cli):
    """`robustness --executor ray`: the one study runner on the Ray executor; a second call trains nothing."""
    db = tmp_path / "r.db"
    args = ("robustness", "--executor", "ray", "--data", synth / "synth-300-dirty.h5", "--activation", "relu",
            "--seeds", "1", "--epochs", "1", "--db", db)
    r = cli(*args)
    assert r.code == 0, r.err
    assert "2 runs trained (2 ok, 0 null, 0 failed)" in r.out
    with ResultsDB(db) as d:
        assert len(d.runs()) == 2 and not any(x["node"].startswith("local:") for x in d.runs())  # Ray nodes
    r = cli(*args)
    assert r.code == 0 and "0 runs trained" in r.out and "2 already in" in r.out
