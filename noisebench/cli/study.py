"""CLI: `study` — the source studies' experiments as shipped presets, one command each."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app
from noisebench.cli.harness_options import CKPT_HELP, QUIET_HELP, TB_HELP
from noisebench.errors import UserError

DEFAULT_DB = Path("results/noisebench.db")
DEFAULT_DATA = Path("datasets_cache")

_EPILOG = """\b
Examples:
  noisebench study list
  noisebench study synth-robustness                 (no download; minutes on a laptop CPU)
  noisebench study psi-resnet18 --dry-run           (runs, published numbers, projected time)
  noisebench study mnist-flip-robustness --download
  noisebench study mish-benchmark --source ~/data/cifar-10-batches-py --executor ray
  noisebench study lr-sweep --subset 500 --epochs 1 --seeds 1 --activation relu   (smoke run)
  noisebench study synth-robustness --tensorboard runs/ --save-checkpoint --quiet
  noisebench study psi-resnet18 --export psi.toml   (an editable grid: noisebench grid psi.toml)

\b
Presets are TOML files shipped with noisebench (noisebench/harness/studies/presets/); copy one,
edit it and pass its path instead of NAME. docs/STUDIES.md describes each.
"""


def _list(measure: bool, data_dir: Path, db: Path) -> None:
    # No torch here: the runs are counted by harness/studies/sketch.py and timed from the throughput table.
    from noisebench.harness.studies.cost import throughput_table
    from noisebench.harness.studies.preset import load_preset, preset_names

    for name in preset_names():
        _list_one(load_preset(name), data_dir)
    tables = throughput_table()
    where = "; ".join(f"{d}: {t.get('machine', '?')}, {t.get('date', '?')}" for d, t in sorted(tables.items()))
    typer.echo(f"time: all runs of the preset from the throughput table ({where or 'none shipped'}), not scaled to "
               "this machine; `noisebench study NAME --dry-run` scales it with a short probe here and uses the runs "
               "already in the database")


def _list_one(p, data_dir: Path) -> None:
    from noisebench.harness.studies.cost import fmt_seconds, project
    from noisebench.harness.studies.sketch import sketch

    runs = sketch(p, data_dir)
    cpu = project(runs, data_dir, probe=False, device="cpu")
    cost = f"~{fmt_seconds(cpu['seconds'])} CPU" if cpu["seconds"] is not None else "CPU time not in the table"
    if cpu["gpu_seconds"] is not None:
        cost += f", ~{fmt_seconds(cpu['gpu_seconds'])} one GPU"
    typer.echo(f"{p.name:<24} {len(runs):>4} runs  {cpu['sample_epochs'] / 1e6:9.1f} M sample-epochs  {cost}")
    typer.echo(f"{'':<24} {p.description}")


def _dry_run(p, configs, db: Path, data_dir: Path, force: bool, measure: bool) -> None:
    from noisebench.harness.plan.driver import dry_run_rows
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.studies.cost import fmt_seconds, project
    from noisebench.harness.studies.datasets import planned_files
    from noisebench.harness.studies.plan import is_predicted

    typer.echo(f"study {p.name}: {p.description}\nsource: {p.source}\n")
    for name, pf in planned_files(p).items():
        there = (data_dir / name).exists()
        how = "built here (no download)" if pf.build.build == "synth" else "needs --download or --source DIR"
        typer.echo(f"data  {data_dir / name}: {'present' if there else 'to build, ' + how}")
    rdb = ResultsDB(db, readonly=True) if db.exists() else None
    try:
        rows = dry_run_rows(configs, rdb)
        todo = [c for s, c in rows if s in ("todo", "failed")] if not force else [c for _, c in rows]
        pr = project(todo, data_dir, probe=measure, db=rdb)
    finally:
        if rdb is not None:
            rdb.close()
    typer.echo("")
    unbuilt = 0
    for state, c in rows:
        pred = is_predicted(c)
        unbuilt += pred
        typer.echo(f"{state + ('*' if pred else ''):<7} {c.label():<44} {Path(c.data).name}")
    n = {s: sum(1 for r in rows if r[0] == s) for s in ("done", "null", "failed", "todo")}
    typer.echo(f"\n{len(rows)} runs: {n['done'] + n['null']} already in {db} ({n['null']} null), {n['failed']} failed "
               f"(will run again), {n['todo']} to run" + (f"; all {len(rows)} would run again (--force)" if force else ""))
    if unbuilt:
        typer.echo(f"* {unbuilt} runs on data not built yet: their keys cover the data's digest, so none of them can "
                   "be in the database before the build")
    typer.echo("\nPublished numbers the report compares with:" if p.reported else "\nNo published numbers to compare with.")
    for r in p.reported:
        where = ", ".join(f"{k} {v}" for k, v in (("data", r.data), ("model", r.model)) if v)
        typer.echo(f"- {r.source}" + (f" ({where})" if where else "") + f"; ours: {r.ours}")
        w = max([len(r.rows or "")] + [len(str(row[0])) for row in r.values])
        cols = ["every activation" if c == "*" else c for c in r.columns]
        typer.echo(f"    {r.rows or '':<{w}}  " + "  ".join(f"{c:>8}" for c in cols))
        for row in r.values:
            typer.echo(f"    {str(row[0]):<{w}}  " + "  ".join(f"{v:>{max(8, len(c))}.4g}" for v, c in zip(row[1:], cols)))
    typer.echo(f"\nprojected time of the {len(todo)} runs to do: {fmt_seconds(pr['seconds'])} on this machine's "
               f"{pr['device']} ({pr['sample_epochs'] / 1e6:.1f} M sample-epochs; "
               + (f"estimated from {pr['method']}); " if pr["seconds"] is not None else f"{pr['method']}); ")
               + f"one GPU: {fmt_seconds(pr['gpu_seconds'])}"
               + (f" ({pr['gpu_machine']}, throughput table)" if pr["gpu_seconds"] is not None
                  else " (no GPU figure in the throughput table)"))


def _export(p, specs, target: Path, force: bool) -> None:
    from noisebench.format.writer import check_output_path
    from noisebench.harness.studies.grid_file import grids_toml

    check_output_path(target, force)
    text = grids_toml(p, specs)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text)
    tmp.replace(target)
    typer.echo(f"wrote {target} ({len(specs)} [[grid]] tables); run it with: noisebench grid {target}")


@app.command(epilog=_EPILOG)
def study(
    name: str = typer.Argument(..., help="A preset (see `noisebench study list`), `list`, or a preset .toml file."),
    download: bool = typer.Option(False, "--download", help="Fetch the official CIFAR-10/MNIST files into DATA_DIR/raw first."),
    source: Optional[Path] = typer.Option(None, "--source", help="A local copy of CIFAR-10/MNIST in the official layout."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the official md5 check of --source (trusted copies only)."),
    data_dir: Path = typer.Option(DEFAULT_DATA, "--data-dir", help="Where the datasets are built or reused."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help="Results database (SQLite)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (default: results/studies/NAME)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the runs, the published numbers and the projected time; build and train nothing."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="N (seeds 0..N-1) or a list 0,3,7 (default: the preset's)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override the preset's epochs."),
    subset: Optional[int] = typer.Option(None, "--subset", help="Smoke study: a stratified subset of N rows of every split."),
    activation: Optional[list[str]] = typer.Option(None, "--activation", metavar="NAME[,NAME...]",
                                                   help="Only these activations (a comma list or repeated flags)."),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    jobs: int = typer.Option(1, "--jobs", help="local: runs at once in worker processes."),
    address: Optional[str] = typer.Option(None, "--address", help="ray: auto or HOST:PORT (default: RAY_ADDRESS, else a local Ray)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (CUDA if present), cpu, cuda."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write the study as an editable grid TOML file and stop."),
    measure: bool = typer.Option(True, "--measure/--no-measure", help="Scale the throughput table to this machine with a probe of about a second for the projected time "
                                 "(models the table lacks: a probe of a few seconds each, then cached)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the figures (PNG, PDF, SVG)."),
    force: bool = typer.Option(False, "--force", help="Rerun runs already in the database; replace another report in --out or the --export file."),
    save_checkpoint: bool = typer.Option(False, "--save-checkpoint", help=CKPT_HELP),
    tensorboard: Optional[Path] = typer.Option(None, "--tensorboard", metavar="DIR", help=TB_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
):
    """Run one experiment of the source studies end to end: build (or reuse) its datasets, train its grid
    (resumable: runs already in the database are skipped, as in `grid`), and write its report with the
    studies' published numbers beside ours (difference, and whether each lies inside our 95% CI)."""
    from noisebench.harness.plan.spec import parse_list, parse_seeds
    from noisebench.harness.run.subset import validate_subset
    from noisebench.harness.studies.plan import StudyFlags, plan
    from noisebench.harness.studies.plan import specs as make_specs
    from noisebench.harness.studies.preset import load_preset
    from noisebench.safety import bounds

    if name == "list":
        _list(measure, data_dir, db)
        return
    if executor not in ("local", "ray"):
        raise UserError(f"--executor must be local or ray, got {executor!r}")
    if source is not None and download:
        raise UserError("give either --source DIR or --download, not both")
    bounds.check_int(jobs, "--jobs", 1, bounds.MAX_JOBS)
    if epochs is not None:
        bounds.check_int(epochs, "--epochs", 1, bounds.MAX_EPOCHS)
    p = load_preset(name)
    flags = StudyFlags(seeds=parse_seeds(seeds) if seeds is not None else None, epochs=epochs,
                       subset=validate_subset(subset),
                       activations=parse_list(",".join(activation), "--activation") if activation else None,
                       device=device)
    if export is not None:
        _export(p, make_specs(p, data_dir, flags), export, force)
        return
    configs = plan(p, data_dir, flags)
    if dry_run:
        _dry_run(p, configs, db, data_dir, force, measure)
        return
    if tensorboard is not None:
        from noisebench.harness.run.artifacts import check_tensorboard_dir

        check_tensorboard_dir(tensorboard)  # package installed, a writable folder: before any build or training
    _run(p, flags, configs, data_dir, db, out, source, download, no_verify, executor, jobs, address, plots, force,
         save_checkpoint, tensorboard, quiet)


