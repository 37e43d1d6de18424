"""CLI: `make cifar100`, `make fashion-mnist`, `make svhn`, `make cifar10n`, `make cifar100n` and
`make cifar100-c` (thin layers over `nb.build`, noisebench/api/build.py, imported inside each command)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from noisebench.cli import make_app
from noisebench.cli.corrupt import CONSTANTS_HELP
from noisebench.cli.images import (
    DOWNLOAD_OPT,
    NAME_OPT,
    NO_VERIFY_OPT,
    SOURCE_OPT,
    SPLIT_SEED_OPT,
    build,
    print_written,
    val_help,
)

OUT_OPT = typer.Option(Path("datasets_cache"), "--out", help="Output folder.")
FORCE_OPT = typer.Option(False, "--force", help="Overwrite an existing output file.")


def _build(kind: str, **options):
    print_written(build(kind, **options))


@make_app.command("cifar100", epilog="Examples: noisebench make cifar100 --download\n\n"
                                    "          noisebench make cifar100 --label-type coarse --source ~/data/cifar-100-python")
def make_cifar100(
    label_type: str = typer.Option("fine", "--label-type", help="fine (100 classes) or coarse (the 20 superclasses; "
                                   "the file is then cifar100_coarse.h5)."),
    val_size: int = typer.Option(5000, "--val-size", help=val_help(5000)),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    download: bool = DOWNLOAD_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    out: Path = OUT_OPT,
    force: bool = FORCE_OPT,
):
    """The clean CIFAR-100 reference (OUT/cifar100.h5) from the official cifar-100-python/ pickles (train, test,
    meta; md5-checked): train/val carved from the 50,000 training images, the official 10,000 test images.
    Every other build reads it too: `make psi|corrupt|mnist-flip --source .../cifar-100-python` (fine labels),
    `make cifar100-c`, `make cifar100n`."""
    _build("cifar100", label_type=label_type, val_size=val_size, split_seed=split_seed, source=source,
           download=download, no_verify=no_verify, name=name, out=out, force=force)


@make_app.command("fashion-mnist", epilog="Example: noisebench make fashion-mnist --download")
def make_fashion_mnist(
    val_size: int = typer.Option(10000, "--val-size", help=val_help(10000)),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    download: bool = DOWNLOAD_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    out: Path = OUT_OPT,
    force: bool = FORCE_OPT,
):
    """The clean Fashion-MNIST reference (OUT/fashion_mnist.h5) from the official idx files in FashionMNIST/raw/
    (md5-checked). Images stay 28×28 in the file."""
    _build("fashion-mnist", val_size=val_size, split_seed=split_seed, source=source, download=download,
           no_verify=no_verify, name=name, out=out, force=force)


@make_app.command("svhn", epilog="Examples: noisebench make svhn --download\n\n"
                                "          noisebench make svhn --extra --source ~/data/svhn")
def make_svhn(
    extra: bool = typer.Option(False, "--extra", help="Append the 531,131 images of extra_32x32.mat to the training "
                               "set (the file is then svhn_extra.h5)."),
    val_size: int = typer.Option(5000, "--val-size", help=val_help(5000)),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    download: bool = DOWNLOAD_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    out: Path = OUT_OPT,
    force: bool = FORCE_OPT,
):
    """The clean SVHN reference (OUT/svhn.h5) from the official train_32x32.mat / test_32x32.mat (md5-checked).
    SVHN labels the digit 0 as 10: it is stored as 0, so class i is digit i."""
    _build("svhn", extra=extra, val_size=val_size, split_seed=split_seed, source=source, download=download,
           no_verify=no_verify, name=name, out=out, force=force)


LABELS_HELP = ("The CIFAR-N label file ({file} from github.com/UCSC-REAL/cifar-10-100n, data/); default: "
               "OUT/raw/cifar-n/{file}. Read through a restricted loader (label arrays only) and checked against "
               "its official md5 unless --no-verify.")
N_DOWNLOAD_HELP = "Fetch the official label file (and the CIFAR images when missing) into OUT/raw/ first."


@make_app.command("cifar10n", epilog="Examples: noisebench make cifar10n --noise aggre --download\n\n"
                                    "          noisebench make cifar10n --noise worst --labels CIFAR-10_human.pt "
                                    "--source ~/data/cifar-10-batches-py")
def make_cifar10n(
    noise: str = typer.Option("aggre", "--noise", help="Which human labels: aggre (majority of 3, 9.03 % noisy), "
                              "random1|random2|random3 (one annotator, ~17-18 %) or worst (40.21 %)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help=LABELS_HELP.format(file="CIFAR-10_human.pt")),
    download: bool = typer.Option(False, "--download", help=N_DOWNLOAD_HELP),
    val_size: int = typer.Option(5000, "--val-size", help=val_help(5000)),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    out: Path = OUT_OPT,
    force: bool = FORCE_OPT,
):
    """Real human label noise on CIFAR-10 (CIFAR-10N): training labels from the CIFAR-N annotators; val (carved
    from the training set) and test keep the clean labels.

    Writes OUT/cifar10n-NOISE.h5 and the clean reference OUT/cifar10.h5 (same split) if missing. The clean labels
    and the flip mask are stored in truth/; the realized noise rate (train split and all 50,000), the published
    rate and the transition matrix in the attributes (`noisebench info`, `noisebench card`)."""
    _build("cifar10n", noise=noise, labels=labels, download=download, val_size=val_size, split_seed=split_seed,
           source=source, no_verify=no_verify, name=name, out=out, force=force)


@make_app.command("cifar100n", epilog="Example: noisebench make cifar100n --labels CIFAR-100_human.pt "
                                     "--source ~/data/cifar-100-python")
def make_cifar100n(
    noise: str = typer.Option("noisy", "--noise", help="noisy (the one CIFAR-100N label set, 40.20 % noisy)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help=LABELS_HELP.format(file="CIFAR-100_human.pt")),
    download: bool = typer.Option(False, "--download", help=N_DOWNLOAD_HELP),
    val_size: int = typer.Option(5000, "--val-size", help=val_help(5000)),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    name: Optional[str] = NAME_OPT,
    out: Path = OUT_OPT,
    force: bool = FORCE_OPT,
):
    """Real human label noise on CIFAR-100 (CIFAR-100N, fine labels): writes OUT/cifar100n-noisy.h5 and the clean
    OUT/cifar100.h5 (same split) if missing; as `make cifar10n`."""
    _build("cifar100n", noise=noise, labels=labels, download=download, val_size=val_size, split_seed=split_seed,
           source=source, no_verify=no_verify, name=name, out=out, force=force)


@make_app.command("cifar100-c", epilog="Examples: noisebench make cifar100-c\n\n"
                                      "          noisebench make cifar100-c --release ~/data/CIFAR-100-C")
def make_cifar100_c(
    corruptions: Optional[List[str]] = typer.Option(
        None, "--corruptions", metavar="SET|NAME[,NAME...]",
        help="benchmark (the 15 of the CIFAR-100-C mean; the default), extra (4), all (19), or registered image "
             "corruptions (a comma list or repeated flags). With --release the default is every file found."),
    severity: List[str] = typer.Option(["1,2,3,4,5"], "--severity", metavar="S[,S...]",
                                       help="Severities 1..5 (the CIFAR-10-C constants, which CIFAR-100-C shares)."),
    constants: Optional[str] = typer.Option(None, "--constants", metavar="TABLE", help=CONSTANTS_HELP),
    data: Optional[Path] = typer.Option(None, "--data", help="The clean file whose test split is corrupted (default: OUT/cifar100.h5)."),
    release: Optional[Path] = typer.Option(None, "--release", help="Convert the official CIFAR-100-C release in this folder (<corruption>.npy, labels.npy) instead of building."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical files."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads (default: CPU cores, at most 8). Output does not depend on it."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: the clean file's folder)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
):
    """Test-only corrupted CIFAR-100 sets, as `make cifar10-c`: OUT/cifar100-c-NAME.h5 from the clean cifar100.h5
    (build it first with `noisebench make cifar100`), or OUT/cifar100-c-release-NAME.h5 from the official release."""
    _build("cifar100-c", corruptions=corruptions, severity=severity, data=data, release=release, seed=seed,
           workers=workers, out=out, force=force, constants=constants)
