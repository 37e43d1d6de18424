"""The data of `noisebench robustness` given neither --data nor --suite: the train-time pairs already in
the datasets folder, else the embedded synth suite built there on the spot."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from noisebench.errors import UserError
from noisebench.harness.plan.pairs import file_meta
from noisebench.harness.run.data import data_role
from noisebench.harness.run.recipes import SUITES


def _is_dirty_with_twin(path: Path) -> bool:
    """A readable dirty file with a train split whose clean twin sits next to it (test-only sets are not)."""
    try:
        meta = file_meta(path)
    except UserError:
        return False
    ref = meta.get("clean_reference")
    has_train = any(str(k).startswith("train/") for k in (meta.get("checksums") or {}))
    return (data_role(meta) == "dirty" and has_train and isinstance(ref, str)
            and (path.parent / Path(ref).name).is_file())


def default_dirty_files(folder: Path, note: Callable[[str], None]) -> list[Path]:
    """The dirty files of `folder` (sorted by name), saying which; none there: build the synth suite into it."""
    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        raise UserError(f"--datasets-dir {folder} is not a folder")
    found = sorted(p for p in folder.glob("*.h5") if p.is_file() and _is_dirty_with_twin(p)) if folder.is_dir() else []
    if found:
        note(f"no --data or --suite: using the corrupted files in {folder}/: {', '.join(p.name for p in found)}")
        return found
    from noisebench.generators.synth.files import build as build_synth
    from noisebench.generators.synth.generator import SynthParams  # only when building

    name, cmd = SUITES["synth"][0]
    note(f"no --data or --suite and no corrupted files in {folder}/: building the synth suite there "
         f"({cmd.format(dir=folder)})")
    folder.mkdir(parents=True, exist_ok=True)
    build_synth(SynthParams(rows=7000), folder)
    return [folder / name]
