"""The report's data model: runs of the results database grouped into rows (one data file under one
training setting) and cells (one activation), the clean/dirty pairs with their per-seed Δ, the
corruption level of each dirty file, and what each cell's runs were produced with (code version,
device type, precision), so that a cell mixing them can be marked."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.harness.report.stats import Summary, metric_bounds, summarize
from noisebench.harness.run.data import LEVEL_ATTRS, level_attrs
from noisebench.registry import CORRUPTIONS

SETTING_FIELDS = ("model", "optimizer", "lr_policy", "lr", "epochs", "batch_size", "weight_decay", "extra")
IDENTITY_FIELDS = ("code_version", "device_type", "precision")
UNRECORDED = "unrecorded"


def higher_is_better(metric: str) -> bool:
    return metric.endswith("acc") or metric.endswith("top3")


_NAMES = {"acc": "top-1 accuracy", "loss": "loss", "top3": "top-3 accuracy"}


def metric_label(metric: str) -> str:
    """A final-metric key in words, saying which epoch it is read at when the key says so:
    val_acc -> 'val top-1 accuracy', selected_test_acc -> 'test top-1 accuracy at the val-selected epoch'."""
    for prefix, where in (("selected_", " at the val-selected epoch"), ("last_", " at the last epoch"), ("", "")):
        if metric.startswith(prefix):
            split, _, m = metric[len(prefix):].partition("_")
            if split in ("val", "test", "train") and m in _NAMES:
                what = "MSE" if m == "loss" and split != "train" else _NAMES[m]
                return f"{split} {what}{where}"
    return metric


def epoch_metric(metric: str) -> str:
    """The per-epoch key behind a final-metric key (selected_test_acc -> val_acc: the curve selection used)."""
    if metric.startswith(("selected_", "last_")):
        return "val_" + metric.rsplit("_", 1)[-1]
    return metric


def delta_direction(metric: str) -> str:
    return "clean − dirty" if higher_is_better(metric) else "dirty − clean"


def val_metric(metric: str) -> str | None:
    """The val counterpart of a final metric (selected_test_acc -> selected_val_acc): what selection reads."""
    if "test_" in metric:
        return metric.replace("test_", "val_", 1)
    return metric if "val_" in metric else None


def last_metric(metric: str) -> str | None:
    """The last-epoch counterpart of a selected metric (selected_test_acc -> last_test_acc)."""
    return metric.replace("selected_", "last_", 1) if metric.startswith("selected_") else None


def run_setting(r: dict) -> tuple:
    """The settings of a run row that must match for two runs to be compared (SETTING_FIELDS)."""
    return tuple((k, json.dumps(r[k]) if k == "extra" else r[k]) for k in SETTING_FIELDS)


_setting = run_setting


def run_identity(r: dict) -> tuple:
    """(code_version, device_type, precision) of a run. Reads the `identity` JSON of the run (absent or
    empty for rows written before it existed) and falls back to the `code_version`/`device` columns."""
    ident = r.get("identity")
    if isinstance(ident, (str, bytes)):
        try:
            ident = json.loads(ident)
        except ValueError:
            ident = None
    ident = ident if isinstance(ident, dict) else {}
    code = ident.get("code_version") or r.get("code_version") or UNRECORDED
    device = ident.get("device_type") or str(r.get("device") or "").split(":")[0] or UNRECORDED
    precision = ident.get("precision") or UNRECORDED
    return (str(code), str(device), str(precision))


def mixed_identity(identities) -> dict:
    """{field: sorted distinct values} for each identity field with more than one value among `identities`."""
    ids = list(identities)
    out = {}
    for i, name in enumerate(IDENTITY_FIELDS):
        vals = sorted({t[i] for t in ids})
        if len(vals) > 1:
            out[name] = vals
    return out


@dataclass
class Cell:
    values: dict  # seed -> metric (ok runs)
    runs: int = 0
    nulls: int = 0
    failed: int = 0
    keys: list = field(default_factory=list)
    identities: set = field(default_factory=set)  # run_identity of the completed (ok or null) runs
    null_causes: Counter = field(default_factory=Counter)
    act_params: list = field(default_factory=list)  # per ok run: {param: {"mean", ...}} of its activations
    bounds: tuple | None = None  # the metric's range ([0, 1] for accuracies): CIs are clipped to it
    val_values: dict = field(default_factory=dict)  # seed -> val metric at the selected epoch (ok runs)
    last_values: dict = field(default_factory=dict)  # seed -> the reported metric at the last epoch (ok runs)

    @property
    def summary(self) -> Summary:
        return summarize(self.values.values(), bounds=self.bounds)

    @property
    def val_summary(self) -> Summary:
        return summarize(self.val_values.values(), bounds=self.bounds)

    @property
    def last_summary(self) -> Summary:
        return summarize(self.last_values.values(), bounds=self.bounds)


@dataclass
class Group:
    """One row: a data file under one training setting; cells per activation."""

    dataset: str
    file: str  # file stem
    role: str
    clean_ref: str | None  # clean file stem (dirty rows)
    setting: tuple
    metric: str
    info: dict = field(default_factory=dict)  # data_info of the first run
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

    @property
    def has_values(self) -> bool:
        return any(c.values for g in self.groups for c in g.cells.values())


LEVEL_AXIS = {"flip": "label flip rate", "pair": "pair-flip rate"}  # label-flip files; corruptions declare theirs


def level_axis(kind: str) -> str:
    """The x-axis of a level series: a label flip's rate, else what the corruption declares (`level_label`,
    ψ's photon count scale), else its CIFAR-10-C severity."""
    if kind in LEVEL_AXIS:
        return LEVEL_AXIS[kind]
    if kind in CORRUPTIONS and CORRUPTIONS.get(kind).meta.get("level_label"):
        return str(CORRUPTIONS.get(kind).meta["level_label"])
    return f"{kind} severity (CIFAR-10-C scale; higher = harsher)"


