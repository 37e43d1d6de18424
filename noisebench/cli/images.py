"""CLI: `make psi`, `make cifar10`, `make mnist`, `make mnist-flip` (thin layers over `nb.build`,
noisebench/api/build.py, which validates every option) and `preview`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from noisebench.cli import app, make_app
from noisebench.defaults import DEFAULT_OUT
from noisebench.errors import UserError
from noisebench.safety.text import clean

SOURCE_HELP = (
    "Local copy to read instead of datasets_cache/raw: the official layout (CIFAR-10 python batches / MNIST idx files, "
    "checked against the official md5s), an image folder (train/<class>/*.png, test/<class>/*.png) or a .npz with "
    "x_train, y_train, x_test, y_test."
)
DOWNLOAD_HELP = "Fetch the official files into OUT/raw/ first (checked against their md5s)."
NO_VERIFY_HELP = (
    "Skip the official md5 check (for copies re-encoded by a lab). CIFAR-10 batches are Python pickles and "
    "unpickling can run code: without this flag only files matching the official checksums are unpickled; with it, "
    "any file is (through a restricted unpickler), so use it only on copies you trust."
)
NAME_HELP = "Dataset name used in file names for folder/.npz sources (default: the folder or file name)."
SPLIT_SEED_HELP = ("Seed of the val split, independent of the noise --seed: every corrupted file of one source and "
                   "its clean reference share the same val images when built with the same --split-seed and --val-size.")

# Options every image build takes, declared once (Typer reads a parameter's default marker; sharing it is safe).
SOURCE_OPT = typer.Option(None, "--source", help=SOURCE_HELP)
DOWNLOAD_OPT = typer.Option(False, "--download", help=DOWNLOAD_HELP)
NO_VERIFY_OPT = typer.Option(False, "--no-verify", help=NO_VERIFY_HELP)
NAME_OPT = typer.Option(None, "--name", help=NAME_HELP)
SPLIT_SEED_OPT = typer.Option(0, "--split-seed", help=SPLIT_SEED_HELP)


def val_help(default: int) -> str:
    return (f"Images carved from the official training set into a seeded, stratified val split (default {default:,}; "
            "scaled down to 1/6 of the training set when it has fewer than 6 times as many images). "
            "Model selection uses val; test is only reported.")


def build(kind: str, **options):
    """`nb.build`, imported when a command runs (it loads numpy, h5py and the builders)."""
    from noisebench.api.build import build as _build

    return _build(kind, **options)


def print_written(paths) -> None:
    for p in paths:
        typer.echo(clean(f"wrote {p}"))
    if getattr(paths, "note", ""):
        typer.echo(clean(paths.note))


@make_app.command("psi", epilog="Examples: noisebench make psi --level 16 --download\n\n"
                               "          noisebench make psi --all --source ~/data/cifar-10-batches-py\n\n"
                               "          noisebench make psi --all --device cuda --source ~/data/cifar-10-batches-py")
def make_psi(
    level: Optional[List[str]] = typer.Option(None, "--level", metavar="PSI[,PSI...]", help="Peak photon count ψ (any positive number); several: --level 8,16 or --level 8 --level 16. Lower = noisier."),
    all_levels: bool = typer.Option(False, "--all", help="Build the paper set ψ = 8, 16, 32, 64."),
    seed: int = typer.Option(0, help="Noise seed; the same seed gives byte-identical files (any thread count)."),
    val_size: int = typer.Option(5000, "--val-size", help=val_help(5000)),
    split_seed: int = SPLIT_SEED_OPT,
    independent_levels: bool = typer.Option(
        False, "--independent-levels",
        help="Give each level its own random numbers (files named -indep). By default all levels of one --seed share "
             "them (common random numbers: differences between levels are then less noisy)."),
    source: Optional[Path] = SOURCE_OPT,
    download: bool = DOWNLOAD_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads for the noise (default: CPU cores, at most 8). Output does not depend on it."),
    device: str = typer.Option("cpu", "--device", help="cpu (exact table sampler, CPU threads) or cuda[:N] (torch.poisson on the GPU; "
                               "a different draw: files differ from cpu builds, the sampler is recorded in the file)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="tables or torch (default: tables on cpu, torch elsewhere); "
                                          "--device cpu --sampler torch runs the GPU code path on the CPU."),
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
):
    """Poisson photon-limited noise of peak ψ on CIFAR-10 (train, val and test): y = clip(round(Poisson(ψ·x/255)·255/ψ), 0, 255).

    Writes OUT/cifar10-psiLEVEL.h5 (suffix -sSEED for seed != 0, -splitN for --split-seed N != 0), plus the clean
    reference OUT/cifar10.h5 (same val split) if it is missing. ψ plays the role of c in CIFAR-10-C shot noise
    (c = 500..50 for severities 1-5): ψ=64 lies between severities 4 and 5, ψ=32/16/8 are beyond 5.
    See docs/IMAGES.md and docs/PROTOCOL.md.
    """
    print_written(build("psi", level=level, all_levels=all_levels, seed=seed, val_size=val_size, split_seed=split_seed,
                 independent_levels=independent_levels, source=source, download=download, no_verify=no_verify,
                 name=name, workers=workers, device=device, sampler=sampler, out=out, force=force))


@make_app.command("cifar10", epilog="Example: noisebench make cifar10 --download")
def make_cifar10(
    val_size: int = typer.Option(5000, "--val-size", help=val_help(5000)),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    download: bool = DOWNLOAD_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
):
    """The clean CIFAR-10 reference (OUT/cifar10.h5) in the same format as the ψ files, so runs compare like with like:
    train/val (carved from the official 50,000 training images) and the official test set."""
    print_written(build("cifar10", val_size=val_size, split_seed=split_seed, source=source, download=download,
                 no_verify=no_verify, name=name, out=out, force=force))


@make_app.command("mnist", epilog="Example: noisebench make mnist --download")
def make_mnist(
    val_size: int = typer.Option(10000, "--val-size", help=val_help(10000)),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    download: bool = DOWNLOAD_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
):
    """The clean MNIST reference (OUT/mnist.h5) with the identical train/val split as `make mnist-flip`.

    Images stay 28×28 in the file; resizing to 64 is the model's input transform.
    """
    print_written(build("mnist", val_size=val_size, split_seed=split_seed, source=source, download=download,
                 no_verify=no_verify, name=name, out=out, force=force))


@make_app.command("mnist-flip", epilog="Examples: noisebench make mnist-flip --rate 0.1 --download\n\n"
                                      "          noisebench make mnist-flip --rate 0.2 --mode pair\n\n"
                                      "          noisebench make mnist-flip --matrix T.csv")
def make_mnist_flip(
    rate: float = typer.Option(0.1, "--rate", help="Probability that a training label is flipped, in [0, 1]."),
    mode: str = typer.Option("symmetric", "--mode", help="symmetric: to a uniformly chosen *different* class; pair: i -> i+1 mod K."),
    matrix: Optional[Path] = typer.Option(None, "--matrix", help="Custom K×K transition matrix (.npy/.csv/.txt; rows = true class, row-stochastic). Overrides --rate/--mode."),
    val_size: int = typer.Option(10000, "--val-size", help=val_help(10000)),
    seed: int = typer.Option(0, help="Seed of the flips (the val split has its own --split-seed)."),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    download: bool = DOWNLOAD_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
):
    """Label-flipped MNIST: training labels flipped (docs/IMAGES.md); val and test stay clean.

    Writes OUT/mnist-flipRATE.h5 (pair mode: mnist-pairRATE.h5; --matrix: mnist-matrix-<sha8>.h5; -sSEED for seed != 0,
    -splitN for --split-seed N != 0)
    and the clean reference OUT/mnist.h5 (same split) if missing. The clean labels and the flip mask are stored in
    truth/; the nominal and realized flip rates and the confusion matrix in the attributes (`noisebench info`).
    Images stay 28×28 in the file; resizing to 64 is the model's input transform.
    """
    print_written(build("mnist-flip", rate=rate, mode=mode, matrix=matrix, val_size=val_size, seed=seed,
                 split_seed=split_seed, source=source, download=download, no_verify=no_verify, name=name, out=out,
                 force=force))


@app.command(epilog="Example: noisebench preview datasets_cache/cifar10-psi16.h5 --out grid.png")
def preview(
    file: Path = typer.Argument(..., help="A noisebench image file."),
    out: Path = typer.Option(Path("preview.png"), "--out", help="PNG to write."),
    per_class: int = typer.Option(4, "--per-class", help="Examples per class."),
    split: str = typer.Option("train", "--split", help="Split to show (train, val or test)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing image."),
):
    """Grid of example images per class (class names as labels); clean and noisy side by side when the clean
    reference named in the file (`clean_reference`) is next to it. Label-flipped examples show the true label."""
    from noisebench.share.preview import write_preview

    if per_class < 1 or per_class > 50:
        raise UserError(f"--per-class must be within 1..50, got {per_class}")
    from noisebench.safety.outputs import check_final

    check_final(out, force, what="--out")  # existing without --force, symlinks, non-regular files: refused
    info = write_preview(file, out, per_class=per_class, split=split)
    typer.echo(clean(f"wrote {out} ({info})"))


# older private names, kept for callers outside the package
_val_help = val_help
_wrote = print_written
