"""Report tables from the results database: rows = data file (and LR/setting where it varies), columns
= activation, mean ± std over seeds (one seed: the value and "n = 1"), best per row in bold and best
per column marked †, Welch p-values against a baseline activation with Holm's correction, Δ with
95% t CIs, null-run accounting, cells mixing code versions or devices marked §.

Tables are built once as `Table`s and rendered as markdown (here), LaTeX (report_latex) and CSV."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from noisebench.harness.report.data import (  # noqa: F401  (re-exported for callers of the old module)
    SETTING_FIELDS,
    Cell,
    DeltaRow,
    Group,
    ReportData,
    collect,
    delta_direction,
    delta_rows,
    higher_is_better,
    last_metric,
    metric_label,
    mixed_identity,
    val_metric,
)
from noisebench.harness.report.output import setting_tag
from noisebench.harness.report.stats import Summary, holm, summarize, welch_p

MIXED = "§"
P_METHOD = "two-sided Welch t-test over seeds"
HOLM_METHOD = "Holm step-down correction over the activations compared with the baseline in the row"


@dataclass
class Table:
    key: str  # stable id (LaTeX label)
    title: str
    caption: str
    header: list
    rows: list
    notes: list = field(default_factory=list)


def fmt_summary(s: Summary | None, digits: int = 4) -> str:
    return "—" if s is None else s.fmt(digits)


def fmt_p(p: float | None) -> str:
    """A p-value; NaN (undefined test) prints "n/a", never 0."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def _mark_table(rows: list, lower_better: bool, col_groups: list, select: list | None = None) -> list:
    """Format cells; bold the best per row; † the best per column among comparable rows (rows with
    the same `col_groups` id, e.g. one data file under several LRs), chosen on `select` (the val
    summaries of the same cells: a setting is never chosen on test) when given."""
    out = [[fmt_summary(s) for s in row] for row in rows]
    sel = rows if select is None else select
    key = lambda s: s.mean if lower_better else -s.mean  # noqa: E731
    for i, row in enumerate(rows):
        cand = [(key(s), j) for j, s in enumerate(row) if s is not None and s.n > 0]
        if len(cand) > 1:
            j = min(cand)[1]
            out[i][j] = f"**{out[i][j]}**"
    for gid in set(col_groups):
        members = [i for i, g in enumerate(col_groups) if g == gid]
        if len(members) < 2:
            continue
        for j in range(len(rows[0]) if rows else 0):
            cand = [(key(sel[i][j]), i) for i in members if sel[i][j] is not None and sel[i][j].n > 0]
            if len(cand) > 1:
                out[min(cand)[1]][j] += " †"
    return out


def _p_row(samples: dict, baseline: str, acts: list) -> tuple[list, list]:
    """Welch p of each activation vs the baseline and their Holm-adjusted values (NaN where undefined
    or where the activation is the baseline or has no runs)."""
    base = samples.get(baseline)
    raw = [welch_p(samples[a], base) if a != baseline and a in samples and base is not None else float("nan")
           for a in acts]
    return raw, holm(raw)


def _mixed_note(where: str, ids: set) -> str | None:
    mix = mixed_identity(ids)
    if not mix:
        return None
    return f"{MIXED} {where}: runs mix " + "; ".join(f"{k} ({', '.join(v)})" for k, v in mix.items())


