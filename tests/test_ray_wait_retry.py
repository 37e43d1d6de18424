"""The Ray driver when Ray's compiled wait returns with an exception pending (`SystemError: <cyfunction
CoreWorker.wait ...> returned a result with an exception set`, seen when a killed driver is resumed):
the wait is retried and the grid completes; if it keeps failing, one line says to rerun, and the
rerun resumes without duplicates."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from noisebench.harness.results.db import ResultsDB  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300)]


def _system_error():
    try:
        try:
            raise RuntimeError("Ray core worker: wait interrupted")
        except RuntimeError:
            raise SystemError("<cyfunction CoreWorker.wait at 0x7f> returned a result with an exception set")  # noqa: B904 - the chained state the real error has
    except SystemError as e:
        return e


def test_wait_system_error_retried_then_resumable(cluster, cli, tmp_path, monkeypatch):
    r = cli("synth", "--rows", "300", "--out", tmp_path)
    assert r.code == 0, r.err
    args = ["grid", "--data", tmp_path / "synth-300-dirty.h5", "--activation", "relu,elu", "--seeds", "1", "--epochs", "1",
            "--executor", "ray", "--address", cluster, "--gpus-per-run", "0", "--db", tmp_path / "r.db"]
    real = ray.wait
    calls = {"n": 0}

    def flaky(*a, **kw):  # every other call fails as Ray's did
        calls["n"] += 1
        if calls["n"] % 2:
            raise _system_error()
        return real(*a, **kw)

    monkeypatch.setattr(ray, "wait", flaky)
    r = cli(*args)
    assert r.code == 0, r.out[-2000:] + r.err[-2000:]
    assert "SystemError" not in r.out + r.err and "4 runs trained" in r.out
    # a wait that never recovers: one line, exit 2; the same command later resumes
    monkeypatch.setattr(ray, "wait", lambda *a, **kw: (_ for _ in ()).throw(_system_error()))
    args2 = [*args[:4], "relu,elu,tanh", *args[5:]]
    r = cli(*args2)
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1 and "rerun the same command to resume" in lines[0], r.err
    monkeypatch.setattr(ray, "wait", real)
    r = cli(*args2)
    assert r.code == 0 and "2 runs trained" in r.out and "4 already in" in r.out, r.out + r.err
    with ResultsDB(tmp_path / "r.db") as d:
        keys = [x["key"] for x in d.runs()]
    assert len(keys) == len(set(keys)) == 6
