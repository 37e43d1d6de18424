"""The test sets an evaluation of a model reads (`noisebench evaluate`, `nb.evaluate`).

* the clean file's test split (`--data`, corruption "clean", severity 0);
* its test-only corrupted sets (`--corruptions` × `--severity`): ours (`make cifar10-c`, built when
  missing, as the test-time protocol does) or the converted official release (`--release`);
* any other noisebench files (`--datasets`): a test-only corrupted set at each of its severities, or
  the test split of any other file (a ψ file, a corrupted twin) as one set at severity 0.

Every file is verified against its recorded checksums before use; its digest keys the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.harness.run.verify import verify_for_training

CLEAN = "clean"


@dataclass(frozen=True)
class EvalSet:
    name: str  # corruption name, "clean", or the name of another file's test split
    severity: int  # 1..5; 0 for clean and whole test splits
    path: Path
    digest: str  # digest of the file's verified checksums
    origin: str  # clean, ours, release or sets

    @property
    def label(self) -> str:
        return self.name if self.severity == 0 else f"{self.name}·{self.severity}"


def plan_sets(data: str | Path | None = None, corruptions: str | list | None = None, severities: list[int] | None = None,
              datasets: list | tuple = (), datasets_dir: str | Path | None = None, release: bool = False,
              note=print) -> list[EvalSet]:
    """The sets to evaluate on, in order: clean, its corrupted sets × severities, then `datasets`."""
    from noisebench.corruptors.sets import resolve_corruptions
    from noisebench.generators.builds.cifar10c import release_names
    from noisebench.harness.testtime.protocol import corrupted_sets

    if data is None and not datasets:
        raise UserError("nothing to evaluate on: give --data CLEAN (with --corruptions) and/or --datasets FILE ...")
    if corruptions is not None and data is None:
        raise UserError("--corruptions needs --data: the clean file its corrupted test sets are paired with")
    sevs = list(severities) if severities else [1, 2, 3, 4, 5]
    out = []
    if data is not None:
        clean = Path(data)
        meta = _meta(clean)
        if meta.get("variant") != "clean" or meta.get("kind") == "corrupt-test":
            raise UserError(f"--data {clean}: a {meta.get('kind')} file ({meta.get('variant')}); give the clean file "
                            "(e.g. datasets_cache/cifar10.h5) and pass other test sets with --datasets")
        out.append(EvalSet(CLEAN, 0, clean, verify_for_training(clean), CLEAN))
        if corruptions is not None:
            names = release_names(corruptions) if release else resolve_corruptions(corruptions)
            sets = corrupted_sets(clean, names, sevs, datasets_dir, release=release, note=note)
            for n, p in sets.items():
                digest = verify_for_training(p)
                out += [EvalSet(n, s, p, digest, "release" if release else "ours") for s in sevs]
    for d in datasets or ():
        p = Path(d)
        meta = _meta(p)
        digest = verify_for_training(p)
        if meta.get("kind") == "corrupt-test":
            held = [int(s) for s in meta.get("severities_json", [])]
            use = [s for s in held if s in sevs] if severities else held
            if not use:
                raise UserError(f"{p} holds severities {','.join(map(str, held))}, none of --severity "
                                f"{','.join(map(str, sevs))}")
            org = "release" if "-c-release-" in p.name else "ours"
            out += [EvalSet(str(meta.get("corruption")), s, p, digest, org) for s in use]
        else:
            out.append(EvalSet(p.stem, 0, p, digest, "sets"))  # e.g. cifar10-psi16: its test split
    seen = set()
    for s in out:
        if (s.name, s.severity, s.digest) in seen:
            raise UserError(f"{s.path}: the test set {s.label} is listed twice")
        seen.add((s.name, s.severity, s.digest))
    return out


def _meta(path: Path) -> dict:
    if not path.exists():
        raise UserError(f"data file {path} not found")
    if path.is_dir():
        raise UserError(f"data path {path} is a folder; give a noisebench .h5 file")
    with open_file(path) as f:
        meta = dict(f.meta)
        meta["_splits"] = sorted({k.split("/")[0] for k in f.datasets})
    if meta.get("kind") != "corrupt-test" and "test" not in meta["_splits"]:
        raise UserError(f"{path}: no test split to evaluate on (has {', '.join(meta['_splits']) or 'none'})")
    return meta


def probe(path: Path) -> tuple[int, tuple]:
    """(classes, channels-first image shape) of a file's test images, read from its attributes and shapes."""
    meta = _meta(path)
    with open_file(path) as f:
        dx, dy = f.datasets["test/x"], f.datasets["test/y"]
        shape = tuple(int(n) for n in dx.shape)
        nc = meta.get("num_classes") or (int(np.max(dy[()])) + 1 if dy.shape[0] else 0)
    if len(shape) not in (3, 4) or str(dx.dtype) != "uint8":
        raise UserError(f"{path}: test/x is {dx.dtype} {shape}, not uint8 images; evaluate takes image sets")
    if not nc or int(nc) < 2:
        raise UserError(f"{path}: no class count (num_classes) to evaluate a classifier against")
    return int(nc), ((1, shape[1], shape[2]) if len(shape) == 3 else (shape[3], shape[1], shape[2]))


def load_set(s: EvalSet, clean_y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x uint8 NHWC or NHW, y int64) of one set; a corrupted set's labels must be the clean test labels."""
    from noisebench.generators.builds.cifar10c import read_severity

    if s.origin in (CLEAN, "sets"):
        with open_file(s.path) as f:
            x, y = f.datasets["test/x"][()], f.datasets["test/y"][()]
    else:
        x, y = read_severity(s.path, s.severity)
        if clean_y is not None and not np.array_equal(y.astype(np.int64), clean_y.astype(np.int64)):
            raise UserError(f"{s.path}: its labels at severity {s.severity} are not the clean test labels")
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise UserError(f"{s.path}: test/x is {x.dtype} {tuple(x.shape)}, not uint8 images; evaluate takes image sets")
    return np.ascontiguousarray(x), y.astype(np.int64)


def train_statistics(clean: Path) -> dict:
    """The per-channel mean/std (in [0, 1] units) of the clean file's train split: the preprocessing the
    harness trains its registered models with (harness/train_loop.image_stats)."""
    import torch

    from noisebench.harness.run.loop import image_stats

    with open_file(clean) as f:
        if "train/x" not in f.datasets:
            raise UserError(f"{clean}: no train split to take the normalisation from; pass --normalize MEAN STD")
        x = f.datasets["train/x"][()]
    mean, std = image_stats(torch.from_numpy(x))
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std], "from": f"train split of {clean.name}"}
