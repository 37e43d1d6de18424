"""The flip file kind: how the one corruption build (generators/builds/corrupt.py) writes the label corruption
`label_flip`.

`noisebench make mnist-flip --rate 0.1` is the label_flip corruption's own spelling of `noisebench make corrupt
label_flip --param rate=0.1`: both run `build_corrupt`, which hands the entry (registered with ``target="labels"``
and ``file_kind="flip"`` in corruptors/label_flip.py) to this module for what is particular to flip files:

* the defaults of `make mnist-flip`: MNIST when no --source is given, --val-size 10,000 (the split of `make mnist`);
* the file name `mnist-flip0.1.h5` (pair mode `mnist-pair0.1.h5`, a matrix `mnist-matrix-<sha8>.h5`; `-sSEED`,
  `-splitN`), kind "mnist-flip" (whatever the source: the files `make mnist-flip` has always written);
* the draw: `flip_labels(train labels, K, seed)`, one stream SeedSequence(seed, spawn_key=(21,));
* the layout: the images copied unchanged, train/y flipped, val and test clean, truth/clean_labels and
  truth/flip_mask; attributes flip_mode, nominal_rate, realized_rate, n_flipped, confusion_matrix,
  transition_matrix; params mode and rate (None for a matrix).

A transition matrix (`--param matrix=T.csv`, `make mnist-flip --matrix T.csv`) overrides rate and mode; the file
is named by the matrix's digest, so its name (and the refusal of an existing file) is known once the data tells
the number of classes. The build option ``transition`` gives the matrix as an array (images.build_flip).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noisebench.corruptors.label_flip import (
    check_mode,
    flip_labels,
    load_matrix,
    validate_matrix,
    validate_rate,
)
from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.format.writer import DatasetWriter
from noisebench.generators.builds import images as ib
from noisebench.generators.image_inputs import flip_name
from noisebench.safety.bounds import MAX_MATRIX_BYTES
from noisebench.safety.inputs import check_regular

KIND = "mnist-flip"  # the `kind` attribute of every label-flip file (rebuild_hint.py: `noisebench make mnist-flip`)
KEEPS_FINISHED = False  # an existing file is refused without --force
DEFAULT_SOURCE = "mnist"
DEFAULT_VAL_SIZE = ib.MNIST_VAL_SIZE
OPTIONS = {"transition": None}
TRUTH_NOTE = "clean_labels: the true train labels; flip_mask: 1 where train/y differs from them (uint8); "


def check_options(options: dict | None) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UserError(f"label_flip: unknown build option(s) {', '.join(unknown)}; accepted: {', '.join(OPTIONS)}")
    return OPTIONS | options


def flip_request(params: dict, options: dict | None = None, num_classes: int | None = None):
    """(mode, rate, matrix) of one parameter set. A matrix (file or `transition` array) is read and validated once
    `num_classes` is known (before that: None); the validation is the one `make mnist-flip` has always done, so
    the matrix and its digest (the file name) are unchanged."""
    transition = check_options(options)["transition"]
    path = str(params.get("matrix") or "")
    if transition is None and not path:
        return check_mode(params.get("mode", "symmetric")), validate_rate(params.get("rate", 0.1)), None
    rate = params.get("rate", 0.1)
    if num_classes is None:
        return "matrix", rate, None
    m = load_matrix(Path(path), num_classes) if transition is None else transition
    return "matrix", rate, validate_matrix(m, num_classes)


def check(plan: list[tuple]) -> None:
    """Before any data is read: the mode and rate of each set, and that a matrix file is a regular file of
    bounded size (no FIFO, device or huge file)."""
    for _, _, p, _ in plan:
        flip_request(p)
        if p.get("matrix"):
            path = Path(p["matrix"])
            if path.is_dir():
                raise UserError(f"--matrix {path}: is a directory; give a .npy, .csv or .txt file")
            check_regular(path, "--matrix", MAX_MATRIX_BYTES)


def paths(plan: list[tuple], data_name: str, out_dir: Path, seed: int, split_seed: int, options=None) -> list[Path]:
    """The files a build of `plan` writes, known before any data is read (a matrix's file: once it is read)."""
    out = []
    for _, _, p, _ in plan:
        mode, rate, _m = flip_request(p, options)
        if mode != "matrix":
            out.append(Path(out_dir) / flip_name(data_name, seed, mode, rate, None, split_seed))
    return out


def jobs(plan, data, out_dir: Path, sp, cref: Path, seed: int, split_seed: int, force: bool, workers, options=None,
         constants: str | None = None):
    """[(writer, (clean train labels, FlipResult))] per parameter set; the labels are flipped here."""
    y_clean = data.y_train[sp.train]
    out = []
    for _, _, p, _ in plan:
        mode, rate, m = flip_request(p, options, data.num_classes)
        path = Path(out_dir) / flip_name(data.name, seed, mode, rate, m, split_seed)
        res = flip_labels(y_clean, data.num_classes, seed, mode=mode, rate=rate, matrix=m)
        params = sp.params | {"mode": mode, "rate": None if mode == "matrix" else rate}
        attrs = ib.common_attrs(data, sp) | {
            "clean_reference": cref.name, "flip_mode": mode, "nominal_rate": res.nominal_rate,
            "realized_rate": res.realized_rate, "n_flipped": int(res.flip_mask.sum()),
            "confusion_matrix": res.confusion.tolist(), "transition_matrix": res.transition.tolist(),
        }
        w = DatasetWriter(path, kind=KIND, variant="dirty", params=params, seed=seed, source=data.source,
                          pair_key=sp.pair_key, force=force, attrs=attrs)
        out.append((w, (y_clean, res)))
    return out


def write(w, flipped, parts, sp, progress=None) -> None:
    """The images as they are, train/y flipped, val and test clean; then the clean labels and the flip mask."""
    y_clean, res = flipped
    ib.write_parts(w, [(s, x, res.noisy if s == "train" else y) for s, x, y in parts], sp, progress)
    w.write("truth/clean_labels", y_clean.astype(np.int64))
    w.write("truth/flip_mask", res.flip_mask.astype(np.uint8))
    w.group_attrs("truth")["description"] = TRUTH_NOTE + ib.INDEX_NOTE


def describe(path: Path) -> str:
    """'nominal rate 0.1, realized 0.0990 (5940 labels)': the line both spellings print after a build."""
    with open_file(path) as f:
        m = f.meta
        return (f"nominal rate {m.get('nominal_rate')}, realized {float(m.get('realized_rate', 0)):.4f} "
                f"({m.get('n_flipped')} labels)")
