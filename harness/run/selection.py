"""Model selection on the validation split only, with test reported at the selected epoch.

The reported epoch is chosen by a named rule on validation metrics (test metrics never take part):
- classification: `max_val_acc` — the epoch with the highest val top-1 (earliest on ties);
- regression:     `min_val_loss` — the epoch with the lowest val MSE (earliest on ties).
Test is evaluated at every epoch but only read at the selected one, and is reported beside the
last epoch's values, so a table can say exactly which number it shows.

Keys added to a run's final metrics (X is `acc` for classification, `loss` for regression):
  selection_rule, selection_metric, selected_epoch, last_epoch,
  selected_val_X, selected_test_X, last_val_X, last_test_X,
  metric = "selected_test_X" (or "selected_val_X" for files without a test split), metric_value.
"""

from __future__ import annotations

import math

RULES = {
    "classification": ("max_val_acc", "val_acc", "acc", max),
    "regression": ("min_val_loss", "val_loss", "loss", min),
}


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def select_epoch(epochs: list[dict], task: str) -> dict | None:
    """The epoch dict chosen by the task's rule on its val metric (None when no epoch has one)."""
    _, vkey, _, pick = RULES["regression" if task == "regression" else "classification"]
    cands = [e for e in epochs if _finite(e.get(vkey))]
    if not cands:
        return None
    best = pick(float(e[vkey]) for e in cands)
    return next(e for e in cands if float(e[vkey]) == best)


def selection_summary(epochs: list[dict], task: str, has_test: bool) -> dict:
    """The selection keys of a run's final metrics (see module docstring)."""
    rule, vkey, x, _ = RULES["regression" if task == "regression" else "classification"]
    sel = select_epoch(epochs, task)
    last = epochs[-1] if epochs else {}
    out = {
        "selection_rule": rule,
        "selection_metric": vkey,
        "selected_epoch": int(sel["epoch"]) if sel else None,
        "last_epoch": int(last["epoch"]) if last else None,
        f"selected_val_{x}": sel.get(f"val_{x}") if sel else None,
        f"selected_test_{x}": (sel.get(f"test_{x}") if sel else None) if has_test else None,
        f"last_val_{x}": last.get(f"val_{x}"),
        f"last_test_{x}": last.get(f"test_{x}") if has_test else None,
    }
    out["metric"] = f"selected_test_{x}" if has_test else f"selected_val_{x}"
    out["metric_value"] = out[out["metric"]]
    return out


def metric_label(metric: str) -> str:
    """Human label of a final-metric key, e.g. selected_test_acc -> 'test top-1 at the val-selected epoch'."""
    names = {"acc": "top-1", "loss": "loss", "top3": "top-3"}
    for prefix, where in (("selected_", "at the val-selected epoch"), ("last_", "at the last epoch")):
        if metric.startswith(prefix):
            split, _, m = metric[len(prefix):].partition("_")
            what = "MSE" if m == "loss" and split in ("val", "test") else names.get(m, m)
            return f"{split} {what} {where}"
    return metric
