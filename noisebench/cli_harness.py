"""CLI: `train`, `robustness`, `report`, `lr-find` (the benchmark harness)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app
from noisebench.errors import UserError
from noisebench.safe_text import clean

DEFAULT_DB = Path("results/noisebench.db")
DEFAULT_DATASETS = Path("datasets_cache")

_DB_HELP = "Results database (SQLite)."
_POLICY_HELP = "LR policy: fixed, step (StepLR), triangular (Smith's CLR), onecycle (fastai one-cycle)."


_CKPT_HELP = ("Save the selected-epoch and last-epoch weights to checkpoints/ next to the database, "
              "keyed by run identity (torch.load(..., weights_only=True) reads them).")
_QUIET_HELP = ("Print only the summary: no progress bars (terminal) and no per-epoch/per-run lines (otherwise "
               "printed, one per line, when output is not a terminal).")
_SUBSET_HELP = ("Smoke study: train/evaluate on a stratified subset of N rows of every split (the same rows in "
                "every run; part of the run's identity, so subset runs are separate runs).")


def _knobs(step_size, gamma, momentum, augment, subset=None) -> dict:
    from noisebench.harness.subset import validate_subset

    k = {"step_size": step_size, "gamma": gamma, "momentum": momentum, "augment": augment,
         "subset": validate_subset(subset)}
    return {a: b for a, b in k.items() if b is not None}


def _activations(spec: str) -> list[str]:
    from noisebench.harness.activations import activation_names, resolve_activation
    from noisebench.safe_input import has_control

    if has_control(spec):
        raise UserError(f"--activation {spec[:60]!r} contains control characters (newline, escape, ...); refusing it")
    if spec.strip().lower() == "all":
        return activation_names()
    from noisebench.harness.activations import dedupe_activations

    names = [a.strip() for a in spec.split(",") if a.strip()]
    if not names:
        raise UserError("--activation is empty; give a name, a comma-separated list, or all")
    names = dedupe_activations(names, "--activation")
    for a in names:
        resolve_activation(a)
    return names


@app.command(epilog="Example: noisebench train --model resnet18 --activation mish --data datasets_cache/cifar10-psi16.h5 --epochs 30 --seed 0")
def train(
    data: Path = typer.Option(..., "--data", help="A noisebench HDF5 file (clean or dirty)."),
    model: Optional[str] = typer.Option(None, help="Model (default: the dataset's recipe; see `noisebench zoo`)."),
    activation: str = typer.Option("relu", help="Activation name or pkg.module:Class."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (default: recipe)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default: recipe)."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (max LR for triangular/onecycle; default: recipe)."),
    optimizer: Optional[str] = typer.Option(None, help="adam, adamw or sgd (default: recipe)."),
    lr_policy: Optional[str] = typer.Option(None, help=_POLICY_HELP),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay (default: recipe)."),
    step_size: Optional[int] = typer.Option(None, help="StepLR step in epochs (policy step)."),
    gamma: Optional[float] = typer.Option(None, help="StepLR factor (policy step)."),
    momentum: Optional[float] = typer.Option(None, help="SGD momentum (default 0.9)."),
    augment: Optional[str] = typer.Option(None, help="none, crop_flip or flip_rot30 (flip p=0.4 + rotation ±30°) (default: crop_flip for CIFAR, else none)."),
    subset: Optional[int] = typer.Option(None, "--subset", help=_SUBSET_HELP),
    seed: int = typer.Option(0, help="Seed of the weights, data order and augmentation."),
    device: str = typer.Option("auto", help="auto (CUDA if available), cpu, cuda, cuda:N."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the model (GPU; slower start)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=_DB_HELP),
    force: bool = typer.Option(False, "--force", help="Train again even if this exact run is in the database."),
    save_checkpoint: bool = typer.Option(False, "--save-checkpoint", help=_CKPT_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Verify the data and print the run key and every input it hashes; train nothing, write nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=_QUIET_HELP),
):
    """Train one model on one file from fresh weights, record it in the database, print its metrics.

    The reported epoch is selected on the val split (max val top-1; min val MSE for regression);
    test is reported at that epoch, beside the last epoch's values. The data is re-hashed against
    its recorded checksums before use (cached per unchanged file)."""
    from noisebench.harness.recipes import recipe_for
    from noisebench.harness.results_db import ResultsDB
    from noisebench.harness.robustness import _meta, config_from_recipe
    from noisebench.harness.run_artifacts import checkpoint_dir_for
    from noisebench.harness.runner import data_role, execute_run, preflight
    from noisebench.progress import choose, say

    mode = choose(quiet)
    meta = _meta(data)
    try:
        recipe = recipe_for(meta)
    except UserError:
        if model is None:
            raise
        from noisebench.harness.recipes import RECIPES

        recipe = RECIPES["cifar10"]
    say(f"recipe: {recipe.name} ({recipe.source})" if recipe.source else f"recipe: {recipe.name}", mode)
    recipe = recipe.with_overrides(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                                   lr_policy=lr_policy, weight_decay=weight_decay)
    cfg = config_from_recipe(data, data_role(meta), recipe, activation, seed, device, compile,
                             _knobs(step_size, gamma, momentum, augment, subset))
    preflight(cfg)
    if dry_run:
        _print_key_inputs(cfg)
        return
    with ResultsDB(db) as rdb:
        if rdb.has(cfg.key()) and not force:
            r = rdb.runs(key=cfg.key())[0]
            typer.echo(clean(f"already in {db} (status {r['status']}, final {r['metric']} = {r['metric_value']}); --force to retrain"))
            return
        res = execute_run(cfg, progress=mode, checkpoint_dir=checkpoint_dir_for(db) if save_checkpoint else None)
        rdb.record(res)
    f = res.final
    if res.status == "failed":
        raise UserError(f"run failed: {res.error}")
    extra = f" — null run: {res.null_cause}" if res.status == "null" else ""
    sps = f.get("samples_per_s")
    if res.status == "ok":
        typer.echo(clean(_selection_line(f)))
    typer.echo(clean(
        f"{cfg.label()}: {res.status}{extra}; reported {f.get('metric')} = {f.get('metric_value')}; "
        f"{res.wall_s:.1f} s wall, {sps:.0f} samples/s on {res.device}; recorded in {db}" if sps else
        f"{cfg.label()}: {res.status}{extra}; recorded in {db}"
    ))


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _selection_line(f: dict) -> str:
    """'selected epoch 7 by max_val_acc: val 0.81, test 0.80; last epoch 10: val 0.79, test 0.78'."""
    x = "acc" if f.get("selection_metric") == "val_acc" else "loss"
    return (f"selected epoch {f.get('selected_epoch')} by {f.get('selection_rule')} (val only): "
            f"val {_fmt(f.get(f'selected_val_{x}'))}, test {_fmt(f.get(f'selected_test_{x}'))}; "
            f"last epoch {f.get('last_epoch')}: val {_fmt(f.get(f'last_val_{x}'))}, test {_fmt(f.get(f'last_test_{x}'))}")


def _print_key_inputs(cfg) -> None:
    """`train --dry-run`: the run key and every input it is the hash of."""
    import json

    from noisebench.harness.identity import key_inputs, run_identity, run_key

    ident = run_identity(cfg)
    typer.echo(f"run key: {run_key(cfg, ident)}")
    typer.echo("key inputs (the sha256 of their canonical JSON):")
    typer.echo(json.dumps(key_inputs(cfg, ident), indent=2, sort_keys=True))
    typer.echo(f"recorded beside it (information, not in the key): git_commit = {ident.get('git_commit')}, "
               f"data path = {cfg.data}, recipe = {cfg.recipe or '-'}")
    typer.echo("dry run: nothing trained, nothing recorded")


@app.command(epilog="Examples: noisebench robustness --activation all --suite synth\n\n"
             "noisebench robustness --activation elu,mish --data datasets_cache/cifar10-psi16.h5 --seeds 3\n\n"
             "noisebench robustness --protocol test-time --data datasets_cache/cifar10.h5 --corruptions all --activation elu,mish")
def robustness(
    activation: list[str] = typer.Option(["relu"], "--activation", metavar="NAME[,NAME...]",
                                         help="Activation(s): a name, a comma list (relu,elu) or repeated flags, or all (the zoo)."),
    data: Optional[list[Path]] = typer.Option(None, "--data", help="Dirty file(s), one per flag (repeat --data; a comma can be part of a file name); the clean one is found via its clean_reference. "
                                            "Test-time: the clean file."),
    suite: Optional[str] = typer.Option(None, help="synth, mnist, psi or all: standard files in --datasets-dir."),
    datasets_dir: Optional[Path] = typer.Option(None, help=f"Where --suite looks for the files (default {DEFAULT_DATASETS}); "
                                                "test-time: where the corrupted test sets are (default: the clean file's folder)."),
    seeds: int = typer.Option(3, help="Seeds per configuration (0 .. N-1)."),
    model: Optional[str] = typer.Option(None, help="Override the dataset's model (default: the one the source study used)."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's epochs."),
    batch_size: Optional[int] = typer.Option(None, help="Override the recipe's batch size."),
    lr: Optional[float] = typer.Option(None, help="Override the recipe's learning rate."),
    optimizer: Optional[str] = typer.Option(None, help="Override the optimizer: adam, adamw, sgd."),
    lr_policy: Optional[str] = typer.Option(None, help=_POLICY_HELP),
    weight_decay: Optional[float] = typer.Option(None, help="Override the recipe's weight decay."),
    step_size: Optional[int] = typer.Option(None, help="StepLR step in epochs (policy step)."),
    gamma: Optional[float] = typer.Option(None, help="StepLR factor (policy step)."),
    momentum: Optional[float] = typer.Option(None, help="SGD momentum (default 0.9)."),
    subset: Optional[int] = typer.Option(None, "--subset", help=_SUBSET_HELP),
    device: str = typer.Option("auto", help="auto (CUDA if available), cpu, cuda, cuda:N."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile each model (GPU)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Runs trained at once in worker processes (CPU: 1 thread each; use the number of free cores). Results do not depend on it."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=_DB_HELP),
    force: bool = typer.Option(False, "--force", help="Rerun configurations already in the database."),
    save_checkpoint: bool = typer.Option(False, "--save-checkpoint", help=_CKPT_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=_QUIET_HELP),
    protocol: str = typer.Option("train-time", help="train-time: train on the clean and the dirty file, compare; "
                                 "test-time: train once on the clean --data file, evaluate on its corrupted test sets."),
    corruptions: str = typer.Option("all", help="Test-time: corruptions to evaluate on (comma list or all)."),
    severity: str = typer.Option("1,2,3,4,5", help="Test-time: severities (comma list of 1..5)."),
    baseline: str = typer.Option("relu", help="Test-time: the activation CE/mCE are normalised by (added when missing)."),
    official: bool = typer.Option(False, "--official", help="Test-time: evaluate on the converted official CIFAR-10-C "
                                  "files (make cifar10-c --release DIR --data CLEAN) instead of ours."),
):
    """Train-time protocol (default): train each activation on the clean and the dirty variant of each
    dataset over seeds; print clean, dirty and delta (mean ± std, 95% t CI) and the null-run count.
    Test-time protocol (--protocol test-time): train once per activation and seed on the clean file, evaluate
    the val-selected weights on every corrupted test set and severity; print mCE and friends.
    Resumable: finished runs and recorded evaluations are skipped."""
    from noisebench.build_api import split_list

    if protocol not in ("train-time", "test-time"):
        raise UserError(f"--protocol must be train-time or test-time, got {protocol!r}")
    if protocol == "test-time":
        from noisebench.cli_testtime import run_testtime

        return run_testtime(
            data=data, suite=suite, datasets_dir=datasets_dir, seeds=seeds,
            activations=_activations(",".join(split_list(activation, "--activation"))),
            overrides=dict(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                           lr_policy=lr_policy, weight_decay=weight_decay),
            knobs=_knobs(step_size, gamma, momentum, None, subset), device=device, compile=compile, jobs=jobs, db=db,
            force=force, corruptions=corruptions, severity=severity, baseline=baseline, official=official)
    from noisebench.harness.grid_config import preflight_all
    from noisebench.harness.results_db import ResultsDB
    from noisebench.harness.robustness import format_table, pair_for, plan, run_grid, suite_files, summarize
    from noisebench.harness.run_artifacts import checkpoint_dir_for
    from noisebench.progress import choose, say

    mode = choose(quiet)
    if seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {seeds}")
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    from noisebench import bounds

    bounds.check_seed_count(seeds)
    bounds.check_int(jobs, "--jobs", 1, bounds.MAX_JOBS)
    files = list(data or [])
    if suite:
        files += suite_files(suite, datasets_dir or DEFAULT_DATASETS)
    if not files:
        raise UserError("give --data DIRTY_FILE or --suite synth|mnist|psi|all")
    acts = _activations(",".join(split_list(activation, "--activation")))
    pairs = [pair_for(f) for f in files]  # refuses pairs that are not clean/dirty twins
    for p in pairs:
        say(f"{p.dirty.name} (clean twin {p.clean.name}): recipe {p.recipe.name}"
            + (f" ({p.recipe.source})" if p.recipe.source else ""), mode)
    overrides = dict(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                     lr_policy=lr_policy, weight_decay=weight_decay)
    configs = plan(pairs, acts, list(range(seeds)), overrides, device, compile, _knobs(step_size, gamma, momentum, None, subset))
    preflight_all(configs)  # bad settings fail here, before the database is created
    with ResultsDB(db) as rdb:
        out = run_grid(configs, rdb, force=force, jobs=jobs, preflight=False, progress=mode,
                       checkpoint_dir=checkpoint_dir_for(db) if save_checkpoint else None)
        rows = summarize(rdb, configs)
    typer.echo("train-time protocol (trained on the clean and on the dirty file)")
    typer.echo(clean(format_table(rows), keep_newlines=True))
    typer.echo(clean(f"{out.ran} runs trained ({out.ok} ok, {out.null} null, {out.failed} failed), {out.skipped} already in {db}"))
    for label, err in out.failures[:5]:
        typer.echo(clean(f"failed: {label}: {err}"), err=True)


@app.command(epilog="Examples: noisebench report    (writes results/reports/<study>/)\n\n"
             "noisebench report --db results/noisebench.db --out results/paper --baseline relu --force")
def report(
    db: Path = typer.Option(DEFAULT_DB, "--db", help=_DB_HELP),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: results/reports/STUDY, named after "
                                       "the datasets, models, activations, epochs, LRs and LR policies in it)."),
    baseline: str = typer.Option("relu", help="Activation the p-values compare against."),
    dataset: Optional[str] = typer.Option(None, help="Only this dataset (e.g. synth, mnist, cifar10)."),
    model: Optional[str] = typer.Option(None, help="Only this model."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the figures (PNG, PDF, SVG)."),
    force: bool = typer.Option(False, "--force", help="Replace a report already in the output folder."),
    protocol: str = typer.Option("all", help="all (both protocols the database holds, in separate sections), "
                                 "train-time, or test-time (the CIFAR-10-C-style evaluations only)."),
):
    """Train-time tables as markdown, CSV and LaTeX (rows = data/setting, columns = activation; mean ± std over seeds,
    Δ with 95% t CIs, Welch p vs the baseline with Holm-adjusted p, null-run accounting) and figures as
    PNG + PDF + SVG (curves, Δ bars sorted by Δ, Δ vs corruption level). When the database holds test-time
    evaluations (`robustness --protocol test-time`), their tables (clean and mean corruption accuracy, CE,
    mCE, relative mCE, accuracy per corruption × severity) and figures follow in a section of their own.
    Refuses to replace an existing report without --force; writes atomically."""
    import time

    from noisebench import __version__
    from noisebench.harness.report_latex import build_latex
    from noisebench.harness.report_output import REPORTS_DIR, Staging, check_target, study_name
    from noisebench.harness.report_plots import plot_curves, plot_delta_vs_level, plot_deltas
    from noisebench.harness.report_tables import build_markdown, build_tables, collect, write_csv
    from noisebench.harness.results_db import ResultsDB

    from noisebench.harness import report_testtime as rtt

    if protocol not in ("all", "train-time", "test-time"):
        raise UserError(f"--protocol must be all, train-time or test-time, got {protocol!r}")
    filters = {k: v for k, v in (("dataset", dataset), ("model", model)) if v}
    if out is not None:
        check_target(out, force)
    with ResultsDB(db, readonly=True) as rdb:
        rd = collect(rdb, baseline=baseline, **filters)
        tt = rtt.collect_testtime(rdb, baseline, **filters) if protocol != "train-time" else []
        if not rd.groups or (protocol == "test-time" and not tt):
            what = "test-time evaluations" if protocol == "test-time" else "runs"
            raise UserError(f"no {what} in {db}" + (f" matching {filters}" if filters else "") + "; run `noisebench robustness` first")
        if baseline not in rd.activations:
            typer.echo(clean(f"note: baseline {baseline!r} has no runs; p-values are n/a (use --baseline)"), err=True)
        study = study_name(rd) + ("_test-time" if protocol == "test-time" else "")
        target = out if out is not None else REPORTS_DIR / study
        tables = build_tables(rd) if protocol != "test-time" else []
        md = build_markdown(rd, tables) if protocol != "test-time" else ""
        tt_tables = rtt.build_testtime_tables(tt)
        if tt_tables:
            md = (md + "\n" if md else "") + rtt.testtime_markdown(tt_tables)
        with Staging(target, force) as st:
            st.path("report.md").write_text(md)
            st.path("tables.tex").write_text(build_latex(tables + tt_tables))
            if protocol != "test-time":
                write_csv(rd, st.dir)
            if tt:
                rtt.write_testtime_csv(tt, st.dir)
            if plots and protocol != "test-time":
                plot_curves(rd, rdb, st.dir)
                plot_deltas(rd, st.dir)
                plot_delta_vs_level(rd, st.dir)
            if plots and tt:
                from noisebench.harness.report_testtime_plots import plot_testtime

                plot_testtime(tt, st.dir)
            written = st.commit({"study": study, "db": str(db), "baseline": baseline, "filters": filters,
                                 "activations": rd.activations, "noisebench_version": __version__,
                                 "protocols": (["train-time"] if protocol != "test-time" else []) + (["test-time"] if tt else []),
                                 "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    typer.echo(clean(md, keep_newlines=True))  # names in the tables come from the database
    figs = [p for p in written if p.suffix in (".png", ".pdf", ".svg")]
    typer.echo(clean(f"wrote {target}/: " + ", ".join(p.name for p in written if p not in figs)
                     + (f" and {len(figs) // 3} figures as PNG, PDF and SVG" if figs else "")))


@app.command("lr-find", epilog="Example: noisebench lr-find --model resnet18_tv --data datasets_cache/cifar10-psi16.h5 --plot lr_find.png")
def lr_find_cmd(
    data: Path = typer.Option(..., "--data", help="A noisebench HDF5 file."),
    model: Optional[str] = typer.Option(None, help="Model (default: the dataset's recipe)."),
    activation: str = typer.Option("relu", help="Activation name or pkg.module:Class."),
    optimizer: Optional[str] = typer.Option(None, help="adam, adamw or sgd (default: recipe)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default: recipe)."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay (default: recipe)."),
    start_lr: float = typer.Option(1e-7, help="First LR of the sweep."),
    end_lr: float = typer.Option(10.0, help="Last LR of the sweep."),
    iters: int = typer.Option(100, help="Steps in the sweep (exponentially spaced LRs)."),
    seed: int = typer.Option(0, help="Seed of the weights and data order."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N."),
    plot: Optional[Path] = typer.Option(None, help="Save the loss-vs-LR plot here (PNG; .pdf/.svg by suffix)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --plot file."),
):
    """LR range test: exponential LR sweep, smoothed loss, suggestion at the steepest descent."""
    from noisebench.harness.lr_finder import lr_find, plot as plot_lr
    from noisebench.harness.recipes import RECIPES, recipe_for
    from noisebench.harness.robustness import _meta, config_from_recipe
    from noisebench.harness.runner import data_role, preflight

    from noisebench import bounds

    bounds.check_lr(start_lr, "--start-lr")
    bounds.check_lr(end_lr, "--end-lr")
    bounds.check_int(iters, "--iters", 1, bounds.MAX_LR_FIND_ITERS)
    bounds.check_seed(seed)
    meta = _meta(data)
    try:
        recipe = recipe_for(meta)
    except UserError:
        if model is None:
            raise
        recipe = RECIPES["cifar10"]
    recipe = recipe.with_overrides(model=model, optimizer=optimizer, batch_size=batch_size, weight_decay=weight_decay,
                                   lr=start_lr, lr_policy="fixed", epochs=1)
    cfg = config_from_recipe(data, data_role(meta), recipe, activation, seed, device)
    preflight(cfg)
    plot_format = _check_plot_path(plot, force) if plot is not None else None  # before the sweep
    res = lr_find(cfg, start_lr, end_lr, iters, progress=True)
    if res.suggestion is None:
        raise UserError(f"the loss diverged too early to suggest an LR ({len(res.lrs)} finite steps); lower --start-lr or raise --iters")
    typer.echo(f"suggested LR (steepest descent of the smoothed loss): {res.suggestion:.3g}  "
               f"(swept {res.lrs[0]:.1e} .. {res.lrs[-1]:.1e} in {len(res.lrs)} steps; minimum smoothed loss at "
               f"{res.lrs[int(min(range(len(res.smoothed)), key=res.smoothed.__getitem__))]:.3g})")
    if plot is not None:
        from noisebench.safe_output import atomic_output

        with atomic_output(plot, force, what="plot") as tmp:  # exclusive without --force; never through a symlink
            plot_lr(res, tmp, title=f"LR range test: {cfg.model}/{cfg.activation} on {Path(cfg.data).name}",
                    fmt=plot_format)
        typer.echo(clean(f"wrote {plot}"))


def _check_plot_path(plot: Path, force: bool) -> str:
    """Refuse a bad --plot before any work; returns the image format its suffix names."""
    from matplotlib.backend_bases import FigureCanvasBase

    from noisebench.safe_output import check_final

    fmt = plot.suffix.lower().lstrip(".") or "png"
    if fmt not in FigureCanvasBase.get_supported_filetypes():
        raise UserError(f"--plot {plot}: unsupported image type .{fmt} (use .png, .pdf or .svg)")
    check_final(plot, force, what="--plot")
    folder = plot.parent if str(plot.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--plot {plot}: cannot create folder {folder} ({e.strerror or e})") from None
    return fmt
