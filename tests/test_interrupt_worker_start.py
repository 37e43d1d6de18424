"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while `robustness --jobs 2` is
starting its worker processes: one `interrupted` line, exit 130, no worker traceback."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import hostile_inputs  # noqa: E402,F401
from test_reliability_interrupt import _spawn  # noqa: E402


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


def _starting_workers(pid: int) -> int:
    """How many multiprocessing spawn children of `pid` exist (they are still importing when first seen)."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    n = 0
    for k in kids:
        try:
            n += "spawn_main" in " ".join(k.cmdline())
        except psutil.Error:
            pass
    return n


@pytest.mark.parametrize("after", [0.0, 0.3])  # as soon as the workers exist, and a little later (mid-import)
def test_ctrl_c_while_workers_start(data, tmp_path, after):
    proc = _spawn("robustness", "--data", data["dirty"], "--seeds", "2", "--epochs", "50", "--jobs", "2",
                  "--device", "cpu", "--db", tmp_path / "r.db")
    deadline = time.monotonic() + 120
    while _starting_workers(proc.pid) < 1:
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"no worker started (rc {proc.returncode})")
        time.sleep(0.005)
    time.sleep(after)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: every process of the foreground group
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(("note:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted (SIGINT)"), err
