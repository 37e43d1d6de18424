"""The runs of a study preset counted without torch, for `noisebench study list`.

`plan` (harness/studies/plan.py) builds every RunConfig with its run key, which needs torch (the key
covers the torch version and the device) and the model and activation registries. Listing the presets
needs only how many runs each has and how much training they are, so this module expands the same
[[grid]] tables the way `grid_config.expand` does (data file with its clean twin, model, activation, LR,
seed; duplicates dropped) over the settings that make a run distinct, with built-in activation names from
the shipped zoo catalog. The tests check that it counts exactly the runs `plan` makes for every preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from noisebench.harness.run.recipes import RECIPES, policy_extra, recipe_for
from noisebench.harness.studies.datasets import meta_reader
from noisebench.harness.studies.plan import StudyFlags, specs
from noisebench.harness.studies.preset import Preset


@dataclass(frozen=True)
class RunSketch:
    """What makes a run distinct, without its key (fields as in RunConfig)."""

    model: str
    activation: str
    data: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    lr_policy: str
    weight_decay: float
    seed: int
    device: str
    compile: bool
    extra: tuple


def _dirty(meta: dict) -> bool:  # = harness.run_data.data_role(meta) == "dirty" (that module imports torch)
    return not (meta.get("kind") == "clean" or meta.get("variant") == "clean")


def _activations(names: list[str]) -> list[str]:
    if [a.lower() for a in names] != ["all"]:
        return list(names)
    from noisebench.harness.zoo_catalog import rows

    return [r[0] for r in rows()["activations"]]


def sketch(preset: Preset, data_dir: Path, flags: StudyFlags | None = None) -> list[RunSketch]:
    """The study's distinct runs, in plan order, as RunSketch (no torch, no file read but attributes)."""
    meta_of = meta_reader(preset, Path(data_dir))
    out: list[RunSketch] = []
    seen: set = set()
    for spec in specs(preset, data_dir, flags):
        for listed in spec.data:
            path = Path(listed)
            meta = meta_of(path)
            files = [path.resolve()]
            if _dirty(meta) and spec.add_clean and meta.get("clean_reference"):
                files = [(path.parent / Path(str(meta["clean_reference"])).name).resolve(), path.resolve()]
            try:
                recipe = recipe_for(meta)
            except Exception:  # noqa: BLE001 - as expand: models given, CIFAR-10 settings
                recipe = RECIPES["cifar10"]
            ov = {k: v for k, v in spec.overrides.items() if v is not None}
            for model in spec.models or [recipe.model]:
                r = recipe.with_overrides(model=model.strip().lower().replace("-", "_"), **ov)
                knobs = dict(r.extra)
                knobs.update({k: v for k, v in spec.knobs.items() if v is not None})
                extra = policy_extra(r.lr_policy, knobs)
                for act in _activations(spec.activations):
                    for lr in spec.lrs or [r.lr]:
                        for seed in spec.seeds:
                            for f in files:
                                s = RunSketch(r.model, act, str(f), int(r.epochs), int(r.batch_size), float(lr),
                                              r.optimizer, r.lr_policy, float(r.weight_decay), int(seed), spec.device,
                                              bool(spec.compile), extra)
                                if s not in seen:
                                    seen.add(s)
                                    out.append(s)
    return out
