"""Study presets: shipped as package data, run counts of the full definitions, dry-run before any
dataset exists (same count as after the build), the published-numbers column on a worked example,
export as an editable grid (several [[grid]] tables), and the flip_rot30 augmentation."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import tomllib
import torch

from noisebench.harness.studies.preset import PRESET_DIR, load_preset, preset_names

ROOT = Path(__file__).resolve().parents[1]

# The run counts of the FULL preset definitions (files x models x activations x LRs x seeds; a dirty file
# brings its clean twin, runs shared by two grids count once):
EXPECTED_RUNS = {
    "synth-robustness": 2 * 1 * 7 * 1 * 3,  # clean + dirty, mlp, 7 activations, 3 seeds = 42
    "mnist-flip-robustness": 2 * 1 * 7 * 1 * 3,  # 42
    "psi-resnet18": 2 * (1 + 4) * 12 * 3,  # fixed and one-cycle x (clean + psi 8/16/32/64) x 12 activations x 3 = 360
    "mish-benchmark": 3 * 5 * 3 + 1 * 5 * 3,  # clean CIFAR-10: 3 models x 5 acts x 3 seeds; psi8: DenseNet only = 60
    "lr-sweep": 3 * 5 * 5 * 3,  # 3 models x 5 acts x 5 LRs x 3 seeds = 225
    "fastai-baselines": 4 * 1 * 1 * 5,  # 4 models x ReLU x 5 seeds = 20
    "cifar10n-robustness": 3 * 1 * 5 * 1 * 3,  # clean + aggre + worst, ResNet-18, 5 activations, 3 seeds = 45
    "cifar100-c-testtime": 1 * 1 * 5 * 1 * 3,  # clean CIFAR-100 (test-time protocol), 5 activations, 3 seeds = 15
}


def test_every_preset_ships_as_package_data():
    assert sorted(EXPECTED_RUNS) == preset_names()
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "noisebench.harness.studies" in py["packages"]
    assert "*.toml" in py["package-data"]["noisebench.harness.studies.presets"]  # the wheel: tests/test_wheel.py
    assert PRESET_DIR.parent.name == "studies" and len(list(PRESET_DIR.glob("*.toml"))) == len(EXPECTED_RUNS)


def test_full_run_counts_match_the_definitions(tmp_path):
    from noisebench.harness.activations.resolve import activation_names
    from noisebench.harness.studies.plan import is_predicted, plan

    assert len(activation_names()) == 12  # psi-resnet18 runs "all"
    for name, n in EXPECTED_RUNS.items():
        configs = plan(load_preset(name), tmp_path / "nothing-built")
        assert len(configs) == n, name
        assert len({c.key() for c in configs}) == n  # every run distinct
        assert all(is_predicted(c) for c in configs)  # planned before any file exists


def test_dry_run_before_any_dataset_lists_runs_and_published_numbers(cli, tmp_path):
    r = cli("study", "mish-benchmark", "--dry-run", "--no-measure", "--data-dir", tmp_path / "d", "--db", tmp_path / "x.db")
    assert r.code == 0, r.err
    assert "60 runs: 0 already in" in r.out
    assert "needs --download or --source DIR" in r.out
    assert "   0.911    0.9092    0.9127" in r.out  # DenseNet-121 ReLU / Swish / Mish, Misra's notebooks
    assert "Misra, Mish notebooks" in r.out and "0.745" in r.out
    assert "one GPU: not measured" in r.out
    assert not (tmp_path / "d").exists() and not (tmp_path / "x.db").exists()  # nothing built or written


def test_dry_run_count_equals_real_count_after_the_build(cli, tmp_path):
    """Planned from predicted attributes, then from the built files: the same runs (only keys change)."""
    from official_format_fixtures import write_mnist_idx

    from noisebench.harness.studies.datasets import build_missing
    from noisebench.harness.studies.plan import is_predicted, plan

    p = load_preset("mnist-flip-robustness")
    data = tmp_path / "d"
    before = plan(p, data)
    r = cli("study", p.name, "--dry-run", "--no-measure", "--data-dir", data, "--db", tmp_path / "x.db")
    assert f"{len(before)} runs: 0 already in" in r.out
    build_missing(p, data, source=write_mnist_idx(tmp_path / "src", 60, 20), verify=False, echo=lambda m: None)
    after = plan(p, data)
    assert [(c.label(), Path(c.data).name) for c in before] == [(c.label(), Path(c.data).name) for c in after]
    assert not any(is_predicted(c) for c in after)
    assert {c.key() for c in before}.isdisjoint({c.key() for c in after})


def test_study_list_and_user_errors(cli, tmp_path):
    r = cli("study", "list", "--no-measure", "--data-dir", tmp_path)
    assert r.code == 0, r.err
    for name, n in EXPECTED_RUNS.items():
        assert any(line.startswith(name) and f" {n} runs" in line for line in r.out.splitlines()), name
    for args, msg in ((("nope",), "unknown study 'nope'"),
                      (("synth-robustness", "--download", "--source", tmp_path), "either --source"),
                      (("synth-robustness", "--executor", "k8s"), "--executor")):
        r = cli("study", *args, "--data-dir", tmp_path)
        assert r.code != 0 and r.err.strip().startswith("error: ") and msg in r.err and "Traceback" not in r.err


def test_export_writes_an_editable_grid_that_grid_accepts(cli, tmp_path):
    from noisebench.harness.plan.expand import expand_all
    from noisebench.harness.plan.spec import load_grids
    from noisebench.harness.studies.datasets import meta_reader
    from noisebench.harness.studies.plan import plan

    p = load_preset("psi-resnet18")
    data = tmp_path / "d"
    f = tmp_path / "psi.toml"
    r = cli("study", p.name, "--export", f, "--data-dir", data, "--seeds", "2")
    assert r.code == 0, r.err
    specs = load_grids(f)
    assert len(specs) == 2 and [s.overrides["lr_policy"] for s in specs] == ["fixed", "onecycle"]
    assert specs[0].seeds == [0, 1] and specs[0].activations == ["all"]  # kept as written: every activation
    assert len(expand_all(specs, meta_of=meta_reader(p, data))) == len(plan(p, data)) * 2 // 3
    assert cli("study", p.name, "--export", f, "--data-dir", data).code != 0  # no overwrite without --force
    r = cli("grid", f, "--dry-run")  # grid itself reads several [[grid]] tables (the files must exist there)
    assert r.code != 0 and "not found" in r.err


def test_grid_runs_several_grid_tables_once_each(cli, tmp_path):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    clean, dirty = build(SynthParams(rows=140), tmp_path)
    g = tmp_path / "g.toml"
    g.write_text(f'[[grid]]\ndata = ["{dirty}"]\nactivations = ["relu", "elu"]\nseeds = 2\n\n'
                 f'[[grid]]\ndata = ["{clean}"]\nactivations = ["relu", "tanh"]\nseeds = 2\n')
    r = cli("grid", g, "--dry-run", "--db", tmp_path / "r.db")
    assert r.code == 0, r.err
    assert "10 runs:" in r.out  # 2 acts x 2 seeds x (clean + dirty) = 8, plus tanh on clean x 2; relu/clean once


# -- the published-numbers column: a worked example ---------------------------------------------
def _run(act, seed, value, model="densenet121", data="cifar10", lr=1e-3):
    from noisebench.harness.run.data import RunResult

    cfg = dict(model=model, activation=act, data=f"/data/{data}.h5", data_sha256="0" * 64, role="clean", epochs=3,
               batch_size=128, lr=lr, optimizer="adam", lr_policy="fixed", weight_decay=0.0, seed=seed, device="cpu",
               compile=False, extra=[])
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()
    final = {"metric": "selected_test_acc", "selected_test_acc": value - 0.05, "last_test_acc": value,
             "metric_value": value - 0.05}
    return RunResult(key=key, config=cfg, status="ok", epochs=[{"epoch": 1, "val_acc": value}], final=final,
                     wall_s=1.0, device="cpu", hostname="h", code_version="0.1.0",
                     data_info={"dataset": "cifar10", "variant": "clean", "num_classes": 10})


def test_reported_column_worked_example(tmp_path):
    """relu 0.90, 0.91, 0.92 (last-epoch test accuracy): mean 0.91, std 0.01, 95% CI 0.91 ± t(0.975, 2)·0.01/√3
    = [0.885159, 0.934841]; published 0.9110 -> diff -0.0010, inside. swish 0.80, 0.81, 0.82: CI
    [0.785159, 0.834841]; published 0.9092 -> diff -0.0992, outside. mish, one seed: no CI (n/a)."""
    from noisebench.harness.report.reported import compare, reported_tables
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.studies.preset import _reported

    runs = [_run("relu", s, v) for s, v in enumerate((0.90, 0.91, 0.92))]
    runs += [_run("swish", s, v) for s, v in enumerate((0.80, 0.81, 0.82))]
    runs += [_run("mish", 0, 0.95)]
    with ResultsDB(tmp_path / "r.db") as db:
        for r in runs:
            db.record(r)
        rows = db.runs()
    rep = _reported("t", {"data": "cifar10", "metric": "test_acc", "rows": "model", "columns": ["relu", "swish", "mish"],
                          "values": [["densenet121", 0.9110, 0.9092, 0.9127]], "source": "Misra, Mish notebooks"})
    comps = {c.activation: c for c in compare(rows, [rep])}
    half = 4.302652729911275 * 0.01 / math.sqrt(3)
    relu, swish, mish = comps["relu"], comps["swish"], comps["mish"]
    assert relu.metric == "last_test_acc"  # the studies' last-epoch number, not the selected one
    assert relu.ours.mean == pytest.approx(0.91) and relu.ours.std == pytest.approx(0.01)
    assert relu.ours.ci_lo == pytest.approx(0.91 - half) and relu.ours.ci_hi == pytest.approx(0.91 + half)
    assert relu.diff == pytest.approx(-0.0010) and relu.inside is True and relu.verdict == "yes (n = 3)"
    assert swish.diff == pytest.approx(0.81 - 0.9092) and swish.inside is False and swish.verdict == "no (n = 3)"
    assert mish.ours.n == 1 and mish.inside is None and mish.verdict == "n/a (n = 1)"
    (t,) = reported_tables(list(comps.values()), [rep])
    assert "Misra, Mish notebooks" in t.title
    line = next(r for r in t.rows if r[3] == "relu")
    assert line[-3:] == ["0.911", "-0.0010", "yes (n = 3)"]
    assert "1 of 2 published values tested (n ≥ 3) lie inside our CI" in t.caption


def test_reported_rows_by_lr_and_star_columns(tmp_path):
    from noisebench.harness.report.reported import compare
    from noisebench.harness.studies.preset import _reported

    rows = []
    for lr, v in ((1e-4, 0.5), (1e-3, 0.7)):
        for a in ("relu", "tact"):
            rows += [dict(r.to_dict(), data=r.config["data"], model=r.config["model"], lr=lr, activation=a,
                          lr_policy="fixed", seed=s, status="ok", extra=[], optimizer="adam", epochs=3,
                          batch_size=128, weight_decay=0.0)
                     for s, r in enumerate([_run(a, 0, v), _run(a, 1, v + 0.02)])]
    by_lr = _reported("t", {"model": "densenet121", "metric": "test_acc", "rows": "lr", "columns": ["tact"],
                            "values": [[1e-4, 0.51], [1e-3, 0.9]], "source": "Table 2.4"})
    star = _reported("t", {"data": "cifar10", "metric": "test_acc", "columns": ["*"], "values": [["", 0.6]],
                           "source": "figures"})
    c = compare(rows, [by_lr, star])
    lr_rows = [x for x in c if x.source == "Table 2.4"]
    assert [(x.row, x.activation, x.in_ci) for x in lr_rows] == [("0.0001", "tact", True), ("0.001", "tact", False)]
    assert all(x.inside is None and x.verdict.startswith("no power (n = 2 < 3 seeds") for x in lr_rows)  # 2 seeds
    assert sorted(x.activation for x in c if x.source == "figures") == ["relu", "relu", "tact", "tact"]  # 2 LRs each


# -- the Mish benchmark's augmentation ------------------------------------------------------------
def test_flip_rot30_is_seeded_and_does_what_it_says():
    from noisebench.harness.run.loop import flip_rotate

    x = torch.zeros(400, 16, 16, 3, dtype=torch.uint8)
    x[:, 6:10, 1:4] = 200  # a bar on the left, off centre
    a = flip_rotate(x, torch.Generator().manual_seed(3))
    b = flip_rotate(x, torch.Generator().manual_seed(3))
    c = flip_rotate(x, torch.Generator().manual_seed(4))
    assert a.dtype == torch.uint8 and a.shape == x.shape
    assert torch.equal(a, b) and not torch.equal(a, c)  # seeded from the run's generator
    right = (a[:, :, 8:].float().sum((1, 2, 3)) > a[:, :, :8].float().sum((1, 2, 3))).float().mean().item()
    assert 0.3 < right < 0.5  # flipped with p = 0.4
    assert not torch.equal(a[0], x[0]) or not torch.equal(a[1], x[1])  # rotated
    ident = flip_rotate(x, torch.Generator().manual_seed(3), p_flip=0.0, degrees=0.0)
    assert torch.equal(ident, x)
    assert torch.equal(flip_rotate(x, None, p_flip=1.0, degrees=0.0), x.flip(2))
    g = torch.Generator().manual_seed(0)  # rotations stay within ±30°: a centred disc is unchanged by any angle
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    disc = (((yy - 7.5) ** 2 + (xx - 7.5) ** 2) < 16).to(torch.uint8)[None, :, :, None].repeat(8, 1, 1, 1) * 255
    assert (flip_rotate(disc, g) != disc).float().mean() < 0.02
    mono = flip_rotate(x[..., 0], torch.Generator().manual_seed(3))  # NHW (MNIST-like) batches too
    assert mono.shape == x.shape[:3]


def test_flip_rot30_is_a_valid_augment_everywhere():
    from noisebench.errors import UserError
    from noisebench.harness.plan.expand import validate
    from noisebench.harness.plan.spec import GridSpec
    from noisebench.harness.run.config import AUGMENTS

    assert "flip_rot30" in AUGMENTS
    with pytest.raises(UserError, match="flip_rot30"):
        validate(GridSpec(data=[Path("x.h5")], activations=["relu"], knobs={"augment": "rot"}), check_files=False)


def test_reported_column_counts_null_runs(tmp_path):
    from noisebench.harness.report.reported import compare
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.studies.preset import _reported

    ok, null = _run("relu", 0, 0.5, lr=1.0), _run("relu", 1, 0.5, lr=1.0)
    null.status, null.final = "null", {}
    with ResultsDB(tmp_path / "r.db") as db:
        db.record(ok)
        db.record(null)
        rows = db.runs()
    rep = _reported("t", {"model": "densenet121", "metric": "test_acc", "rows": "lr", "columns": ["relu", "tact"],
                          "values": [[1.0, 0.0998, 0.1]], "source": "Table 2.4"})
    relu, tact = compare(rows, [rep])
    assert relu.ours.n == 1 and relu.nulls == 1 and relu.verdict == "n/a (n = 1)"
    assert tact.verdict == "not run"
    null_only = compare([r for r in rows if r["status"] == "null"], [rep])[0]
    assert null_only.verdict == "null runs only (1)"


def test_run_preset_from_python_then_projection_from_measured_runs(tmp_path):
    import noisebench as nb
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.studies.cost import project
    from noisebench.harness.studies.plan import StudyFlags, plan

    kw = dict(seeds=1, epochs=1, subset=64, activations=["relu"])
    rows = nb.run_preset("synth-robustness", data_dir=tmp_path / "d", db=tmp_path / "r.db", **kw)
    assert [(r["role"], r["status"]) for r in rows] == [("clean", "ok"), ("dirty", "ok")]
    configs = plan(load_preset("synth-robustness"), tmp_path / "d", StudyFlags(seeds=[0, 1, 2], epochs=20))
    with ResultsDB(tmp_path / "r.db", readonly=True) as db:
        pr = project(configs, probe=False, db=db)  # no probe: only the runs in the database
    assert pr["runs"] == 42 and pr["seconds"] > 0 and "runs in the database" in pr["method"]
    assert pr["gpu_seconds"] is None
    from noisebench.errors import UserError

    with pytest.raises(UserError, match="executor must be local or ray"):
        nb.run_preset("synth-robustness", data_dir=tmp_path / "d", db=tmp_path / "r.db", executor="k8s", **kw)


@pytest.mark.parametrize("edit, msg", [
    (lambda t: t.replace('rows = "lr"', 'rows = "epoch"'), "rows must be one of"),
    (lambda t: t.replace("[1e-4, 0.903349", '["x", 0.903349'), "positive LRs"),
    (lambda t: t.replace("0.903349, ", ""), "one number per column"),
    (lambda t: t.replace('build = "cifar10"', 'build = "imagenet"'), "build must be one of"),
    (lambda t: t.replace('data = ["cifar10.h5"]', 'data = ["other.h5"]'), "not built by its [[datasets]]"),
    (lambda t: t.replace('lrs = [', 'learning_rates = ['), "unknown key [grid] 'learning_rates'"),
    (lambda t: t + "\n[extra]\nx = 1\n", "unknown table 'extra'"),
    (lambda t: t.replace("[[grid]]", "[grid]"), "one or more [[grid]] tables"),
    (lambda t: t + "\n[study\n", "not valid TOML"),
])
def test_a_broken_copy_of_a_preset_fails_in_one_line(cli, tmp_path, edit, msg):
    f = tmp_path / "mine.toml"
    f.write_text(edit((PRESET_DIR / "lr-sweep.toml").read_text()))
    r = cli("study", f, "--dry-run", "--no-measure", "--data-dir", tmp_path / "d", "--db", tmp_path / "x.db")
    assert r.code != 0 and r.err.count("\n") == 1 and r.err.startswith("error: ") and msg in r.err, r.err


def test_a_copied_preset_runs_under_its_own_path(cli, tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text((PRESET_DIR / "lr-sweep.toml").read_text().replace("lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]", "lrs = [1e-3]"))
    r = cli("study", f, "--dry-run", "--no-measure", "--data-dir", tmp_path / "d", "--db", tmp_path / "x.db")
    assert r.code == 0 and "45 runs: 0 already in" in r.out
