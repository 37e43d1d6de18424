"""``nb.Study`` / ``nb.run_study``: a grid of runs from Python, on the same engine as
``noisebench grid`` and ``noisebench robustness`` (one expansion, one executor path, one resume
rule: runs already in the database are not trained again).

    import noisebench as nb
    rows = nb.run_study(data=["datasets_cache/synth-7000-dirty.h5"], activations=["relu", "elu"],
                        seeds=2, epochs=5, db="results/noisebench.db")
    rows.to_pandas()   # when pandas is installed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from noisebench.errors import UserError

__all__ = ["Study", "StudyRows", "run_study"]


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
    overrides: dict = field(default_factory=dict)  # epochs, batch_size, optimizer, lr_policy, weight_decay,
    #                                                 step_size, gamma, momentum, augment, subset

    def spec(self):
        from noisebench.harness.grid_config import KNOB_KEYS, OVERRIDE_KEYS, GridSpec

        unknown = set(self.overrides) - set(OVERRIDE_KEYS) - set(KNOB_KEYS)
        if unknown:
            raise UserError(f"unknown study setting(s) {', '.join(sorted(unknown))}; "
                            f"valid: {', '.join(OVERRIDE_KEYS + KNOB_KEYS)}")
        seeds = list(range(self.seeds)) if isinstance(self.seeds, int) else [int(s) for s in self.seeds]
        return GridSpec(data=[Path(p) for p in self.data], models=list(self.models) if self.models else None,
                        activations=list(self.activations), lrs=list(self.lrs) if self.lrs else None, seeds=seeds,
                        overrides={k: v for k, v in self.overrides.items() if k in OVERRIDE_KEYS},
                        knobs={k: v for k, v in self.overrides.items() if k in KNOB_KEYS},
                        device=self.device, add_clean=self.add_clean, source="Study")

    def plan(self) -> list:
        """The RunConfigs of the study, in order (nothing trained)."""
        from noisebench.harness.grid_config import expand

        return expand(self.spec())

    def run(self) -> StudyRows:
        """Train what is not yet in the database; returns every run of the study (done before or now)."""
        from noisebench.harness.executors import LocalExecutor, RayExecutor, run_grid
        from noisebench.harness.results_db import ResultsDB
        from noisebench.harness.run_artifacts import checkpoint_dir_for

        configs = self.plan()
        ckpt = checkpoint_dir_for(self.db) if self.save_checkpoint else None
        if self.executor == "ray":
            ex = RayExecutor(checkpoint_dir=ckpt)
        elif self.executor == "local":
            ex = LocalExecutor(jobs=self.jobs, checkpoint_dir=ckpt)
        else:
            raise UserError(f"executor must be local or ray, got {self.executor!r}")
        with ResultsDB(self.db) as rdb:
            run_grid(configs, rdb, ex, force=self.force)
            by_key = {r["key"]: r for r in rdb.runs()}
        return StudyRows(by_key[c.key()] for c in configs if c.key() in by_key)


def run_study(data: Sequence[str | Path], activations: Sequence[str] = ("relu",), **kwargs: Any) -> StudyRows:
    """``Study(data, activations, **kwargs).run()``; unknown keywords go to ``overrides`` (epochs, subset, ...)."""
    fields = set(Study.__dataclass_fields__)
    direct = {k: v for k, v in kwargs.items() if k in fields}
    overrides = dict(direct.pop("overrides", {}) or {})
    overrides.update({k: v for k, v in kwargs.items() if k not in fields})
    return Study(data=data, activations=activations, overrides=overrides, **direct).run()
