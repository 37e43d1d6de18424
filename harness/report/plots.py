"""Report figures, each written as PNG, PDF and SVG: validation curves per activation with ±1 std bands
over seeds (clean and dirty side by side), Δ bars sorted by Δ with 95% CI error bars, and Δ versus
corruption level (one line per activation with its 95% CI band) when a study has several levels.
Each activation has one colour in every figure (report_colors)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from noisebench.harness.report.colors import activation_color
from noisebench.harness.report.data import (
    ReportData,
    corruption_level,
    delta_direction,
    delta_rows,
    epoch_metric,
    higher_is_better,
    level_axis,
    metric_label,
)
from noisebench.harness.report.output import setting_tag, slug

FORMATS = ("png", "pdf", "svg")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out_dir: Path, stem: str) -> list[Path]:
    """`stem`.png/.pdf/.svg (PDF and SVG without a creation date, so reruns give the same bytes)."""
    plt = pyplot()
    paths = []
    for ext in FORMATS:
        p = Path(out_dir) / f"{stem}.{ext}"
        meta = {"CreationDate": None} if ext == "pdf" else {"Date": None} if ext == "svg" else None
        fig.savefig(p, bbox_inches="tight", metadata=meta)
        paths.append(p)
    plt.close(fig)
    return paths


def _setting_line(s: dict) -> str:
    return (f"{s['model']}, {s['optimizer']} lr={float(s['lr']):g} ({s['lr_policy']}), {s['epochs']} epochs, "
            f"batch {s['batch_size']}")


def _curves(db, keys: list[str], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(epochs, mean, std, n) of a per-epoch metric over the runs `keys` (null runs end early)."""
    series = [[(e["epoch"], e.get(metric)) for e in db.epochs(k)] for k in keys]
    n_ep = max((len(s) for s in series), default=0)
    if n_ep == 0:
        return np.array([]), np.array([]), np.array([]), 0
    mat = np.full((len(series), n_ep), np.nan)
    for i, s in enumerate(series):
        for e, v in s:
            if v is not None and math.isfinite(v) and 1 <= e <= n_ep:
                mat[i, e - 1] = v
    if not np.isfinite(mat).any():
        return np.array([]), np.array([]), np.array([]), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(mat, axis=0)
        std = np.nanstd(mat, axis=0, ddof=1) if len(series) > 1 else np.zeros(n_ep)
    return np.arange(1, n_ep + 1), mean, np.nan_to_num(std), len(series)


