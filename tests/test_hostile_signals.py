"""Signals (issue 13, classes 7 and 11): SIGINT/SIGTERM end a command with one `interrupted` line
and exit 130/143, no temp files and no orphaned workers; finished work is kept and an interrupted
multi-level build resumes; after SIGKILL the workers die with their driver."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import ENV, ROOT, _assert_no_partial_files, _temps, hostile_inputs  # noqa: E402,F401
from official_format_fixtures import write_cifar10_batches  # noqa: E402
from test_reliability_interrupt import _spawn, spawn_pausing  # noqa: E402


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


def _signal_when(proc: subprocess.Popen, ready, sig: int, timeout: float = 90.0) -> tuple[int, str]:
    """Send `sig` to the command (not its group) once ready() holds; returns (exit code, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"ended (rc {proc.returncode}) before the signal: {proc.stderr.read()!r}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("timed out waiting for the signal point")
        time.sleep(0.01)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode()


def _interrupted_line(err: str, sig: int) -> None:
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(("note:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted") and signal.Signals(sig).name in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_synth_build(tmp_path, sig, code):
    out = tmp_path / "out"
    proc = _spawn("synth", "--rows", 3_000_000, "--out", out)
    rc, err = _signal_when(proc, lambda: out.is_dir() and len(_temps(out)) == 2, sig)
    assert rc == code
    _interrupted_line(err, sig)
    assert _temps(out) == [] and list(out.glob("*.h5")) == [], "temp files removed, nothing placed"


def test_sigterm_mid_psi_keeps_finished_levels_and_resumes(cli, tmp_path):
    src = write_cifar10_batches(tmp_path / "src", n_train=1500, n_test=300)
    out = tmp_path / "out"
    args = ("make", "psi", "--level", "16", "--level", "8", "--level", "4", "--source", src, "--no-verify",
            "--workers", "1", "--out", out)
    # the command pauses once ψ 16 is placed, so the signal lands between levels however fast the build is
    proc = spawn_pausing("noisebench.format.writer:DatasetWriter.__exit__",
                         "args[0] is None and self.path.name == 'cifar10-psi16.h5'", *args)
    rc, err = _signal_when(proc, lambda: (out / "cifar10-psi16.h5").exists(), signal.SIGTERM)
    assert rc == 143
    _interrupted_line(err, signal.SIGTERM)
    assert _temps(out) == []
    _assert_no_partial_files(out)
    kept = {p.name: os.stat(p).st_ino for p in out.glob("cifar10-psi*.h5")}
    assert set(kept) == {"cifar10-psi16.h5"}, "the finished level is kept, the next one was never placed"
    r = cli(*args)
    assert r.code == 0, r.err
    assert all(f"kept {out / n}" in r.err for n in kept), r.err
    assert {p.name for p in out.glob("*.h5")} == {"cifar10.h5", "cifar10-psi16.h5", "cifar10-psi8.h5", "cifar10-psi4.h5"}
    assert all(os.stat(out / n).st_ino == ino for n, ino in kept.items()), "finished levels are not redone"
    _assert_no_partial_files(out)


def _workers(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            if "spawn_main" in " ".join(k.cmdline()):
                out.append(k)
        except psutil.Error:
            pass
    return out


def _all_gone(procs: list[psutil.Process], timeout: float = 15.0) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return alive


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            return c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_sigterm_robustness_jobs2_stops_its_workers(data, tmp_path):
    db = tmp_path / "r.db"
    proc = _spawn("robustness", "--data", data["dirty"], "--seeds", "2", "--epochs", "200", "--jobs", "2",
                  "--device", "cpu", "--db", db)
    seen: list = []
    started = []

    def ready():
        seen[:] = _workers(proc) or seen
        if len(seen) == 2 and not started:
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] > 1.0

    rc, err = _signal_when(proc, ready, signal.SIGTERM, timeout=120)
    assert rc == 143
    _interrupted_line(err, signal.SIGTERM)
    assert _all_gone(seen) == [], "no worker outlives the driver"
    if db.exists():
        with sqlite3.connect(db) as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # an interrupt landing in a destructor
def test_sigterm_mid_grid_keeps_finished_runs(cli, data, tmp_path):
    """A real SIGTERM to this process while `robustness` trains: finished runs stay recorded, exit 143."""
    import threading

    db = tmp_path / "r.db"

    def shoot():
        deadline = time.monotonic() + 120
        while _rows(db) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    t = threading.Thread(target=shoot, daemon=True)
    t.start()
    r = cli("robustness", "--data", data["dirty"], "--seeds", "6", "--epochs", "2", "--device", "cpu", "--db", db)
    t.join()
    assert r.code == 143
    _interrupted_line(r.err, signal.SIGTERM)
    n = _rows(db)
    assert 1 <= n < 12
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    r = cli("robustness", "--data", data["dirty"], "--seeds", "6", "--epochs", "2", "--device", "cpu", "--db", db)
    assert r.code == 0 and f"{n} already in" in r.out, r.err


def test_sigkill_robustness_jobs2_workers_die_with_the_driver(data, tmp_path):
    proc = _spawn("robustness", "--data", data["dirty"], "--seeds", "2", "--epochs", "200", "--jobs", "2",
                  "--device", "cpu", "--db", tmp_path / "r.db")
    deadline = time.monotonic() + 120
    while len(_workers(proc)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "workers never started"
        time.sleep(0.05)
    workers = _workers(proc)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers are not signalled by us
    proc.wait(timeout=30)
    assert _all_gone(workers) == [], "workers were left running after the driver was SIGKILLed"


_GRANDCHILD = """
import os, sys, time
from noisebench.safety.signals import worker_init
parent = int(sys.argv[1])
worker_init(parent)
open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(60)
"""
_CHILD = """
import subprocess, sys, os, time
subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), sys.argv[2]])
time.sleep(60)
"""


def test_worker_dies_when_its_parent_is_killed(tmp_path):
    marker = tmp_path / "gc.pid"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, _GRANDCHILD, str(marker)], env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    gc = psutil.Process(int(marker.read_text()))
    child.kill()
    child.wait()
    assert _all_gone([gc], timeout=10) == []


def test_worker_started_after_its_parent_died_exits(tmp_path):
    """The parent pid is checked after PR_SET_PDEATHSIG: an orphan at birth exits at once."""
    code = ("import sys; from noisebench.safety.signals import worker_init; worker_init(1 if sys.argv[1] == 'x' else 0); "
            "print('survived')")
    p = subprocess.run([sys.executable, "-c", code, "x"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60)
    assert p.returncode == 1 and "survived" not in p.stdout


def test_handlers_installed_and_restored():
    from noisebench.safety import signals

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ)}
    restore = signals.install()
    try:
        assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signals._handler
        with pytest.raises(signals.Interrupted) as e:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert e.value.exit_code == 143 and signals.received() == signal.SIGTERM
        with pytest.raises(signals.Interrupted):
            signals.check()  # remembered even if the first exception had been swallowed
    finally:
        restore()
    assert {s: signal.getsignal(s) for s in before} == before
    assert signals.received() is None
    signals.check()  # nothing pending after the command


def test_stale_temps_of_a_killed_writer_are_removed_at_the_next_start(cli, tmp_path):
    from noisebench.safety.outputs import host

    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [out / f".synth-2000-clean.h5.{dead.pid}@{host()}.abcd1234.tmp",
             out / f".synth-2000-dirty.h5.{dead.pid}@{host()}.abcd1234.tmp"]
    for p in stale:
        p.write_bytes(b"partial")
    (out / "synth-2000-clean.h5").write_bytes(b"x")  # the build then fails (exists): cleanup happened first?
    r = cli("synth", "--rows", "2000", "--out", out, "--force")
    assert r.code == 0, r.err
    assert not any(p.exists() for p in stale)
