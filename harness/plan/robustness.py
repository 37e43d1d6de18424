"""Robustness grids: train each activation on the clean and the dirty variant of a dataset, over
seeds, record every run in the results database, and summarize clean vs dirty with a delta.

The driver loop here is local and sequential; `plan()` and `summarize()` are shared with the Ray
driver. Runs already in the database are skipped (unless force), so an interrupted grid resumes.
A pair is only accepted when the two files are twins (harness/plan/pairs.py), and the compared number
is each run's reported metric: test at the epoch selected on val (harness/run/selection.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from noisebench.errors import UserError
from noisebench.harness.plan.expand import expand
from noisebench.harness.plan.pairs import DataPair, file_meta
from noisebench.harness.plan.spec import GridSpec
from noisebench.harness.plan.study_runner import make_executor, run_configs
from noisebench.harness.report.stats import Summary
from noisebench.harness.report.stats import summarize as summarize_values
from noisebench.harness.run.config import RunConfig
from noisebench.harness.run.recipes import SUITES, Recipe, recipe_for
from noisebench.progress import choose


def suite_files(suite: str, datasets_dir: Path) -> list[Path]:
    names = list(SUITES) if suite == "all" else [suite]
    out = []
    for n in names:
        if n not in SUITES:
            raise UserError(f"unknown suite {suite!r}; choose one of {', '.join(list(SUITES) + ['all'])}")
        for fname, cmd in SUITES[n]:
            p = Path(datasets_dir) / fname
            if not p.exists():
                raise UserError(f"suite {n}: {p} not found; build it with: {cmd.format(dir=datasets_dir)}")
            out.append(p)
    return out


def plan(
    pairs: Iterable[DataPair], activations: list[str], seeds: list[int], overrides: dict | None = None,
    device: str = "auto", compile: bool = False, knobs: dict | None = None,
) -> list[RunConfig]:
    """Every (dataset, activation, seed, clean|dirty) run, clean before dirty: a robustness study is a
    grid of its dirty files, expanded by the one planner (harness/plan/expand.py)."""
    ov = {k: v for k, v in (overrides or {}).items() if v is not None}
    models = [ov.pop("model")] if "model" in ov else None
    lrs = [ov.pop("lr")] if "lr" in ov else None
    # one expansion per pair, so every pair keeps its clean runs (twins shared by several dirty files
    # appear once per pair here; the driver trains each run key once)
    return [c for p in pairs
            for c in expand(GridSpec(data=[p.dirty], models=models, activations=list(activations), lrs=lrs,
                                     seeds=list(seeds), overrides=ov, knobs=dict(knobs or {}), device=device,
                                     compile=compile))]


def run_grid(
    configs: list[RunConfig], db, force: bool = False, progress: bool | str = True,
    on_result: Callable | None = None, jobs: int = 1, preflight: bool = True, checkpoint_dir=None, tensorboard_dir=None,
    executor=None,
):
    """Run every config not yet in `db` (all of them with force), recording each when it completes, with
    progress (noisebench/progress.py): the one runner (harness/plan/study_runner.py) on `executor` (default: this
    machine, `jobs` worker processes).

    `progress`: True chooses by terminal (bars, else one line per epoch and per run), False or
    "quiet" shows nothing, or a mode. `on_result(result, outcome)` is called after each recorded run
    (tests use it to interrupt)."""

    mode = choose() if progress is True else (progress or "quiet")
    ex = executor or make_executor("local", jobs, checkpoint_dir, tensorboard_dir, progress=mode)
    step = (lambda c, res, node, out: on_result(res, out)) if on_result is not None else None
    return run_configs(configs, db, ex, force=force, progress=mode, preflight=preflight, on_result=step)


def recipe_line(pair: DataPair, overrides: dict | None = None) -> str:
    """What a pair is trained with: the recipe's name and source, and the model, LR and epochs in effect
    (overrides such as --model and --lr applied and marked)."""
    ov = {k: v for k, v in (overrides or {}).items() if v is not None}
    r = pair.recipe.with_overrides(**ov)
    shown = [f"{k} {getattr(r, k):g}" if isinstance(getattr(r, k), float) else f"{k} {getattr(r, k)}"
             for k in ("model", "lr", "epochs")]
    marked = [f"{t} (--{k.replace('_', '-')})" if k in ov else t for k, t in zip(("model", "lr", "epochs"), shown)]
    others = [f"--{k.replace('_', '-')} {v}" for k, v in ov.items() if k not in ("model", "lr", "epochs")]
    return (f"{pair.dirty.name} (clean twin {pair.clean.name}): recipe {pair.recipe.name}"
            + (f" ({pair.recipe.source})" if pair.recipe.source else "") + ": " + ", ".join(marked + others))


@dataclass
class RobustnessOutcome:
    configs: list  # every planned run (distinct run keys)
    rows: list  # RobustnessRow per (dirty file, model, activation)
    grid: object  # the runner's GridOutcome


def run_robustness(pairs: list[DataPair], activations: list[str], seeds: list[int], db, overrides: dict | None = None,
                   knobs: dict | None = None, device: str = "auto", compile: bool = False, force: bool = False,
                   executor=None, progress: str = "quiet", jobs: int = 1, checkpoint_dir=None,
                   tensorboard_dir=None) -> RobustnessOutcome:
    """The train-time study of `noisebench robustness`: plan every clean/dirty run, check it, train what is not
    yet in the results database `db` (a path) on `executor` (default: this machine, `jobs` processes), and
    summarise clean vs dirty per dirty file, model and activation."""
    from noisebench.harness.plan.expand import preflight_all
    from noisebench.harness.plan.study_runner import unique
    from noisebench.harness.results.db import ResultsDB

    configs = unique(plan(pairs, activations, seeds, overrides, device, compile, knobs))
    preflight_all(configs)  # bad settings fail here, before the database is created
    with ResultsDB(db) as rdb:
        grid = run_grid(configs, rdb, force=force, jobs=jobs, preflight=False, progress=progress,
                        checkpoint_dir=checkpoint_dir, tensorboard_dir=tensorboard_dir, executor=executor)
        rows = summarize(rdb, plan(pairs, activations, seeds, overrides, device, compile, knobs))
    return RobustnessOutcome(configs, rows, grid)


# -- summary -----------------------------------------------------------------------------------
@dataclass
class RobustnessRow:
    dataset: str
    data: str  # the dirty file's name: rows of two files of one dataset are told apart by it
    model: str
    activation: str
    metric: str
    metric_label: str
    delta_label: str
    clean: Summary
    dirty: Summary
    delta: Summary
    seeds: int
    nulls: int
    failed: int
    clean_values: dict  # seed -> value
    dirty_values: dict
    deltas: dict
    clean_last: Summary | None = None  # the same metric at the last epoch (shown beside the selected one)
    dirty_last: Summary | None = None


def reported_metric(recipe: Recipe, has_test: bool = True) -> str:
    """The final-metric key compared clean vs dirty: test (else val) at the val-selected epoch."""
    x = "acc" if recipe.higher_is_better else "loss"
    return f"selected_{'test' if has_test else 'val'}_{x}"


def metric_of(run: dict, metric: str) -> float | None:
    if run is None or run["status"] != "ok":
        return None
    v = (run.get("final") or {}).get(metric)
    return float(v) if v is not None and math.isfinite(float(v)) else None


def summarize(db, configs: list[RunConfig], pairs: list[DataPair] | None = None) -> list[RobustnessRow]:
    """One row per (dataset, model, activation) over the planned configs, read from the database."""
    # plan() emits (clean, dirty) pairs per seed: group them by the dirty file, model, activation
    rows = []
    by_key: dict = {}
    order = []
    for i in range(0, len(configs) - 1, 2):
        c, d = configs[i], configs[i + 1]
        if not (c.role == "clean" and d.role == "dirty" and c.seed == d.seed):
            continue
        g = (d.data, d.model, d.activation)
        if g not in by_key:
            by_key[g] = []
            order.append(g)
        by_key[g].append((c, d))
    keys = [c.key() for c in configs]
    runs = {r["key"]: r for r in db.runs(key=keys)} if keys else {}
    for g in order:
        dirty_path, model, act = g
        meta = file_meta(Path(dirty_path))
        recipe = recipe_for(meta)
        from noisebench.harness.run.selection import metric_label as sel_label

        has_test = "test/y" in (meta.get("checksums") or {})
        m = reported_metric(recipe, has_test)
        cv, dv, dl = {}, {}, {}
        last_m = m.replace("selected_", "last_", 1)
        cl, dls = [], []
        nulls = failed = 0
        for c, d in by_key[g]:
            rc, rd = runs.get(c.key()), runs.get(d.key())
            for r in (rc, rd):
                if r is not None and r["status"] == "null":
                    nulls += 1
                if r is not None and r["status"] == "failed":
                    failed += 1
            a, b = metric_of(rc, m), metric_of(rd, m)
            cl += [x for x in (metric_of(rc, last_m),) if x is not None and a is not None]
            dls += [x for x in (metric_of(rd, last_m),) if x is not None and b is not None]
            if a is not None:
                cv[c.seed] = a
            if b is not None:
                dv[d.seed] = b
            if a is not None and b is not None:
                dl[c.seed] = (a - b) if recipe.higher_is_better else (b - a)
        rows.append(RobustnessRow(
            dataset=str(meta.get("dataset") or meta.get("kind")), data=Path(dirty_path).name, model=model,
            activation=act, metric=m,
            metric_label=sel_label(m), delta_label=recipe.delta_label,
            clean=summarize_values(cv.values()), dirty=summarize_values(dv.values()), delta=summarize_values(dl.values()),
            seeds=len(by_key[g]), nulls=nulls, failed=failed, clean_values=cv, dirty_values=dv, deltas=dl,
            clean_last=summarize_values(cl), dirty_last=summarize_values(dls),
        ))
    return rows


def fmt_summary(s: Summary, digits: int = 4) -> str:
    return s.fmt(digits)  # one seed: "value (n = 1)", never "± 0"


def format_table(rows: list[RobustnessRow]) -> str:
    """Plain-text table, one block per dataset (metric and delta direction named in the header)."""
    out = []
    by_ds: dict = {}
    for r in rows:
        by_ds.setdefault((r.data, r.dataset, r.model, r.metric_label, r.delta_label), []).append(r)
    for (data, ds, model, mlabel, dlabel), rs in by_ds.items():
        higher = "higher" if "top-1" in mlabel or "acc" in mlabel else "lower"
        rule = "max val top-1" if higher == "higher" else "min val loss"
        out.append(f"{data} ({ds}) · {model} · {mlabel} (epoch selected by {rule}; {higher} is better) · "
                   f"delta = {dlabel} (positive = dirty data hurt)")
        short = mlabel.split(" at ")[0]
        head = ["activation", f"clean {short}", "clean last epoch", f"dirty {short}", "dirty last epoch",
                f"delta ({dlabel})", "delta 95% CI", "n", "null", "failed"]
        last = lambda s: fmt_summary(s) if s is not None and s.n else "—"  # noqa: E731
        body = [
            [r.activation, fmt_summary(r.clean), last(r.clean_last), fmt_summary(r.dirty), last(r.dirty_last),
             fmt_summary(r.delta), r.delta.fmt_ci(4), f"{r.delta.n}/{r.seeds}", str(r.nulls), str(r.failed)]
            for r in rs
        ]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        line = lambda cells, widths=widths: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        out.append(line(head))
        out.append("  ".join("-" * w for w in widths))
        out.extend(line(b) for b in body)
        out.append("")
    return "\n".join(out).rstrip() + "\n"
