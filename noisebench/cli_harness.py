"""CLI: `train`, `robustness`, `report`, `lr-find` (the benchmark harness)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app
from noisebench.errors import UserError
from noisebench.safe_text import clean

DEFAULT_DB = Path("results/noisebench.db")
_STAGING = ".report-staging"
DEFAULT_DATASETS = Path("datasets_cache")

_DB_HELP = "Results database (SQLite)."
_POLICY_HELP = "LR policy: fixed, step (StepLR), triangular (Smith's CLR), onecycle (fastai one-cycle)."


def _knobs(step_size, gamma, momentum, augment) -> dict:
    k = {"step_size": step_size, "gamma": gamma, "momentum": momentum, "augment": augment}
    return {a: b for a, b in k.items() if b is not None}


def _activations(spec: str) -> list[str]:
    from noisebench.harness.activations import activation_names, resolve_activation

    if spec.strip().lower() == "all":
        return activation_names()
    names = [a.strip() for a in spec.split(",") if a.strip()]
    if not names:
        raise UserError("--activation is empty; give a name, a comma-separated list, or all")
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
    augment: Optional[str] = typer.Option(None, help="none or crop_flip (default: crop_flip for CIFAR, else none)."),
    seed: int = typer.Option(0, help="Seed of the weights, data order and augmentation."),
    device: str = typer.Option("auto", help="auto (CUDA if available), cpu, cuda, cuda:N."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the model (GPU; slower start)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=_DB_HELP),
    force: bool = typer.Option(False, "--force", help="Train again even if this exact run is in the database."),
):
    """Train one model on one file from fresh weights, record it in the database, print its metrics."""
    from noisebench.harness.recipes import recipe_for
    from noisebench.harness.results_db import ResultsDB
    from noisebench.harness.robustness import _meta, config_from_recipe
    from noisebench.harness.runner import data_role, execute_run, preflight

    meta = _meta(data)
    try:
        recipe = recipe_for(meta)
    except UserError:
        if model is None:
            raise
        from noisebench.harness.recipes import RECIPES

        recipe = RECIPES["cifar10"]
    recipe = recipe.with_overrides(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                                   lr_policy=lr_policy, weight_decay=weight_decay)
    cfg = config_from_recipe(data, data_role(meta), recipe, activation, seed, device, compile,
                             _knobs(step_size, gamma, momentum, augment))
    preflight(cfg)
    with ResultsDB(db) as rdb:
        if rdb.has(cfg.key()) and not force:
            r = rdb.runs(key=cfg.key())[0]
            typer.echo(clean(f"already in {db} (status {r['status']}, final {r['metric']} = {r['metric_value']}); --force to retrain"))
            return
        res = execute_run(cfg, progress=True, on_epoch=lambda m: typer.echo(_epoch_line(m)))
        rdb.record(res)
    f = res.final
    if res.status == "failed":
        raise UserError(f"run failed: {res.error}")
    extra = f" — null run: {res.null_cause}" if res.status == "null" else ""
    sps = f.get("samples_per_s")
    typer.echo(clean(
        f"{cfg.label()}: {res.status}{extra}; final {f.get('metric')} = {f.get('metric_value')}; "
        f"{res.wall_s:.1f} s wall, {sps:.0f} samples/s on {res.device}; recorded in {db}" if sps else
        f"{cfg.label()}: {res.status}{extra}; recorded in {db}"
    ))


def _epoch_line(m: dict) -> str:
    parts = [f"epoch {m['epoch']:>3}", f"lr {m['lr']:.3g}", f"train loss {m['train_loss']:.4g}"]
    for k, lab in (("val_loss", "val loss"), ("val_acc", "val top-1"), ("val_top3", "val top-3"),
                   ("test_loss", "test loss"), ("test_acc", "test top-1")):
        if k in m:
            parts.append(f"{lab} {m[k]:.4g}")
    parts.append(f"{m.get('samples_per_s', 0):.0f}/s")
    return "  ".join(parts)


@app.command(epilog="Examples: noisebench robustness --activation all --suite synth\n\n"
             "noisebench robustness --activation elu,mish --data datasets_cache/cifar10-psi16.h5 --seeds 3")
def robustness(
    activation: str = typer.Option("relu", help="Activation(s): a name, a comma-separated list, or all (the zoo)."),
    data: Optional[list[Path]] = typer.Option(None, "--data", help="Dirty file(s) (repeatable); the clean one is found via its clean_reference."),
    suite: Optional[str] = typer.Option(None, help="synth, mnist, psi or all: standard files in --datasets-dir."),
    datasets_dir: Path = typer.Option(DEFAULT_DATASETS, help="Where --suite looks for the files."),
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
    device: str = typer.Option("auto", help="auto (CUDA if available), cpu, cuda, cuda:N."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile each model (GPU)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Runs trained at once in worker processes (CPU: 1 thread each; use the number of free cores). Results do not depend on it."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=_DB_HELP),
    force: bool = typer.Option(False, "--force", help="Rerun configurations already in the database."),
):
    """Train each activation on the clean and the dirty variant of each dataset over seeds; print
    clean, dirty and delta (mean ± std, 95% t CI) and the null-run count. Resumable: finished runs are skipped."""
    from noisebench.harness.grid_config import preflight_all
    from noisebench.harness.results_db import ResultsDB
    from noisebench.harness.robustness import format_table, pair_for, plan, run_grid, suite_files, summarize

    if seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {seeds}")
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    files = list(data or [])
    if suite:
        files += suite_files(suite, datasets_dir)
    if not files:
        raise UserError("give --data DIRTY_FILE or --suite synth|mnist|psi|all")
    acts = _activations(activation)
    pairs = [pair_for(f) for f in files]
    overrides = dict(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                     lr_policy=lr_policy, weight_decay=weight_decay)
    configs = plan(pairs, acts, list(range(seeds)), overrides, device, compile, _knobs(step_size, gamma, momentum, None))
    preflight_all(configs)  # bad settings fail here, before the database is created
    with ResultsDB(db) as rdb:
        out = run_grid(configs, rdb, force=force, jobs=jobs, preflight=False)
        rows = summarize(rdb, configs)
    typer.echo(clean(format_table(rows), keep_newlines=True))
    typer.echo(clean(f"{out.ran} runs trained ({out.ok} ok, {out.null} null, {out.failed} failed), {out.skipped} already in {db}"))
    for label, err in out.failures[:5]:
        typer.echo(clean(f"failed: {label}: {err}"), err=True)


@app.command(epilog="Example: noisebench report --db results/noisebench.db --out results/report --baseline relu")
def report(
    db: Path = typer.Option(DEFAULT_DB, "--db", help=_DB_HELP),
    out: Path = typer.Option(Path("results/report"), "--out", help="Output folder for report.md, CSVs and PNGs."),
    baseline: str = typer.Option("relu", help="Activation the p-values compare against."),
    dataset: Optional[str] = typer.Option(None, help="Only this dataset (e.g. synth, mnist, cifar10)."),
    model: Optional[str] = typer.Option(None, help="Only this model."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots."),
):
    """Markdown + CSV tables (rows = data/setting, columns = activation, best marked, p vs baseline,
    null runs) and PNG plots (curves with std bands, delta bars with 95% CI) from the database."""
    from noisebench.harness.report_plots import plot_curves, plot_deltas
    from noisebench.harness.report_tables import build_markdown, collect, write_csv
    from noisebench.harness.results_db import ResultsDB
    from noisebench.safe_output import check_final, create_temp, discard, place, remove_stale_temps

    filters = {k: v for k, v in (("dataset", dataset), ("model", model)) if v}
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    with ResultsDB(db, readonly=True) as rdb:
        rd = collect(rdb, baseline=baseline, **filters)
        if not rd.groups:
            raise UserError(f"no runs in {db}" + (f" matching {filters}" if filters else "") + "; run `noisebench robustness` first")
        if baseline not in rd.activations:
            typer.echo(clean(f"note: baseline {baseline!r} has no runs; p-values are n/a (use --baseline)"), err=True)
        out.mkdir(parents=True, exist_ok=True)
        # everything is written into a private staging folder, then moved into --out file by file;
        # a symlink or non-regular file planted at an output name is refused, never written through
        remove_stale_temps(out / _STAGING)
        stage = create_temp(out / _STAGING, directory=True)
        try:
            md = build_markdown(rd)
            (stage / "report.md").write_text(md)
            staged = [stage / "report.md"] + write_csv(rd, stage)
            if plots:
                staged += plot_curves(rd, rdb, stage) + plot_deltas(rd, stage)
            written = [out / Path(p).relative_to(stage) for p in staged]
            for f in written:
                check_final(f, force=True, what="report file")
            for p, f in zip(staged, written):
                f.parent.mkdir(parents=True, exist_ok=True)
                place(p, f, force=True, what="report file")
        finally:
            discard(stage)
    typer.echo(clean(md, keep_newlines=True))
    typer.echo(clean("wrote " + ", ".join(str(p) for p in written)))


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
