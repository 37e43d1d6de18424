"""What an image build reads and where it writes: its source, its output names, the prechecks.

* resolve_source: the data for a build (a registered source's official files, or a --source path);
* predicted_name / precheck_outputs: output names known, and existing outputs refused, before any
  data is read or downloaded;
* clean_name / psi_name / flip_name (and the *_path forms): the file names of
  generators/builds/images.py's builders, with the seed and split-seed suffixes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from noisebench.corruptors.label_flip import format_rate, matrix_digest
from noisebench.corruptors.poisson_photon import format_level
from noisebench.errors import UserError
from noisebench.format.writer import check_output_path
from noisebench.generators.sources.custom import ImageData, detect_kind, load_source
from noisebench.registry import SOURCES
from noisebench.safety.bounds import check_seed
from noisebench.safety.text import clean, has_control

RAW_DIR_NAME = "raw"


def note(msg: str) -> None:
    """A note or warning of a build on stderr (one line, control characters removed)."""
    print(clean(msg), file=sys.stderr)  # paths and names come from arguments: no control characters


_note = note  # older name


def seed_suffix(seed: int) -> str:
    return f"-s{seed}" if seed else ""


_check_seed = check_seed  # older name; noisebench.safety.bounds.check_seed is the one seed check


# ------------------------------------------------------------------ sources


def resolve_source(default: str, source: Path | None, download: bool, verify: bool, out_dir: Path,
                   name: str | None = None, options: dict | None = None) -> ImageData:
    """Load the data for a build: `default` names the registered source used when no --source is given
    (its official files in OUT/raw/, fetched with --download); a --source path goes to the registered
    source whose ``find`` recognises it (official layouts first, `default` preferred). `options` are
    keyword arguments of `default`'s loader (e.g. CIFAR-100's label_type), refused for any other layout."""

    raw = Path(out_dir) / RAW_DIR_NAME
    if source is not None and download:
        raise UserError("give either --source PATH or --download, not both")
    if source is None:
        entry = SOURCES.get(default)
        label = entry.meta.get("title") or default
        if download:
            if not hasattr(entry.obj, "download"):
                raise UserError(f"source {default!r} cannot be downloaded; pass --source PATH")
            entry.obj.download(raw)
        elif entry.obj.find(raw) is None:
            raise UserError(f"no {label} copy in {raw}; pass --download to fetch the official files there, "
                            "or --source PATH for a local copy (official layout, image folder or .npz)")
        source = raw
    data = load_source(Path(source), prefer=default, verify=verify, name=name, options=options)
    if not data.name or "/" in data.name or data.name.startswith(".") or has_control(data.name):
        raise UserError(f"cannot derive a dataset name from {source}; pass --name")
    return data


def predicted_name(default: str, source: Path | None, name: str | None) -> str | None:
    """The dataset name a build will use, known before loading anything (None if it cannot be told)."""

    if name:
        return name
    if source is None:
        return default
    kind = detect_kind(Path(source), prefer=default)
    if SOURCES.get(kind).meta.get("official"):
        return kind
    return Path(source).stem if kind == "npz" else Path(source).resolve().name


def precheck_outputs(paths: list[Path], force: bool) -> None:
    """Fail on existing outputs (without --force) before reading or downloading any data."""

    for p in paths:
        check_output_path(p, force)


# ------------------------------------------------------------------ names


def split_suffix(split_seed: int) -> str:
    return f"-split{split_seed}" if split_seed else ""


def clean_name(name: str, split_seed: int = 0) -> str:
    return f"{name}{split_suffix(split_seed)}.h5"


def psi_name(name: str, level: float, seed: int = 0, split_seed: int = 0, independent: bool = False) -> str:
    ind = "-indep" if independent else ""
    return f"{name}-psi{format_level(level)}{ind}{seed_suffix(seed)}{split_suffix(split_seed)}.h5"


def flip_name(name: str, seed: int, mode: str, rate: float, matrix: np.ndarray | None, split_seed: int = 0) -> str:
    if matrix is not None:
        tag = f"matrix-{matrix_digest(matrix)}"
    else:
        tag = f"{'flip' if mode == 'symmetric' else 'pair'}{format_rate(rate)}"
    return f"{name}-{tag}{seed_suffix(seed)}{split_suffix(split_seed)}.h5"


def clean_path(data: ImageData, out_dir: Path, split_seed: int = 0) -> Path:
    return Path(out_dir) / clean_name(data.name, split_seed)


split_clean_path = clean_path


def psi_path(data: ImageData, out_dir: Path, level: float, seed: int, split_seed: int = 0,
             independent: bool = False) -> Path:
    return Path(out_dir) / psi_name(data.name, level, seed, split_seed, independent)


def flip_path(data: ImageData, out_dir: Path, seed: int, mode: str, rate: float, matrix: np.ndarray | None,
              split_seed: int = 0) -> Path:
    return Path(out_dir) / flip_name(data.name, seed, mode, rate, matrix, split_seed)
