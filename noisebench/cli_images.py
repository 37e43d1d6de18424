"""CLI: `make psi`, `make cifar10`, `make mnist`, `make mnist-flip` and `preview`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from noisebench.cli import app, make_app
from noisebench.cli_data import DEFAULT_OUT, progress_bar
from noisebench.errors import UserError
from noisebench.safe_text import clean

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


def _out_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    return out


SPLIT_SEED_HELP = ("Seed of the val split, independent of the noise --seed: every corrupted file of one source and "
                   "its clean reference share the same val images when built with the same --split-seed and --val-size.")


def _val_help(default: int) -> str:
    return (f"Images carved from the official training set into a seeded, stratified val split (default {default:,}; "
            "scaled down to 1/6 of the training set when it has fewer than 6 times as many images). "
            "Model selection uses val; test is only reported.")


def _check_split_options(val_size: int, split_seed: int) -> None:
    """--val-size and --split-seed inside their documented bounds (docs/BOUNDS.md), before any work."""
    from noisebench import bounds

    bounds.check_int(val_size, "--val-size", 1, bounds.MAX_VAL_SIZE)
    bounds.check_seed(split_seed, "--split-seed")


def _numbers(seed: int, workers: int | None = None) -> None:
    """Seeds and worker counts inside their documented bounds (docs/BOUNDS.md), before any work."""
    from noisebench import bounds

    bounds.check_seed(seed)
    if workers is not None:
        bounds.check_int(workers, "--workers", 1, bounds.MAX_WORKERS)


def _precheck(default, source, name, force, paths_for, download=False) -> None:
    """Existing outputs without --force: fail before loading, verifying or downloading anything."""
    from noisebench.generators.image_builds import precheck_outputs, predicted_name

    if source is not None and download:
        raise UserError("give either --source PATH or --download, not both")
    if name is not None:
        from noisebench.safe_input import check_stem

        check_stem(name, "--name")
    nm = predicted_name(default, source, name)
    if nm:
        precheck_outputs(paths_for(nm), force)


def _load(default: str, source, download, no_verify, out, name):
    from noisebench.generators.image_builds import resolve_source

    return resolve_source(default, source, download, not no_verify, out, name)


@make_app.command("psi", epilog="Examples: noisebench make psi --level 16 --download\n\n"
                               "          noisebench make psi --all --source ~/data/cifar-10-batches-py\n\n"
                               "          noisebench make psi --all --device cuda --source ~/data/cifar-10-batches-py")
def make_psi(
    level: Optional[List[float]] = typer.Option(None, "--level", help="Peak photon count ψ (any positive number; repeatable). Lower = noisier."),
    all_levels: bool = typer.Option(False, "--all", help="Build the paper set ψ = 8, 16, 32, 64."),
    seed: int = typer.Option(0, help="Noise seed; the same seed gives byte-identical files (any thread count)."),
    val_size: int = typer.Option(5000, "--val-size", help=_val_help(5000)),
    split_seed: int = typer.Option(0, "--split-seed", help=SPLIT_SEED_HELP),
    independent_levels: bool = typer.Option(
        False, "--independent-levels",
        help="Give each level its own random numbers (files named -indep). By default all levels of one --seed share "
             "them (common random numbers: differences between levels are then less noisy)."),
    source: Optional[Path] = typer.Option(None, "--source", help=SOURCE_HELP),
    download: bool = typer.Option(False, "--download", help=DOWNLOAD_HELP),
    no_verify: bool = typer.Option(False, "--no-verify", help=NO_VERIFY_HELP),
    name: Optional[str] = typer.Option(None, "--name", help=NAME_HELP),
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
    from noisebench.corruptors.poisson_photon import PAPER_LEVELS, validate_level
    from noisebench.generators.image_builds import build_psi, psi_name

    levels = list(level or [])
    if all_levels:
        levels += [lv for lv in PAPER_LEVELS if lv not in levels]
    if not levels:
        raise UserError("give --level PSI (e.g. --level 16) or --all")
    levels = [validate_level(lv) for lv in levels]  # before loading anything
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    _numbers(seed=seed, workers=workers)
    _check_split_options(val_size, split_seed)
    if sampler not in (None, "tables", "torch"):
        raise UserError(f"unknown --sampler {sampler!r}; use tables or torch")
    if device != "cpu" or sampler == "torch":  # check the device (and levels on it) before loading anything
        from noisebench.corruptors.photon_torch import TorchPhotonNoise

        if sampler == "tables":
            raise UserError(f"the table sampler runs on the CPU; use --sampler torch for --device {device}")
        for lv in levels:
            TorchPhotonNoise(lv, device)
    _out_dir(out)
    # some levels already there: build_psi keeps (skips) those built from this source; all there: refused now
    def _psi_paths(nm):
        ps = [out / psi_name(nm, lv, seed, split_seed, independent_levels) for lv in levels]
        return ps if all(p.exists() for p in ps) else []

    _precheck("cifar10", source, name, force, _psi_paths, download)
    data = _load("cifar10", source, download, no_verify, out, name)
    total = len(levels) * (data.x_train.shape[0] + data.x_test.shape[0])
    with progress_bar(total, f"psi {data.name}", unit="img") as bar:
        paths = build_psi(data, levels, out, seed=seed, force=force, workers=workers, progress=bar.update,
                          val_size=val_size, split_seed=split_seed, independent_levels=independent_levels,
                          device=device, sampler=sampler)
    for p in paths:
        typer.echo(clean(f"wrote {p}"))


@make_app.command("cifar10", epilog="Example: noisebench make cifar10 --download")
def make_cifar10(
    val_size: int = typer.Option(5000, "--val-size", help=_val_help(5000)),
    split_seed: int = typer.Option(0, "--split-seed", help=SPLIT_SEED_HELP),
    source: Optional[Path] = typer.Option(None, "--source", help=SOURCE_HELP),
    download: bool = typer.Option(False, "--download", help=DOWNLOAD_HELP),
    no_verify: bool = typer.Option(False, "--no-verify", help=NO_VERIFY_HELP),
    name: Optional[str] = typer.Option(None, "--name", help=NAME_HELP),
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
):
    """The clean CIFAR-10 reference (OUT/cifar10.h5) in the same format as the ψ files, so runs compare like with like:
    train/val (carved from the official 50,000 training images) and the official test set."""
    from noisebench.generators.image_builds import build_clean_images, clean_name, clean_path

    _check_split_options(val_size, split_seed)
    _out_dir(out)
    _precheck("cifar10", source, name, force, lambda nm: [out / clean_name(nm, split_seed)], download)
    data = _load("cifar10", source, download, no_verify, out, name)
    check = clean_path(data, out, split_seed)
    with progress_bar(data.x_train.shape[0] + data.x_test.shape[0], f"clean {data.name}", unit="img") as bar:
        p = build_clean_images(data, out, force=force, progress=bar.update, val_size=val_size, split_seed=split_seed)
    assert p == check
    typer.echo(clean(f"wrote {p}"))


@make_app.command("mnist", epilog="Example: noisebench make mnist --download")
def make_mnist(
    val_size: int = typer.Option(10000, "--val-size", help=_val_help(10000)),
    split_seed: int = typer.Option(0, "--split-seed", help=SPLIT_SEED_HELP),
    source: Optional[Path] = typer.Option(None, "--source", help=SOURCE_HELP),
    download: bool = typer.Option(False, "--download", help=DOWNLOAD_HELP),
    no_verify: bool = typer.Option(False, "--no-verify", help=NO_VERIFY_HELP),
    name: Optional[str] = typer.Option(None, "--name", help=NAME_HELP),
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
):
    """The clean MNIST reference (OUT/mnist.h5) with the identical train/val split as `make mnist-flip`.

    Images stay 28×28 in the file; resizing to 64 is the model's input transform.
    """
    from noisebench.generators.image_builds import build_split_clean, clean_name

    _out_dir(out)
    _check_split_options(val_size, split_seed)
    _precheck("mnist", source, name, force, lambda nm: [out / clean_name(nm, split_seed)], download)
    data = _load("mnist", source, download, no_verify, out, name)
    with progress_bar(data.x_train.shape[0] + data.x_test.shape[0], f"clean {data.name}", unit="img") as bar:
        p = build_split_clean(data, out, val_size=val_size, split_seed=split_seed, force=force, progress=bar.update)
    typer.echo(clean(f"wrote {p}"))


@make_app.command("mnist-flip", epilog="Examples: noisebench make mnist-flip --rate 0.1 --download\n\n"
                                      "          noisebench make mnist-flip --rate 0.2 --mode pair\n\n"
                                      "          noisebench make mnist-flip --matrix T.csv")
def make_mnist_flip(
    rate: float = typer.Option(0.1, "--rate", help="Probability that a training label is flipped, in [0, 1]."),
    mode: str = typer.Option("symmetric", "--mode", help="symmetric: to a uniformly chosen *different* class; pair: i -> i+1 mod K."),
    matrix: Optional[Path] = typer.Option(None, "--matrix", help="Custom K×K transition matrix (.npy/.csv/.txt; rows = true class, row-stochastic). Overrides --rate/--mode."),
    val_size: int = typer.Option(10000, "--val-size", help=_val_help(10000)),
    seed: int = typer.Option(0, help="Seed of the flips (the val split has its own --split-seed)."),
    split_seed: int = typer.Option(0, "--split-seed", help=SPLIT_SEED_HELP),
    source: Optional[Path] = typer.Option(None, "--source", help=SOURCE_HELP),
    download: bool = typer.Option(False, "--download", help=DOWNLOAD_HELP),
    no_verify: bool = typer.Option(False, "--no-verify", help=NO_VERIFY_HELP),
    name: Optional[str] = typer.Option(None, "--name", help=NAME_HELP),
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
    from noisebench.corruptors.label_flip import load_matrix, validate_rate
    from noisebench.generators.image_builds import build_flip, describe_flip

    _out_dir(out)
    if matrix is None:
        validate_rate(rate)
        if mode not in ("symmetric", "pair"):
            raise UserError(f"--mode must be symmetric or pair (or give --matrix FILE), got {mode!r}")
    else:
        from noisebench.bounds import MAX_MATRIX_BYTES
        from noisebench.safe_input import check_regular

        if matrix.is_dir():
            raise UserError(f"--matrix {matrix}: is a directory; give a .npy, .csv or .txt file")
        check_regular(matrix, "--matrix", MAX_MATRIX_BYTES)  # before loading anything: no FIFO, device or huge file
    _check_split_options(val_size, split_seed)
    _numbers(seed=seed)
    if matrix is None:
        from noisebench.generators.image_builds import flip_name

        _precheck("mnist", source, name, force, lambda nm: [out / flip_name(nm, seed, mode, rate, None, split_seed)], download)
    data = _load("mnist", source, download, no_verify, out, name)
    m = load_matrix(matrix, data.num_classes) if matrix is not None else None
    with progress_bar(data.x_train.shape[0] + data.x_test.shape[0], f"flip {data.name}", unit="img") as bar:
        paths = build_flip(data, out, rate=rate, mode=mode, matrix=m, val_size=val_size, seed=seed, force=force,
                           progress=bar.update, split_seed=split_seed)
    for p in paths:
        typer.echo(clean(f"wrote {p}"))
    typer.echo(f"{paths[-1].name}: {describe_flip(paths[-1])}")


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
    from noisebench.preview_grid import write_preview

    if per_class < 1 or per_class > 50:
        raise UserError(f"--per-class must be within 1..50, got {per_class}")
    from noisebench.safe_output import check_final

    check_final(out, force, what="--out")  # existing without --force, symlinks, non-regular files: refused
    info = write_preview(file, out, per_class=per_class, split=split)
    typer.echo(clean(f"wrote {out} ({info})"))
