"""Reports a paper can use: complete names and no silent overwrite, atomic writes, "n = 1" cells,
Holm-adjusted p-values (worked example), "n/a" for undefined tests, only-null databases, figures in
PNG + PDF + SVG with fixed activation colours, LaTeX tables, cells mixing code versions marked.

The databases are built directly through ResultsDB.record (no training), so these tests are fast."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from pathlib import Path

import pytest

from noisebench.harness.report.stats import Summary, holm, summarize, welch_p
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.run.data import RunResult


def _run(act, file, role, seed, value, *, status="ok", epochs=3, lr=1e-3, dataset="cifar10", metric="val_acc",
         clean="cifar10-clean", model="resnet18"):
    cfg = dict(model=model, activation=act, data=f"/data/{file}.h5", data_sha256="0" * 64, role=role,
               epochs=epochs, batch_size=128, lr=lr, optimizer="adam", lr_policy="triangular", weight_decay=0.0,
               seed=seed, device="cpu", compile=False, extra=[])
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()
    info = dict(dataset=dataset, kind="psi" if role == "dirty" else "clean", variant=role,
                task="regression" if metric == "val_loss" else "classification", num_classes=10, pair_key="pk",
                clean_reference=None if role == "clean" else f"{clean}.h5")
    if role == "dirty" and "-psi" in file:  # what a run records of a ψ file's attributes (run_data.level_attrs)
        info |= dict(psi=float(file.split("-psi")[1].split("-")[0]), file_seed=0, independent_levels=False)
    v = float("nan") if status == "null" else float(value)
    curve = [{"epoch": e, metric: (v * e / epochs if status == "ok" else float("inf")), "train_loss": 1.0 / e}
             for e in range(1, epochs + 1)]
    final = {"metric": metric, metric: v, "metric_value": v, "epochs_done": epochs}
    return RunResult(key=key, config=cfg, status=status, null_cause="non-finite loss" if status == "null" else None,
                     epochs=curve, final=final, wall_s=1.0, device="cpu", hostname="h", code_version="0.1.0+gabc",
                     data_info=info)


def _db(path, runs, identities=None):
    """Record `runs`; `identities` maps run index -> identity dict (stored in the runs' `identity` JSON column)."""
    with ResultsDB(path) as db:
        for r in runs:
            db.record(r)
    if identities:
        con = sqlite3.connect(path)
        if "identity" not in {c[1] for c in con.execute("PRAGMA table_info(runs)")}:
            con.execute("ALTER TABLE runs ADD COLUMN identity TEXT")
        for i, ident in identities.items():
            con.execute("UPDATE runs SET identity = ? WHERE key = ?", (json.dumps(ident), runs[i].key))
        con.commit()
        con.close()
    return path


# clean/dirty accuracies per activation and seed: dirty hurts relu most, elu least
ACC = {"relu": ([0.90, 0.91, 0.92], [0.70, 0.72, 0.71]), "elu": ([0.89, 0.90, 0.91], [0.85, 0.86, 0.86]),
       "tanh": ([0.85, 0.86, 0.84], [0.75, 0.74, 0.77])}


def _study(acts=("relu", "elu"), seeds=2, epochs=3, dirty=("cifar10-psi16",)):
    runs = []
    for a in acts:
        clean, dirt = ACC[a]
        for s in range(seeds):
            runs.append(_run(a, "cifar10-clean", "clean", s, clean[s], epochs=epochs))
            for k, f in enumerate(dirty):
                runs.append(_run(a, f, "dirty", s, dirt[s] + 0.02 * k, epochs=epochs))
    return runs


def _snapshot(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _one_line_error(r) -> str:
    assert r.code not in (0, None), r.out
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.err, r.err
    return lines[0]


# ---------------------------------------------------------------- statistics
def test_holm_matches_statsmodels_worked_example():
    # statsmodels.stats.multitest.multipletests(p, method="holm")[1] for p = [0.01, 0.04, 0.03, 0.005]:
    # sorted: 0.005, 0.01, 0.03, 0.04 (m = 4); multiply by m − j + 1 = 4, 3, 2, 1:
    #   0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> running max: 0.02, 0.03, 0.06, 0.06
    # back in input order: [0.03, 0.06, 0.06, 0.02]
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-12)
    # capped at 1: [0.5, 0.6] -> 0.5·2 = 1.0, 0.6·1 = 0.6 -> running max 1.0, 1.0
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    # an undefined test (NaN) is left out of the family: m = 2 -> 0.02·2 = 0.04, 0.04·1 = 0.04
    out = holm([0.04, float("nan"), 0.02])
    assert out[0] == pytest.approx(0.04) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert holm([]) == [] and holm([0.3]) == [0.3]


def test_undefined_welch_is_nan_never_zero():
    assert math.isnan(welch_p([1.0], [1.0, 2.0]))  # n < 2 in a group
    assert math.isnan(welch_p([0.5, 0.5], [0.7, 0.7]))  # both stds 0, means differ (was printed 0)
    assert math.isnan(welch_p([0.5, 0.5], [0.5, 0.5]))
    assert math.isnan(welch_p([0.9 - 0.7, 0.91 - 0.71], [0.2, 0.2]))  # equal up to rounding
    assert 0 < welch_p([0.5, 0.5, 0.5], [0.6, 0.7, 0.65]) < 0.05  # one spread is enough
    from noisebench.harness.report.tables import fmt_p

    assert fmt_p(float("nan")) == "n/a" and fmt_p(None) == "n/a" and fmt_p(0.0123) == "0.012"


def test_one_seed_formatting():
    s = summarize([0.8125])
    assert s.fmt() == "0.8125 (n = 1)" and "±" not in s.fmt() and s.fmt_ci() == "n/a"
    assert summarize([1.0, 2.0]).fmt() == "1.5 ± 0.71"
    assert Summary(0, math.nan, math.nan, math.nan, math.nan).fmt() == "—"


# ---------------------------------------------------------------- tables
def test_report_tables_n1_holm_na_and_latex(cli, tmp_path):
    runs = _study(acts=("relu", "elu", "tanh"), seeds=3)
    # one activation with a single seed, one with zero spread in both groups of the delta test
    runs = [r for r in runs if not (r.config["activation"] == "tanh" and r.config["seed"] > 0)]
    runs.append(_run("mish", "cifar10-clean", "clean", 0, 0, status="null"))
    db = _db(tmp_path / "r.db", runs)
    out = tmp_path / "rep"
    r = cli("report", "--db", db, "--out", out, "--no-plots")
    assert r.code == 0, r.err
    md = (out / "report.md").read_text()
    assert "(n = 1)" in md and "± 0 " not in md and "± 0.000" not in md and "± nan" not in md
    assert "adjusted p (Holm)" in md and "Holm step-down" in md and "Welch" in md
    assert "| cifar10-clean | **0.91 ± 0.01** | 0.9 ± 0.01 | — (null 1/1) | 0.85 (n = 1) |" in md
    delta = md[md.index("## Δ on cifar10-psi16"):]
    tanh = next(ln for ln in delta.splitlines() if ln.startswith("| tanh"))
    assert tanh.count("n/a") >= 3  # CI, p and adjusted p are undefined for one seed
    with open(out / "delta.csv") as f:
        import csv

        rows = {x["activation"]: x for x in csv.DictReader(f)}
    p_elu = float(rows["elu"]["p_vs_relu"])
    assert float(rows["elu"]["p_holm_vs_relu"]) == pytest.approx(min(1.0, p_elu))  # family of one defined test
    assert rows["tanh"]["p_vs_relu"] == "nan" and rows["tanh"]["p_holm_vs_relu"] == "nan"
    tex = (out / "tables.tex").read_text()
    for s in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}", "Holm", r"$\pm$", r"\caption{"):
        assert s in tex
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") >= 4
    assert "_" not in tex.replace(r"\_", "").split("\n", 2)[2].replace("tab:", "")  # underscores escaped


def test_both_stds_zero_prints_na(cli, tmp_path):
    runs = [_run(a, f, role, s, v) for a, v in (("relu", 0.5), ("elu", 0.7)) for s in range(2)
            for f, role in (("cifar10-clean", "clean"), ("cifar10-psi16", "dirty"))]
    out = tmp_path / "rep"
    assert cli("report", "--db", _db(tmp_path / "r.db", runs), "--out", out, "--no-plots").code == 0
    md = (out / "report.md").read_text()
    p_table = md[md.index("p vs relu (Welch)"):md.index("adjusted p (Holm) vs relu")]
    elu_row = next(ln for ln in p_table.splitlines() if ln.startswith("| cifar10-psi16"))
    assert elu_row.endswith("| — | n/a |") and "| 0 |" not in p_table
    holm_table = md[md.index("adjusted p (Holm) vs relu"):]
    assert next(ln for ln in holm_table.splitlines() if ln.startswith("| cifar10-psi16")).endswith("| — | n/a |")
    # the per-seed Δ (0 for every seed) have no spread in either group: the Δ test is n/a as well
    delta = md[md.index("## Δ on"):md.index("## Null runs per")]
    assert next(ln for ln in delta.splitlines() if ln.startswith("| elu")).endswith("| n/a | n/a | 0/4 |")


def test_mixed_code_versions_and_devices_are_marked(cli, tmp_path):
    runs = _study(seeds=2)
    ids = {i: {"code_version": "c0de" if r.config["seed"] == 0 else "beef", "device_type": "cpu",
               "precision": "fp32"} for i, r in enumerate(runs) if r.config["activation"] == "relu"}
    ids |= {i: {"code_version": "c0de", "device_type": "cuda" if r.config["seed"] else "cpu", "precision": "fp32"}
            for i, r in enumerate(runs) if r.config["activation"] == "elu"}
    out = tmp_path / "rep"
    assert cli("report", "--db", _db(tmp_path / "r.db", runs, ids), "--out", out, "--no-plots").code == 0
    md = (out / "report.md").read_text()
    assert "§ cifar10-psi16 / relu: runs mix code_version (beef, c0de)" in md
    assert "/ elu: runs mix device_type (cpu, cuda)" in md


def test_only_null_database_reports_null_accounting(cli, tmp_path):
    runs = [_run(a, f, role, s, 0, status="null", metric="val_loss", dataset="synth", clean="synth-clean")
            for a in ("relu", "elu") for s in range(2) for f, role in (("synth-clean", "clean"), ("synth-dirty", "dirty"))]
    out = tmp_path / "rep"
    r = cli("report", "--db", _db(tmp_path / "r.db", runs), "--out", out)  # with plots: no log-scale crash
    assert r.code == 0, r.err
    md = (out / "report.md").read_text()
    assert "No run finished with a finite metric" in md and "Null runs per activation" in md
    assert "| relu | 4 | 4 | 100.0% | 0 | non-finite loss: 4 |" in md
    assert (out / "tables.tex").exists() and (out / "summary.csv").exists()


# ---------------------------------------------------------------- names, overwrite, atomicity
def test_reports_with_different_settings_do_not_overwrite(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db_a = _db(tmp_path / "a.db", _study(acts=("relu", "elu"), epochs=3))
    db_b = _db(tmp_path / "b.db", _study(acts=("relu", "tanh"), epochs=5))
    assert cli("report", "--db", db_a).code == 0
    (first,) = (tmp_path / "results" / "reports").iterdir()
    before = _snapshot(first)
    assert cli("report", "--db", db_b, "--no-plots").code == 0
    folders = sorted(p.name for p in (tmp_path / "results" / "reports").iterdir())
    assert len(folders) == 2 and _snapshot(first) == before
    assert any("elu-relu" in f and "_e3_" in f for f in folders) and any("relu-tanh" in f and "_e5_" in f for f in folders)
    # figure names inside carry data, model, activations, epochs, LR and policy
    assert any(n.startswith("delta_cifar10-psi16_resnet18_elu-relu_e3_lr0.001_triangular") for n in before)
    # a third database with the same axes but another batch-size/wd still gets its own folder (hash)
    runs = _study(acts=("relu", "elu"), epochs=3)
    for r in runs:
        r.config["batch_size"] = 64
    assert cli("report", "--db", _db(tmp_path / "c.db", runs), "--no-plots").code == 0
    assert len(list((tmp_path / "results" / "reports").iterdir())) == 3


def test_rerun_refuses_without_force_and_force_replaces(cli, tmp_path):
    db = _db(tmp_path / "r.db", _study())
    out = tmp_path / "rep"
    assert cli("report", "--db", db, "--out", out).code == 0
    before = _snapshot(out)
    assert any(n.endswith(".png") for n in before)
    line = _one_line_error(cli("report", "--db", db, "--out", out, "--no-plots"))
    assert "already holds a report" in line and "--force" in line
    assert _snapshot(out) == before
    (out / "mine.txt").write_text("not part of the report")
    assert cli("report", "--db", db, "--out", out, "--no-plots", "--force").code == 0
    after = _snapshot(out)
    assert not any(n.endswith((".png", ".pdf", ".svg")) for n in after), "stale figures of the old report remain"
    assert "mine.txt" in after and "report.md" in after
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.tmp-")]
    # a link planted at a report file's name is refused even with --force, and nothing is written
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.csv").symlink_to(tmp_path / "r.db")
    line = _one_line_error(cli("report", "--db", db, "--out", other, "--no-plots", "--force"))
    assert "not a regular file" in line and sorted(p.name for p in other.iterdir()) == ["summary.csv"]


def test_failed_report_writes_nothing(cli, tmp_path, monkeypatch):
    import noisebench.harness.report.plots as rp
    from noisebench.errors import UserError

    def boom(*a, **k):
        raise UserError("figure failed")

    monkeypatch.setattr(rp, "plot_deltas", boom)
    out = tmp_path / "rep"
    _one_line_error(cli("report", "--db", _db(tmp_path / "r.db", _study()), "--out", out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.db"]  # neither the folder nor a staging folder


# ---------------------------------------------------------------- figures
def test_figures_three_formats_level_plot_sorted_bars(cli, tmp_path):
    from noisebench.harness.report.colors import BUILTIN_COLORS, activation_color
    from noisebench.harness.report.data import collect, delta_rows
    from noisebench.harness.report.plots import bar_order, level_series

    db = _db(tmp_path / "r.db", _study(acts=("relu", "elu"), dirty=("cifar10-psi8", "cifar10-psi16", "cifar10-psi64")))
    out = tmp_path / "rep"
    r = cli("report", "--db", db, "--out", out)
    assert r.code == 0, r.err
    names = {p.name for p in out.iterdir()}
    for prefix in ("curves_cifar10_", "delta_cifar10-psi8_", "delta_cifar10-psi64_", "delta-vs-level_cifar10-psi_"):
        stems = {n.rsplit(".", 1)[0] for n in names if n.startswith(prefix)}
        assert len(stems) == 1, (prefix, names)
        stem = stems.pop()
        for ext in ("png", "pdf", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    assert json.loads((out / "report.json").read_text())["files"] == sorted(names - {"report.json"})
    with ResultsDB(db, readonly=True) as rdb:
        rd = collect(rdb)
    (fam, kind, _, items), = level_series(rd)
    assert (fam, kind, [lv for lv, _ in items]) == ("cifar10-psi", "psi", [8.0, 16.0, 64.0])
    d = delta_rows(rd)[0]
    assert bar_order({a: d.summary(a) for a in d.per}) == ["elu", "relu"]  # smaller Δ (more robust) first
    # one colour per activation, independent of the report: built-ins fixed, others by a stable hash
    assert activation_color("relu") == BUILTIN_COLORS["relu"] and activation_color("silu") == BUILTIN_COLORS["swish"]
    assert len(set(BUILTIN_COLORS.values())) == len(BUILTIN_COLORS)
    assert activation_color("mypkg.acts:Snake") == activation_color("mypkg.acts:Snake")
    svg = next(p for p in out.iterdir() if p.name.startswith("delta-vs-level") and p.suffix == ".svg").read_text()
    assert BUILTIN_COLORS["relu"] in svg and BUILTIN_COLORS["elu"] in svg


def test_report_holm_column_adjusts_the_row_family(cli, tmp_path):
    import csv

    out = tmp_path / "rep"
    db = _db(tmp_path / "r.db", _study(acts=("relu", "elu", "tanh"), seeds=3))
    assert cli("report", "--db", db, "--out", out, "--no-plots").code == 0
    with open(out / "delta.csv") as f:
        rows = {x["activation"]: x for x in csv.DictReader(f)}
    (a, pa), (b, pb) = sorted(((k, float(rows[k]["p_vs_relu"])) for k in ("elu", "tanh")), key=lambda t: t[1])
    # m = 2 defined tests: smaller p × 2, larger p × 1, then the running maximum
    assert float(rows[a]["p_holm_vs_relu"]) == pytest.approx(min(1.0, 2 * pa))
    assert float(rows[b]["p_holm_vs_relu"]) == pytest.approx(max(min(1.0, 2 * pa), pb))
    assert rows["relu"]["p_vs_relu"] == "nan"  # the baseline is not tested against itself


def test_selected_epoch_metric_is_named_and_plotted(cli, tmp_path):
    from noisebench.harness.report.data import metric_label

    assert metric_label("selected_test_acc") == "test top-1 accuracy at the val-selected epoch"
    assert metric_label("last_val_loss") == "val MSE at the last epoch" and metric_label("val_acc") == "val top-1 accuracy"
    runs = _study(seeds=2)
    for r in runs:  # final metric read at the val-selected epoch; the per-epoch curves hold val_acc
        v = r.final["val_acc"]
        r.final = {"metric": "selected_test_acc", "selected_test_acc": v - 0.01, "last_test_acc": v - 0.02,
                   "metric_value": v - 0.01, "epochs_done": 3}
    out = tmp_path / "rep"
    r = cli("report", "--db", _db(tmp_path / "r.db", runs), "--out", out)
    assert r.code == 0, r.err
    md = (out / "report.md").read_text()
    assert "## cifar10: test top-1 accuracy at the val-selected epoch (higher is better)" in md
    # relu dirty: mean(0.70, 0.72) − 0.01, and beside it the last epoch's test value, mean(0.70, 0.72) − 0.02
    assert "| cifar10-psi16 | 0.7 ± 0.014; last 0.69 ± 0.014 |" in md.replace("**", "")
    assert any(p.name.startswith("curves_cifar10_") and p.suffix == ".svg" for p in out.iterdir())


def test_corruption_severity_files_form_a_level_series():
    """`make corrupt NAME --severity S` files plot as Δ versus severity, like ψ levels: read from the
    attributes the file records (never from its name)."""
    from noisebench.harness.report.data import Group, corruption_level, level_axis

    def lv(stem, role="dirty", **attrs):
        return corruption_level(Group("cifar10", stem, role, "cifar10", (), "selected_test_acc", attrs))

    assert lv("cifar10-fog-sev3", corruption="fog", severity=3, file_seed=0) == ("cifar10-fog", "fog", 3.0)
    assert lv("renamed", corruption="gaussian_noise", severity=5, file_seed=2) == ("cifar10-gaussian_noise-s2",
                                                                                    "gaussian_noise", 5.0)
    assert lv("cifar10-psi16", psi=16.0, file_seed=0) == ("cifar10-psi", "psi", 16.0)
    assert lv("x", flip_mode="pair", nominal_rate=0.2, file_seed=3) == ("cifar10-pair-s3", "pair", 0.2)
    assert lv("cifar10-fog-sev3", role="clean", corruption="fog", severity=3) is None
    assert lv("cifar10-contrast-c0.2", corruption="contrast", severity=0) is None  # a --param build
    assert lv("cifar10-psi16") is None  # a name alone says nothing
    assert "severity" in level_axis("fog") and level_axis("psi").startswith("ψ")
