"""``nb.Study`` / ``nb.run_study``: a grid of runs from Python, on the same engine as
``noisebench grid`` and ``noisebench robustness`` (one expansion, one executor path, one resume
rule: runs already in the database are not trained again).

    import noisebench as nb
    rows = nb.run_study(data=["datasets_cache/synth-7000-dirty.h5"], activations=["relu", "elu"],
                        seeds=2, epochs=5, db="results/noisebench.db")
    rows.to_pandas()   # when pandas is installed

    rows = nb.run_preset("synth-robustness", seeds=1)   # a shipped study preset (docs/STUDIES.md)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from noisebench.errors import UserError
from noisebench.harness.plan.expand import expand
from noisebench.harness.plan.spec import KNOB_KEYS, OVERRIDE_KEYS, GridSpec
from noisebench.harness.plan.study_runner import make_executor, run_configs
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.run.artifacts import checkpoint_dir_for
from noisebench.harness.studies.datasets import build_missing
from noisebench.harness.studies.plan import StudyFlags, plan
from noisebench.harness.studies.preset import load_preset
from noisebench.progress import MODES, choose

__all__ = ["Study", "StudyRows", "make_executor", "run_configs_rows", "run_preset", "run_study"]


class StudyRows(list):
    """The study's runs as dicts (one per run, database columns with JSON decoded)."""

    def to_pandas(self):
        try:
            import pandas as pd  # optional: only when the caller asks for a DataFrame
        except ImportError:
            raise UserError("to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(list(self))


@dataclass
class Study:
    data: Sequence[str | Path]
    activations: Sequence[str] = ("relu",)
    models: Sequence[str] | None = None
    lrs: Sequence[float] | None = None
    seeds: int | Sequence[int] = 3
    db: str | Path = "results/noisebench.db"
    executor: str = "local"  # or "ray"
    jobs: int = 1
    device: str = "auto"
    add_clean: bool = True
    force: bool = False
    save_checkpoint: bool = False
    progress: bool | str = False  # True: bars on a terminal, else one line per epoch and run (noisebench/progress.py)
    overrides: dict = field(default_factory=dict)  # epochs, batch_size, optimizer, lr_policy, weight_decay,
    #                                                 step_size, gamma, momentum, augment, subset

    def spec(self):
        unknown = set(self.overrides) - set(OVERRIDE_KEYS) - set(KNOB_KEYS)
        if unknown:
            raise UserError(f"unknown study setting(s) {', '.join(sorted(unknown))}; "
                            f"valid: {', '.join(OVERRIDE_KEYS + KNOB_KEYS)}")
        seeds = list(range(self.seeds)) if isinstance(self.seeds, int) else [int(s) for s in self.seeds]
        models = _names(self.models)
        return GridSpec(data=[Path(p) for p in _names(self.data)], models=models or None,
                        activations=_names(self.activations), lrs=list(self.lrs) if self.lrs else None, seeds=seeds,
                        overrides={k: v for k, v in self.overrides.items() if k in OVERRIDE_KEYS},
                        knobs={k: v for k, v in self.overrides.items() if k in KNOB_KEYS},
                        device=self.device, add_clean=self.add_clean, source="Study")

    def plan(self) -> list:
        """The RunConfigs of the study, in order (nothing trained)."""

        return expand(self.spec())

    def run(self) -> StudyRows:
        """Train what is not yet in the database; returns every run of the study (done before or now)."""

        configs = self.plan()
        ckpt = checkpoint_dir_for(self.db) if self.save_checkpoint else None
        mode = choose() if self.progress is True else (self.progress or "quiet")
        if mode not in MODES:
            raise UserError(f"progress must be True, False or one of {', '.join(MODES)}, got {self.progress!r}")
        return run_configs_rows(configs, self.db, make_executor(self.executor, self.jobs, ckpt, progress=mode),
                                self.force, progress=mode)


def _names(v) -> list:
    """A list of names or paths; one string (or path) is one name, not a sequence of letters."""
    if v is None:
        return []
    return [v] if isinstance(v, (str, Path)) else list(v)


def run_configs_rows(configs: list, db, ex, force: bool, on_result=None, outcome: list | None = None,
                     progress: str = "quiet") -> StudyRows:
    """Train the configs through the one runner (harness/plan/study_runner.py) into the database at `db`; returns
    every run of them (done before or now). `outcome` (a list) receives the GridOutcome."""

    with ResultsDB(db) as rdb:
        out = run_configs(configs, rdb, ex, force=force, progress=progress, on_result=on_result)
        keys = {c.key() for c in configs}
        by_key = {r["key"]: r for r in rdb.runs() if r["key"] in keys}
    if outcome is not None:
        outcome.append(out)
    return StudyRows(by_key[c.key()] for c in configs if c.key() in by_key)


def run_preset(name: str, data_dir: str | Path = "datasets_cache", db: str | Path = "results/noisebench.db",
               source: str | Path | None = None, download: bool = False, verify: bool = True,
               executor: str = "local", jobs: int = 1, address: str | None = None, force: bool = False,
               seeds: int | Sequence[int] | None = None, epochs: int | None = None, subset: int | None = None,
               activations: Sequence[str] | None = None, device: str | None = None, on_result=None,
               outcome: list | None = None) -> StudyRows:
    """Run a study preset (a name from `noisebench study list`, or a preset .toml path) as
    `noisebench study NAME` does, without the report: build missing datasets in `data_dir`, train
    what is not yet in `db`; returns every run of the study. `outcome` (a list) receives the GridOutcome."""

    p = load_preset(str(name))
    flags = StudyFlags(seeds=list(range(seeds)) if isinstance(seeds, int) else (list(seeds) if seeds else None),
                       epochs=epochs, subset=subset, activations=_names(activations) or None,
                       device=device)
    build_missing(p, Path(data_dir), source=Path(source) if source else None, download=download, verify=verify)
    configs = plan(p, Path(data_dir), flags)
    return run_configs_rows(configs, db, make_executor(executor, jobs, address=address), force, on_result, outcome)


def run_study(data: Sequence[str | Path], activations: Sequence[str] = ("relu",), **kwargs: Any) -> StudyRows:
    """``Study(data, activations, **kwargs).run()``; unknown keywords go to ``overrides`` (epochs, subset, ...)."""
    fields = set(Study.__dataclass_fields__)
    direct = {k: v for k, v in kwargs.items() if k in fields}
    overrides = dict(direct.pop("overrides", {}) or {})
    overrides.update({k: v for k, v in kwargs.items() if k not in fields})
    return Study(data=data, activations=activations, overrides=overrides, **direct).run()
