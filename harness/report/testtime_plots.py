"""Test-time report figures (PNG, PDF, SVG), in each activation's fixed colour (report_colors):

* accuracy versus severity, one panel per corruption family (noise, blur, weather, digital; others in
  "other"): per activation and seed the mean accuracy over the family's corruptions at each severity,
  severity 0 being the clean test split; lines are the mean over seeds, bands ±1 sample std;
* a corruption × activation heatmap of the accuracy averaged over severities (mean over seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noisebench.harness.report.colors import activation_color
from noisebench.harness.report.plots import pyplot, save
from noisebench.harness.report.testtime import TTStudy
from noisebench.harness.testtime.metrics import family_of


def _families(st: TTStudy) -> list[tuple[str, list[str]]]:
    out: dict = {}
    for c in st.corruptions:  # already in family order
        out.setdefault(family_of(c), []).append(c)
    return list(out.items())


def plot_severity(st: TTStudy, out_dir: Path) -> list[Path]:
    plt = pyplot()
    fams = _families(st)
    fig, axes = plt.subplots(1, len(fams), figsize=(3.6 * len(fams), 3.4), squeeze=False, sharey=True)
    xs = [0] + list(st.severities)
    for ax, (fam, cs) in zip(axes[0], fams):
        for a in st.activations:
            sc = st.scores[a]
            seeds = [k for k in sc.complete_seeds if all((c, s) in sc.cell and k in sc.cell[(c, s)] for c in cs
                                                          for s in st.severities)]
            if not seeds:
                continue
            mat = np.array([[100 * sc.clean[k]] + [100 * np.mean([sc.cell[(c, s)][k] for c in cs]) for s in st.severities]
                            for k in seeds])
            mean = mat.mean(0)
            col = activation_color(a)
            ax.plot(xs, mean, marker="o", ms=3, color=col, label=f"{a} (n = {len(seeds)})")
            if len(seeds) > 1:
                sd = mat.std(0, ddof=1)
                ax.fill_between(xs, mean - sd, mean + sd, color=col, alpha=0.18, lw=0)
        ax.set_title(f"{fam}: {', '.join(cs)}" if len(", ".join(cs)) < 48 else f"{fam} ({len(cs)} corruptions)", fontsize=8)
        ax.set_xlabel("severity (0 = clean)")
        ax.set_xticks(xs)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test top-1 accuracy (%)")
    if axes[0][-1].get_legend_handles_labels()[0]:  # nothing complete to draw: no legend
        axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"Test-time protocol: accuracy vs severity · {st.title}", fontsize=8)
    return save(fig, out_dir, f"testtime_severity_{st.tag}")


def plot_heatmap(st: TTStudy, out_dir: Path) -> list[Path]:
    plt = pyplot()
    acts = st.activations
    mat = np.full((len(st.corruptions), len(acts)), np.nan)
    for j, a in enumerate(acts):
        sc = st.scores[a]
        for i, c in enumerate(st.corruptions):
            vals = [np.mean([sc.cell[(c, s)][k] for s in st.severities]) for k in sc.complete_seeds]
            if vals:
                mat[i, j] = 100 * float(np.mean(vals))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.8 + 0.9 * len(acts)), max(2.5, 1.2 + 0.32 * len(st.corruptions))))
    im = ax.imshow(np.ma.masked_invalid(mat), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(acts)), acts, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(st.corruptions)), st.corruptions, fontsize=8)
    for lab, a in zip(ax.get_xticklabels(), acts):
        lab.set_color(activation_color(a))
    finite = mat[np.isfinite(mat)]
    mid = float(finite.mean()) if finite.size else 0.0
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            txt = "n/a" if not np.isfinite(mat[i, j]) else f"{mat[i, j]:.1f}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                    color="black" if np.isfinite(mat[i, j]) and mat[i, j] > mid else "white")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label("test top-1 accuracy (%)", fontsize=8)
    ax.set_title(f"Test-time accuracy, mean over severities {','.join(map(str, st.severities))} and seeds\n{st.title}",
                 fontsize=7)
    return save(fig, out_dir, f"testtime_heatmap_{st.tag}")


def plot_testtime(studies: list[TTStudy], out_dir: Path) -> list[Path]:
    out = []
    for st in studies:
        out += plot_severity(st, out_dir) + plot_heatmap(st, out_dir)
    return out
