"""``nb.export``: the results database as files other tools read, from Python — the same writer
as ``noisebench export`` (harness/results/export.py): csv, jsonl, tensorboard, robustbench-json."""

from __future__ import annotations

from pathlib import Path

from noisebench.errors import UserError
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.results.export import export as export_db

__all__ = ["export"]


def export(db: str | Path = "results/noisebench.db", format: str = "csv", out: str | Path = "exports",
           force: bool = False) -> list[Path]:
    """Write every run of ``db`` as ``format`` into the folder ``out``; returns the paths written.
    Existing files are kept unless ``force`` (then replaced atomically)."""

    if not Path(db).is_file():
        raise UserError(f"{db}: no results database; run a study first")
    with ResultsDB(db, readonly=True) as rdb:
        return export_db(rdb, format, out, force=force)
