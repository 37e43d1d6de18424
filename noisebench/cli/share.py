"""CLI: `card`, `get` and `export-data`: sharing noisebench datasets with other labs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app

DEFAULT_OUT = Path("datasets_cache")


@app.command(epilog="Examples: noisebench card datasets_cache/cifar10-psi16.h5\n\n"
                    "  noisebench card datasets_cache/mnist-flip0.1.h5 --out publish/ --url https://zenodo.org/records/N/files/mnist-flip0.1.h5")
def card(
    file: Path = typer.Argument(..., help="A noisebench HDF5 file."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the card files (default: the file's folder)."),
    license: Optional[str] = typer.Option(None, "--license", help="License of the published data (default: what is known about the source dataset)."),
    cite: Optional[str] = typer.Option(None, "--cite", help="How to cite the data (default: the source dataset's citation)."),
    url: Optional[str] = typer.Option(None, "--url", help="Where the file will be published (Croissant contentUrl)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing card files."),
):
    """Write a dataset card (FILE stem + .card.md) and Croissant 1.0 JSON-LD (.croissant.json) next to FILE.

    The card states what the file is, the exact corruption and its parameters (ψ with its CIFAR-10-C
    severity mapping), the source dataset with license and citation, seed, splits, class names,
    realized noise statistics (flip rate and confusion matrix, ψ PSNR), checksums, how to load it
    and the command that rebuilds it. Nothing is written inside the data file.
    """
    from noisebench.share.card import write_card

    card_p, cr_p = write_card(file, out, force=force, license=license, cite=cite, url=url)
    typer.echo(f"wrote {card_p}\nwrote {cr_p}")


@app.command(epilog="Examples: noisebench get https://zenodo.org/records/N/files/cifar10-psi16.h5 --sha256 HEX\n\n"
                    "  noisebench get file:///mnt/lab/cifar10-psi16.h5 --sha256 HEX --out datasets_cache")
def get(
    url: str = typer.Argument(..., help="http(s):// or file:// URL of a published noisebench file."),
    sha256: str = typer.Option(..., "--sha256", help="The published sha256 of the whole file (from its card)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder to save it in."),
    name: Optional[str] = typer.Option(None, "--name", help="File name to save as (default: the URL's last part)."),
    max_bytes: Optional[int] = typer.Option(None, "--max-bytes", help="Refuse downloads larger than this (default 64 GiB)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds before a stalled connection is given up (then resumed)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file of that name."),
):
    """Download a published noisebench file, resumably, and keep it only if verified.

    The whole file's sha256 must equal --sha256 and every checksum inside it must match
    (`noisebench verify`) before it appears under its final name; on any mismatch nothing is
    kept. An interrupted download stays in NAME.part and resumes (HTTP Range) when rerun.
    """
    from noisebench.cli.data import progress_bar
    from noisebench.share.fetch import MAX_BYTES, fetch

    with progress_bar(None, "get", unit="B") as bar:
        path = fetch(url, sha256, out=out, name=name, force=force, max_bytes=max_bytes or MAX_BYTES,
                     timeout=timeout, progress=bar.update)
    typer.echo(f"wrote {path} (sha256 and all internal checksums verified)")


@app.command("export-data", epilog="Examples: noisebench export-data datasets_cache/cifar10-psi16.h5 --format imagefolder --out exports\n\n"
                                   "  noisebench export-data datasets_cache/synth-7000-dirty.h5 --format npz --out exports")
def export_data(
    file: Path = typer.Argument(..., help="A noisebench HDF5 file."),
    format: str = typer.Option(..., "--format", help="npz, imagefolder or hf (Hugging Face datasets, needs the share extra)."),
    out: Path = typer.Option(..., "--out", help="Folder to write into."),
    force: bool = typer.Option(False, "--force", help="Replace an existing export."),
):
    """Export FILE's splits as plain .npz, an ImageFolder tree of PNGs, or a Hugging Face DatasetDict.

    npz: OUT/STEM.npz with x_SPLIT, y_SPLIT and class_names. imagefolder: OUT/STEM-imagefolder/SPLIT/
    LABEL_CLASS/INDEX.png (torchvision.datasets.ImageFolder(OUT/STEM-imagefolder/train) loads it with
    the same labels). hf: OUT/STEM-hf (datasets.load_from_disk). Tabular files: npz only. Test-only
    corrupted sets keep test/severity: npz severity_test, imagefolder test/severityK/..., hf a severity column.
    """
    from noisebench.cli.data import progress_bar
    from noisebench.share.export_data import export

    with progress_bar(None, f"export {format}", unit="sample") as bar:
        path = export(file, format, out, force=force, progress=bar.update)
    typer.echo(f"wrote {path}")
