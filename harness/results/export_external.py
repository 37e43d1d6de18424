"""RobustBench-style export of the models evaluated with `noisebench evaluate`.

Per evaluated model and set origin, `robustbench/<dataset>/corruptions/<name>__<origin>.json` in the
shape of RobustBench's leaderboard entries (model_info/<dataset>/corruptions/*.json: link, name, authors,
additional_data, number_forward_passes, dataset, venue, architecture, eps, clean_acc, reported,
corruptions_acc, corruptions_acc_3d, unreliable, footnote; accuracies in % as strings with two
decimals), with noisebench's details (accuracy per corruption × severity, identity) under "noisebench";
and per dataset and origin `unaggregated_results__<origin>.csv` in the shape of RobustBench's
unaggregated_results.csv (two header rows, corruption and severity; accuracies as fractions).
`corruptions_acc` is the plain mean over the benchmark corruptions × severities evaluated;
"noisebench.complete_benchmark" says whether that is RobustBench's 15 × 5.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from noisebench.corruptors.sets import BENCHMARK
from noisebench.harness.report.external import external_labels, row_origin
from noisebench.harness.report.output import slug
from noisebench.safety.outputs import write_bytes

ORIGIN_TEXT = {"release": "the official CIFAR-10-C files", "ours": "noisebench's CIFAR-10-C-style sets (make cifar10-c)"}


def _s(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.2f}"


def entries(db) -> list[dict]:
    """One RobustBench-shaped entry per (evaluated model, origin of its corrupted sets)."""
    models = db.external_models()
    labels = external_labels(models)
    out = []
    for m in models:
        latest: dict = {}
        for e in db.evaluations(run_key=m["key"]):
            if e["acc"] is not None:
                latest[(row_origin(e), e["corruption"], int(e["severity"]))] = e
        clean = next((e["acc"] for (o, _, _), e in latest.items() if o == "clean"), None)
        for org in sorted({o for (o, _, _) in latest if o in ("ours", "release")}):
            cells = {(c, s): e["acc"] for (o, c, s), e in latest.items() if o == org}
            sevs = sorted({s for _, s in cells})
            bench = [c for c in BENCHMARK if all((c, s) in cells for s in sevs)]
            mean = sum(cells[(c, s)] for c in bench for s in sevs) / (len(bench) * len(sevs)) if bench else None
            complete = len(bench) == len(BENCHMARK) and sevs == [1, 2, 3, 4, 5]
            out.append({"origin": org, "dataset": m.get("dataset") or "", "label": labels[m["key"]], "doc": {
                "link": "", "name": labels[m["key"]], "authors": "", "additional_data": False,
                "number_forward_passes": 1, "dataset": m.get("dataset") or "", "venue": "",
                "architecture": m["model"], "eps": None, "clean_acc": _s(clean), "reported": "",
                "corruptions_acc": _s(mean), "corruptions_acc_3d": "", "unreliable": False,
                "footnote": (f"Evaluated with noisebench on {ORIGIN_TEXT[org]}: plain mean top-1 accuracy over "
                             f"{len(bench)} corruptions × severities {','.join(map(str, sevs))}"
                             + ("" if complete else f" (RobustBench's entry averages the {len(BENCHMARK)} × 5)") + "."),
                "noisebench": {"origin": org, "complete_benchmark": complete, "corruptions": bench, "severities": sevs,
                               "accuracy": {f"{c}/{s}": round(100 * v, 4) for (c, s), v in sorted(cells.items())},
                               "clean_file": m.get("clean_file") or "", "key": m["key"],
                               "weights_sha256": m.get("weights_sha256"), "source_sha256": m.get("source_sha256"),
                               "preprocessing": m.get("preprocessing"), "precision": m.get("precision")},
            }, "cells": cells})
    return out


def write_external(db, out: Path, force: bool) -> list[Path]:
    written, tables = [], {}
    for ent in entries(db):
        d = Path(out) / "robustbench" / slug(ent["dataset"] or "data") / "corruptions"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{slug(ent['label'])}__{ent['origin']}.json"
        written.append(write_bytes(p, (json.dumps(ent["doc"], indent=2) + "\n").encode(), force, what="export file"))
        tables.setdefault((d, ent["origin"]), []).append(ent)
    for (d, org), ents in sorted(tables.items(), key=lambda kv: str(kv[0])):
        cols = sorted({k for e in ents for k in e["cells"]}, key=lambda cs: (
            BENCHMARK.index(cs[0]) if cs[0] in BENCHMARK else len(BENCHMARK), cs[0], cs[1]))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([""] + [c for c, _ in cols])
        w.writerow([""] + [s for _, s in cols])
        for e in ents:
            w.writerow([e["label"]] + ["" if k not in e["cells"] else e["cells"][k] for k in cols])
        written.append(write_bytes(d / f"unaggregated_results__{org}.csv", buf.getvalue().encode(), force,
                                   what="export file"))
    return written