def corruption_level(g: Group) -> tuple[str, str, float] | None:
    """(family, kind, level) of a dirty row, from the attributes its file records (run_data.level_attrs): e.g.
    ("cifar10-psi", "psi", 16.0) for a ψ = 16 twin of cifar10, ("mnist-flip-s3", "flip", 0.1) for a symmetric flip
    rate 0.1 with seed 3, ("cifar10-fog", "fog", 3.0) for fog at severity 3; None when the file is not one of a
    level series (a parameter build, a flip matrix, a clean file)."""
    a = g.info or {}
    if g.role != "dirty":
        return None
    seed, split = a.get("file_seed"), a.get("split_seed")
    rest = (f"-s{seed}" if seed else "") + (f"-split{split}" if split else "")
    if a.get("psi") is not None:
        kind, level = "psi", a["psi"]
        rest = ("-indep" if a.get("independent_levels") else "") + rest
    elif a.get("corruption") and a.get("severity"):  # severity 0: a --param build, not on the severity scale
        kind, level = str(a["corruption"]), a["severity"]
    elif a.get("flip_mode") in ("symmetric", "pair") and a.get("nominal_rate") is not None:
        kind, level = ("flip" if a["flip_mode"] == "symmetric" else "pair"), a["nominal_rate"]
    else:
        return None
    try:
        level = float(level)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(level):
        return None
    return f"{g.dataset}-{kind}{rest}", kind, level


def _file_level_attrs(path: str) -> dict:
    """The level attributes of a data file still on disk (runs recorded before data_info held them)."""
    try:
        with open_file(path) as f:
            return level_attrs(dict(f.meta))
    except (OSError, UserError):
        return {}


def null_kind(cause: str | None) -> str:
    """A null cause without its epoch and values: "non-finite train loss at epoch 3" -> "non-finite train loss"."""
    return re.sub(r"\s+(at epoch\b.*|\(.*)$", "", cause or "").strip() or UNRECORDED


def _order_key(g: Group) -> tuple:
    lv = corruption_level(g)
    return (g.dataset, g.role != "clean", lv[0] if lv else g.file, lv[2] if lv else 0.0, g.file, str(g.setting))


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
        gk = (r.get("dataset"), stem, run_setting(r))
        g = groups.get(gk)
        if g is None:
            role = r["role"] if r["role"] in ("clean", "dirty") else (info.get("variant") or "single")
            if role == "dirty" and not any(k in info for k in LEVEL_ATTRS):
                info = dict(info) | _file_level_attrs(r["data"])
            g = groups[gk] = Group(str(r.get("dataset")), stem, role, Path(ref).stem if ref else None, run_setting(r),
                                   metric, dict(info))
        c = g.cells.setdefault(r["activation"], Cell({}, bounds=metric_bounds(metric)))
        c.runs += 1
        c.keys.append(r["key"])
        if r["status"] in ("ok", "null"):
            c.identities.add(run_identity(r))
        if r["status"] == "ok":
            v = final.get(metric)
            if v is not None and math.isfinite(float(v)):
                c.values[int(r["seed"])] = float(v)
            for store, key in ((c.val_values, val_metric(metric)), (c.last_values, last_metric(metric))):
                x = final.get(key) if key else None
                if x is not None and math.isfinite(float(x)):
                    store[int(r["seed"])] = float(x)
            if final.get("activation_params"):
                c.act_params.append(final["activation_params"])
        elif r["status"] == "null":
            c.nulls += 1
            c.null_causes[null_kind(r.get("null_cause"))] += 1
        else:
            c.failed += 1
        if r["activation"] not in acts:
            acts.append(r["activation"])
    acts = sorted(acts, key=lambda a: (a != baseline, a))
    return ReportData(sorted(groups.values(), key=_order_key), acts, baseline)


@dataclass
class DeltaRow:
    dirty: Group
    clean: Group
    per: dict  # activation -> {seed: delta}

    def identities(self, act: str) -> set:
        out = set()
        for g in (self.dirty, self.clean):
            c = g.cells.get(act)
            if c is not None:
                out |= c.identities
        return out

    def summary(self, act: str) -> Summary:
        b = metric_bounds(self.dirty.metric, delta=True)
        return summarize(self.per[act].values(), bounds=b) if act in self.per else summarize([])


def delta_rows(rd: ReportData) -> list[DeltaRow]:
    """Dirty rows with their clean partner (same dataset and setting), activation -> {seed: Δ}, paired
    by seed: Δ = clean − dirty for accuracies, dirty − clean for losses, so Δ > 0 means the dirty data hurt."""
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
            per_act[a] = {s: (cc.values[s] - v) if hib else (v - cc.values[s])
                          for s, v in cell.values.items() if s in cc.values}
        out.append(DeltaRow(g, partner, per_act))
    return out