def final_tables(rd: ReportData) -> list[Table]:
    """Per dataset and metric: final-metric matrix, Welch p matrix, Holm-adjusted p matrix."""
    acts = rd.activations
    by_ds: dict = {}
    for g in rd.groups:
        by_ds.setdefault((g.dataset, g.metric), []).append(g)
    out = []
    for (ds, metric), gs in by_ds.items():
        lb = not higher_is_better(metric)
        labels = [rd.row_label(g, gs) for g in gs]
        vm = val_metric(metric)
        val = [[g.cells[a].val_summary if a in g.cells else None for a in acts] for g in gs] if vm else None
        cells = _mark_table([[g.cells[a].summary if a in g.cells else None for a in acts] for g in gs], lb,
                            [g.file for g in gs], val)
        last = last_metric(metric)
        notes = []
        for g, lab, row in zip(gs, labels, cells):
            for j, a in enumerate(acts):
                c = g.cells.get(a)
                if c is not None and last and c.last_values:
                    row[j] += f"; last {fmt_summary(c.last_summary)}"
                if c is not None and not c.values and c.nulls:
                    row[j] = f"— (null {c.nulls}/{c.runs})"
                note = _mixed_note(f"{lab} / {a}", c.identities) if c is not None else None
                if note:
                    row[j] += f" {MIXED}"
                    notes.append(note)
        head = ["data · setting"] + acts
        what = metric_label(metric) if " epoch" in metric_label(metric) else f"final {metric_label(metric)}"
        out.append(Table(f"final-{ds}-{metric}", f"{ds}: {what} ({'lower' if lb else 'higher'} is better)",
                         f"Mean ± sample std over seeds of each run's {what}; one seed shows the "
                         "value and n = 1"
                         + (f"; 'last': the same at the last epoch ({metric_label(last)}), for comparison"
                            if last else "")
                         + ". Null and failed runs are excluded from the mean and counted below. **Bold**: best in "
                         "the row; †: the best setting in the column among the rows of the same data file, chosen "
                         + (f"on {metric_label(vm)} (never on test)." if vm else "on this metric."),
                         head, [[lab] + row for lab, row in zip(labels, cells)], notes))
        p_rows, h_rows = [], []
        for g, lab in zip(gs, labels):
            raw, adj = _p_row({a: list(c.values.values()) for a, c in g.cells.items()}, rd.baseline, acts)
            p_rows.append([lab] + ["—" if a == rd.baseline else fmt_p(p) for a, p in zip(acts, raw)])
            h_rows.append([lab] + ["—" if a == rd.baseline else fmt_p(p) for a, p in zip(acts, adj)])
        out.append(Table(f"p-{ds}-{metric}", f"{ds}: p vs {rd.baseline} (Welch)",
                         f"p: {P_METHOD} of each activation against `{rd.baseline}`, unadjusted; n/a: undefined "
                         "(fewer than 2 finite values in a group, or zero spread in both).", head, p_rows))
        out.append(Table(f"holm-{ds}-{metric}", f"{ds}: adjusted p (Holm) vs {rd.baseline}",
                         f"Adjusted p (Holm): the Welch p-values above after the {HOLM_METHOD}; n/a tests are left "
                         "out of the family.", head, h_rows))
    return out


def _delta_cell(s: Summary) -> str:
    return s.fmt(4) if s.n < 2 else f"{s.fmt(4)} [{s.ci_lo:.3g}, {s.ci_hi:.3g}]"


def delta_tables(rd: ReportData) -> list[Table]:
    """The Δ overview (rows = dirty file, columns = activation) and one long table per dirty file with
    n, Δ, its 95% CI, the Welch p vs the baseline and the Holm-adjusted p."""
    drows = delta_rows(rd)
    if not drows:
        return []
    acts = rd.activations
    sums = [[d.summary(a) if a in d.per else None for a in acts] for d in drows]
    marked = _mark_table(sums, True, [d.dirty.file for d in drows])
    body, notes = [], []
    for d, srow, mrow in zip(drows, sums, marked):
        label = rd.row_label(d.dirty, [e.dirty for e in drows if e.dirty.dataset == d.dirty.dataset])
        cells = []
        for a, s, m in zip(acts, srow, mrow):
            cell = m if s is None or s.n < 2 else f"{m} [{s.ci_lo:.3g}, {s.ci_hi:.3g}]"
            note = _mixed_note(f"{label} / {a}", d.identities(a)) if s is not None else None
            if note:
                cell += f" {MIXED}"
                notes.append(note)
            cells.append(cell)
        body.append([f"{label} ({metric_label(d.dirty.metric)}, {delta_direction(d.dirty.metric)})"] + cells)
    out = [Table("delta-overview", "Robustness Δ (positive = the dirty data hurt; smaller is more robust)",
                 "Δ = clean − dirty for accuracies, dirty − clean for losses, paired by seed. Cell: mean ± sample "
                 "std [95% t CI]; one seed: the value and n = 1. **Bold**: most robust in the row.",
                 ["dirty data · setting"] + acts, body, notes)]
    for d in drows:
        raw, adj = _p_row({a: list(v.values()) for a, v in d.per.items()}, rd.baseline, acts)
        rows, notes = [], []
        for a, p, q in zip(acts, raw, adj):
            if a not in d.per:
                continue
            s = d.summary(a)
            nulls = sum(g.cells[a].nulls for g in (d.dirty, d.clean) if a in g.cells)
            runs = sum(g.cells[a].runs for g in (d.dirty, d.clean) if a in g.cells)
            note = _mixed_note(a, d.identities(a))
            if note:
                notes.append(note)
            base = a == rd.baseline
            rows.append([a + (" (baseline)" if base else "") + (f" {MIXED}" if note else ""), str(s.n),
                         fmt_summary(s) if s.n else "—", s.fmt_ci(3), "—" if base else fmt_p(p),
                         "—" if base else fmt_p(q), f"{nulls}/{runs}"])
        varying = rd.row_label(d.dirty, [e.dirty for e in drows]).split(" · ")[1:]
        out.append(Table(f"delta-{d.dirty.file}-{setting_tag(d.dirty.setting, acts)}",
                         f"Δ on {d.dirty.file} vs {d.clean.file} ("
                         + ", ".join(varying + [metric_label(d.dirty.metric), delta_direction(d.dirty.metric)]) + ")",
                         f"n: seeds with both runs finite. Δ: mean ± sample std over seeds. 95% CI: mean ± "
                         f"t(0.975, n − 1)·s/√n (for accuracies clipped to [-1, 1]). p: {P_METHOD} of the per-seed Δ against `{rd.baseline}`. "
                         f"Adjusted p (Holm): {HOLM_METHOD}. n/a: undefined (n < 2 in a group, or zero spread in "
                         "both). Null runs: null / runs over the clean and the dirty file.",
                         ["activation", "n", "Δ", "95% CI", f"p vs {rd.baseline} (Welch)", "adjusted p (Holm)",
                          "null runs"], rows, notes))
    return out


