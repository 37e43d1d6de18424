"""Exports of the results database that other tools read: CSV (one row per epoch in the shape of
timm's ``summary.csv``, and one row per run), JSON Lines, TensorBoard event files and a
RobustBench-style JSON summary per (model, activation, dataset, setting).

Every export names a run's data by its identity (harness/results/data_identity.py: dataset, kind, role,
level, flip mode, corruption, severity, subset): the `data_id` column of the CSV files, the
TensorBoard run names and the RobustBench keys, so ψ 8 and ψ 16, two corruptions, or a subset and
the full data are never merged.

Every export writes into one folder; a file that exists is kept unless ``force`` (then replaced
atomically: temp file + rename).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from noisebench.errors import UserError
from noisebench.harness.results import schema as results_schema
from noisebench.harness.results.data_identity import (
    IDENTITY_FIELDS,
    data_identity,
    identity_label,
)
from noisebench.harness.report.data import run_setting
from noisebench.harness.run.artifacts import summary_writer, write_scalars
from noisebench.safety.outputs import write_bytes

__all__ = ["FORMATS", "export", "epoch_rows", "run_rows"]

FORMATS = ("csv", "jsonl", "tensorboard", "robustbench-json")

RUN_FIELDS = tuple(c for c in results_schema.columns("runs") if c not in results_schema.json_columns("runs"))
ID_FIELDS = ("key", "model", "activation", "data_id", "dataset", "variant", "role", "level", "mode", "corruption",
             "severity", "subset", "seed")


def _ident_row(r: dict) -> dict:
    ident = data_identity(r)
    row = {k: r.get(k) for k in ID_FIELDS}
    row.update({k: ident.get(k) for k in IDENTITY_FIELDS})
    row["data_id"] = identity_label(ident)
    return row


def _finite(v: Any) -> Any:
    return v if not isinstance(v, float) or math.isfinite(v) else None


def epoch_rows(db) -> list[dict]:
    """One row per (run, epoch): run identity columns, then epoch, train_*, val_*, test_*, lr, epoch_s."""
    rows = []
    for r in db.runs():
        ident = _ident_row(r)
        for e in db.epochs(r["key"]):
            row = dict(ident)
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
        ident = data_identity(r)
        row.update({"data_id": identity_label(ident)} | {k: ident.get(k) for k in IDENTITY_FIELDS})
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
    """The TensorBoard run name: data identity, model, activation, LR, seed and the run key's prefix."""
    parts = [identity_label(data_identity(r)), r.get("model"), r.get("activation"),
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
    """Per (model, activation, dataset, setting): clean accuracy and accuracy per corrupted dataset
    identity (ψ level, corruption and severity, flip rate, subset), mean over seeds (test accuracy at
    the selected epoch), in the field names of RobustBench's model-info JSON. Seeds are counted as
    distinct seeds, never as runs; runs that differ in any other setting go to separate files."""
    acc: dict[tuple, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    meta: dict[tuple, dict] = {}
    for r in db.runs(status="ok"):
        if r.get("task") != "classification":
            continue
        final = r.get("final") or {}
        v = final.get("test_acc_at_selected", final.get("test_acc"))
        if v is None:
            continue
        ident = data_identity(r)
        setting = tuple(kv for kv in run_setting(r) if kv[0] != "model")
        k = (r["model"], r["activation"], ident.get("dataset") or "", setting)
        name = "clean" if ident.get("role") == "clean" else identity_label(ident)
        if ident.get("role") == "clean" and ident.get("subset"):
            name = f"clean-subset{ident['subset']}"
        acc[k][name][int(r["seed"])] = float(v)
        meta[k] = (r, ident)
    written = []
    groups = sorted(acc, key=lambda k: (k[0], k[1], k[2], json.dumps(k[3], default=str)))
    per_pair = defaultdict(list)
    for k in groups:
        per_pair[k[:2]].append(k)
    for k in groups:
        model, act, dataset, setting = k
        by = acc[k]
        mean = {n: sum(v.values()) / len(v) for n, v in by.items()}
        clean = [n for n in mean if n.startswith("clean")]
        doc = {
            "name": f"{model} + {act}", "architecture": model, "activation": act, "dataset": dataset or None,
            "protocol": "train-time (trained on the corrupted data)",
            "clean_acc": round(100 * mean[clean[0]], 2) if len(clean) == 1 else None,
            "corruptions_acc": {n: round(100 * v, 2) for n, v in sorted(mean.items()) if n not in clean},
            "n_seeds": {n: len(v) for n, v in sorted(by.items())},
            "seeds": {n: sorted(v) for n, v in sorted(by.items())},
            "setting": {kk: (json.loads(vv) if kk == "extra" else vv) for kk, vv in setting},
            "footnote": "test accuracy (%) at the epoch selected on val, mean over the seeds listed; keys name the "
                        "data's identity (dataset, corruption and level or severity, subset); exported by noisebench",
        }
        if len(clean) > 1:
            doc["clean_acc_by_data"] = {n: round(100 * mean[n], 2) for n in sorted(clean)}
        fname = f"{model}__{act}"
        siblings = per_pair[k[:2]]
        if len(siblings) > 1:
            if len({s[2] for s in siblings}) > 1:
                fname += f"__{dataset or 'data'}"
            if len({s[3] for s in siblings if s[2] == dataset}) > 1:
                fname += "__" + hashlib.sha256(json.dumps(setting, default=str).encode()).hexdigest()[:8]
        written.append(_atomic_text(out / "robustbench" / f"{fname}.json", json.dumps(doc, indent=2) + "\n", force))
    from noisebench.harness.results.export_external import write_external  # models scored by `noisebench evaluate`

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
