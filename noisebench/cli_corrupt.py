"""CLI: `make corrupt` (any registered image corruption) and `make cifar10-c` (test-only corrupted sets)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from noisebench.cli import make_app
from noisebench.cli_data import DEFAULT_OUT, progress_bar
from noisebench.cli_images import (
    DOWNLOAD_HELP,
    NAME_HELP,
    NO_VERIFY_HELP,
    SOURCE_HELP,
    SPLIT_SEED_HELP,
    _check_split_options,
    _load,
    _out_dir,
    _precheck,
    _val_help,
)
from noisebench.errors import UserError

SEVERITY_HELP = "CIFAR-10-C severities 1..5, comma separated (e.g. 1,3,5)."


@make_app.command("corrupt", epilog="Examples: noisebench make corrupt gaussian_noise --severity 3 --download\n\n"
                                   "          noisebench make corrupt fog --severity 1,3,5\n\n"
                                   "          noisebench make corrupt contrast --param c=0.2\n\n"
                                   "          noisebench make corrupt list")
def make_corrupt(
    name: str = typer.Argument(..., help="A registered image corruption (`list` prints them with their severities)."),
    severity: Optional[str] = typer.Option(None, "--severity", help=SEVERITY_HELP),
    param: Optional[List[str]] = typer.Option(None, "--param", help="The corruption's own parameter NAME=VALUE instead of a severity (repeatable)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical files (any thread count)."),
    val_size: int = typer.Option(5000, "--val-size", help=_val_help(5000)),
    split_seed: int = typer.Option(0, "--split-seed", help=SPLIT_SEED_HELP),
    source: Optional[Path] = typer.Option(None, "--source", help=SOURCE_HELP),
    download: bool = typer.Option(False, "--download", help=DOWNLOAD_HELP),
    no_verify: bool = typer.Option(False, "--no-verify", help=NO_VERIFY_HELP),
    data_name: Optional[str] = typer.Option(None, "--name", help=NAME_HELP),
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads (default: CPU cores, at most 8). Output does not depend on it."),
    out: Path = typer.Option(DEFAULT_OUT, help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
):
    """Corrupt CIFAR-10 (train, val and test) with a registered image corruption: one file per severity.

    Writes OUT/cifar10-NAME-sevS.h5 per severity (with --param: OUT/cifar10-NAME-k1v1-k2v2.h5; suffix -sSEED
    for seed != 0, -splitN for --split-seed N != 0) plus the clean reference OUT/cifar10.h5 (same val split, as
    `make psi`) if it is missing. The 15 corruptions from CIFAR-10-C's generator
    and their severity tables are in docs/CORRUPTIONS.md; shot_noise severity s is ψ = 500, 250, 100, 75, 50
    (`make psi` keeps its own --level).
    """
    from noisebench.generators.corrupt_builds import (
        build_corrupt,
        corrupt_path,
        image_corruption,
        parse_param_args,
        parse_severities,
        plan_corrupt,
    )

    if name.strip().lower() == "list":
        _print_list()
        return
    sevs = parse_severities(severity)
    entry = image_corruption(name)
    params = parse_param_args(entry, list(param or []))
    plan = plan_corrupt(entry.name, sevs, params)  # validates before loading anything
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    if seed < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    _check_split_options(val_size, split_seed)
    _out_dir(out)
    _precheck("cifar10", source, data_name, force,
              lambda nm: [corrupt_path(nm, out, t[3], seed, split_seed) for t in plan], download)
    data = _load("cifar10", source, download, no_verify, out, data_name)
    total = len(plan) * (data.x_train.shape[0] + data.x_test.shape[0])
    with progress_bar(total, f"{entry.name} {data.name}", unit="img") as bar:
        paths = build_corrupt(data, entry.name, out, severities=sevs, params=params if not sevs else None,
                              seed=seed, force=force, workers=workers, progress=bar.update, val_size=val_size,
                              split_seed=split_seed)
    for p in paths:
        typer.echo(f"wrote {p}")


def _print_list() -> None:
    from noisebench.generators.corrupt_builds import format_value, image_corruption, image_corruption_names

    for nm in image_corruption_names():
        e = image_corruption(nm)
        sev = e.meta.get("severities") or {}
        row = "; ".join(f"{s}: " + ", ".join(f"{k}={format_value(v)}" for k, v in p.items()) for s, p in sorted(sev.items()))
        kind = "built-in" if e.builtin else f"plug-in {e.module}"
        typer.echo(f"{nm:18s} {e.description}  [{kind}]")
        if row:
            typer.echo(f"{'':18s} severities {row}")


@make_app.command("cifar10-c", epilog="Examples: noisebench make cifar10-c\n\n"
                                     "          noisebench make cifar10-c --corruptions fog,contrast --severity 1,5\n\n"
                                     "          noisebench make cifar10-c --release ~/data/CIFAR-10-C")
def make_cifar10_c(
    corruptions: str = typer.Option("all", "--corruptions", help="Comma list of registered image corruptions, or all."),
    severity: str = typer.Option("1,2,3,4,5", "--severity", help=SEVERITY_HELP),
    data: Optional[Path] = typer.Option(None, "--data", help="The clean noisebench file whose test split is corrupted (default: OUT/cifar10.h5)."),
    release: Optional[Path] = typer.Option(None, "--release", help="Convert the official CIFAR-10-C release in this folder (<corruption>.npy, labels.npy) instead of building."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical files."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads (default: CPU cores, at most 8). Output does not depend on it."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: the clean file's folder)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
):
    """Test-only corrupted sets: the clean file's test images at each severity, one file per corruption.

    Writes OUT/cifar10-c-NAME.h5 (-sSEED for seed != 0): test/x stacks the severities in ascending order,
    test/severity tells each row's severity; the file records the clean file it came from. With --release DIR,
    converts the official CIFAR-10-C files into OUT/cifar10-c-release-NAME.h5 (same layout), paired with --data
    when that file exists. Build the clean file first with `noisebench make cifar10`.
    """
    from noisebench.generators.cifar10c_builds import build_cifar10_c, build_release, resolve_names
    from noisebench.generators.corrupt_builds import parse_severities

    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    if release is not None:
        clean = data if data is not None else (out or DEFAULT_OUT) / "cifar10.h5"
        if data is not None and not data.exists():
            raise UserError(f"--data {data}: no such file")
        names = None if corruptions.strip().lower() == "all" else [c.strip() for c in corruptions.split(",") if c.strip()]
        if severity.replace(" ", "") != "1,2,3,4,5":
            raise UserError("--severity does not apply to --release (the release holds severities 1-5)")
        target = out or (clean.parent if clean.exists() else DEFAULT_OUT)
        _out_dir(target)
        paths = build_release(release, target, clean if clean.exists() else None, names, force=force)
    else:
        clean = data if data is not None else (out or DEFAULT_OUT) / "cifar10.h5"
        if not clean.exists():
            raise UserError(f"{clean}: no clean file; build it with `noisebench make cifar10` (or pass --data FILE)")
        sevs = parse_severities(severity)
        if not sevs:
            raise UserError("--severity is empty; give severities 1..5 separated by commas")
        names = resolve_names(corruptions)
        target = out or clean.parent
        _out_dir(target)
        from noisebench.h5format import open_file

        with open_file(clean) as f:
            n = f.datasets["test/x"].shape[0] if "test" in f.splits else 0
        with progress_bar(n * len(sevs) * len(names), "cifar10-c", unit="img") as bar:
            paths = build_cifar10_c(clean, names, sevs, target, seed=seed, force=force, workers=workers,
                                    progress=bar.update, skip_unsupported=corruptions.strip().lower() == "all")
    for p in paths:
        typer.echo(f"wrote {p}")
