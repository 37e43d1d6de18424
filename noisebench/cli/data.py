"""CLI: `synth` (the hidden-function dataset), `info` and `verify` (any noisebench file)."""

from __future__ import annotations

from pathlib import Path

import typer

from noisebench.cli import app
from noisebench.defaults import DEFAULT_OUT  # one default for the CLI and nb.build
from noisebench.errors import VerificationFailed
from noisebench.safety.text import clean


def progress_bar(total: int, desc: str, unit: str = "row"):
    """A tqdm bar on stderr, drawn only on a terminal (noisebench/progress.py)."""
    from noisebench.progress import bar

    return bar(total, desc, unit)


@app.command(epilog="Example: noisebench synth --rows 7000 --seed 1 --out datasets_cache")
def synth(
    rows: int = typer.Option(7000, help="Rows in total (train + val); 7000 reproduces the original dataset."),
    cols: int = typer.Option(10, help="Feature columns."),
    dirty_frac: float = typer.Option(0.1, help="Fraction of training rows corrupted in the dirty variant (floor)."),
    sigma: float = typer.Option(0.5, help="Std of the Gaussian offsets added to dirty rows' features and target."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical data."),
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
):
    """Build the clean and dirty hidden-function regression dataset (docs/FORMAT.md), streamed, any size.

    Writes OUT/synth-ROWS-clean.h5 and OUT/synth-ROWS-dirty.h5 (suffix -sSEED for seed != 0);
    both share one train/val split, and a held-out test split of as many rows as val (the same
    hidden functions at points in neither train nor val); val and test are clean in both.
    """
    from noisebench.api.build import build

    paths = build("synth", rows=rows, cols=cols, dirty_frac=dirty_frac, sigma=sigma, seed=seed, out=out, force=force)
    typer.echo(clean("\n".join(f"wrote {p}" for p in paths) + f"  ({paths.note})", keep_newlines=True))


@app.command(epilog="Example: noisebench info datasets_cache/synth-7000-dirty.h5")
def info(file: Path = typer.Argument(..., help="A noisebench HDF5 file.")):
    """Print a readable card: kind, parameters, splits and shapes, provenance."""
    from noisebench.format.reader import open_file
    from noisebench.share.info import render

    with open_file(file) as f:
        typer.echo(render(f))




@app.command(epilog="Example: noisebench verify datasets_cache/cifar10-psi16.h5")
def verify(file: Path = typer.Argument(..., help="A noisebench HDF5 file.")):
    """Recompute every dataset's sha256 and the metadata digest over all attributes; compare them with the
    recorded ones. Exit 0 when all match, 1 when data or attributes changed, 2 when the file is unreadable."""
    from noisebench.format.reader import METADATA_ROW, SPLIT_ROW
    from noisebench.format.reader import verify as _verify

    rows = _verify(file)
    labels = {SPLIT_ROW: ("split", "the split record"), METADATA_ROW: ("attributes", "the attributes")}
    data = [r for r in rows if r[0] not in labels]
    rest = [r for r in rows if r[0] in labels]
    for name, status, detail in data:  # names and details come from the file: no control characters
        typer.echo(clean(f"{status:<9} {name}" + (f"  {detail}" if status != "ok" else "")))
    for name, status, detail in rest:
        typer.echo(clean(f"{status:<9} {labels[name][0]}  " + (detail if status != "ok" else
                                                             "(metadata digest)" if name == METADATA_ROW else detail)))
    bad_data = [r for r in data if r[1] != "ok"]
    bad_rest = [labels[r[0]][1] for r in rest if r[1] != "ok"]
    if bad_data or bad_rest:
        what = ([f"{len(bad_data)} of {len(data)} datasets"] if bad_data else []) + bad_rest
        raise VerificationFailed(f"{file}: {' and '.join(what)} failed verification")
    split = "; split record consistent" if any(r[0] == SPLIT_ROW for r in rest) else ""
    typer.echo(clean(f"{file}: all {len(data)} checksums match{split}; attributes unchanged (metadata digest)"))
