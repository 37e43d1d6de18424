"""CLI: `make corrupt` (any registered image corruption, and the label corruption label_flip) and `make cifar10-c`
(test-only corrupted sets), thin layers over `nb.build` (noisebench/api/build.py)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from noisebench.cli import make_app
from noisebench.cli.images import (
    DOWNLOAD_OPT,
    NAME_OPT,
    NO_VERIFY_OPT,
    SOURCE_OPT,
    SPLIT_SEED_OPT,
    build,
    print_written,
)
from noisebench.defaults import DEFAULT_OUT

SEVERITY_HELP = "Severities 1..5: a comma list (1,3,5) or repeated flags (--severity 1 --severity 3)."
VAL_SIZE_HELP = ("Images carved from the official training set into a seeded, stratified val split (default 5,000; "
                 "10,000 for label_flip, as make mnist-flip; scaled down to 1/6 of the training set when it has fewer "
                 "than 6 times as many images). Model selection uses val; test is only reported.")
CONSTANTS_HELP = ("Severity constants: cifar10-c (32 px), tiny-imagenet-c (64 px) or imagenet-c (224 px); "
                  "default: the table of the nearest image size.")


@make_app.command("corrupt", epilog="Examples: noisebench make corrupt gaussian_noise --severity 3 --download\n\n"
                                   "          noisebench make corrupt fog --severity 1,3,5\n\n"
                                   "          noisebench make corrupt contrast --param c=0.2\n\n"
                                   "          noisebench make corrupt label_flip --param rate=0.1 --download\n\n"
                                   "          noisebench make corrupt list")
def make_corrupt(
    name: str = typer.Argument(..., help="A registered image corruption, or the label corruption label_flip (`list` prints them with their severities)."),
    severity: Optional[List[str]] = typer.Option(None, "--severity", metavar="S[,S...]", help=SEVERITY_HELP),
    param: Optional[List[str]] = typer.Option(None, "--param", help="The corruption's own parameter NAME=VALUE instead of a severity, one per flag (repeat --param; a value may hold a comma)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical files (any thread count)."),
    val_size: Optional[int] = typer.Option(None, "--val-size", help=VAL_SIZE_HELP),
    split_seed: int = SPLIT_SEED_OPT,
    source: Optional[Path] = SOURCE_OPT,
    download: bool = DOWNLOAD_OPT,
    no_verify: bool = NO_VERIFY_OPT,
    data_name: Optional[str] = NAME_OPT,
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads (default: CPU cores, at most 8). Output does not depend on it."),
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
    constants: Optional[str] = typer.Option(None, "--constants", metavar="TABLE", help=CONSTANTS_HELP),
):
    """Corrupt CIFAR-10 (train, val and test) with a registered image corruption: one file per severity.

    Writes OUT/cifar10-NAME-sevS.h5 per severity (with --param: OUT/cifar10-NAME-k1v1-k2v2.h5; suffix -sSEED
    for seed != 0, -splitN for --split-seed N != 0) plus the clean reference OUT/cifar10.h5 (same val split, as
    `make psi`) if it is missing. The 19 corruptions of CIFAR-10-C / ImageNet-C and their severity tables
    (--constants) are in docs/CORRUPTIONS.md; with CIFAR-10-C's table shot_noise severity s is
    ψ = 500, 250, 100, 75, 50. frost needs the `imagecorruptions` package's pictures
    (pip install 'noisebench[corruptions]').
    `make corrupt psi --param level=16` is `make psi --level 16` (the same file, OUT/cifar10-psi16.h5).

    The label corruption label_flip flips training labels instead (images unchanged, val and test clean):
    `make corrupt label_flip --param rate=0.1` is `make mnist-flip --rate 0.1` (MNIST when no --source is given,
    --val-size 10,000; the same file, OUT/mnist-flip0.1.h5; --param mode=pair, --param matrix=T.csv as there).
    """
    if name.strip().lower() == "list":
        _print_list()
        return
    print_written(build("corrupt", name=name, severity=severity, param=param, seed=seed, val_size=val_size,
                 split_seed=split_seed, source=source, download=download, no_verify=no_verify, data_name=data_name,
                 workers=workers, out=out, force=force, constants=constants))


def _print_list() -> None:
    from collections import Counter

    from noisebench.corruptors.sets import corruption_spec
    from noisebench.generators.builds.corrupt_params import format_value, image_corruption_names, non_image_corruptions

    def row(sev) -> str:
        return "; ".join(f"{s}: " + ", ".join(f"{k}={format_value(v)}" for k, v in p.items()) for s, p in sorted(sev.items()))

    names = image_corruption_names()
    tabled = [nm for nm in names if corruption_spec(nm).severities]
    names = tabled + [nm for nm in names if nm not in tabled]  # parameter-only ones (psi) last
    others = non_image_corruptions()
    typer.echo(f"{len(tabled)} image corruptions with severity tables (sets: benchmark = the 15 of the CIFAR-10-C "
               f"mean, extra = 4, all = 19); constant tables cifar10-c (32 px), tiny-imagenet-c (64 px), "
               f"imagenet-c (224 px); {len(names) - len(tabled)} with parameters only (--param)"
               + "".join(f"; {n} acting on {t}, not images (last)" for t, n in
                         sorted(Counter(str(e.meta.get("target")) for e in others).items())))
    for nm in names:
        sp = corruption_spec(nm)
        kind = "built-in" if sp.builtin else f"plug-in {sp.module}"
        typer.echo(f"{nm:18s} {sp.description}  [{kind}{'; ' + ', '.join(sp.sets[:1]) if sp.sets else ''}]")
        tables = sp.constants or ({"severities": sp.severities} if sp.severities else {})
        for t, sev in tables.items():
            typer.echo(f"{'':18s} {t}: {row(sev)}")
    for e in others:  # label corruptions (label_flip): files only, never nb.corrupt or the test-time sets
        kind = "built-in" if e.builtin else f"plug-in {e.module}"
        target = e.meta.get("target")
        typer.echo(f"{e.name:18s} {e.description}  [{kind}; acts on {target}, not images]")
        params = ", ".join(f"{k}={format_value(v) if v != '' else '(none)'}" for k, v in e.meta.get("params", {}).items())
        own = f"; its own command: noisebench {e.meta['command']}" if e.meta.get("command") else ""
        build = f"parameters (--param NAME=VALUE): {params}{own}" if e.meta.get("file_kind") else "no file build"
        typer.echo(f"{'':18s} {build}")


@make_app.command("cifar10-c", epilog="Examples: noisebench make cifar10-c\n\n"
                                     "          noisebench make cifar10-c --corruptions fog,contrast --severity 1,5\n\n"
                                     "          noisebench make cifar10-c --release ~/data/CIFAR-10-C")
def make_cifar10_c(
    corruptions: Optional[List[str]] = typer.Option(
        None, "--corruptions", metavar="SET|NAME[,NAME...]",
        help="benchmark (the 15 of the CIFAR-10-C mean; the default), extra (4), all (19), or registered image "
             "corruptions (a comma list or repeated flags). With --release the default is every file found."),
    severity: List[str] = typer.Option(["1,2,3,4,5"], "--severity", metavar="S[,S...]", help=SEVERITY_HELP),
    data: Optional[Path] = typer.Option(None, "--data", help="The clean noisebench file whose test split is corrupted (default: OUT/cifar10.h5)."),
    release: Optional[Path] = typer.Option(None, "--release", help="Convert the official CIFAR-10-C release in this folder (<corruption>.npy, labels.npy) instead of building."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical files."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads (default: CPU cores, at most 8). Output does not depend on it."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: the clean file's folder)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
    constants: Optional[str] = typer.Option(None, "--constants", metavar="TABLE", help=CONSTANTS_HELP),
):
    """Test-only corrupted sets: the clean file's test images at each severity, one file per corruption.

    Builds the benchmark 15 by default. Writes OUT/cifar10-c-NAME.h5 (-sSEED for seed != 0; -TABLE for a
    --constants table other than the image size's default): test/x stacks the severities in ascending order,
    test/severity tells each row's severity; the file records the clean file it came from. With --release DIR,
    converts the official CIFAR-10-C files into OUT/cifar10-c-release-NAME.h5 (same layout), paired with --data
    when that file exists. Build the clean file first with `noisebench make cifar10`.
    """
    print_written(build("cifar10-c", corruptions=corruptions, severity=severity, data=data, release=release,
                        seed=seed, workers=workers, out=out, force=force, constants=constants))