def null_tables(rd: ReportData) -> list[Table]:
    """Null-run accounting: the rate per activation (all rows together), then per row and activation."""
    acts = rd.activations
    body = []
    for a in acts:
        cells = [g.cells[a] for g in rd.groups if a in g.cells]
        runs, nulls, failed = sum(c.runs for c in cells), sum(c.nulls for c in cells), sum(c.failed for c in cells)
        causes = Counter()
        for c in cells:
            causes.update(c.null_causes)
        body.append([a, str(runs), str(nulls), f"{100.0 * nulls / runs:.1f}%" if runs else "n/a", str(failed),
                     "; ".join(f"{k}: {v}" for k, v in sorted(causes.items())) or "—"])
    rate = Table("null-rate", "Null runs per activation",
                 "A null run diverged (non-finite loss, chance-level accuracy, or a val MSE worse than predicting "
                 "the training mean); it is kept in the database, "
                 "excluded from means and tests, and counted here. Rate = null / runs over every data file and "
                 "setting in this report; failed runs (errors) are counted apart.",
                 ["activation", "runs", "null", "null rate", "failed", "null causes"], body)
    body = []
    for g in rd.groups:
        row = [g.file if len({h.setting for h in rd.groups if h.file == g.file}) == 1 else rd.row_label(g, rd.groups)]
        for a in acts:
            c = g.cells.get(a)
            row.append("—" if c is None else f"{c.nulls}/{c.runs}" + (f" ({c.failed} failed)" if c.failed else ""))
        body.append(row)
    per = Table("null-runs", "Null runs (diverged) and failures per data file",
                "Cell: null / runs (failed runs in parentheses when any).", ["data"] + acts, body)
    return [rate, per]


def activation_param_tables(rd: ReportData) -> list[Table]:
    """Learned activation parameters (TAct/mTAct alpha, beta; PReLU slopes; trainable plug-ins):
    per data file and activation, the mean over sites of each parameter, then mean ± std over seeds."""
    cols = []  # (activation, parameter)
    for g in rd.groups:
        for a, c in g.cells.items():
            for run in c.act_params:
                for name in run:
                    if (a, name) not in cols:
                        cols.append((a, name))
    if not cols:
        return []
    cols.sort(key=lambda an: (rd.activations.index(an[0]) if an[0] in rd.activations else 99, an[1]))
    body = []
    for g in rd.groups:
        row = [g.file if len({h.setting for h in rd.groups if h.file == g.file}) == 1 else rd.row_label(g, rd.groups)]
        for a, name in cols:
            c = g.cells.get(a)
            vals = [run[name]["mean"] for run in (c.act_params if c else []) if name in run and run[name].get("mean") is not None]
            row.append(fmt_summary(summarize(vals)) if vals else "—")
        body.append(row)
    return [Table("activation-params", "Learned activation parameters",
                  "Mean over the activation's sites of each trainable parameter at the end of training, then mean ± "
                  "std over seeds (n = 1: the single value). TAct/mTAct store alpha and beta before squaring (mTAct "
                  "uses their squares).", ["data"] + [f"{a} {n}" for a, n in cols], body)]


