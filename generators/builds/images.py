"""Build the image datasets into noisebench HDF5 files (used by `noisebench make ...`).

* build_split_clean: the clean reference with a seeded stratified val split carved from the official
  training set and the official test set - `mnist.h5`, `cifar10.h5` (build_clean_images: CIFAR's default);
* build_psi: ψ-corrupted copies (train, val and test noisy), same split - `cifar10-psi16.h5`;
* build_flip: label-flipped train labels (val/test clean), same split - `mnist-flip0.1.h5`.

build_psi and build_flip are the ψ and label_flip corruptions' spellings of the one corruption build,
generators/builds/corrupt.py's build_corrupt, with their file kinds (generators/builds/psi.py, flip.py).

The split has its own seed (--split-seed), independent of the noise seed, so a clean file and all its
corrupted twins hold the same val images (recorded: `split`, `source_fingerprint`, `pair_key`, truth/val_index).

Every file is written atomically by DatasetWriter; all output paths are checked (exists without
--force ⇒ error) before any work starts. Sources and file names: generators/image_inputs.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from noisebench.corruptors.label_flip import effective_val_size, stratified_val_split
from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.format.writer import DatasetWriter
from noisebench.generators.builds.split_record import indices_sha256, pair_key, split_record
from noisebench.generators.image_inputs import clean_path, note
from noisebench.generators.sources.custom import ImageData
from noisebench.safety.bounds import check_seed
from noisebench.safety.outputs import OutputExists

WRITE_ROWS = 4096  # images per append when copying arrays already in memory
CIFAR_VAL_SIZE = 5000  # `make cifar10` / `make psi` / custom sources: val images carved from train
MNIST_VAL_SIZE = 10000

Progress = Callable[[int], None] | None

# ------------------------------------------------------------------ helpers


def common_attrs(data: ImageData, sp: "Split") -> dict:
    return {"dataset": data.name, "num_classes": data.num_classes, "class_names": list(data.class_names),
            "split": sp.record, "source_fingerprint": sp.source_fingerprint}


def write_split(w, split: str, x: np.ndarray, y: np.ndarray, progress: Progress = None) -> None:
    xs = w.create(f"{split}/x", x.shape, np.uint8)
    ys = w.create(f"{split}/y", y.shape, np.int64)
    for s in range(0, x.shape[0], WRITE_ROWS):
        xs.append(x[s : s + WRITE_ROWS])
        ys.append(y[s : s + WRITE_ROWS])
        if progress:
            progress(min(WRITE_ROWS, x.shape[0] - s))


def _existing_pair_key(path: Path) -> str | None:
    try:
        with open_file(path) as f:
            return str(f.meta.get("pair_key", ""))
    except UserError:
        return None


def build_clean_once(build: Callable[[], Path], cref: Path, pair_key: str) -> list[Path]:
    """Build the missing clean twin; if a concurrent build placed the same one first, use theirs."""

    try:
        return [build()]
    except OutputExists:
        if _existing_pair_key(cref) != pair_key:
            raise
        note(f"note: {cref} was just built by another process from the same source; using it")
        return []


# ------------------------------------------------------------------ the val split


@dataclass
class Split:
    """A seeded stratified val split carved from the source's official training set (shared by twins)."""

    train: np.ndarray  # positions in the official training set, sorted
    val: np.ndarray
    record: dict  # the `split` attribute
    params: dict  # what goes into the files' params
    pair_key: str
    source_fingerprint: str


def split_params(data: ImageData, val_size: int, split_seed: int) -> Split:
    split_seed = check_seed(split_seed, "--split-seed")
    if val_size < 1:
        raise UserError(f"--val-size must be >= 1, got {val_size} (every classification file has a val split: "
                        "model selection happens on it, never on test)")
    n = data.x_train.shape[0]
    n_val = effective_val_size(val_size, n)
    if n_val < 1:
        raise UserError(f"{data.name}: the training set has only {n} images, too few to carve a val split (needs 6 or more)")
    if n_val < val_size:
        note(f"note: --val-size {val_size} scaled down to {n_val} (at most 1/6 of the {n} training images)")
    tr, va = stratified_val_split(data.y_train, n_val, split_seed, data.num_classes)
    record = split_record("stratified", split_seed, len(tr), len(va), data.x_test.shape[0], indices_sha256(va))
    fp = data.content_sha256()
    params = {"val_size": n_val, "val_size_requested": val_size, "split_seed": split_seed,
              "val_rule": "stratified, min(val_size, n_train // 6)", "fingerprint": data.fingerprint(),
              "input_note": "images kept at source size; resizing (e.g. 28->64) is the model's input transform"}
    return Split(tr, va, record, params, pair_key(data.name, fp, record), fp)


def write_index(w, sp: Split) -> None:
    w.write("truth/train_index", sp.train.astype(np.int64))
    w.write("truth/val_index", sp.val.astype(np.int64))


INDEX_NOTE = ("train_index / val_index: positions in the source's official training set of this file's train and "
              "val images (equal in a clean file and all its corrupted twins)")


def split_parts(data: ImageData, sp: Split) -> tuple:
    """(split, images, labels) of train, val and test: the clean contents of every file of this split."""
    return (("train", data.x_train[sp.train], data.y_train[sp.train]), ("val", data.x_train[sp.val], data.y_train[sp.val]),
            ("test", data.x_test, data.y_test))


