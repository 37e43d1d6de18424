"""CLI: `export` -- the results database as CSV, JSON Lines, TensorBoard events or RobustBench JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from noisebench.cli import app
from noisebench.cli.harness_options import DEFAULT_DB

FORMATS = ("csv", "jsonl", "tensorboard", "robustbench-json")  # = noisebench.harness.results.export.FORMATS (a test keeps them equal)


@app.command(
    epilog="Examples:\n\n"
    "  noisebench export --format csv --out results/export          # epochs.csv (timm summary.csv shape) + runs.csv\n\n"
    "  noisebench export --format tensorboard --out results/tb      # then: tensorboard --logdir results/tb/tensorboard\n\n"
    "  noisebench export --format robustbench-json --out results/rb  # one JSON per (model, activation)"
)
def export(
    fmt: str = typer.Option(..., "--format", help=f"One of: {', '.join(FORMATS)}."),
    out: Path = typer.Option(..., "--out", help="Output folder (created if missing)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help="Results database written by train/robustness/grid."),
    force: bool = typer.Option(False, "--force", help="Replace existing export files."),
):
    """Export every run of the results database: per-epoch rows (epoch, train_*, val_*, test_*, lr)
    and one row per run with its settings, identity and final metrics (csv, jsonl), TensorBoard
    event files (needs the tensorboard package), or a RobustBench-style JSON summary per
    (model, activation)."""
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.results.export import export as export_db

    with ResultsDB(db, readonly=True) as rdb:
        written = export_db(rdb, fmt, out, force=force)
    typer.echo(f"wrote {len(written)} {'file' if len(written) == 1 else 'files'} under {out}")
