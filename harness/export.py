"""Exports of the results database that other tools read: CSV (one row per epoch in the shape of
timm's ``summary.csv``, and one row per run), JSON Lines, TensorBoard event files and a
RobustBench-style JSON summary per (model, activation).

Every export writes into one folder; a file that exists is kept unless ``force`` (then replaced
atomically: temp file + rename).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from noisebench.errors import UserError
from noisebench.harness import results_schema
from noisebench.safe_output import write_bytes
from noisebench.harness.run_artifacts import summary_writer, write_scalars

__all__ = ["FORMATS", "export", "epoch_rows", "run_rows"]

FORMATS = ("csv", "jsonl", "tensorboard", "robustbench-json")

RUN_FIELDS = tuple(c for c in results_schema.columns("runs") if c not in results_schema.json_columns("runs"))
ID_FIELDS = ("key", "model", "activation", "dataset", "variant", "role", "seed")


def _finite(v: Any) -> Any:
    return v if not isinstance(v, float) or math.isfinite(v) else None


def epoch_rows(db) -> list[dict]:
    """One row per (run, epoch): run identity columns, then epoch, train_*, val_*, test_*, lr, epoch_s."""
    rows = []
    for r in db.runs():
        for e in db.epochs(r["key"]):
            row = {k: r.get(k) for k in ID_FIELDS}
            row.update({k: _finite(v) for k, v in e.items() if not isinstance(v, (dict, list))})
            rows.append(row)
    return rows


def _epoch_columns(rows: list[dict]) -> list[str]:
    keys = {k for r in rows for k in r}
    metric = sorted(k for k in keys if k not in ID_FIELDS and k not in ("epoch", "lr", "epoch_s"))
    order = {"train": 0, "val": 1, "test": 2}
    metric.sort(key=lambda k: (order.get(k.split("_", 1)[0], 3), k))
    return list(ID_FIELDS) + ["epoch"] + metric + [k for k in ("lr", "epoch_s") if k in keys]


def run_rows(db) -> list[dict]:
    """One row per run: settings, status, the selected/last metrics (``final_*``) and identity."""
    out = []
    for r in db.runs():
        row = {k: r.get(k) for k in RUN_FIELDS}
        for k, v in sorted((r.get("final") or {}).items()):
            if not isinstance(v, (dict, list)):
                row[f"final_{k}"] = _finite(v)
        ident = r.get("identity")
        if ident:
            row["identity"] = json.dumps(ident, sort_keys=True)
        out.append(row)
    return out


def _atomic_text(path: Path, text: str, force: bool) -> Path:
    """Written atomically; an existing file only with --force; never through a symlink."""
    return write_bytes(path, text.encode(), force, what="export file")


def _csv_text(rows: list[dict], columns: Iterable[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def _write_csv(db, out: Path, force: bool) -> list[Path]:
    er = epoch_rows(db)
    rr = run_rows(db)
    run_cols = list(dict.fromkeys(k for r in rr for k in r)) or list(RUN_FIELDS)
    return [_atomic_text(out / "epochs.csv", _csv_text(er, _epoch_columns(er)), force),
            _atomic_text(out / "runs.csv", _csv_text(rr, run_cols), force)]


def _write_jsonl(db, out: Path, force: bool) -> list[Path]:
    lines = []
    for r in db.runs():
        rec = dict(r, epochs=db.epochs(r["key"]))
        lines.append(json.dumps(_nan_to_none(rec), sort_keys=True, allow_nan=False, default=str))
    return [_atomic_text(out / "runs.jsonl", "".join(line + "\n" for line in lines), force)]


def _nan_to_none(o: Any) -> Any:
    """JSON has no NaN: non-finite numbers (a null run's loss) become null."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_nan_to_none(v) for v in o]
    return o


def run_label(r: dict) -> str:
    parts = [r.get("dataset") or "data", r.get("variant") or r.get("role") or "", r.get("model"), r.get("activation"),
             f"lr{r.get('lr'):g}", f"seed{r.get('seed')}", r["key"][:8]]
    return "-".join(str(p) for p in parts if p)


def _write_tensorboard(db, out: Path, force: bool) -> list[Path]:
    written = []
    for r in db.runs():
        d = out / "tensorboard" / run_label(r)
        if d.is_symlink() or (d.exists() and not force):
            raise UserError(f"{d} exists; pass --force to replace it" if not d.is_symlink()
                            else f"{d} is a symbolic link; refusing to write through it")
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        with summary_writer(d) as w:
            for e in db.epochs(r["key"]):
                write_scalars(w, e, int(e["epoch"]))
        written.append(d)
    return written


def _write_robustbench(db, out: Path, force: bool) -> list[Path]:
    """Per (model, activation): clean accuracy and accuracy per corrupted variant, mean over seeds
    (test accuracy at the selected epoch), in the field names of RobustBench's model-info JSON."""
    acc: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    meta: dict[tuple, dict] = {}
    for r in db.runs(status="ok"):
        if r.get("task") != "classification":
            continue
        final = r.get("final") or {}
        v = final.get("test_acc_at_selected", final.get("test_acc"))
        if v is None:
            continue
        k = (r["model"], r["activation"])
        name = "clean" if r.get("role") == "clean" else (r.get("variant") or r.get("dataset") or "dirty")
        acc[k][name].append(float(v))
        meta[k] = r
    written = []
    for (model, act), by in sorted(acc.items()):
        mean = {n: sum(v) / len(v) for n, v in by.items()}
        clean = mean.pop("clean", None)
        doc = {
            "name": f"{model} + {act}", "architecture": model, "activation": act,
            "dataset": meta[(model, act)].get("dataset"), "protocol": "train-time (trained on the corrupted data)",
            "clean_acc": None if clean is None else round(100 * clean, 2),
            "corruptions_acc": {n: round(100 * v, 2) for n, v in sorted(mean.items())},
            "n_seeds": {n: len(v) for n, v in sorted(by.items())},
            "footnote": "test accuracy (%) at the epoch selected on val, mean over seeds; exported by noisebench",
        }
        written.append(_atomic_text(out / "robustbench" / f"{model}__{act}.json", json.dumps(doc, indent=2) + "\n", force))
    from noisebench.harness.export_external import write_external  # models scored by `noisebench evaluate`

    return written + write_external(db, out, force)


_WRITERS = {"csv": _write_csv, "jsonl": _write_jsonl, "tensorboard": _write_tensorboard,
            "robustbench-json": _write_robustbench}


def export(db, fmt: str, out: str | Path, force: bool = False) -> list[Path]:
    """Write ``db`` (an open ResultsDB) as ``fmt`` into the folder ``out``; returns the paths written."""
    if fmt not in _WRITERS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "robustbench-json":
        (out / "robustbench").mkdir(exist_ok=True)
    return _WRITERS[fmt](db, out, force)
