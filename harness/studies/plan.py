"""A preset -> GridSpecs -> RunConfigs, through the same parser and expansion as `noisebench grid`
(grid_config.parse_grids and expand_all). Before the datasets exist, the files' attributes are the
ones their builders will write (datasets.meta_reader), so the plan lists the same runs as after the
build; only the run keys differ (they cover the data's digest, unknown until it is built)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from noisebench.errors import UserError
from noisebench.harness.plan.spec import parse_grids
from noisebench.harness.studies.datasets import PREDICTED, meta_reader, planned_files
from noisebench.harness.studies.preset import Preset


@dataclass
class StudyFlags:
    seeds: list | None = None
    epochs: int | None = None
    subset: int | None = None
    activations: list | None = None
    device: str | None = None


def grid_tables(preset: Preset, data_dir: Path) -> list[dict]:
    """The preset's [[grid]] tables with data names made paths in `data_dir`."""

    known = planned_files(preset)
    out = []
    for i, g in enumerate(preset.grids):
        t = dict(g)
        data = t.get("data")
        if isinstance(data, str):
            data = [data]
        for d in data or []:
            if Path(str(d)).name not in known and not (Path(data_dir) / str(d)).exists():
                raise UserError(f"study {preset.name}: [[grid]] #{i + 1} data {d!r} is not built by its [[datasets]]")
        t["data"] = [str(Path(data_dir) / str(d)) for d in data or []]
        out.append(t)
    return out


def specs(preset: Preset, data_dir: Path, flags: StudyFlags | None = None) -> list:
    f = flags or StudyFlags()
    src = f"study {preset.name}" if preset.path is None else str(preset.path)
    out = parse_grids({"grid": grid_tables(preset, data_dir)}, source=src)
    return [s.with_flags(seeds=f.seeds, epochs=f.epochs, subset=f.subset, activations=f.activations, device=f.device)
            for s in out]


def plan(preset: Preset, data_dir: Path, flags: StudyFlags | None = None) -> list:
    """Every run of the study, in order (files that do not exist yet planned from their predicted attributes)."""
    from noisebench.harness.plan.expand import expand_all  # loads torch (run keys); `study list` does without

    return expand_all(specs(preset, data_dir, flags), meta_of=meta_reader(preset, Path(data_dir)))


def is_predicted(cfg) -> bool:
    """True when a run was planned for a file not built yet."""
    from noisebench.harness.run.data import checksums_digest

    name = Path(cfg.data).name
    return cfg.data_sha256 == checksums_digest({PREDICTED: name})
