"""Figures in the source studies' layout: rows = LR, model or dataset, columns = activation.

- `layout_<panel>`: a grid of our means (± std below) with the best per row boxed and the best per
  column marked † (chosen on the val counterpart of the metric: a setting is never chosen on test), the published value beside ours where the preset has one;
- `by_<axis>_<panel>`: the metric against the row axis, one line per activation with a ±1 std band
  over seeds and the published values as crosses in the activation's colour.
Each figure is written as PNG, PDF and SVG with the report's fixed activation colours."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from noisebench.harness.report.colors import activation_color
from noisebench.harness.report.data import higher_is_better, metric_label, val_metric
from noisebench.harness.report.output import slug
from noisebench.harness.report.plots import pyplot, save
from noisebench.harness.report.stats import summarize


def _row_order(axis: str, v):
    if axis == "lr":
        return (0, float(v), "")
    if axis == "data":
        import re

        m = re.search(r"psi(\d+(?:\.\d+)?)$", str(v))
        return (1, -float(m.group(1)), str(v)) if m else (0, 0.0, str(v))
    return (0, 0.0, str(v))


def cells(runs: list[dict], axis: str, metric: str | None) -> dict:
    """panel label -> {(row value, activation): [values over seeds]} for ok runs; a null run adds NaN."""
    out: dict = {}
    for r in runs:
        final = r.get("final") or {}
        v = final.get(metric) if metric else final.get("metric_value")
        if r.get("status") == "null":
            v = float("nan")
        elif r.get("status") != "ok" or v is None or not math.isfinite(float(v)):
            continue
        stem = Path(r["data"]).stem
        row = {"lr": float(r["lr"]), "model": r["model"], "data": stem}[axis]
        panel = [x for x, name in ((stem, "data"), (r["model"], "model")) if name != axis]
        panel.append(r["lr_policy"])
        if axis != "lr":
            panel.append(f"lr{float(r['lr']):g}")
        out.setdefault(" · ".join(panel), {}).setdefault((row, r["activation"]), []).append(float(v))
    return out


def _reported_lookup(comparisons, panel: str, axis: str) -> dict:
    """(row value, activation) -> published value for the comparisons drawn in this panel."""
    out = {}
    for c in comparisons:
        parts = set(panel.split(" · "))
        if axis != "data" and c.data not in parts:
            continue
        if axis != "model" and c.model not in parts and c.model != "—":
            continue
        if axis == "lr":  # only an LR row is a number (a data or model row is a name)
            row = float(c.row) if c.row else None
        else:
            row = c.model if axis == "model" else c.data
        if row is not None:
            out[(row, c.activation)] = c.reported
    return out


def plot_layout(runs: list[dict], axis: str, activations: list, metric: str | None, comparisons: list,
                out_dir: Path) -> list[Path]:
    plt = pyplot()
    written = []
    if metric is None:  # each run's reported metric (the same key for every run of a study)
        metric = next(((r.get("final") or {}).get("metric") for r in runs if (r.get("final") or {}).get("metric")), None)
    hib = higher_is_better(metric) if metric else True
    vmetric = val_metric(metric) if metric else None
    val_cells = cells(runs, axis, vmetric) if vmetric else {}
    for panel, cell in sorted(cells(runs, axis, metric).items()):
        rows = sorted({r for r, _ in cell}, key=lambda v: _row_order(axis, v))  # rows with null runs only too
        acts = [a for a in activations if any((r, a) in cell for r in rows)]
        if not rows or not acts:
            continue
        rep = _reported_lookup(comparisons, panel, axis)
        ok = {k: [v for v in vs if math.isfinite(v)] for k, vs in cell.items()}
        mean = np.array([[np.mean(ok[(r, a)]) if ok.get((r, a)) else np.nan for a in acts] for r in rows])
        vc = val_cells.get(panel, {})  # † (best row per column) is chosen on val, never on test
        vmean = np.array([[np.mean(f) if (f := [v for v in vc.get((r, a), []) if math.isfinite(v)]) else np.nan
                           for a in acts] for r in rows]) if vmetric else mean
        vhib = higher_is_better(vmetric) if vmetric else hib
        fig, ax = plt.subplots(figsize=(1.6 + 1.25 * len(acts), 1.2 + 0.62 * len(rows)), dpi=110)
        shade = mean if hib else -mean
        ax.imshow(shade, cmap="viridis", aspect="auto")
        ax.set_facecolor("0.85")  # cells without a value (null runs only)
        lo, hi = (np.nanmin(shade), np.nanmax(shade)) if np.isfinite(shade).any() else (0.0, 0.0)
        for i, r in enumerate(rows):
            jb = _unique_best(mean[i], hib)
            for j, a in enumerate(acts):
                if (r, a) not in cell:
                    continue
                s = summarize(ok[(r, a)])
                n_null = len(cell[(r, a)]) - s.n
                dag = " †" if _unique_best(vmean[:, j], vhib) == i else ""
                txt = (f"{s.mean:.3f}{dag}\n±{s.std:.3f}" if s.n > 1 else f"{s.mean:.3f}{dag}\nn=1") if s.n else "—"
                if n_null:
                    txt += f"\nnull {n_null}/{len(cell[(r, a)])}"
                if (r, a) in rep:
                    txt += f"\nrep {rep[(r, a)]:.3f}"
                light = not np.isfinite(shade[i, j]) or (hi > lo and (shade[i, j] - lo) / (hi - lo) > 0.6)
                ax.text(j, i, txt, ha="center", va="center", fontsize=7, color="black" if light else "white",
                        fontweight="bold" if j == jb else "normal")
                if j == jb:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
        ax.set_xticks(range(len(acts)), acts, rotation=30, ha="right")
        ax.set_yticks(range(len(rows)), [f"{r:g}" if axis == "lr" else str(r) for r in rows])
        ax.set_ylabel({"lr": "learning rate", "model": "model", "data": "data"}[axis])
        ax.set_title(f"{panel}: {metric_label(metric) if metric else 'final metric'}\n"
                     "mean ± std over seeds; box: best in row, †: best in column on "
                     f"{metric_label(vmetric) if vmetric else 'this metric'}; rep: published", fontsize=8)
        fig.tight_layout()
        written += save(fig, out_dir, f"layout_{slug(panel)}")
        written += _plot_lines(plt, panel, cell, rows, acts, axis, metric, rep, out_dir)
    return written


def _unique_best(values: np.ndarray, hib: bool) -> int:
    """Index of the best finite value when it is unique (ties, e.g. all at chance, mark nothing); else -1."""
    v = np.asarray(values, dtype=float)
    fin = np.isfinite(v)
    if fin.sum() < 2:
        return -1
    b = np.nanmax(v) if hib else np.nanmin(v)
    idx = np.flatnonzero(fin & np.isclose(v, b, rtol=0, atol=1e-12))
    return int(idx[0]) if len(idx) == 1 else -1


def _plot_lines(plt, panel, cell, rows, acts, axis, metric, rep, out_dir) -> list[Path]:
    if len(rows) < 2:
        return []
    fig, ax = plt.subplots(figsize=(7, 4.4), dpi=110)
    x = np.array(rows, dtype=float) if axis == "lr" else np.arange(len(rows))
    for a in acts:
        vals = [[v for v in cell.get((r, a), []) if math.isfinite(v)] for r in rows]
        m = np.array([np.mean(v) if v else np.nan for v in vals])
        s = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in vals])
        col = activation_color(a)
        ax.plot(x, m, marker="o", color=col, lw=1.5, label=a)
        ax.fill_between(x, m - s, m + s, color=col, alpha=0.15, lw=0)
        pts = [(xi, rep[(r, a)]) for xi, r in zip(x, rows) if (r, a) in rep]
        if pts:
            ax.plot(*zip(*pts), ls="none", marker="x", ms=8, color=col)
    if axis == "lr":
        ax.set_xscale("log")
    else:
        ax.set_xticks(x, [str(r) for r in rows], rotation=20, ha="right")
    ax.set_xlabel({"lr": "learning rate", "model": "model", "data": "data"}[axis])
    ax.set_ylabel(metric_label(metric) if metric else "final metric")
    ax.set_title(f"{panel}: mean ± 1 std over seeds (×: published)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="activation")
    fig.tight_layout()
    return save(fig, out_dir, f"by_{axis}_{slug(panel)}")
