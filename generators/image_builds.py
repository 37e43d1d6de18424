"""Build the image datasets into noisebench HDF5 files (used by `noisebench make ...`).

* build_clean_images: the clean reference (train/test as in the source) - `cifar10.h5`;
* build_psi: ψ-corrupted copies (train and test noisy) - `cifar10-psi16.h5`;
* build_split_clean: the clean reference with a seeded stratified val split carved from train - `mnist.h5`;
* build_flip: label-flipped train labels (val/test clean), same split - `mnist-flip0.1.h5`.

Every file is written atomically by DatasetWriter; all output paths are checked (exists without
--force ⇒ error) before any work starts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from noisebench.errors import UserError
from noisebench.safe_text import clean, has_control
from noisebench.generators.custom_image_source import ImageData

RAW_DIR_NAME = "raw"
WRITE_ROWS = 4096  # images per append when copying arrays already in memory
STREAM_PSI = {"train": 1, "val": 3, "test": 2}
PSI_DEFINITION = "y = clip(round(Poisson(psi*x/255)*255/psi), 0, 255), round half to even (docs/IMAGES.md)"

Progress = Callable[[int], None] | None


def _note(msg: str) -> None:
    print(clean(msg), file=sys.stderr)  # paths and names come from arguments: no control characters


def seed_suffix(seed: int) -> str:
    return f"-s{seed}" if seed else ""


def _check_seed(seed: int) -> int:
    if seed < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    return int(seed)


# ------------------------------------------------------------------ sources


def resolve_source(default: str, source: Path | None, download: bool, verify: bool, out_dir: Path,
                   name: str | None = None) -> ImageData:
    """Load the data for a build: `default` is 'cifar10' or 'mnist' (the official set when no --source)."""
    from noisebench.generators import cifar10_source, mnist_source
    from noisebench.generators.custom_image_source import detect_kind, load_custom

    raw = Path(out_dir) / RAW_DIR_NAME
    if source is not None and download:
        raise UserError("give either --source PATH or --download, not both")
    if source is None:
        finder = cifar10_source.find_cifar_dir if default == "cifar10" else mnist_source.find_mnist_dir
        if download:
            (cifar10_source.download_cifar10 if default == "cifar10" else mnist_source.download_mnist)(raw)
        elif finder(raw) is None:
            label = "CIFAR-10" if default == "cifar10" else "MNIST"
            raise UserError(f"no {label} copy in {raw}; pass --download to fetch the official files there, "
                            "or --source PATH for a local copy (official layout, image folder or .npz)")
        source = raw
    kind = detect_kind(Path(source), prefer=default)
    if kind == "cifar10":
        return cifar10_source.load_cifar10(Path(source), verify=verify, name=name or "cifar10")
    if kind == "mnist":
        return mnist_source.load_mnist(Path(source), verify=verify, name=name or "mnist")
    data = load_custom(Path(source), name)
    if not data.name or "/" in data.name or data.name.startswith(".") or has_control(data.name):
        raise UserError(f"cannot derive a dataset name from {source}; pass --name")
    return data


def predicted_name(default: str, source: Path | None, name: str | None) -> str | None:
    """The dataset name a build will use, known before loading anything (None if it cannot be told)."""
    from noisebench.generators.custom_image_source import detect_kind

    if name:
        return name
    if source is None:
        return default
    kind = detect_kind(Path(source), prefer=default)
    if kind in ("cifar10", "mnist"):
        return kind
    return Path(source).stem if kind == "npz" else Path(source).resolve().name


def precheck_outputs(paths: list[Path], force: bool) -> None:
    """Fail on existing outputs (without --force) before reading or downloading any data."""
    from noisebench.h5format import check_output_path

    for p in paths:
        check_output_path(p, force)


# ------------------------------------------------------------------ helpers


def _common_attrs(data: ImageData) -> dict:
    return {"dataset": data.name, "num_classes": data.num_classes, "class_names": list(data.class_names)}


def _write_split(w, split: str, x: np.ndarray, y: np.ndarray, progress: Progress = None) -> None:
    xs = w.create(f"{split}/x", x.shape, np.uint8)
    ys = w.create(f"{split}/y", y.shape, np.int64)
    for s in range(0, x.shape[0], WRITE_ROWS):
        xs.append(x[s : s + WRITE_ROWS])
        ys.append(y[s : s + WRITE_ROWS])
        if progress:
            progress(min(WRITE_ROWS, x.shape[0] - s))


def clean_path(data: ImageData, out_dir: Path, seed: int | None = None) -> Path:
    return Path(out_dir) / f"{data.name}{seed_suffix(seed or 0)}.h5"


def psi_path(data: ImageData, out_dir: Path, level: float, seed: int) -> Path:
    from noisebench.corruptors.poisson_photon import format_level

    return Path(out_dir) / f"{data.name}-psi{format_level(level)}{seed_suffix(seed)}.h5"


def _psi_pair_key(data: ImageData) -> str:
    return f"{data.name}:{data.fingerprint()}:official-split"


def _existing_pair_key(path: Path) -> str | None:
    from noisebench.h5format import open_file

    try:
        with open_file(path) as f:
            return str(f.meta.get("pair_key", ""))
    except UserError:
        return None


def _finished_psi(path: Path, pair_key: str, level: float, seed: int) -> bool:
    """A complete ψ file of this source, level and seed is already at `path` (a resumed multi-level build)."""
    import os
    import stat

    from noisebench.h5format import open_file

    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open_file(path) as f:
            m = f.meta
            return (m.get("kind") == "psi" and m.get("pair_key") == pair_key and m.get("psi") == level
                    and m.get("seed") == seed)
    except (OSError, UserError):
        return False


def _build_clean_once(build: Callable[[], Path], cref: Path, pair_key: str) -> list[Path]:
    """Build the missing clean twin; if a concurrent build placed the same one first, use theirs."""
    from noisebench.safe_output import OutputExists

    try:
        return [build()]
    except OutputExists:
        if _existing_pair_key(cref) != pair_key:
            raise
        _note(f"note: {cref} was just built by another process from the same source; using it")
        return []


# ------------------------------------------------------------------ clean reference + psi


def build_clean_images(data: ImageData, out_dir: Path, force: bool = False, progress: Progress = None) -> Path:
    """The clean reference of a ψ build: train and test exactly as in the source."""
    from noisebench.h5format import DatasetWriter

    path = clean_path(data, out_dir)
    w = DatasetWriter(path, kind="clean", variant="clean", params={"fingerprint": data.fingerprint()}, seed=0,
                      source=data.source, pair_key=_psi_pair_key(data), force=force, attrs=_common_attrs(data))
    with w:
        _write_split(w, "train", data.x_train, data.y_train, progress)
        _write_split(w, "test", data.x_test, data.y_test, progress)
    return path


def build_psi(data: ImageData, levels: list[float], out_dir: Path, seed: int = 0, force: bool = False,
              workers: int | None = None, progress: Progress = None, with_clean: bool = True,
              blocks_per_job: int = 4) -> list[Path]:
    """ψ-corrupted copies of `data` (train and test) at each level; also the clean reference if missing."""
    from noisebench.corruptors.poisson_photon import PhotonNoise, validate_level
    from noisebench.h5format import DatasetWriter

    seed = _check_seed(seed)
    levels = [validate_level(lv) for lv in levels]
    if not levels:
        raise UserError("give --level PSI or --all")
    if len(set(levels)) != len(levels):
        raise UserError("the same --level is given twice")
    out_dir = Path(out_dir)
    cref = clean_path(data, out_dir)
    pair_key = _psi_pair_key(data)
    writers = []
    for lv in levels:  # constructing the writers checks every output path before any work
        if not force and _finished_psi(psi_path(data, out_dir, lv, seed), pair_key, lv, seed):
            _note(f"note: kept {psi_path(data, out_dir, lv, seed)} (already built from this source with this level "
                  "and seed); --force rebuilds it")
            continue
        params = {"level": lv, "definition": PSI_DEFINITION, "sampler": "exact inverse-CDF tables on 32-bit uniforms",
                  "fingerprint": data.fingerprint()}
        attrs = _common_attrs(data) | {"clean_reference": cref.name, "psi": lv}
        writers.append((lv, DatasetWriter(psi_path(data, out_dir, lv, seed), kind="psi", variant="dirty", params=params,
                                          seed=seed, source=data.source, pair_key=pair_key, force=force, attrs=attrs)))
    if not writers:
        raise UserError(f"every requested level is already in {out_dir}; pass --force to rebuild them")
    made = []
    if with_clean:
        if not cref.exists():
            made += _build_clean_once(lambda: build_clean_images(data, out_dir, force=False, progress=None), cref, pair_key)
        elif _existing_pair_key(cref) != pair_key:
            _note(f"warning: {cref} is not the clean twin of this build (other source: pair_key differs); "
                  "rebuild it with `noisebench make cifar10 --force` and the same --source")
    for lv, w in writers:
        noise = PhotonNoise(lv)
        with w:
            for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
                xs = w.create(f"{split}/x", x.shape, np.uint8)
                w.write(f"{split}/y", y.astype(np.int64))
                for blk in noise.iter_blocks(x, seed, STREAM_PSI[split], workers, blocks_per_job):
                    xs.append(blk)
                    if progress:
                        progress(blk.shape[0])
        made.append(w.path)
    return made


# ------------------------------------------------------------------ val split + label flips


def _split_params(data: ImageData, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict, str]:
    from noisebench.corruptors.label_flip import effective_val_size, stratified_val_split

    n_val = effective_val_size(val_size, data.x_train.shape[0])
    if n_val < val_size:
        _note(f"note: --val-size {val_size} scaled down to {n_val} (at most 1/6 of the {data.x_train.shape[0]} training images)")
    tr, va = stratified_val_split(data.y_train, n_val, seed, data.num_classes)
    fp = data.fingerprint()
    pair_key = f"{data.name}:{fp}:val={n_val}:seed={seed}"
    params = {"val_size": n_val, "val_size_requested": val_size, "val_rule": "stratified, min(val_size, n_train // 6)",
              "fingerprint": fp, "input_note": "images kept at source size; resizing (e.g. 28->64) is the model's input transform"}
    return tr, va, params, pair_key


def split_clean_path(data: ImageData, out_dir: Path, seed: int) -> Path:
    return Path(out_dir) / f"{data.name}{seed_suffix(seed)}.h5"


def flip_path(data: ImageData, out_dir: Path, seed: int, mode: str, rate: float, matrix: np.ndarray | None) -> Path:
    from noisebench.corruptors.label_flip import format_rate, matrix_digest

    if matrix is not None:
        tag = f"matrix-{matrix_digest(matrix)}"
    else:
        tag = f"{'flip' if mode == 'symmetric' else 'pair'}{format_rate(rate)}"
    return Path(out_dir) / f"{data.name}-{tag}{seed_suffix(seed)}.h5"


def _write_splits(w, data: ImageData, tr: np.ndarray, va: np.ndarray, y_train: np.ndarray, progress: Progress) -> None:
    _write_split(w, "train", data.x_train[tr], y_train, progress)
    if va.size:
        _write_split(w, "val", data.x_train[va], data.y_train[va], progress)
    _write_split(w, "test", data.x_test, data.y_test, progress)
    w.write("truth/train_index", tr.astype(np.int64))
    w.write("truth/val_index", va.astype(np.int64))
    w.group_attrs("truth")["description"] = (
        "train_index / val_index: positions in the source's official training set of this file's train and val images"
    )


def build_split_clean(data: ImageData, out_dir: Path, val_size: int = 10000, seed: int = 0, force: bool = False,
                      progress: Progress = None) -> Path:
    """Clean reference with the seeded stratified val split (identical to the flipped files' split)."""
    from noisebench.h5format import DatasetWriter

    seed = _check_seed(seed)
    tr, va, params, pair_key = _split_params(data, val_size, seed)
    w = DatasetWriter(split_clean_path(data, out_dir, seed), kind="clean", variant="clean", params=params, seed=seed,
                      source=data.source, pair_key=pair_key, force=force, attrs=_common_attrs(data))
    with w:
        _write_splits(w, data, tr, va, data.y_train[tr], progress)
    return w.path


def build_flip(data: ImageData, out_dir: Path, rate: float = 0.1, mode: str = "symmetric",
               matrix: np.ndarray | None = None, val_size: int = 10000, seed: int = 0, force: bool = False,
               progress: Progress = None, with_clean: bool = True) -> list[Path]:
    """Label-flipped training labels (val and test stay clean) + the clean reference if missing."""
    from noisebench.corruptors.label_flip import MODES, flip_labels, validate_matrix, validate_rate
    from noisebench.h5format import DatasetWriter

    seed = _check_seed(seed)
    if matrix is not None:
        matrix = validate_matrix(matrix, data.num_classes)
        mode = "matrix"
    else:
        if mode not in MODES[:2]:
            raise UserError(f"--mode must be symmetric or pair, got {mode!r}")
        rate = validate_rate(rate)
    tr, va, params, pair_key = _split_params(data, val_size, seed)
    cref = split_clean_path(data, out_dir, seed)
    path = flip_path(data, out_dir, seed, mode, rate, matrix)
    y_clean = data.y_train[tr]
    res = flip_labels(y_clean, data.num_classes, seed, mode=mode, rate=rate, matrix=matrix)
    params = params | {"mode": mode, "rate": None if mode == "matrix" else rate}
    attrs = _common_attrs(data) | {
        "clean_reference": cref.name, "flip_mode": mode, "nominal_rate": res.nominal_rate,
        "realized_rate": res.realized_rate, "n_flipped": int(res.flip_mask.sum()),
        "confusion_matrix": res.confusion.tolist(), "transition_matrix": res.transition.tolist(),
    }
    w = DatasetWriter(path, kind="mnist-flip", variant="dirty", params=params, seed=seed, source=data.source,
                      pair_key=pair_key, force=force, attrs=attrs)
    made = []
    if with_clean:
        if not cref.exists():
            made += _build_clean_once(lambda: build_split_clean(data, out_dir, val_size=val_size, seed=seed), cref, pair_key)
        elif _existing_pair_key(cref) != pair_key:
            _note(f"warning: {cref} is not the clean twin of this build (other source or split: pair_key differs); "
                  f"rebuild it with `noisebench make mnist --val-size {val_size} --seed {seed} --force` and the same --source")
    with w:
        _write_splits(w, data, tr, va, res.noisy, progress)
        w.write("truth/clean_labels", y_clean.astype(np.int64))
        w.write("truth/flip_mask", res.flip_mask.astype(np.uint8))
        w.group_attrs("truth")["description"] = (
            "clean_labels: the true train labels; flip_mask: 1 where train/y differs from them; "
            "train_index / val_index: positions in the source's official training set"
        )
    made.append(path)
    return made


def describe_flip(path: Path) -> str:
    from noisebench.h5format import open_file

    with open_file(path) as f:
        m = f.meta
        return f"nominal rate {m.get('nominal_rate')}, realized {float(m.get('realized_rate', 0)):.4f} ({m.get('n_flipped')} labels)"


def pretty_json(o) -> str:
    return json.dumps(o)
