"""Progress as a user sees it, through real pipes: one plain line per epoch and per run when
output is not a terminal (`noisebench robustness … | cat`), only the summary with --quiet, and
bars never glued onto the lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import noisebench as nb


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return nb.build("synth", rows=120, out=out)[1]


def _run(*args, mode=None):
    env = {k: v for k, v in os.environ.items() if k != "NOISEBENCH_PROGRESS"}
    if mode:
        env["NOISEBENCH_PROGRESS"] = mode
    p = subprocess.run([sys.executable, "-m", "noisebench", *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout, p.stderr


def _epoch_lines(text):
    return [ln for ln in text.splitlines() if re.search(r"epoch +\d+/2 ", ln)]


def _run_lines(text):
    return [ln for ln in text.splitlines() if re.match(r"\[\d+/\d+\] ", ln)]


def test_piped_output_has_one_line_per_epoch_and_per_run(dirty, tmp_path):
    out, err = _run("robustness", "--data", dirty, "--seeds", "1", "--epochs", "2", "--db", tmp_path / "r.db")
    epochs, runs = _epoch_lines(out), _run_lines(out)
    assert len(epochs) == 4, out  # clean + dirty run, 2 epochs each
    assert sum("dirty" in ln for ln in epochs) == 2 and all("train loss" in ln and "val loss" in ln for ln in epochs)
    assert [ln[:5] for ln in runs] == ["[1/2]", "[2/2]"] and all(" ok " in ln for ln in runs), out
    assert "eta" in runs[0] and "\r" not in out + err  # no bar drawn into a pipe
    assert "2 runs trained (2 ok, 0 null, 0 failed)" in out


def test_quiet_prints_only_the_summary(cli, dirty, tmp_path, monkeypatch):
    monkeypatch.delenv("NOISEBENCH_PROGRESS", raising=False)
    r = cli("robustness", "--data", dirty, "--seeds", "1", "--epochs", "2", "--db", tmp_path / "r.db", "--quiet")
    assert r.code == 0, r.err
    assert not _epoch_lines(r.out) and not _run_lines(r.out) and "recipe" not in r.out
    assert "2 runs trained" in r.out and "delta" in r.out and r.err == ""


@pytest.mark.slow
def test_worker_processes_print_lines_too(dirty, tmp_path):
    out, _ = _run("grid", "--data", dirty, "--activation", "relu", "--seeds", "1", "--epochs", "2", "--jobs", "2",
                  "--db", tmp_path / "g.db")
    assert len(_epoch_lines(out)) == 4 and len(_run_lines(out)) == 2, out


def test_bars_stay_on_stderr_and_lines_stay_whole(cli, dirty, tmp_path, monkeypatch):
    monkeypatch.setenv("NOISEBENCH_PROGRESS", "bars")
    r = cli("train", "--data", dirty, "--epochs", "2", "--db", tmp_path / "t.db")
    assert r.code == 0, r.err
    out, err = r.out, r.err
    assert "\r" not in out and "epoch" in err  # the epoch bar is drawn on stderr
    assert not _epoch_lines(out)  # bars replace the per-epoch lines
    assert out.splitlines()[-1].startswith("mlp/relu") and "recorded in" in out


def test_grid_quiet_and_lines(cli, dirty, tmp_path, monkeypatch):
    monkeypatch.delenv("NOISEBENCH_PROGRESS", raising=False)
    args = ("grid", "--data", dirty, "--seeds", "1", "--epochs", "1", "--db", tmp_path / "g.db")
    r = cli(*args, "--quiet")
    assert r.code == 0 and r.out.strip().splitlines() == [r.out.strip()] and "2 runs trained" in r.out, r.out
    r = cli(*args, "--force")
    assert r.code == 0 and len(_run_lines(r.out)) == 2 and "runs in the grid" in r.out
    assert len([ln for ln in r.out.splitlines() if re.search(r"epoch +1/1 ", ln)]) == 2
