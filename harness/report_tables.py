"""Report tables from the results database, in the style of the source report: rows = dataset file
(and LR/setting where it varies), columns = activation, mean ± std over seeds, best per row in
bold and best per column marked with †, Welch p-values against a baseline activation, null-run
counts. Written as markdown and CSV."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from noisebench.harness.stats import Summary, summarize, welch_p

SETTING_FIELDS = ("model", "optimizer", "lr_policy", "lr", "epochs", "batch_size", "weight_decay", "extra")


def higher_is_better(metric: str) -> bool:
    return metric.endswith("acc") or metric.endswith("top3")


def metric_label(metric: str) -> str:
    return {"val_loss": "val MSE", "val_acc": "val top-1 accuracy", "val_top3": "val top-3 accuracy"}.get(metric, metric)


def _setting(r: dict) -> tuple:
    return tuple((k, json.dumps(r[k]) if k == "extra" else r[k]) for k in SETTING_FIELDS)


@dataclass
class Cell:
    values: dict  # seed -> metric (ok runs)
    runs: int = 0
    nulls: int = 0
    failed: int = 0
    keys: list = field(default_factory=list)

    @property
    def summary(self) -> Summary:
        return summarize(self.values.values())


@dataclass
class Group:
    """One row: a data file under one training setting; cells per activation."""

    dataset: str
    file: str  # file stem
    role: str
    clean_ref: str | None  # clean file stem (dirty rows)
    setting: tuple
    metric: str
    cells: dict = field(default_factory=dict)  # activation -> Cell


@dataclass
class ReportData:
    groups: list
    activations: list
    baseline: str

    def row_label(self, g: Group, same_dataset: list) -> str:
        """File stem plus the setting fields that vary among the rows shown together."""
        vary = [k for i, (k, _) in enumerate(g.setting) if len({h.setting[i][1] for h in same_dataset}) > 1]
        s = dict(g.setting)
        extra = [f"{k}={s[k]}" if k != "lr" else f"lr={float(s[k]):g}" for k in vary]
        return " · ".join([g.file] + extra)


def collect(db, baseline: str = "relu", **filters) -> ReportData:
    runs = db.runs(**filters)
    groups: dict = {}
    acts: list = []
    for r in runs:
        info = r.get("data_info") or {}
        final = r.get("final") or {}
        metric = final.get("metric") or ("val_loss" if r.get("task") == "regression" else "val_acc")
        stem = Path(r["data"]).stem
        ref = info.get("clean_reference")
        gk = (r.get("dataset"), stem, _setting(r))
        g = groups.get(gk)
        if g is None:
            role = r["role"] if r["role"] in ("clean", "dirty") else (info.get("variant") or "single")
            g = groups[gk] = Group(str(r.get("dataset")), stem, role, Path(ref).stem if ref else None, _setting(r), metric)
        c = g.cells.setdefault(r["activation"], Cell({}))
        c.runs += 1
        c.keys.append(r["key"])
        if r["status"] == "ok":
            v = final.get(metric)
            if v is not None and math.isfinite(float(v)):
                c.values[int(r["seed"])] = float(v)
        elif r["status"] == "null":
            c.nulls += 1
        else:
            c.failed += 1
        if r["activation"] not in acts:
            acts.append(r["activation"])
    acts = sorted(acts, key=lambda a: (a != baseline, a))
    order = sorted(groups.values(), key=lambda g: (g.dataset, g.role != "clean", g.file, str(g.setting)))
    return ReportData(order, acts, baseline)


def delta_rows(rd: ReportData) -> list[tuple[Group, Group, dict]]:
    """(dirty group, clean group, activation -> {seed: delta}) with delta > 0 meaning dirty hurt."""
    out = []
    for g in rd.groups:
        if g.role != "dirty" or not g.clean_ref:
            continue
        partner = next((c for c in rd.groups if c.role == "clean" and c.file == g.clean_ref
                        and c.setting == g.setting and c.dataset == g.dataset), None)
        if partner is None:
            continue
        hib = higher_is_better(g.metric)
        per_act = {}
        for a, cell in g.cells.items():
            cc = partner.cells.get(a)
            if cc is None:
                continue
            d = {s: (cc.values[s] - v) if hib else (v - cc.values[s]) for s, v in cell.values.items() if s in cc.values}
            per_act[a] = d
        out.append((g, partner, per_act))
    return out


def _fmt(s: Summary, digits: int = 4) -> str:
    return "—" if s.n == 0 else f"{s.mean:.{digits}g} ± {s.std:.2g}"


def _fmt_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def _mark_table(rows: list[list[Summary | None]], lower_better: list[bool], col_groups: list | None) -> list[list[str]]:
    """Format cells; bold the best per row; † the best per column among comparable rows (rows with
    the same `col_groups` id, e.g. one data file under several LRs)."""
    out = [[_fmt(s) if s is not None else "—" for s in row] for row in rows]
    key = lambda s, lb: (s.mean if lb else -s.mean)
    for i, row in enumerate(rows):
        cand = [(key(s, lower_better[i]), j) for j, s in enumerate(row) if s is not None and s.n > 0]
        if len(cand) > 1:
            j = min(cand)[1]
            out[i][j] = f"**{out[i][j]}**"
    for gid in set(col_groups or []):
        members = [i for i, g in enumerate(col_groups) if g == gid]
        if len(members) < 2:
            continue
        for j in range(len(rows[0]) if rows else 0):
            cand = [(key(rows[i][j], lower_better[i]), i) for i in members if rows[i][j] is not None and rows[i][j].n > 0]
            if len(cand) > 1:
                out[min(cand)[1]][j] += " †"
    return out


def _md(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def build_markdown(rd: ReportData) -> str:
    acts = rd.activations
    parts = ["# noisebench results", "",
             f"Mean ± std over seeds of the final-epoch metric (null and failed runs excluded from the mean, counted separately). "
             f"**Bold**: best in the row; †: best in the column among the rows of the same data file (e.g. over LRs). p: two-sided Welch t-test over seeds against `{rd.baseline}`.", ""]
    by_ds: dict = {}
    for g in rd.groups:
        by_ds.setdefault((g.dataset, g.metric), []).append(g)
    for (ds, metric), gs in by_ds.items():
        lb = not higher_is_better(metric)
        parts += [f"## {ds}: final {metric_label(metric)} ({'lower' if lb else 'higher'} is better)", ""]
        rows = [[g.cells[a].summary if a in g.cells else None for a in acts] for g in gs]
        cells = _mark_table(rows, [lb] * len(gs), [g.file for g in gs])
        parts.append(_md(["data · setting"] + acts, [[rd.row_label(g, gs)] + c for g, c in zip(gs, cells)]))
        parts += ["", f"p-value vs {rd.baseline} (Welch):", ""]
        body = []
        for g in gs:
            base = g.cells.get(rd.baseline)
            body.append([rd.row_label(g, gs)] + [
                "—" if a == rd.baseline or a not in g.cells or base is None
                else _fmt_p(welch_p(list(g.cells[a].values.values()), list(base.values.values()))) for a in acts])
        parts += [_md(["data · setting"] + acts, body), ""]
    drows = delta_rows(rd)
    if drows:
        parts += ["## Robustness delta (positive = the dirty data hurt; smaller is more robust)", "",
                  "Accuracy: delta = clean − dirty; loss/MSE: delta = dirty − clean; paired by seed. "
                  "Cell: mean ± std [95% t CI].", ""]
        body, sums = [], []
        for g, _, per in drows:
            sums.append([summarize(per[a].values()) if a in per else None for a in acts])
        marked = _mark_table(sums, [True] * len(sums), [g.file for g, _, _ in drows])
        for (g, _, per), srow, mrow in zip(drows, sums, marked):
            cells = []
            for s, m in zip(srow, mrow):
                cells.append(m if s is None or s.n < 2 else f"{m} [{s.ci_lo:.3g}, {s.ci_hi:.3g}]")
            label = f"{rd.row_label(g, [h for h, _, _ in drows if h.dataset == g.dataset])} ({metric_label(g.metric)}, "
            label += ("clean − dirty" if higher_is_better(g.metric) else "dirty − clean") + ")"
            body.append([label] + cells)
        parts += [_md(["dirty data · setting"] + acts, body), ""]
        parts += [f"p-value of the delta vs {rd.baseline} (Welch):", ""]
        body = []
        for g, _, per in drows:
            base = per.get(rd.baseline)
            body.append([g.file] + ["—" if a == rd.baseline or a not in per or base is None
                                    else _fmt_p(welch_p(list(per[a].values()), list(base.values()))) for a in acts])
        parts += [_md(["dirty data"] + acts, body), ""]
    parts += ["## Null runs (diverged: non-finite loss or chance accuracy) and failures", "",
              "Cell: null / runs (failed runs in parentheses when any).", ""]
    body = []
    for g in rd.groups:
        row = [g.file if len({h.setting for h in rd.groups if h.file == g.file}) == 1 else rd.row_label(g, rd.groups)]
        for a in acts:
            c = g.cells.get(a)
            row.append("—" if c is None else f"{c.nulls}/{c.runs}" + (f" ({c.failed} failed)" if c.failed else ""))
        body.append(row)
    parts += [_md(["data"] + acts, body), ""]
    return "\n".join(parts)


def write_csv(rd: ReportData, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    p1 = out_dir / "summary.csv"
    with open(p1, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "file", "role", *SETTING_FIELDS, "activation", "metric", "n", "mean", "std",
                    "ci95_lo", "ci95_hi", f"p_vs_{rd.baseline}", "runs", "nulls", "failed"])
        for g in rd.groups:
            base = g.cells.get(rd.baseline)
            for a in rd.activations:
                c = g.cells.get(a)
                if c is None:
                    continue
                s = c.summary
                p = welch_p(list(c.values.values()), list(base.values.values())) if base and a != rd.baseline else float("nan")
                w.writerow([g.dataset, g.file, g.role, *[v for _, v in g.setting], a, g.metric, s.n, s.mean, s.std,
                            s.ci_lo, s.ci_hi, p, c.runs, c.nulls, c.failed])
    p2 = out_dir / "delta.csv"
    with open(p2, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "dirty_file", "clean_file", *SETTING_FIELDS, "activation", "metric", "delta_direction",
                    "n", "mean", "std", "ci95_lo", "ci95_hi", f"p_vs_{rd.baseline}", "deltas_by_seed"])
        for g, cg, per in delta_rows(rd):
            base = per.get(rd.baseline)
            for a in rd.activations:
                if a not in per:
                    continue
                s = summarize(per[a].values())
                p = welch_p(list(per[a].values()), list(base.values())) if base and a != rd.baseline else float("nan")
                w.writerow([g.dataset, g.file, cg.file, *[v for _, v in g.setting], a, g.metric,
                            "clean-dirty" if higher_is_better(g.metric) else "dirty-clean", s.n, s.mean, s.std,
                            s.ci_lo, s.ci_hi, p, json.dumps(per[a], sort_keys=True)])
    return [p1, p2]
