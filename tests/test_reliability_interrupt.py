"""Interruption (issue 7): a SIGKILLed `synth` / `make psi` build never leaves a partial file under
the final name (only a hidden temp file, removed by the next successful build of that output), and
a SIGKILLed `robustness` grid resumes to exactly one database row per run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches  # noqa: E402

from noisebench.format import DatasetWriter, verify  # noqa: E402
from noisebench.safety.outputs import remove_stale_temps  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "noisebench", *map(str, args)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


# `noisebench ARGS` with one method wrapped to sleep after a call for which WHEN holds (a Python expression of
# `self`, `args` and `calls`, the number of calls so far): a signal sent once the pause is reached lands at
# that point however fast the command runs, so the test does not race the command.
_PAUSING = """
import importlib, sys, time
target, when = sys.argv[1:3]
module, _, attr = target.partition(":")
owner_name, _, method = attr.rpartition(".")
owner = getattr(importlib.import_module(module), owner_name)
original = getattr(owner, method)
calls = 0
def paused(self, *args, **kw):
    global calls
    out = original(self, *args, **kw)
    calls += 1
    if eval(when):
        time.sleep(120)
    return out
setattr(owner, method, paused)
sys.argv = ["noisebench", *sys.argv[3:]]
from noisebench.cli import main
main()
"""


def spawn_pausing(target: str, when: str, *args) -> subprocess.Popen:
    """Like `_spawn`, pausing after `target` ("module:Class.method") returns from a call where `when` holds."""
    return subprocess.Popen([sys.executable, "-c", _PAUSING, target, when, *map(str, args)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 90.0) -> None:
    """SIGKILL `proc` as soon as ready() is true (fail if it exits or times out first)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"process ended (rc {proc.returncode}) before it could be killed: {proc.stderr.read()!r}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the process to reach the kill point")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def _assert_no_partial_files(folder: Path) -> None:
    """Every visible file verifies; only hidden temp files may be partial."""
    for p in folder.glob("*.h5"):
        assert all(s == "ok" for _, s, _ in verify(p)), p


def test_sigkill_synth_build_then_rerun(cli, tmp_path):
    out = tmp_path / "out"
    rows = 3_000_000  # long enough (seconds) to be killed while writing
    proc = _spawn("synth", "--rows", rows, "--out", out)
    _kill_when(proc, lambda: out.is_dir() and len(_temps(out)) == 2)
    left = _temps(out)
    assert left, "a killed writer leaves its temp files"
    assert not (out / f"synth-{rows}-clean.h5").exists() and not (out / f"synth-{rows}-dirty.h5").exists()
    _assert_no_partial_files(out)
    # rebuild (smaller, same output names need the same --rows: use the same command) completes
    # and removes the killed writer's stale temp files
    r = cli("synth", "--rows", "70", "--out", out)
    assert r.code == 0, r.err
    _assert_no_partial_files(out)
    assert set(_temps(out)) == set(left)  # other outputs' temp files are not touched
    stale = _spawn("synth", "--rows", 700, "--out", out)
    _kill_when(stale, lambda: len(_temps(out)) == len(left) + 2)
    r = cli("synth", "--rows", "700", "--out", out)
    assert r.code == 0, r.err
    assert set(_temps(out)) == set(left), "stale temp files of synth-700 should be gone, others kept"
    _assert_no_partial_files(out)


def test_sigkill_psi_build_then_rerun(cli, tmp_path):
    src = write_cifar10_batches(tmp_path / "src", n_train=1500, n_test=300)
    out = tmp_path / "out"
    args = ("make", "psi", "--level", "16", "--level", "8", "--source", src, "--no-verify", "--workers", "1", "--out", out)
    # paused once ψ 16's temp file is open: the kill lands mid-build, with nothing placed
    proc = spawn_pausing("noisebench.format.writer:DatasetWriter.__enter__", "self.path.name == 'cifar10-psi16.h5'",
                         *args)
    _kill_when(proc, lambda: out.is_dir() and any(".cifar10-psi" in p.name for p in _temps(out)))
    assert _temps(out)
    _assert_no_partial_files(out)
    assert not (out / "cifar10-psi16.h5").exists() and not (out / "cifar10-psi8.h5").exists()
    r = cli(*args)
    assert r.code == 0, r.err
    assert _temps(out) == [], "the successful rebuild removes the killed writer's temp files"
    names = sorted(p.name for p in out.glob("*.h5"))
    assert names == ["cifar10-psi16.h5", "cifar10-psi8.h5", "cifar10.h5"]
    _assert_no_partial_files(out)


def test_stale_temp_cleanup_spares_live_and_foreign_writers(tmp_path):
    """Only temp files of dead writers on this host are removed; a live pid's and another host's stay."""
    import socket

    from noisebench.format.writer import _host

    target = tmp_path / "d.h5"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    files = {
        "dead": tmp_path / f".d.h5.{dead.pid}@{_host()}.abcdefgh.tmp",
        "live": tmp_path / f".d.h5.{os.getppid()}@{_host()}.abcdefgh.tmp",
        "foreign": tmp_path / f".d.h5.{dead.pid}@not-{_host()}.abcdefgh.tmp",
        "other output": tmp_path / f".e.h5.{dead.pid}@{_host()}.abcdefgh.tmp",
    }
    for p in files.values():
        p.write_bytes(b"partial")
    assert socket.gethostname()
    removed = remove_stale_temps(target)
    assert removed == [files["dead"]]
    assert all(p.exists() for k, p in files.items() if k != "dead")


def test_writer_exception_leaves_no_temp(tmp_path):
    """In-process failure (any exception, including KeyboardInterrupt) removes the temp file."""
    import numpy as np

    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with DatasetWriter(tmp_path / "x.h5", kind="clean", params={}, seed=0) as w:
                w.write("train/x", np.zeros((4, 2), np.float32))
                raise exc
        assert list(tmp_path.iterdir()) == []


def _db_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            return c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_sigkill_robustness_mid_grid_then_resume(cli, tmp_path):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams
    from noisebench.harness.results.db import ResultsDB

    _, dirty = build(SynthParams(rows=140), tmp_path / "data", workers=1)
    db = tmp_path / "r.db"
    args = ("robustness", "--activation", "relu", "--data", dirty, "--seeds", "1", "--epochs", "1",
            "--device", "cpu", "--db", db)
    proc = spawn_pausing("noisebench.harness.results.db:ResultsDB.record", "calls == 1", *args)  # after run 1
    _kill_when(proc, lambda: _db_count(db) >= 1, timeout=120)
    n_before = _db_count(db)
    assert n_before == 1
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    r = cli(*args)
    assert r.code == 0, r.err
    assert f"{2 - n_before} runs trained" in r.out and f"{n_before} already in" in r.out
    with ResultsDB(db) as d:
        rows = d.runs()
        keys = [x["key"] for x in rows]
        assert len(rows) == 2 and len(set(keys)) == 2, "exactly one row per run (clean and dirty)"
        assert {x["status"] for x in rows} == {"ok"}
    _assert_no_partial_files(dirty.parent)