def plot_curves(rd: ReportData, db, out_dir: Path) -> list[Path]:
    """One figure per (dataset, setting): validation metric vs epoch, one panel per data file."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    written = []
    by: dict = {}
    for g in rd.groups:
        by.setdefault((g.dataset, g.setting), []).append(g)
    for (ds, setting), gs in by.items():
        metric = epoch_metric(gs[0].metric)  # a selected/last final key: draw the val metric per epoch
        fig, axes = plt.subplots(1, len(gs), figsize=(6.2 * len(gs), 4.8), dpi=110, sharey=True, squeeze=False)
        positive, drawn = True, 0
        for ax, g in zip(axes[0], gs):
            for i, a in enumerate(rd.activations):
                c = g.cells.get(a)
                if c is None:
                    continue
                x, m, s, n = _curves(db, c.keys, metric)
                if n == 0:
                    continue
                drawn += 1
                positive &= bool(np.nanmin(m) > 0)
                ls = "--" if len(rd.activations) > 10 and i % 2 else "-"
                col = activation_color(a)
                ax.plot(x, m, color=col, lw=2.4 if a == rd.baseline else 1.4, ls=ls, label=f"{a} (n={n})")
                ax.fill_between(x, m - s, m + s, color=col, alpha=0.15, lw=0)
            ax.set_title(f"{g.file} ({g.role})")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
        if drawn == 0:  # only null/failed runs without a finite value: nothing to draw
            plt.close(fig)
            continue
        log = not higher_is_better(metric) and positive
        for ax in axes[0]:
            ax.set_yscale("log" if log else "linear")
        axes[0][0].set_ylabel(metric_label(metric) + (" (log scale)" if log else ""))
        fig.suptitle(f"{ds}: {metric_label(metric)} per epoch (mean ± 1 std over seeds)\n{_setting_line(dict(setting))}")
        h, lab = axes[0][0].get_legend_handles_labels()
        fig.legend(h, lab, loc="center left", bbox_to_anchor=(1.0, 0.5), title="activation", frameon=False)
        fig.tight_layout()
        written += save(fig, out_dir, f"curves_{slug(ds)}_{setting_tag(setting, rd.activations)}")
    return written


def bar_order(sums: dict) -> list[str]:
    """Activations with a Δ, sorted by mean Δ ascending (most robust first; ties by name)."""
    return sorted((a for a, s in sums.items() if s.n), key=lambda a: (sums[a].mean, a))


def plot_deltas(rd: ReportData, out_dir: Path) -> list[Path]:
    """One figure per dirty file and setting: Δ per activation, bars sorted by Δ (most robust first),
    error bar = 95% t CI (none for n = 1)."""
    plt = pyplot()
    written = []
    for d in delta_rows(rd):
        sums = {a: d.summary(a) for a in rd.activations if a in d.per}
        acts = bar_order(sums)
        if not acts:
            continue
        means = [sums[a].mean for a in acts]
        err = [(sums[a].ci_hi - sums[a].mean) if sums[a].n >= 2 else np.nan for a in acts]  # n = 1: no bar
        fig, ax = plt.subplots(figsize=(max(7.5, 0.75 * len(acts) + 2), 4.8), dpi=110)
        ax.bar(range(len(acts)), means, yerr=err, capsize=4, color=[activation_color(a) for a in acts],
               edgecolor=["black" if a == rd.baseline else "none" for a in acts], linewidth=1.5)
        ax.axhline(0, color="black", lw=0.8)
        labels = [a if sums[a].n >= 2 else f"{a} (n = 1)" for a in acts]
        ax.set_xticks(range(len(acts)), labels, rotation=30, ha="right")
        ax.set_ylabel(f"Δ {metric_label(d.dirty.metric)} ({delta_direction(d.dirty.metric)})")
        ax.set_xlabel("activation, sorted by Δ (outlined: baseline)")
        s = dict(d.dirty.setting)
        ns = sorted({sums[a].n for a in acts})
        ax.set_title(f"Robustness: {d.dirty.file} vs {d.clean.file}\n{_setting_line(s)}; "
                     f"n={'/'.join(map(str, ns))} seeds, error bars = 95% t CI; lower = more robust", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        written += save(fig, out_dir, f"delta_{slug(d.dirty.file)}_{setting_tag(d.dirty.setting, rd.activations)}")
    return written


def level_series(rd: ReportData) -> list[tuple[str, str, tuple, list]]:
    """(family, kind, setting, [(level, DeltaRow), ...]) for each series of ≥ 2 corruption levels of
    one source under one setting, levels ascending."""
    by: dict = {}
    for d in delta_rows(rd):
        lv = corruption_level(d.dirty)
        if lv is not None:
            by.setdefault((d.dirty.dataset, lv[0], lv[1], d.dirty.setting), []).append((lv[2], d))
    out = []
    for (_, fam, kind, setting), items in by.items():
        items.sort(key=lambda t: t[0])
        if len({lv for lv, _ in items}) >= 2:
            out.append((fam, kind, setting, items))
    return out


def plot_delta_vs_level(rd: ReportData, out_dir: Path) -> list[Path]:
    """Δ versus corruption level (e.g. ψ 8 → 64): one line per activation with its 95% CI band."""
    from matplotlib.ticker import FixedLocator, NullLocator

    plt = pyplot()
    written = []
    for fam, kind, setting, items in level_series(rd):
        levels = [lv for lv, _ in items]
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
        for a in rd.activations:
            sums = [d.summary(a) for _, d in items]
            if not any(s.n for s in sums):
                continue
            col = activation_color(a)
            y = np.array([s.mean if s.n else np.nan for s in sums])
            lo = np.array([s.ci_lo if s.n >= 2 else np.nan for s in sums])
            hi = np.array([s.ci_hi if s.n >= 2 else np.nan for s in sums])
            ax.plot(levels, y, marker="o", color=col, lw=2.4 if a == rd.baseline else 1.4, label=a)
            ax.fill_between(levels, lo, hi, color=col, alpha=0.15, lw=0)
        if min(levels) > 0 and max(levels) / min(levels) >= 4:
            ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(levels))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{lv:g}" for lv in levels])
        ax.axhline(0, color="black", lw=0.8)
        metric = items[0][1].dirty.metric
        ax.set_xlabel(level_axis(kind))
        ax.set_ylabel(f"Δ {metric_label(metric)} ({delta_direction(metric)})")
        ax.set_title(f"Δ vs corruption level: {fam}\n{_setting_line(dict(setting))}; band = 95% t CI over seeds",
                     fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), title="activation", frameon=False)
        fig.tight_layout()
        written += save(fig, out_dir, f"delta-vs-level_{slug(fam)}_{setting_tag(setting, rd.activations)}")
    return written


# older private names, kept for callers outside the package
_plt = pyplot