def build_tables(rd: ReportData) -> list[Table]:
    if not rd.has_values:
        return null_tables(rd)
    return final_tables(rd) + delta_tables(rd) + activation_param_tables(rd) + null_tables(rd)


def table_markdown(t: Table) -> str:
    lines = [f"## {t.title}", "", t.caption, "",
             "| " + " | ".join(t.header) + " |", "|" + "|".join("---" for _ in t.header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in t.rows]
    if t.notes:
        lines += [""] + [f"- {n}" for n in t.notes]
    return "\n".join(lines + [""])


def build_markdown(rd: ReportData, tables: list[Table] | None = None) -> str:
    tables = build_tables(rd) if tables is None else tables
    parts = ["# noisebench results: train-time protocol", "",
             "Each model trained on the clean file and on each corrupted (dirty) file, compared on their own test "
             "splits (docs/PROTOCOL.md).",
             f"Baseline activation: `{rd.baseline}`. Statistics: mean ± sample std over seeds; 95% CI from the "
             f"t distribution; p: {P_METHOD}; adjusted p: Holm. {MIXED} marks a cell whose runs were produced "
             "with more than one code version, device type or precision.", ""]
    if not rd.has_values:
        parts += ["**No run finished with a finite metric**: every run in this selection is null or failed, so "
                  "there are no means, Δ or tests to report. The null accounting follows.", ""]
    parts += [table_markdown(t) for t in tables]
    return "\n".join(parts)


def write_csv(rd: ReportData, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    b = rd.baseline
    p1 = out_dir / "summary.csv"
    with open(p1, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "file", "role", *SETTING_FIELDS, "activation", "metric", "n", "mean", "std",
                    "ci95_lo", "ci95_hi", f"p_vs_{b}", f"p_holm_vs_{b}", "runs", "nulls", "failed", "mixed_identity",
                    "val_metric", "val_mean", "last_metric", "last_mean"])
        for g in rd.groups:
            raw, adj = _p_row({a: list(c.values.values()) for a, c in g.cells.items()}, b, rd.activations)
            for a, p, q in zip(rd.activations, raw, adj):
                c = g.cells.get(a)
                if c is None:
                    continue
                s = c.summary
                w.writerow([g.dataset, g.file, g.role, *[v for _, v in g.setting], a, g.metric, s.n, s.mean, s.std,
                            s.ci_lo, s.ci_hi, p, q, c.runs, c.nulls, c.failed,
                            json.dumps(mixed_identity(c.identities), sort_keys=True), val_metric(g.metric) or "",
                            c.val_summary.mean, last_metric(g.metric) or "", c.last_summary.mean])
    p2 = out_dir / "delta.csv"
    with open(p2, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "dirty_file", "clean_file", *SETTING_FIELDS, "activation", "metric", "delta_direction",
                    "n", "mean", "std", "ci95_lo", "ci95_hi", f"p_vs_{b}", f"p_holm_vs_{b}", "deltas_by_seed",
                    "mixed_identity"])
        for d in delta_rows(rd):
            raw, adj = _p_row({a: list(v.values()) for a, v in d.per.items()}, b, rd.activations)
            for a, p, q in zip(rd.activations, raw, adj):
                if a not in d.per:
                    continue
                s = d.summary(a)
                w.writerow([d.dirty.dataset, d.dirty.file, d.clean.file, *[v for _, v in d.dirty.setting], a,
                            d.dirty.metric, "clean-dirty" if higher_is_better(d.dirty.metric) else "dirty-clean", s.n,
                            s.mean, s.std, s.ci_lo, s.ci_hi, p, q, json.dumps(d.per[a], sort_keys=True),
                            json.dumps(mixed_identity(d.identities(a)), sort_keys=True)])
    return [p1, p2]


# older private names, kept for callers outside the package
_md = table_markdown
