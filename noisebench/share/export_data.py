"""`noisebench export-data`: a noisebench file in the formats other tools load directly.

* npz: `OUT/<stem>.npz` with `x_<split>`, `y_<split>` per split and `class_names` (when the file
  has classes); written array by array in bounded slabs (never the whole file in memory), so
  `np.load` gives exactly the stored arrays.
* imagefolder: `OUT/<stem>-imagefolder/<split>/<label>_<class name>/<index>.png`, what
  `torchvision.datasets.ImageFolder(OUT/<stem>-imagefolder/<split>)` loads. Class folders start
  with the zero-padded label, so ImageFolder's sorted class order equals the stored labels;
  `<index>` is the sample's row in the split. Every class keeps its folder in every split, even
  when empty, so labels stay aligned (load such a split with `ImageFolder(..., allow_empty=True)`). Grayscale images (C = 1) are 8-bit grayscale PNGs
  (ImageFolder's default loader converts them to RGB), colour ones RGB. `classes.txt` lists
  `label<TAB>name`.
* hf: `OUT/<stem>-hf/`, a Hugging Face `datasets.DatasetDict` (one Dataset per split, features
  `image` (Image) and `label` (ClassLabel with the class names)) written by `save_to_disk`;
  needs the `datasets` package (the `share` extra).

A split with a per-row severity (`<split>/severity`, the test-only CIFAR-10-C-style files: every
test image at each severity) keeps it: npz `severity_<split>`; imagefolder one folder level
`<split>/severity<k>/<label>_<class name>/<index>.png` (`ImageFolder(OUT/<stem>-imagefolder/test/severity3)`
loads one severity); hf a `severity` column.

Tabular (regression) files export to npz only. Outputs are built under a temporary name next to
the destination and renamed into place; existing outputs are replaced only with force.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.share.files import check_new_path, remove_path, replace_path, temp_sibling

FORMATS = ("npz", "imagefolder", "hf")
SLAB_BYTES = 32 << 20
Progress = Callable[[int], None] | None


def _slabs(dset):
    row = max(1, int(np.prod(dset.shape[1:], dtype=np.int64)) * dset.dtype.itemsize)
    step = max(1, SLAB_BYTES // row)
    for s in range(0, dset.shape[0], step):
        yield s, dset[s : s + step]


def _class_names(f) -> list[str]:
    names = f.meta.get("class_names")
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except ValueError:
            names = None
    k = f.meta.get("num_classes")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    return [str(i) for i in range(k)] if isinstance(k, int) and k > 0 else []


def _is_image_file(f) -> bool:
    return all(len(f.datasets[f"{s}/x"].shape) in (3, 4) and f.datasets[f"{s}/x"].dtype == np.uint8 for s in f.splits)


def output_path(file: Path, fmt: str, out: Path) -> Path:
    stem = Path(file).stem
    return Path(out) / {"npz": f"{stem}.npz", "imagefolder": f"{stem}-imagefolder", "hf": f"{stem}-hf"}[fmt]


def export(file: Path, fmt: str, out: Path, force: bool = False, progress: Progress = None) -> Path:
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    if fmt == "hf":
        try:
            import datasets  # noqa: F401
        except ImportError:
            raise UserError("--format hf needs the Hugging Face `datasets` package: pip install 'noisebench[share]'") from None
    final = check_new_path(output_path(file, fmt, out), force)
    with open_file(file) as f:
        if fmt != "npz" and not _is_image_file(f):
            raise UserError(f"{file}: {fmt} export is for image files (uint8 N×H×W[×C]); "
                            f"this {f.task} file exports to npz only")
        tmp = temp_sibling(final, is_dir=fmt != "npz")
        try:
            {"npz": _write_npz, "imagefolder": _write_imagefolder, "hf": _write_hf}[fmt](f, tmp, progress)
            replace_path(tmp, final)
        except BaseException:
            remove_path(tmp)
            raise
    return final


# ----------------------------------------------------------------------------- npz


def _npz_member(zf: zipfile.ZipFile, name: str, dset, progress: Progress) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dset.dtype.newbyteorder("<") if dset.dtype.itemsize > 1
                                                      else dset.dtype),
              "fortran_order": False, "shape": tuple(int(s) for s in dset.shape)}
    with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_2_0(fh, header)
        for _, block in _slabs(dset):
            block = np.ascontiguousarray(block, dtype=dset.dtype.newbyteorder("<") if dset.dtype.itemsize > 1
                                         else dset.dtype)
            fh.write(memoryview(block).cast("B"))
            if progress:
                progress(block.shape[0])


def _write_npz(f, tmp: Path, progress: Progress) -> None:
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for s in f.splits:
            _npz_member(zf, f"x_{s}", f.datasets[f"{s}/x"], progress)
            _npz_member(zf, f"y_{s}", f.datasets[f"{s}/y"], None)
            if _severity(f, s) is not None:
                _npz_member(zf, f"severity_{s}", f.datasets[f"{s}/severity"], None)
        names = _class_names(f)
        if names:
            with zf.open("class_names.npy", "w") as fh:
                np.lib.format.write_array(fh, np.array(names, dtype=str), allow_pickle=False)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())


def _severity(f, split: str) -> np.ndarray | None:
    """The per-row severity of a split (test-only corrupted sets), checked to be one value per row in 1..255."""
    name = f"{split}/severity"
    if name not in f.datasets:
        return None
    d = f.datasets[name]
    if d.shape != (f.datasets[f"{split}/y"].shape[0],) or d.dtype.kind not in "iu":
        raise UserError(f"{f.path}: {name} must hold one integer per row of {split}/y")
    sev = d[...]
    if sev.size and (int(sev.min()) < 0 or int(sev.max()) > 255):
        raise UserError(f"{f.path}: {name} values must be in [0, 255]")
    return sev


# ----------------------------------------------------------------------------- image folder


def class_folder_names(names: list[str]) -> list[str]:
    """`<label>_<name>` with the label zero-padded so sorted folder names keep label order."""
    width = len(str(max(len(names) - 1, 0)))
    out = []
    for i, n in enumerate(names):
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", n).strip(".-")[:64]
        out.append(f"{i:0{width}d}_{safe}" if safe and safe != str(i) else f"{i:0{width}d}")
    return out


def _labels_checked(y: np.ndarray, k: int, where: str) -> np.ndarray:
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= k)):
        raise UserError(f"{where}: labels must be integers in [0, {k}); cannot export class folders")
    return y


def _png(img: np.ndarray):
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return Image.fromarray(img, "L")
    if img.shape[2] == 3:
        return Image.fromarray(img, "RGB")
    if img.shape[2] == 4:
        return Image.fromarray(img, "RGBA")
    raise UserError(f"cannot write images with {img.shape[2]} channels as PNG")


def _write_imagefolder(f, tmp: Path, progress: Progress) -> None:
    names = _class_names(f)
    if not names:
        raise UserError(f"{f.path}: no classes recorded; imagefolder needs class labels")
    folders = class_folder_names(names)
    (tmp / "classes.txt").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(names)), encoding="utf-8")
    for s in f.splits:
        x, y = f.datasets[f"{s}/x"], f.datasets[f"{s}/y"]
        sev = _severity(f, s)
        levels = [f"severity{int(k)}" for k in np.unique(sev)] if sev is not None else [""]
        for lv in levels:
            for d in folders:
                (tmp / s / lv / d).mkdir(parents=True, exist_ok=True)
        width = max(5, len(str(x.shape[0])))
        for start, xb in _slabs(x):
            yb = _labels_checked(y[start : start + xb.shape[0]], len(names), str(f.path))
            for j in range(xb.shape[0]):
                lv = f"severity{int(sev[start + j])}" if sev is not None else ""
                _png(xb[j]).save(tmp / s / lv / folders[int(yb[j])] / f"{start + j:0{width}d}.png", compress_level=1)
            if progress:
                progress(xb.shape[0])


# ----------------------------------------------------------------------------- Hugging Face datasets


def _hf_rows(path: str, split: str, k: int):
    """Rows of one split for datasets.Dataset.from_generator (module-level and path-based: it is hashed)."""
    with open_file(path) as f:
        x, y = f.datasets[f"{split}/x"], f.datasets[f"{split}/y"]
        sev = _severity(f, split)
        for start, xb in _slabs(x):
            yb = _labels_checked(y[start : start + xb.shape[0]], k, path)
            for j in range(xb.shape[0]):
                row = {"image": _png(xb[j]), "label": int(yb[j])}
                if sev is not None:
                    row["severity"] = int(sev[start + j])
                yield row


def _write_hf(f, tmp: Path, progress: Progress) -> None:
    import datasets

    names = _class_names(f)
    if not names:
        raise UserError(f"{f.path}: no classes recorded; the hf export needs class labels")
    base = {"image": datasets.Image(), "label": datasets.ClassLabel(names=names)}
    with tempfile.TemporaryDirectory(prefix=".hf-cache.", dir=tmp.parent) as cache:
        parts = {}
        for s in f.splits:
            cols = base | ({"severity": datasets.Value("uint8")} if _severity(f, s) is not None else {})
            parts[s] = datasets.Dataset.from_generator(
                _hf_rows, features=datasets.Features(cols), cache_dir=cache, split=datasets.NamedSplit(s),
                gen_kwargs={"path": str(Path(f.path).resolve()), "split": s, "k": len(names)})
            if progress:
                progress(len(parts[s]))
        dd = datasets.DatasetDict(parts)
        os.rmdir(tmp)  # save_to_disk creates the folder itself
        dd.save_to_disk(str(tmp))
