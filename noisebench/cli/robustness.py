"""CLI: `robustness`, the clean-vs-dirty (train-time) or corrupted-test-set (test-time) study of activations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app
from noisebench.cli.harness_options import (
    CKPT_HELP,
    DB_HELP,
    DEFAULT_DATASETS,
    DEFAULT_DB,
    POLICY_HELP,
    QUIET_HELP,
    SUBSET_HELP,
    TB_HELP,
    activation_list,
    policy_knobs,
)
from noisebench.errors import UserError
from noisebench.safety.text import clean


@app.command(epilog="Examples: noisebench robustness --activation all --suite synth\n\n"
             "noisebench robustness --activation elu,mish --data datasets_cache/cifar10-psi16.h5 --seeds 3\n\n"
             "noisebench robustness --protocol test-time --data datasets_cache/cifar10.h5 --activation elu,mish")
def robustness(
    activation: list[str] = typer.Option(["relu"], "--activation", metavar="NAME[,NAME...]",
                                         help="Activation(s): a name, a comma list (relu,elu) or repeated flags, or all (the zoo)."),
    data: Optional[list[Path]] = typer.Option(None, "--data", help="Dirty file(s), one per flag (repeat --data; a comma can be part of a file name); the clean one is found via its clean_reference. "
                                            "Test-time: the clean file."),
    suite: Optional[str] = typer.Option(None, help="synth, mnist, psi or all: standard files in --datasets-dir."),
    datasets_dir: Optional[Path] = typer.Option(None, help=f"Where --suite looks for the files (default {DEFAULT_DATASETS}); "
                                                "test-time: where the corrupted test sets are (default: the clean file's folder)."),
    seeds: int = typer.Option(3, help="Seeds per configuration (0 .. N-1)."),
    model: Optional[str] = typer.Option(None, help="Override the dataset's model (default: the one the source study used)."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's epochs."),
    batch_size: Optional[int] = typer.Option(None, help="Override the recipe's batch size."),
    lr: Optional[float] = typer.Option(None, help="Override the recipe's learning rate."),
    optimizer: Optional[str] = typer.Option(None, help="Override the optimizer: adam, adamw, sgd."),
    lr_policy: Optional[str] = typer.Option(None, help=POLICY_HELP),
    weight_decay: Optional[float] = typer.Option(None, help="Override the recipe's weight decay."),
    step_size: Optional[int] = typer.Option(None, help="StepLR step in epochs (policy step)."),
    gamma: Optional[float] = typer.Option(None, help="StepLR factor (policy step)."),
    momentum: Optional[float] = typer.Option(None, help="SGD momentum (default 0.9)."),
    subset: Optional[int] = typer.Option(None, "--subset", help=SUBSET_HELP),
    device: str = typer.Option("auto", help="auto (CUDA if available), cpu, cuda, cuda:N."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile each model (GPU)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Runs trained at once in worker processes (CPU: 1 thread each; use the number of free cores). Results do not depend on it."),
    executor: str = typer.Option("local", "--executor", help="local (this machine) or ray (a Ray cluster; as `noisebench grid`)."),
    address: Optional[str] = typer.Option(None, "--address", help="ray: auto (cluster started by `ray start` here) or HOST:PORT (default: RAY_ADDRESS, else a local Ray)."),
    gpus_per_run: Optional[float] = typer.Option(None, "--gpus-per-run", help="ray: GPUs per run, fractions share a GPU (default: 1 if the cluster has GPUs, else 0)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=DB_HELP),
    force: bool = typer.Option(False, "--force", help="Rerun configurations already in the database."),
    save_checkpoint: bool = typer.Option(False, "--save-checkpoint", help=CKPT_HELP),
    tensorboard: Optional[Path] = typer.Option(None, "--tensorboard", metavar="DIR", help=TB_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    protocol: str = typer.Option("train-time", help="train-time: train on the clean and the dirty file, compare; "
                                 "test-time: train once on the clean --data file, evaluate on its corrupted test sets."),
    corruptions: list[str] = typer.Option(["benchmark"], metavar="SET|NAME[,NAME...]",
                                          help="Test-time: corruptions to evaluate on: benchmark (the 15 of the CIFAR-10-C "
                                               "mean), extra, all (19), or names (comma list or repeated flags)."),
    severity: list[str] = typer.Option(["1,2,3,4,5"], metavar="S[,S...]",
                                       help="Test-time: severities 1..5 (comma list or repeated flags)."),
    baseline: str = typer.Option("relu", help="Test-time: the activation CE/mCE are normalised by (added when missing)."),
    official: bool = typer.Option(False, "--official", help="Test-time: evaluate on the converted official CIFAR-10-C "
                                  "files (make cifar10-c --release DIR --data CLEAN) instead of ours."),
):
    """Train-time protocol (default): train each activation on the clean and the dirty variant of each
    dataset over seeds; print clean, dirty and delta (mean ± std, 95% t CI) and the null-run count.
    Test-time protocol (--protocol test-time): train once per activation and seed on the clean file, evaluate
    the val-selected weights on every corrupted test set and severity; print mCE and friends.
    Resumable: finished runs and recorded evaluations are skipped."""
    from noisebench.safety.inputs import split_list

    if protocol not in ("train-time", "test-time"):
        raise UserError(f"--protocol must be train-time or test-time, got {protocol!r}")
    if protocol == "test-time":
        from noisebench.cli.testtime import run_testtime

        return run_testtime(
            data=data, suite=suite, datasets_dir=datasets_dir, seeds=seeds,
            activations=activation_list(",".join(split_list(activation, "--activation"))),
            overrides=dict(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                           lr_policy=lr_policy, weight_decay=weight_decay),
            knobs=policy_knobs(step_size, gamma, momentum, None, subset), device=device, compile=compile, jobs=jobs, db=db,
            force=force, corruptions=",".join(corruptions), severity=",".join(severity), baseline=baseline,
            official=official, executor=lambda root: _executor(executor, jobs, root, None, "quiet", address, gpus_per_run))
    from noisebench.harness.plan.pairs import pair_for
    from noisebench.harness.plan.robustness import format_table, recipe_line, run_robustness, suite_files
    from noisebench.harness.run.artifacts import checkpoint_dir_for
    from noisebench.progress import choose, say

    mode = choose(quiet)
    if tensorboard is not None:
        from noisebench.harness.run.artifacts import check_tensorboard_dir

        check_tensorboard_dir(tensorboard)  # package installed, a writable folder: before any training
    if seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {seeds}")
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    from noisebench.safety import bounds

    bounds.check_seed_count(seeds)
    bounds.check_int(jobs, "--jobs", 1, bounds.MAX_JOBS)
    files = list(data or [])
    if suite:
        files += suite_files(suite, datasets_dir or DEFAULT_DATASETS)
    if not files:  # the corrupted files already in the datasets folder, else the synth suite built there
        from noisebench.harness.plan.default_data import default_dirty_files

        files = default_dirty_files(datasets_dir or DEFAULT_DATASETS, note=lambda m: say(m, mode))
    acts = activation_list(",".join(split_list(activation, "--activation")))
    pairs = [pair_for(f) for f in files]  # refuses pairs that are not clean/dirty twins
    overrides = dict(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                     lr_policy=lr_policy, weight_decay=weight_decay)
    for p in pairs:
        say(recipe_line(p, overrides), mode)
    ckpt = checkpoint_dir_for(db) if save_checkpoint else None
    ex = _executor(executor, jobs, ckpt, tensorboard, mode, address, gpus_per_run)
    res = run_robustness(pairs, acts, list(range(seeds)), db, overrides, policy_knobs(step_size, gamma, momentum, None, subset),
                         device, compile, force=force, executor=ex, progress=mode)
    out = res.grid
    typer.echo("train-time protocol (trained on the clean and on the dirty file)")
    typer.echo(clean(format_table(res.rows), keep_newlines=True))
    typer.echo(clean(f"{out.ran} runs trained ({out.ok} ok, {out.null} null, {out.failed} failed), {out.skipped} already in {db}"))
    for label, err in out.failures[:5]:
        typer.echo(clean(f"failed: {label}: {err}"), err=True)


def _executor(kind, jobs, checkpoint_dir, tensorboard_dir, mode, address, gpus_per_run):
    from noisebench.harness.plan.study_runner import make_executor

    if kind != "ray" and (address is not None or gpus_per_run is not None):
        raise UserError("--address and --gpus-per-run are for --executor ray")
    ray = {"gpus_per_run": gpus_per_run} if kind == "ray" else {}
    return make_executor(kind, jobs, checkpoint_dir, tensorboard_dir, progress=mode, address=address, **ray)