def write_parts(w, parts, sp: Split, progress: Progress = None) -> None:
    """Images and labels of each split as given (clean files; label flips: train labels flipped), and the index."""
    for split, x, y in parts:
        write_split(w, split, x, y, progress)
    write_index(w, sp)
    w.group_attrs("truth")["description"] = INDEX_NOTE


def write_splits(w, data: ImageData, sp: Split, y_train: np.ndarray, progress: Progress) -> None:
    write_parts(w, [(s, x, y_train if s == "train" else y) for s, x, y in split_parts(data, sp)], sp, progress)


def build_split_clean(data: ImageData, out_dir: Path, val_size: int = 10000, split_seed: int = 0, force: bool = False,
                      progress: Progress = None) -> Path:
    """The clean reference: train and val (seeded, stratified, carved from the official training set) and the
    official test set; the same split as every corrupted twin built with the same --val-size and --split-seed."""

    sp = split_params(data, val_size, split_seed)
    w = DatasetWriter(clean_path(data, out_dir, split_seed), kind="clean", variant="clean", params=sp.params,
                      seed=split_seed, source=data.source, pair_key=sp.pair_key, force=force,
                      attrs=common_attrs(data, sp))
    with w:
        write_splits(w, data, sp, data.y_train[sp.train], progress)
    return w.path


def build_clean_images(data: ImageData, out_dir: Path, force: bool = False, progress: Progress = None,
                       val_size: int = CIFAR_VAL_SIZE, split_seed: int = 0) -> Path:
    """The clean reference of a ψ build (`make cifar10`): default val split 5,000 images."""
    return build_split_clean(data, out_dir, val_size=val_size, split_seed=split_seed, force=force, progress=progress)


def check_clean_twin(cref: Path, pair_key: str, rebuild: str) -> None:
    if _existing_pair_key(cref) != pair_key:
        note(f"warning: {cref} is not the clean twin of this build (other source or split: pair_key differs); "
              f"rebuild it with `{rebuild} --force` and the same --source")


# ------------------------------------------------------------------ psi


def ensure_clean_twin(data: ImageData, out_dir: Path, cref: Path, sp: Split, val_size: int, split_seed: int,
                      make: str) -> list[Path]:
    """The clean twin of a dirty file: built when missing (returned), else checked to be this file's twin
    (`make`: the `noisebench make` command that builds it, for the refusal's hint)."""
    if not cref.exists():
        return build_clean_once(lambda: build_split_clean(data, out_dir, val_size=val_size, split_seed=split_seed),
                                cref, sp.pair_key)
    check_clean_twin(cref, sp.pair_key, f"noisebench make {make} --val-size {val_size} --split-seed {split_seed}")
    return []


def build_psi(data: ImageData, levels: list[float], out_dir: Path, seed: int = 0, force: bool = False,
              workers: int | None = None, progress: Progress = None, with_clean: bool = True,
              blocks_per_job: int = 4, val_size: int = CIFAR_VAL_SIZE, split_seed: int = 0,
              independent_levels: bool = False, device: str = "cpu", sampler: str | None = None) -> list[Path]:
    """ψ-corrupted copies of `data` at each level (+ the clean twin if missing): `make psi`, which is
    `make corrupt psi --param level=L` for every level -- the one build path of generators/builds/corrupt.py
    with the ψ file kind of generators/builds/psi.py (options, file names and attributes there)."""

    from noisebench.generators.builds.corrupt import build_corrupt  # corrupt_builds builds on this module

    if not levels:
        raise UserError("give --level PSI or --all")
    return build_corrupt(data, "psi", out_dir, param_sets=[{"level": lv} for lv in levels], seed=seed, force=force,
                         workers=workers, progress=progress, with_clean=with_clean, val_size=val_size,
                         split_seed=split_seed, options={"independent_levels": independent_levels, "device": device,
                                                         "sampler": sampler, "blocks_per_job": blocks_per_job})


# ------------------------------------------------------------------ label flips


def build_flip(data: ImageData, out_dir: Path, rate: float = 0.1, mode: str = "symmetric",
               matrix: np.ndarray | str | Path | None = None, val_size: int = MNIST_VAL_SIZE, seed: int = 0,
               force: bool = False, progress: Progress = None, with_clean: bool = True,
               split_seed: int = 0) -> list[Path]:
    """Label-flipped training labels (val and test stay clean) + the clean reference (same split) if missing:
    `make mnist-flip`, which is `make corrupt label_flip --param rate=R --param mode=M` -- the one build path of
    generators/builds/corrupt.py with the flip file kind of generators/builds/flip.py (names, attributes and
    layout there). `matrix`: a K×K transition matrix (an array or a .npy/.csv/.txt file; overrides rate and mode).
    `seed` draws the flips, `split_seed` the val split."""

    from noisebench.generators.builds.corrupt import build_corrupt  # corrupt builds on this module

    options = None
    if matrix is None:
        params = {"rate": rate, "mode": mode}
    elif isinstance(matrix, (str, Path)):
        params = {"matrix": str(matrix)}
    else:
        params, options = {}, {"transition": matrix}
    return build_corrupt(data, "label_flip", out_dir, param_sets=[params], seed=seed, force=force, progress=progress,
                         with_clean=with_clean, val_size=val_size, split_seed=split_seed, options=options)


def pretty_json(o) -> str:
    return json.dumps(o)


_split_params = split_params  # the name tests and older callers import
_write_split = write_split
