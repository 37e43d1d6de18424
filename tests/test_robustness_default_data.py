"""`noisebench robustness --activation elu`, the project's main example, with neither --data nor --suite:
the corrupted files in datasets_cache/ (one line naming them), else the synth suite built there."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import hostile_inputs  # noqa: E402,F401

from noisebench.harness.results.db import ResultsDB  # noqa: E402


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


ARGS = ["robustness", "--activation", "elu", "--seeds", "1", "--epochs", "1", "--device", "cpu", "--db", "r.db"]


def test_uses_the_pairs_in_the_default_folder(cli, data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "datasets_cache"
    cache.mkdir()
    shutil.copy(data["dirty"], cache)
    shutil.copy(data["clean"], cache)
    r = cli(*ARGS)
    assert r.code == 0, r.err
    lines = [ln for ln in r.out.splitlines() if "no --data or --suite" in ln]
    assert lines == ["no --data or --suite: using the corrupted files in datasets_cache/: synth-2000-dirty.h5"]
    with ResultsDB(tmp_path / "r.db") as d:
        runs = d.runs()
    assert sorted(Path(x["data"]).name for x in runs) == ["synth-2000-clean.h5", "synth-2000-dirty.h5"]


def test_builds_the_synth_suite_when_the_folder_has_none(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli(*ARGS, "--subset", "200")
    assert r.code == 0, r.err
    assert ("no --data or --suite and no corrupted files in datasets_cache/: building the synth suite there "
            "(noisebench synth --rows 7000 --out datasets_cache)") in r.out
    assert (tmp_path / "datasets_cache" / "synth-7000-dirty.h5").is_file()
    with ResultsDB(tmp_path / "r.db") as d:
        assert sorted(Path(x["data"]).name for x in d.runs()) == ["synth-7000-clean.h5", "synth-7000-dirty.h5"]
    r = cli(*ARGS, "--subset", "200")  # the next time: the files are found, nothing trained again
    assert r.code == 0 and "using the corrupted files in datasets_cache/: synth-7000-dirty.h5" in r.out
