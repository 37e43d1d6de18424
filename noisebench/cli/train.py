"""CLI: `train`, one model on one file (thin over harness/run/runner.py `execute_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app
from noisebench.cli.harness_options import (
    CKPT_HELP,
    DB_HELP,
    DEFAULT_DB,
    POLICY_HELP,
    QUIET_HELP,
    SUBSET_HELP,
    TB_HELP,
    policy_knobs,
)
from noisebench.errors import UserError
from noisebench.safety.text import clean


@app.command(epilog="Example: noisebench train --model resnet18 --activation mish --data datasets_cache/cifar10-psi16.h5 --epochs 30 --seed 0")
def train(
    data: Path = typer.Option(..., "--data", help="A noisebench HDF5 file (clean or dirty)."),
    model: Optional[str] = typer.Option(None, help="Model (default: the dataset's recipe; see `noisebench zoo`)."),
    activation: str = typer.Option("relu", help="Activation name or pkg.module:Class."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (default: recipe)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default: recipe)."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (max LR for triangular/onecycle; default: recipe)."),
    optimizer: Optional[str] = typer.Option(None, help="adam, adamw or sgd (default: recipe)."),
    lr_policy: Optional[str] = typer.Option(None, help=POLICY_HELP),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay (default: recipe)."),
    step_size: Optional[int] = typer.Option(None, help="StepLR step in epochs (policy step)."),
    gamma: Optional[float] = typer.Option(None, help="StepLR factor (policy step)."),
    momentum: Optional[float] = typer.Option(None, help="SGD momentum (default 0.9)."),
    augment: Optional[str] = typer.Option(None, help="none, crop_flip or flip_rot30 (flip p=0.4 + rotation ±30°) (default: crop_flip for CIFAR, else none)."),
    subset: Optional[int] = typer.Option(None, "--subset", help=SUBSET_HELP),
    seed: int = typer.Option(0, help="Seed of the weights, data order and augmentation."),
    device: str = typer.Option("auto", help="auto (CUDA if available), cpu, cuda, cuda:N."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the model (GPU; slower start)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=DB_HELP),
    force: bool = typer.Option(False, "--force", help="Train again even if this exact run is in the database."),
    save_checkpoint: bool = typer.Option(False, "--save-checkpoint", help=CKPT_HELP),
    tensorboard: Optional[Path] = typer.Option(None, "--tensorboard", metavar="DIR", help=TB_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Verify the data and print the run key and every input it hashes; train nothing, write nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
):
    """Train one model on one file from fresh weights, record it in the database, print its metrics.

    The reported epoch is selected on the val split (max val top-1; min val MSE for regression);
    test is reported at that epoch, beside the last epoch's values. The data is re-hashed against
    its recorded checksums before use (cached per unchanged file)."""
    from noisebench.harness.plan.expand import config_from_recipe
    from noisebench.harness.plan.pairs import file_meta
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.run.artifacts import checkpoint_dir_for
    from noisebench.harness.run.checks import preflight
    from noisebench.harness.run.data import data_role
    from noisebench.harness.run.recipes import recipe_for
    from noisebench.harness.run.runner import execute_run
    from noisebench.progress import choose, say

    mode = choose(quiet)
    if tensorboard is not None:
        from noisebench.harness.run.artifacts import check_tensorboard_dir

        check_tensorboard_dir(tensorboard)  # package installed, a writable folder: before any training
    meta = file_meta(data)
    try:
        recipe = recipe_for(meta)
    except UserError:
        if model is None:
            raise
        from noisebench.harness.run.recipes import RECIPES

        recipe = RECIPES["cifar10"]
    say(f"recipe: {recipe.name} ({recipe.source})" if recipe.source else f"recipe: {recipe.name}", mode)
    recipe = recipe.with_overrides(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                                   lr_policy=lr_policy, weight_decay=weight_decay)
    cfg = config_from_recipe(data, data_role(meta), recipe, activation, seed, device, compile,
                             policy_knobs(step_size, gamma, momentum, augment, subset))
    preflight(cfg)
    if dry_run:
        _print_key_inputs(cfg)
        return
    with ResultsDB(db) as rdb:
        if rdb.has(cfg.key()) and not force:
            r = rdb.runs(key=cfg.key())[0]
            typer.echo(clean(f"already in {db} (status {r['status']}, final {r['metric']} = {r['metric_value']}); --force to retrain"))
            return
        res = execute_run(cfg, progress=mode, checkpoint_dir=checkpoint_dir_for(db) if save_checkpoint else None,
                          tensorboard_dir=tensorboard)
        rdb.record(res)
    f = res.final
    if res.status == "failed":
        raise UserError(f"run failed: {res.error}")
    extra = f" — null run: {res.null_cause}" if res.status == "null" else ""
    sps = f.get("samples_per_s")
    if res.status == "ok":
        typer.echo(clean(_selection_line(f)))
    typer.echo(clean(
        f"{cfg.label()}: {res.status}{extra}; reported {f.get('metric')} = {f.get('metric_value')}; "
        f"{res.wall_s:.1f} s wall, {sps:.0f} samples/s on {res.device}; recorded in {db}" if sps else
        f"{cfg.label()}: {res.status}{extra}; recorded in {db}"
    ))


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _selection_line(f: dict) -> str:
    """'selected epoch 7 by max_val_acc: val 0.81, test 0.80; last epoch 10: val 0.79, test 0.78'."""
    x = "acc" if f.get("selection_metric") == "val_acc" else "loss"
    return (f"selected epoch {f.get('selected_epoch')} by {f.get('selection_rule')} (val only): "
            f"val {_fmt(f.get(f'selected_val_{x}'))}, test {_fmt(f.get(f'selected_test_{x}'))}; "
            f"last epoch {f.get('last_epoch')}: val {_fmt(f.get(f'last_val_{x}'))}, test {_fmt(f.get(f'last_test_{x}'))}")


def _print_key_inputs(cfg) -> None:
    """`train --dry-run`: the run key and every input it is the hash of."""
    import json

    from noisebench.harness.run.identity import key_inputs, run_identity, run_key

    ident = run_identity(cfg)
    typer.echo(f"run key: {run_key(cfg, ident)}")
    typer.echo("key inputs (the sha256 of their canonical JSON):")
    typer.echo(json.dumps(key_inputs(cfg, ident), indent=2, sort_keys=True))
    typer.echo(f"recorded beside it (information, not in the key): git_commit = {ident.get('git_commit')}, "
               f"data path = {cfg.data}, recipe = {cfg.recipe or '-'}")
    typer.echo("dry run: nothing trained, nothing recorded")
