"""Report plots (PNG): validation curves per activation with ±1 std bands over seeds (clean and
dirty side by side), and robustness-delta bars with 95% CI error bars."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from noisebench.harness.report_tables import ReportData, delta_rows, higher_is_better, metric_label
from noisebench.harness.stats import summarize


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(acts: list[str]) -> dict:
    plt = _plt()
    cmap = plt.get_cmap("tab20" if len(acts) > 10 else "tab10")
    return {a: cmap(i % cmap.N) for i, a in enumerate(acts)}


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_")[:120]


def _curves(db, keys: list[str], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(epochs, mean, std, n) of a per-epoch metric over the runs `keys` (null runs end early)."""
    series = []
    for k in keys:
        ep = db.epochs(k)
        series.append([(e["epoch"], e.get(metric)) for e in ep])
    n_ep = max((len(s) for s in series), default=0)
    if n_ep == 0:
        return np.array([]), np.array([]), np.array([]), 0
    mat = np.full((len(series), n_ep), np.nan)
    for i, s in enumerate(series):
        for e, v in s:
            if v is not None and math.isfinite(v) and 1 <= e <= n_ep:
                mat[i, e - 1] = v
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(mat, axis=0)
            std = np.nanstd(mat, axis=0, ddof=1) if len(series) > 1 else np.zeros(n_ep)
    return np.arange(1, n_ep + 1), mean, np.nan_to_num(std), len(series)


def plot_curves(rd: ReportData, db, out_dir: Path) -> list[Path]:
    """One PNG per (dataset, setting): validation metric vs epoch, clean and dirty panels."""
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    colors = _colors(rd.activations)
    written = []
    by: dict = {}
    for g in rd.groups:
        by.setdefault((g.dataset, g.setting), []).append(g)
    for (ds, setting), gs in by.items():
        metric = gs[0].metric
        if metric.startswith(("selected_", "last_")):  # a final-metric key: plot its val metric per epoch
            metric = "val_" + metric.rsplit("_", 1)[-1]
        fig, axes = plt.subplots(1, len(gs), figsize=(6.2 * len(gs), 4.8), dpi=110, sharey=True, squeeze=False)
        for ax, g in zip(axes[0], gs):
            for a in rd.activations:
                c = g.cells.get(a)
                if c is None:
                    continue
                x, m, s, n = _curves(db, c.keys, metric)
                if n == 0:
                    continue
                lw = 2.4 if a == rd.baseline else 1.4
                ls = "--" if len(rd.activations) > 10 and rd.activations.index(a) % 2 else "-"
                ax.plot(x, m, color=colors[a], lw=lw, ls=ls, label=f"{a} (n={n})")
                ax.fill_between(x, m - s, m + s, color=colors[a], alpha=0.15, lw=0)
            ax.set_title(f"{g.file} ({g.role})")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            if not higher_is_better(metric):
                ax.set_yscale("log")
        axes[0][0].set_ylabel(metric_label(metric) + (" (log scale)" if not higher_is_better(metric) else ""))
        s = dict(setting)
        fig.suptitle(f"{ds}: {metric_label(metric)} per epoch (mean ± 1 std over seeds)\n{s['model']}, "
                     f"{s['optimizer']} lr={float(s['lr']):g} ({s['lr_policy']}), batch {s['batch_size']}")
        h, l = axes[0][0].get_legend_handles_labels()
        fig.legend(h, l, loc="center left", bbox_to_anchor=(1.0, 0.5), title="activation", frameon=False)
        fig.tight_layout()
        p = Path(out_dir) / f"curves_{_slug(ds)}_{_slug(s['model'])}_lr{float(s['lr']):g}_{s['lr_policy']}.png"
        fig.savefig(p, bbox_inches="tight")
        plt.close(fig)
        written.append(p)
    return written


def plot_deltas(rd: ReportData, out_dir: Path) -> list[Path]:
    """One PNG per dirty file and setting: delta per activation, error bar = 95% t CI."""
    plt = _plt()
    colors = _colors(rd.activations)
    written = []
    for g, cg, per in delta_rows(rd):
        acts = [a for a in rd.activations if a in per]
        sums = [summarize(per[a].values()) for a in acts]
        if not acts:
            continue
        means = [s.mean if s.n else np.nan for s in sums]
        err = [((s.ci_hi - s.mean) if s.n >= 2 else 0.0) for s in sums]
        fig, ax = plt.subplots(figsize=(max(7.5, 0.75 * len(acts) + 2), 4.8), dpi=110)
        bars = ax.bar(range(len(acts)), means, yerr=err, capsize=4, color=[colors[a] for a in acts],
                      edgecolor=["black" if a == rd.baseline else "none" for a in acts], linewidth=1.5)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(acts)), acts, rotation=30, ha="right")
        direction = "clean − dirty" if higher_is_better(g.metric) else "dirty − clean"
        ax.set_ylabel(f"Δ {metric_label(g.metric)} ({direction})")
        ax.set_xlabel("activation (outlined: baseline)")
        s = dict(g.setting)
        ns = sorted({x.n for x in sums})
        ax.set_title(f"Robustness: {g.file} vs {cg.file} ({s['model']}, lr={float(s['lr']):g}, {s['lr_policy']})\n"
                     f"mean over n={'/'.join(map(str, ns))} seeds, error bars = 95% t CI; lower = more robust",
                     fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        p = Path(out_dir) / f"delta_{_slug(g.file)}_{_slug(s['model'])}_lr{float(s['lr']):g}_{s['lr_policy']}.png"
        fig.savefig(p)
        plt.close(fig)
        written.append(p)
    return written