def _run(p, flags, configs, data_dir, db, out, source, download, no_verify, executor, jobs, address, plots, force,
         save_checkpoint=False, tensorboard=None, quiet=False):
    from noisebench.api.study import make_executor, run_configs_rows
    from noisebench.harness.report.stats import MIN_SEEDS_FOR_TEST
    from noisebench.harness.run.artifacts import checkpoint_dir_for
    from noisebench.harness.studies.datasets import build_missing
    from noisebench.harness.studies.plan import plan
    from noisebench.harness.studies.report import STUDIES_DIR, check_out, write_report
    from noisebench.progress import choose

    target = out if out is not None else STUDIES_DIR / p.name
    check_out(target, p.name, force)  # before any work
    build_missing(p, data_dir, source=source, download=download, verify=not no_verify,
                  echo=lambda m: typer.echo(m, err=True))
    configs = plan(p, data_dir, flags)  # the built files' digests: the real run keys
    if p.protocol == "test-time":
        from noisebench.harness.studies.testtime_study import run_testtime_study

        typer.echo(f"study {p.name}: {len(configs)} runs (test-time protocol); database: {db}")
        md, res = run_testtime_study(p, configs, data_dir, db, target, jobs=jobs, force=force, note=typer.echo)
        typer.echo(f"{res.trained} runs trained, {res.reused} reused from {db}; {res.evaluated} evaluations recorded, "
                   f"{res.already} already there")
        typer.echo(f"wrote {md}")
        if res.failures or res.not_ok:
            for label, err in (res.failures + res.not_ok)[:5]:
                typer.echo(f"not evaluated: {label}: {err}", err=True)
            raise typer.Exit(1)
        return
    mode = choose(quiet)  # as `robustness`: a bar with ETA on a terminal, else one line per epoch and per run
    ex = make_executor(executor, jobs, address=address, progress=mode, tensorboard_dir=tensorboard,
                       checkpoint_dir=checkpoint_dir_for(db) if save_checkpoint else None)
    typer.echo(f"study {p.name}: {len(configs)} runs; executor: {ex.describe()}; database: {db}")
    outcome: list = []
    run_configs_rows(configs, db, ex, force, None, outcome, progress=mode)
    res = outcome[0]
    typer.echo(f"{res.ran} runs trained ({res.ok} ok, {res.null} null, {res.failed} failed), {res.skipped} already in {db}")
    for label, err in res.failures[:5]:
        typer.echo(f"failed: {label}: {err}", err=True)
    md, written, comps = write_report(p, configs, db, target, force=force, plots=plots)
    figs = [w for w in written if w.suffix in (".png", ".pdf", ".svg")]
    inside = [c.inside for c in comps if c.inside is not None]
    typer.echo(f"wrote {target}/report.md" + (f" and {len(figs) // 3} figures (PNG, PDF, SVG)" if figs else ""))
    if comps:
        typer.echo(f"published numbers: {sum(inside)} of {len(inside)} inside our 95% CI "
                   f"({sum(1 for c in comps if c.inside is None)} not tested: fewer than {MIN_SEEDS_FOR_TEST} seeds, "
                   "no power, or not run)")
    if res.failed:
        typer.echo(f"{res.failed} runs failed; run the same command again to retry them", err=True)
        raise typer.Exit(1)
