"""CLI: `evaluate` -- score a model noisebench did not train on clean and corrupted test sets
(thin over nb.evaluate, noisebench/api/evaluate.py)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import typer

from noisebench.cli import app
from noisebench.cli.harness_options import DB_HELP, DEFAULT_DB
from noisebench.errors import UserError


def _floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--normalize {what}: {text[:40]!r} is not a comma list of numbers") from None
    if not vals:
        raise UserError(f"--normalize {what} is empty")
    return vals


@app.command(epilog="Examples:\n\n"
             "  noisebench evaluate --model resnet18 --weights resnet18.pt --data datasets_cache/cifar10.h5 "
             "--corruptions benchmark\n\n"
             "  noisebench evaluate --model mynet.py:build --data datasets_cache/cifar10.h5 --corruptions all "
             "--normalize 0.4914,0.4822,0.4465 0.2470,0.2435,0.2616\n\n"
             "  noisebench evaluate --model mynet.py:build --datasets datasets_cache/psi16.h5 --precision fp32\n\n"
             "  noisebench evaluate --model mynet.py:build --data datasets_cache/cifar10.h5 --corruptions benchmark "
             "--release --reference robustbench-standard")
def evaluate(
    model: str = typer.Option(..., "--model", help="A registered model (see `noisebench zoo`; needs --weights) or "
                              "FILE.py:FUNCTION, a factory returning a torch.nn.Module (loaded like a plug-in)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="A state dict saved with torch.save(model."
                                           "state_dict()) (read with weights_only=True), or a run's selected.pt."),
    activation: str = typer.Option("relu", "--activation", help="Activation of a registered model."),
    data: Optional[Path] = typer.Option(None, "--data", help="The clean file: its test split, and the file its "
                                        "corrupted test sets pair with."),
    corruptions: Optional[str] = typer.Option(None, "--corruptions", help="benchmark (CIFAR-10-C's 15, those "
                                              "available), extra, all, or a comma list; needs --data."),
    severity: str = typer.Option("1,2,3,4,5", "--severity", help="Comma list of severities 1..5."),
    datasets: List[Path] = typer.Option(None, "--datasets", help="Other test sets (repeatable): a ψ file, a "
                                        "`make cifar10-c` set, a converted --release set, any noisebench file's test split."),
    release: bool = typer.Option(False, "--release", help="--corruptions from the converted official CIFAR-10-C files "
                                 "(`make cifar10-c --release`) instead of ours."),
    datasets_dir: Optional[Path] = typer.Option(None, "--datasets-dir", help="Folder of the corrupted sets (default: "
                                                "the clean file's folder)."),
    normalize: Optional[Tuple[str, str]] = typer.Option(None, "--normalize", help="MEAN STD: per-channel comma lists "
                                                        "in [0, 1] units (default: the model's declared preprocessing; "
                                                        "a registered model: the clean file's train statistics; else none)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per batch (default 2048 on CUDA, "
                                             "1024 on CPU)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 autocast + channels_last on CUDA, fp32 on "
                                  "CPU), bf16 or fp32."),
    name: Optional[str] = typer.Option(None, "--name", help="Label in tables and exports (default: MODEL/ACTIVATION "
                                       "or FILE:FUNCTION)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="CE / mCE against this model: the name of an "
                                            "evaluated model in --db, or robustbench-standard (WRN-28-10)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=DB_HELP),
    force: bool = typer.Option(False, "--force", help="Evaluate again what the database already holds."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
):
    """Evaluate a trained classifier on the clean test split and corrupted test sets: top-1 accuracy per set
    × severity, clean accuracy, mean corruption accuracy over the benchmark corruptions, and CE / mCE against
    --reference. Rows go into the results database keyed by the weights' hash, the model's source hash, the
    data digests and the preprocessing; `noisebench report` shows them beside trained models and `noisebench
    export --format robustbench-json` writes RobustBench's leaderboard JSON."""
    from noisebench.api.evaluate import evaluate as nb_evaluate
    from noisebench.generators.builds.corrupt_params import parse_severities

    norm = (_floats(normalize[0], "MEAN"), _floats(normalize[1], "STD")) if normalize else None
    res = nb_evaluate(model, data=data, corruptions=corruptions, severity=parse_severities(severity),
                      datasets=list(datasets or ()), release=release, datasets_dir=datasets_dir, normalize=norm,
                      weights=weights, activation=activation, name=name, reference=reference, db=db, device=device,
                      precision=precision, batch_size=batch_size, force=force, quiet=quiet)
    typer.echo(res.table())
    new = sum(1 for r in res.rows if not r.get("reused"))
    typer.echo(f"{new} evaluations recorded in {db}, {len(res.rows) - new} already there (key {res.key[:12]})")
