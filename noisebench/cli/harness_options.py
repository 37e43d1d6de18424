"""Defaults, help texts and option parsers shared by the harness commands: `train`, `robustness`,
`report`, `lr-find` (noisebench/cli/train.py, robustness.py, report.py, lr_find.py)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DB = Path("results/noisebench.db")
DEFAULT_DATASETS = Path("datasets_cache")

DB_HELP = "Results database (SQLite)."
POLICY_HELP = "LR policy: fixed, step (StepLR), triangular (Smith's CLR), onecycle (fastai one-cycle)."


CKPT_HELP = ("Save the selected-epoch and last-epoch weights to checkpoints/ next to the database, "
              "keyed by run identity (torch.load(..., weights_only=True) reads them).")
TB_HELP = ("Write live TensorBoard curves (train/val/test metrics and lr per epoch) into DIR, one event folder per "
            "run (needs `pip install tensorboard`; view with `tensorboard --logdir DIR`).")
QUIET_HELP = ("Print only the summary: no progress bars (terminal) and no per-epoch/per-run lines (otherwise "
               "printed, one per line, when output is not a terminal).")
SUBSET_HELP = ("Smoke study: train/evaluate on a stratified subset of N rows of every split (the same rows in "
                "every run; part of the run's identity, so subset runs are separate runs).")


def policy_knobs(step_size, gamma, momentum, augment, subset=None) -> dict:
    from noisebench.harness.run.subset import validate_subset

    k = {"step_size": step_size, "gamma": gamma, "momentum": momentum, "augment": augment,
         "subset": validate_subset(subset)}
    return {a: b for a, b in k.items() if b is not None}


def activation_list(spec: str) -> list[str]:
    """--activation NAME[,NAME...] or all: the one list parser, then the one activation resolver."""
    from noisebench.harness.activations.resolve import resolve_activations
    from noisebench.safety.inputs import split_list

    return resolve_activations(split_list(spec, "--activation"), "--activation")


# older private names, kept for callers outside the package
_DB_HELP = DB_HELP
_CKPT_HELP = CKPT_HELP
_TB_HELP = TB_HELP
_POLICY_HELP = POLICY_HELP
_QUIET_HELP = QUIET_HELP
_SUBSET_HELP = SUBSET_HELP
_activations = activation_list
_knobs = policy_knobs
