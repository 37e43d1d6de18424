"""`noisebench preview`: a PNG grid of example images per class.

Rows are classes (labelled with their names); for a ψ file whose clean reference (root attribute
`clean_reference`) sits next to it, each example is shown clean | noisy side by side, like the
figures of the source report. For label-flipped files the rows are the *stored* (noisy) labels and
flipped examples are captioned with their true class in red.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.safety.outputs import atomic_output

MAX_ROWS = 20


def _class_names(meta: dict, k: int) -> list[str]:
    names = meta.get("class_names")
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except ValueError:
            names = None
    if not isinstance(names, list) or len(names) < k:
        names = [str(i) for i in range(k)]
    return [str(n) for n in names]


def write_preview(file: Path, out: Path, per_class: int = 4, split: str = "train") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    file, out = Path(file), Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: give a .png file name")
    if out.parent and not out.parent.exists():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")
    with open_file(file) as f:
        if split not in f.splits:
            raise UserError(f"{file}: no split {split!r} (has {', '.join(f.splits)})")
        x_ds, y_ds = f.datasets[f"{split}/x"], f.datasets[f"{split}/y"]
        if x_ds.ndim != 4 or x_ds.dtype != np.uint8:
            raise UserError(f"{file}: not an image file (x is {x_ds.dtype} {x_ds.shape}); preview shows uint8 images")
        y = np.asarray(y_ds[:]).astype(np.int64)
        k = int(f.meta.get("num_classes") or (y.max() + 1 if y.size else 1))
        names = _class_names(f.meta, k)
        rows = [c for c in range(k) if (y == c).any()][:MAX_ROWS]
        picks = {c: np.flatnonzero(y == c)[:per_class] for c in rows}
        idx = np.unique(np.concatenate([picks[c] for c in rows])) if rows else np.empty(0, np.int64)
        imgs = {int(i): x_ds[int(i)] for i in idx}
        truth = None
        if split == "train" and "truth/clean_labels" in f.datasets:
            truth = np.asarray(f.datasets["truth/clean_labels"][:])
        clean = None
        ref = f.meta.get("clean_reference")
        label = f"ψ={f.meta['psi']:g}" if "psi" in f.meta else "dirty"
        if f.kind == "corrupt":
            label = f"{f.meta.get('corruption')}" + (f" severity {f.meta['severity']}" if f.meta.get("severity") else "")
        if ref and f.kind in ("psi", "corrupt"):
            ref_path = file.parent / str(ref)
            if ref_path.exists():
                with open_file(ref_path) as g:
                    ok = (split in g.splits and g.datasets[f"{split}/x"].shape == x_ds.shape
                          and g.meta.get("pair_key") == f.meta.get("pair_key"))
                    if ok:
                        clean = {i: g.datasets[f"{split}/x"][i] for i in imgs}
        title = f"{file.name} — {split}" + (f" (clean | {label})" if clean is not None else "")
    if truth is not None:
        title += " (rows: stored labels; red: true class of flipped examples)"
    if not rows:
        raise UserError(f"{file}: split {split} has no images")
    per_ex = 2 if clean is not None else 1
    ncols = per_class * per_ex
    fig, axes = plt.subplots(len(rows), ncols, figsize=(max(3, 1.1 * ncols), max(2, 1.15 * len(rows))), squeeze=False)
    for r, c in enumerate(rows):
        for j in range(per_class):
            for p in range(per_ex):
                ax = axes[r][j * per_ex + p]
                ax.set_xticks([])
                ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_visible(False)
                if j >= len(picks[c]):
                    continue
                i = int(picks[c][j])
                img = (clean[i] if (clean is not None and p == 0) else imgs[i])
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                          vmin=0, vmax=255, interpolation="nearest")
                if r == 0 and clean is not None:
                    ax.set_title("clean" if p == 0 else label, fontsize=8)
                if truth is not None and truth[i] != y[i]:
                    ax.set_title(f"true: {names[int(truth[i])]}", fontsize=7, color="red")
        axes[r][0].set_ylabel(names[c], rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()

    try:
        with atomic_output(out, force=True, what="preview") as tmp:  # private temp; never through a symlink
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return f"{len(rows)} classes × {per_class} examples" + (", clean | noisy pairs" if clean is not None else "")
