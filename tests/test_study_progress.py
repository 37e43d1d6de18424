"""`noisebench study` shows progress as `robustness` does (the same noisebench.progress code): one line
per epoch and per run with an ETA when piped, a bar on a terminal, nothing with --quiet; and it takes
--save-checkpoint and --tensorboard DIR."""

from __future__ import annotations

import pytest


def _study(cli, tmp_path, *extra):
    return cli("study", "synth-robustness", "--data-dir", tmp_path / "d", "--db", tmp_path / "r.db", "--out",
               tmp_path / "rep", "--subset", "64", "--epochs", "2", "--seeds", "1", "--activation", "relu",
               "--no-plots", *extra)  # the figures of this preset: tests/test_studies_run.py


def test_study_progress_lines_bar_quiet_checkpoints_and_tensorboard(cli, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.delenv("NOISEBENCH_PROGRESS", raising=False)
    r = _study(cli, tmp_path, "--tensorboard", tmp_path / "tb", "--save-checkpoint")
    assert r.code == 0, r.err
    out = r.out.splitlines()
    assert sum("epoch   1/2" in line for line in out) == 2 and sum("epoch   2/2" in line for line in out) == 2
    first = next(line for line in out if line.startswith("[1/2] mlp/relu/clean"))
    assert ", eta " in first and next(line for line in out if line.startswith("[2/2] mlp/relu/dirty"))
    assert len(list((tmp_path / "tb").iterdir())) == 2  # one live event folder per run
    assert sorted(p.name for p in (tmp_path / "checkpoints").rglob("*.pt")) == ["last.pt", "last.pt", "selected.pt",
                                                                                "selected.pt"]
    monkeypatch.setenv("NOISEBENCH_PROGRESS", "bars")  # what a terminal gets
    r = _study(cli, tmp_path, "--force")
    assert r.code == 0, r.err
    assert "runs: 100%" in r.err and "2/2" in r.err  # the tqdm bar (with its ETA while running)
    monkeypatch.delenv("NOISEBENCH_PROGRESS")
    r = _study(cli, tmp_path, "--force", "--quiet")
    assert r.code == 0, r.err
    assert "epoch" not in r.out and "[1/2]" not in r.out and "runs: " not in r.err
    assert "2 runs trained (2 ok, 0 null, 0 failed)" in r.out and "wrote " in r.out


def test_study_tensorboard_dir_that_is_a_file_is_refused_before_any_work(cli, tmp_path):
    pytest.importorskip("tensorboard")
    (tmp_path / "afile").write_text("x")
    r = _study(cli, tmp_path, "--tensorboard", tmp_path / "afile")
    assert r.code == 2 and "is not a folder" in r.err and not (tmp_path / "d").exists()
