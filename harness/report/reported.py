"""The "reported" column: our results beside the numbers a source study published.

For each published number (a study preset's [[reported]] tables) and each group of our runs it
describes (same data file, model, LR when the table's rows are LRs, activation; "*" columns apply to
every activation), the table shows our mean ± std over seeds, our 95% t confidence interval of the
mean (clipped to [0, 1] for accuracies), the reported value, the difference (ours − reported) and
whether the reported value lies inside our 95% CI, with the number of seeds n: with fewer than
three seeds the interval is too wide to tell anything apart (t(0.975, 1) = 12.7), so the verdict says
"no power" instead of yes or no. Null runs (diverged, e.g. at LR 1) are counted
beside the mean, never averaged in. Our number is the final metric named by the
preset (default: test accuracy at the last epoch, which is what the studies reported), never a
number selected on test. Groups that differ in another setting (e.g. fixed vs one-cycle LR) get one
line each, labelled with that setting.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from noisebench.harness.report.data import metric_label, run_setting
from noisebench.harness.report.stats import CLIPPED_METHOD, MIN_SEEDS_FOR_TEST, Summary, metric_bounds, summarize
from noisebench.harness.report.tables import Table


@dataclass
class Comparison:
    source: str
    data: str
    model: str
    setting: str  # the other setting fields that vary among the matched groups ("" when none)
    row: str  # the row value as the study printed it ("" for a single row)
    activation: str
    metric: str  # our metric key
    reported: float
    ours: Summary
    nulls: int = 0  # null runs (diverged) of the group: counted, never averaged in

    @property
    def diff(self) -> float:
        return self.ours.mean - self.reported if self.ours.n else float("nan")

    @property
    def in_ci(self) -> bool | None:
        """Reported value inside our 95% CI, whatever n; None when the CI is undefined (n < 2)."""
        if self.ours.n < 2 or not math.isfinite(self.ours.ci_lo):
            return None
        return self.ours.ci_lo <= self.reported <= self.ours.ci_hi

    @property
    def inside(self) -> bool | None:
        """The verdict of the test: None when it has no power (n < MIN_SEEDS_FOR_TEST) or no CI."""
        return self.in_ci if self.ours.n >= MIN_SEEDS_FOR_TEST else None

    @property
    def verdict(self) -> str:
        n = self.ours.n
        if n == 0:
            return f"null runs only ({self.nulls})" if self.nulls else "not run"
        if n == 1:
            return "n/a (n = 1)"
        if n < MIN_SEEDS_FOR_TEST:
            where = "inside" if self.in_ci else "outside"
            return f"no power (n = {n} < {MIN_SEEDS_FOR_TEST} seeds; reported {where} a CI of width {self.ours.ci_hi - self.ours.ci_lo:.2g})"
        return f"{'yes' if self.inside else 'no'} (n = {n})"


def _groups(runs: list[dict], metric: str) -> tuple[dict, dict]:
    """(file stem, model, lr, activation, setting) -> {seed: value} over ok runs with a finite `metric`,
    and the same key -> number of null runs."""
    out: dict = {}
    nulls: dict = {}
    for r in runs:
        k = (Path(r["data"]).stem, r["model"], float(r["lr"]), r["activation"], run_setting(r))
        if r.get("status") == "null":
            nulls[k] = nulls.get(k, 0) + 1
            out.setdefault(k, {})
            continue
        v = (r.get("final") or {}).get(metric)
        if r.get("status") != "ok" or v is None or not math.isfinite(float(v)):
            continue
        out.setdefault(k, {})[int(r["seed"])] = float(v)
    return out, nulls


def _vary_label(setting: tuple, all_settings: list) -> str:
    parts = []
    for i, (k, v) in enumerate(setting):
        if k in ("model", "lr"):
            continue
        if len({s[i][1] for s in all_settings}) > 1:
            parts.append(f"{k}={v}")
    return " · ".join(parts)


def compare(runs: list[dict], reported: list, layout_axis: str = "data") -> list[Comparison]:
    """Every (published number, matching group of our runs); a number with no runs gives one 'not run' line."""
    out = []
    for rep in reported:
        groups, nulls = _groups(runs, rep.ours)
        for row in rep.values:
            rv, vals = row[0], row[1:]
            for col, value in zip(rep.columns, vals):
                def match(k, rep=rep, rv=rv, col=col):  # bound now: called in this iteration only
                    stem, model, lr, act, _ = k
                    if rep.data is not None and stem != rep.data:
                        return False
                    if rep.model is not None and model != rep.model:
                        return False
                    if rep.rows == "data" and stem != str(rv):
                        return False
                    if rep.rows == "model" and model != str(rv):
                        return False
                    if rep.rows == "lr" and not math.isclose(lr, float(rv), rel_tol=1e-9):
                        return False
                    return col == "*" or act == col

                hits = sorted(k for k in groups if match(k))
                settings = [k[4] for k in hits]
                label = "" if rep.rows is None else (f"{float(rv):g}" if rep.rows == "lr" else str(rv))
                if not hits:
                    out.append(Comparison(rep.source, str(rv) if rep.rows == "data" else (rep.data or "—"),
                                          str(rv) if rep.rows == "model" else (rep.model or "—"), "", label,
                                          col, rep.ours, float(value), summarize([])))
                for k in hits:
                    out.append(Comparison(rep.source, k[0], k[1], _vary_label(k[4], settings), label, k[3], rep.ours,
                                          float(value), summarize(groups[k].values(), bounds=metric_bounds(rep.ours)),
                                          nulls.get(k, 0)))
    return out


def _f(x: float, digits: int = 4) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _signed(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:+.4f}"


def reported_tables(comparisons: list[Comparison], reported: list) -> list[Table]:
    """One table per published source (the order of the preset's [[reported]] tables)."""

    tables = []
    for i, rep in enumerate(reported):
        rows = [c for c in comparisons if c.source == rep.source and c.metric == rep.ours]
        if not rows:
            continue
        axis = {"lr": "LR", "model": "model", "data": "data"}.get(rep.rows or "", "")
        head = ["data", "model"] + ([axis] if rep.rows == "lr" else []) + ["setting", "activation",
                "ours: mean ± std", "ours: 95% CI", "reported", "ours − reported", "reported inside our 95% CI"]
        body = []
        for c in rows:
            body.append([c.data, c.model] + ([c.row] if rep.rows == "lr" else []) + [c.setting or "—", c.activation,
                        c.ours.fmt() + (f" (+{c.nulls} null)" if c.nulls and c.ours.n else ""), c.ours.fmt_ci(), _f(c.reported), _signed(c.diff), c.verdict])
        inside = [c.inside for c in rows if c.inside is not None]
        tables.append(Table(
            f"reported-{i + 1}", f"Reported: {rep.source}",
            f"Ours: {metric_label(rep.ours)}, mean ± sample std over seeds; 95% CI: {CLIPPED_METHOD}. Reported: "
            f"{rep.metric} as published ({rep.source}). ours − reported is the difference of the means; 'reported "
            "inside our 95% CI' asks whether the published value is consistent with our runs, with n the number of "
            f"seeds: n/a with one seed, 'no power' with fewer than {MIN_SEEDS_FOR_TEST} (the interval is too wide to "
            f"tell the numbers apart). {sum(inside)} of {len(inside)} published values tested "
            f"(n ≥ {MIN_SEEDS_FOR_TEST}) lie inside our CI.",
            head, body))
    return tables


def write_reported_csv(comparisons: list[Comparison], out_dir: Path) -> Path:
    p = Path(out_dir) / "reported.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "data", "model", "setting", "row", "activation", "our_metric", "n", "mean", "std",
                    "ci95_lo", "ci95_hi", "ci95_clipped", "null_runs", "reported", "diff", "reported_inside_ci95",
                    "verdict"])
        for c in comparisons:
            w.writerow([c.source, c.data, c.model, c.setting, c.row, c.activation, c.metric, c.ours.n, c.ours.mean,
                        c.ours.std, c.ours.ci_lo, c.ours.ci_hi, c.ours.clipped, c.nulls, c.reported, c.diff,
                        "" if c.inside is None else c.inside, c.verdict])
    return p
