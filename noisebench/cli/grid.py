"""CLI: `grid` — a grid of runs (model x activation x dataset x LR x seed), locally or on a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app
from noisebench.errors import UserError
from noisebench.safety.text import clean

DEFAULT_DB = Path("results/noisebench.db")

_EPILOG = """\b
Examples:
  noisebench grid examples/grid.toml --dry-run
  noisebench grid examples/grid.toml --executor ray --address auto --gpus-per-run 0.5
  noisebench grid --data datasets_cache/synth-7000-dirty.h5 --activation relu,elu --lr 1e-3,1e-2 --seeds 3

\b
CONFIG.toml:
[grid]
data = ["datasets_cache/synth-7000-dirty.h5"]  # dirty files bring their clean twin
models = ["mlp"]                 # optional (default: the dataset's recipe)
activations = ["relu", "elu", "tact"]  # or "all"
lrs = [1e-4, 1e-3, 1e-2]         # optional (default: the recipe's)
seeds = 3                        # or [0, 1, 2] (default 3)
epochs = 20                      # optional overrides: batch_size, optimizer,
                                 # lr_policy, weight_decay, step_size, gamma,
                                 # momentum, augment, device, add_clean
Several [[grid]] tables (e.g. from `noisebench study NAME --export`) run
in file order, each run once; flags apply to every table.
"""


@app.command(epilog=_EPILOG)
def grid(
    config: Optional[Path] = typer.Argument(None, help="Grid TOML file (one [grid] or several [[grid]] tables); flags below override it."),
    data: Optional[list[Path]] = typer.Option(None, "--data", help="Data file(s), one per flag (repeat --data; a comma can be part of a file name); a dirty file brings its clean twin."),
    model: Optional[list[str]] = typer.Option(None, "--model", metavar="NAME[,NAME...]", help="Model(s): a comma list or repeated flags (default: each dataset's recipe)."),
    activation: Optional[list[str]] = typer.Option(None, "--activation", metavar="NAME[,NAME...]", help="Activation(s): a comma list or repeated flags, or all."),
    lr: Optional[list[str]] = typer.Option(None, "--lr", metavar="LR[,LR...]", help="Learning rate(s): a comma list or repeated flags (default: recipe)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="N (seeds 0..N-1) or a list: 0,3,7 (default 3, as in robustness)."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's epochs."),
    batch_size: Optional[int] = typer.Option(None, help="Override the recipe's batch size."),
    optimizer: Optional[str] = typer.Option(None, help="Override the optimizer: adam, adamw, sgd."),
    lr_policy: Optional[str] = typer.Option(None, help="Override the LR policy: fixed, step, triangular, onecycle."),
    weight_decay: Optional[float] = typer.Option(None, help="Override the recipe's weight decay."),
    subset: Optional[int] = typer.Option(None, "--subset", help="Smoke study: a stratified subset of N rows of every split (part of the run identity)."),
    device: Optional[str] = typer.Option(None, help="auto (CUDA if the worker has one), cpu, cuda."),
    executor: str = typer.Option("local", "--executor", help="local (this machine) or ray (a Ray cluster)."),
    jobs: int = typer.Option(1, "--jobs", help="local: runs at once in worker processes (with GPUs: one process per GPU)."),
    address: Optional[str] = typer.Option(None, "--address", help="ray: auto (cluster started by `ray start` here) or HOST:PORT (default: RAY_ADDRESS, else a local Ray)."),
    gpus_per_run: Optional[float] = typer.Option(None, "--gpus-per-run", help="ray: GPUs per run, fractions share a GPU (default: 1 if the cluster has GPUs, else 0)."),
    cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help="ray: CPUs per run (what CPU-only clusters schedule by)."),
    retries: int = typer.Option(2, "--retries", help="ray: retries of a run whose task raised or whose worker/node died."),
    max_in_flight: Optional[int] = typer.Option(None, "--max-in-flight", help="ray: runs submitted at once (default: 4 x cluster slots, at least 64)."),
    spread: bool = typer.Option(False, "--spread", help="ray: spread runs over nodes (SPREAD scheduling) instead of packing."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help="Results database (SQLite), written by this process only."),
    force: bool = typer.Option(False, "--force", help="Rerun runs already in the database."),
    save_checkpoint: bool = typer.Option(False, "--save-checkpoint", help="Save selected and last weights to checkpoints/ next to the database (Ray: a path all nodes share)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the expanded runs and which are done; train nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary: no progress bars (terminal) and "
                               "no per-epoch/per-run lines (otherwise printed, one per line, when output is not a terminal)."),
):
    """Expand a grid of runs and train what is not yet in the database, here or on a Ray cluster.

    Resumable: stop it any time and start the same command again; only missing (or failed) runs
    are trained. Results are recorded by this process as they arrive, one row per run."""
    from noisebench.harness.plan.driver import dry_run_rows
    from noisebench.harness.plan.expand import expand_all
    from noisebench.harness.plan.spec import GridSpec, load_grids, parse_list, parse_lrs, parse_seeds
    from noisebench.harness.plan.study_runner import count_todo, make_executor, run_configs
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.run.artifacts import checkpoint_dir_for
    from noisebench.harness.run.subset import validate_subset

    if executor not in ("local", "ray"):
        raise UserError(f"--executor must be local or ray, got {executor!r}")
    from noisebench.safety import bounds

    bounds.check_int(jobs, "--jobs", 1, bounds.MAX_JOBS)
    bounds.check_int(retries, "--retries", 0, 100)
    bounds.check_real(cpus_per_run, "--cpus-per-run", 0.0, 1024.0, lo_open=True)
    if gpus_per_run is not None:
        bounds.check_real(gpus_per_run, "--gpus-per-run", 0.0, 64.0)
    if max_in_flight is not None:
        bounds.check_int(max_in_flight, "--max-in-flight", 1, 1_000_000)
    from noisebench.safety.inputs import split_list

    # repeated flags and comma lists are the same thing: --lr 1e-3 --lr 1e-2 == --lr 1e-3,1e-2
    model, activation, lr = (",".join(split_list(v, f)) if v else None
                             for v, f in ((model, "--model"), (activation, "--activation"), (lr, "--lr")))
    specs = load_grids(config) if config is not None else [GridSpec()]
    if config is None and not data:
        raise UserError("give a grid file (noisebench grid CONFIG.toml) or --data FILE --activation NAMES")
    specs = [spec.with_flags(
        data=list(data) if data else None,
        models=parse_list(model, "--model") if model is not None else None,
        activations=parse_list(activation, "--activation") if activation is not None else None,
        lrs=parse_lrs(lr) if lr is not None else None,
        seeds=parse_seeds(seeds) if seeds is not None else None,
        epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr_policy=lr_policy, weight_decay=weight_decay,
        device=device, subset=validate_subset(subset),
    ) for spec in specs]
    if config is None and activation is None:
        specs[0].activations = ["relu"]
    for name, v in (("--epochs", epochs), ("--batch-size", batch_size)):
        if v is not None and v < 1:
            raise UserError(f"{name} must be >= 1, got {v}")
    if weight_decay is not None and weight_decay < 0:
        raise UserError(f"--weight-decay must be >= 0, got {weight_decay}")
    configs = expand_all(specs)

    if dry_run:
        rdb = ResultsDB(db, readonly=True) if db.exists() else None
        try:
            rows = dry_run_rows(configs, rdb)
        finally:
            if rdb is not None:
                rdb.close()
        for state, c in rows:
            typer.echo(clean(f"{state:<6} {c.key()[:12]}  {c.label():<40} {c.data}"))
        n = {s: sum(1 for r in rows if r[0] == s) for s in ("done", "null", "failed", "todo")}
        typer.echo(f"{len(rows)} runs: {n['done'] + n['null']} done ({n['null']} null), "
                   f"{n['failed']} failed (will run again), {n['todo']} to run"
                   + (f"; all {len(rows)} would run again (--force)" if force else ""))
        return

    from noisebench.progress import choose, say

    mode = choose(quiet)
    ckpt = checkpoint_dir_for(db) if save_checkpoint else None
    ray = dict(gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, retries=retries, max_in_flight=max_in_flight,
               spread=spread) if executor == "ray" else {}
    ex = make_executor(executor, jobs, ckpt, progress=mode, address=address, **ray)

    from noisebench.harness.plan.expand import preflight_all

    preflight_all(configs)  # the whole config is valid before the database is created
    with ResultsDB(db) as rdb:
        say(f"{len(configs)} runs in the grid, {count_todo(configs, rdb, force)} to train; executor: {ex.describe()}; "
            f"database: {db}", mode)
        out = run_configs(configs, rdb, ex, force=force, progress=mode, preflight=False)
    nodes = ", ".join(f"{n}: {k}" for n, k in sorted(out.nodes.items()))
    typer.echo(f"{out.ran} runs trained ({out.ok} ok, {out.null} null, {out.failed} failed), "
               f"{out.skipped} already in {db}" + (f"; runs per node: {nodes}" if nodes else ""))
    if out.failed:
        for label, err in out.failures[:5]:
            typer.echo(clean(f"failed: {label}: {err}"), err=True)
        typer.echo(f"{out.failed} runs failed; run the same command again to retry them", err=True)
