"""Study projections without training probes: run counts from the sketch, times from the throughput table."""

from __future__ import annotations

import pytest

from noisebench.harness.studies import cost
from noisebench.harness.studies.preset import load_preset, preset_names
from noisebench.harness.studies.sketch import sketch


@pytest.mark.parametrize("name", preset_names())
def test_sketch_counts_the_runs_the_planner_makes(name, tmp_path):
    from noisebench.harness.studies.plan import plan

    p = load_preset(name)
    runs, configs = sketch(p, tmp_path), plan(p, tmp_path)
    assert len(runs) == len(configs)
    assert [(r.model, r.activation, r.data, r.seed, r.lr) for r in runs] == \
        [(c.model, c.activation, c.data, c.seed, c.lr) for c in configs]


def test_the_shipped_table_covers_every_preset_and_names_its_machine(tmp_path):
    tables = cost.throughput_table()
    cpu = tables["cpu"]
    assert cpu["machine"] and cpu["date"] and cpu["torch"]
    for name in preset_names():
        pr = cost.project(sketch(load_preset(name), tmp_path), tmp_path, probe=False, device="cpu")
        assert pr["seconds"] and pr["seconds"] > 0, (name, pr["method"])
        assert "throughput table" in pr["method"] and cpu["machine"] in pr["method"]


FAKE = {"cpu": {"machine": "CPU Test, 2 CPUs", "date": "2026-01-01", "torch": "x",
                "rates": {"mlp|10": 1e-4, "mnist_cnn|1x28x28": 2e-3},
                "flops": {"mlp|10": 1e5, "mnist_cnn|1x28x28": 1e6, "resnet18_tv|3x32x32": 4e6}}}


def test_timed_models_use_the_table_and_untimed_ones_their_flops(monkeypatch, tmp_path):
    monkeypatch.setattr(cost, "throughput_table", lambda: FAKE)
    rates, derived = cost.table_rates(FAKE["cpu"])
    assert derived == {"resnet18_tv|3x32x32"}
    assert rates["resnet18_tv|3x32x32"] == pytest.approx(4e6 * 2e-3 / 1e6)  # mnist_cnn's seconds per FLOP
    pr = cost.project(sketch(load_preset("psi-resnet18"), tmp_path), tmp_path, probe=False, device="cpu")
    assert "FLOP counts" in pr["method"] and "CPU Test" in pr["method"] and "not scaled" in pr["method"]
    w = cost._work(sketch(load_preset("psi-resnet18"), tmp_path), tmp_path)
    assert pr["seconds"] == pytest.approx(sum(v[1] for v in w.values()) * rates["resnet18_tv|3x32x32"])
    pr = cost.project(sketch(load_preset("synth-robustness"), tmp_path), tmp_path, probe=False, device="cpu")
    assert "resnet" not in pr["method"] and "mlp: the throughput table (timed on CPU Test" in pr["method"]


def test_measure_scales_the_table_by_one_short_probe(monkeypatch, tmp_path):
    monkeypatch.setattr(cost, "throughput_table", lambda: FAKE)
    calls = []

    def probe(model, shape, task, device="auto", cache_dir=None, seconds=1.0, use_cache=True):
        calls.append((model, seconds))
        return 3e-4  # this machine: 3x slower than the table's 1e-4 for mlp

    monkeypatch.setattr(cost, "probe_seconds_per_sample", probe)
    runs = sketch(load_preset("synth-robustness"), tmp_path)
    base = cost.project(runs, tmp_path, probe=False, device="cpu")["seconds"]
    pr = cost.project(runs, tmp_path, probe=True, device="cpu")
    assert calls == [("mlp", cost.SCALE_PROBE_SECONDS)]
    assert pr["seconds"] == pytest.approx(3 * base) and "scaled by 3.00" in pr["method"]


def test_a_model_missing_from_the_table_is_not_projected_without_measure(monkeypatch, tmp_path):
    monkeypatch.setattr(cost, "throughput_table", lambda: {})
    pr = cost.project(sketch(load_preset("synth-robustness"), tmp_path), tmp_path, probe=False, device="cpu")
    assert pr["seconds"] is None and "not in the throughput table" in pr["method"]


def test_study_list_and_dry_run_say_where_the_time_comes_from(cli, tmp_path):
    r = cli("study", "list", "--data-dir", tmp_path / "d", "--db", tmp_path / "none.db")
    assert r.code == 0, r.err
    assert "synth-robustness" in r.out and " 42 runs" in r.out and "CPU" in r.out and "throughput table" in r.out
    r = cli("study", "psi-resnet18", "--dry-run", "--no-measure", "--data-dir", tmp_path / "d",
            "--db", tmp_path / "none.db")
    assert r.code == 0, r.err
    assert "projected time of the 360 runs" in r.out and "throughput table" in r.out
