"""CLI: `synth` (the hidden-function dataset), `info` and `verify` (any noisebench file)."""

from __future__ import annotations

from pathlib import Path

import typer

from noisebench.cli import app
from noisebench.errors import UserError
from noisebench.safe_text import clean

DEFAULT_OUT = Path("datasets_cache")


def progress_bar(total: int, desc: str, unit: str = "row"):
    """A tqdm bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=None, leave=False)


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
    """Build the clean and dirty hidden-function regression dataset (SPEC §2), streamed, any size.

    Writes OUT/synth-ROWS-clean.h5 and OUT/synth-ROWS-dirty.h5 (suffix -sSEED for seed != 0);
    both share one train/val split and the val split is clean in both.
    """
    from noisebench.generators.hidden_function_synth import SynthParams, build
    from noisebench.safe_text import clean as safe

    p = SynthParams(rows=rows, cols=cols, dirty_frac=dirty_frac, sigma=sigma, seed=seed)
    p.validate()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    with progress_bar(rows, "synth") as bar:
        clean, dirty = build(p, out, force=force, progress=bar.update)
    typer.echo(safe(f"wrote {clean}") + "\n" + safe(f"wrote {dirty}  ({p.n_train} train rows, {p.n_dirty} dirty; {p.n_val} val rows)"))


@app.command(epilog="Example: noisebench info datasets_cache/synth-7000-dirty.h5")
def info(file: Path = typer.Argument(..., help="A noisebench HDF5 file.")):
    """Print a readable card: kind, parameters, splits and shapes, provenance."""
    from noisebench.h5format import open_file
    from noisebench.info_card import render

    with open_file(file) as f:
        typer.echo(render(f))


@app.command(epilog="Example: noisebench verify datasets_cache/cifar10-psi16.h5")
def verify(file: Path = typer.Argument(..., help="A noisebench HDF5 file.")):
    """Recompute every dataset's sha256 and compare with the recorded ones (exit 1 on mismatch)."""
    from noisebench.h5format import verify as _verify

    rows = _verify(file)
    bad = [r for r in rows if r[1] != "ok"]
    for name, status, detail in rows:  # names and details come from the file: no control characters
        typer.echo(clean(f"{status:<9} {name}" + (f"  {detail}" if status != "ok" else "")))
    if bad:
        raise UserError(f"{file}: {len(bad)} of {len(rows)} datasets failed verification")
    typer.echo(clean(f"{file}: all {len(rows)} checksums match"))
