"""Image sources other than the official archives, and the common in-memory form of every source.

* an image-folder tree: `ROOT/train/<class_name>/*.png|jpg|jpeg|bmp` and `ROOT/test/<class_name>/...`
  (class names = the sorted union of the subfolder names; images must all have one size);
* a `.npz` with `x_train, y_train, x_test, y_test` (+ optional `class_names`): x uint8 as
  (N,H,W), (N,H,W,C); y integer labels in [0, K).

Every source is registered (``nb.register_source``) as a class with ``find(path)`` (is this
layout at PATH?), ``load(path, verify, name) -> ImageData`` and, for official sets, ``download``;
``detect_kind``/``load_source`` pick the registered source that recognises a ``--source`` path.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.format.reader import available_memory
from noisebench.registry import SOURCES, register_source
from noisebench.safety import bounds
from noisebench.safety import inputs as safe_input
from noisebench.safety.images import read_image
from noisebench.safety.npz import read_npz

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGES = bounds.MAX_IMAGES


@dataclass
class ImageData:
    """A whole labelled image dataset in memory: x uint8 NHWC, y int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: dict = field(default_factory=dict)
    _fp: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def content_sha256(self) -> str:
        """sha256 of the content, over (shape, C-order bytes) of x_train, y_train, x_test, y_test in turn;
        recorded as the files' `source_fingerprint`. Computed once."""
        if self._fp is not None:
            return self._fp
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).data)
        self._fp = h.hexdigest()
        return self._fp

    def fingerprint(self) -> str:
        """Short form (16 hex) of content_sha256, recorded in `params`."""
        return self.content_sha256()[:16]

    def check(self) -> "ImageData":
        """Shapes, dtypes, labels and names within the documented bounds (docs/BOUNDS.md), for every source."""
        where = self.source.get("path", self.name)
        safe_input.check_stem(self.name, "dataset name")
        if not 1 <= self.num_classes <= bounds.MAX_IMAGE_CLASSES:
            raise UserError(f"{where}: {self.num_classes} classes (1..{bounds.MAX_IMAGE_CLASSES})")
        for c in self.class_names:
            safe_input.check_name(c, f"{where}: class name")
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.ndim != 4 or x.dtype != np.uint8:
                raise UserError(f"{where}: {split} images must be uint8 (N,H,W,C), got {x.dtype} {x.shape}")
            if x.shape[3] not in (1, 3) or not all(1 <= s <= bounds.MAX_IMAGE_SIDE for s in x.shape[1:3]):
                raise UserError(f"{where}: {split} images are {x.shape[1:]} (H, W in 1..{bounds.MAX_IMAGE_SIDE}, C = 1 or 3)")
            if y.ndim != 1 or y.dtype.kind not in "iu":
                raise UserError(f"{where}: {split} labels must be a 1-D integer array, got {y.dtype} {y.shape}")
            if x.shape[0] != y.shape[0]:
                raise UserError(f"{where}: {split} has {x.shape[0]} images but {y.shape[0]} labels")
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise UserError(f"{where}: {split} labels must lie in [0, {self.num_classes - 1}]")
        if self.x_train.shape[0] == 0:
            raise UserError(f"{where}: the training split is empty")
        if self.x_train.shape[1:] != self.x_test.shape[1:] and self.x_test.shape[0]:
            raise UserError(f"{where}: train images are {self.x_train.shape[1:]} but test images {self.x_test.shape[1:]}")
        return self


def md5_file(path: Path) -> str:
    return safe_input.file_digest(path, "md5")


def _as_nhwc(x: np.ndarray, where: str, key: str) -> np.ndarray:
    """(N,H,W[,C]) uint8 pixels; other numeric dtypes are converted only when exact (whole numbers in 0..255)."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise UserError(f"{where}: {key} must have shape (N,H,W) or (N,H,W,C), got {x.shape}")
    if x.shape[3] not in (1, 3):
        raise UserError(f"{where}: {key} has {x.shape[3]} channels; images must have 1 (grey) or 3 (RGB)")
    if x.shape[0] and not all(1 <= s <= bounds.MAX_IMAGE_SIDE for s in x.shape[1:3]):
        raise UserError(f"{where}: {key} images are {x.shape[2]}x{x.shape[1]} pixels (each side 1..{bounds.MAX_IMAGE_SIDE})")
    if x.dtype != np.uint8:
        if x.dtype.kind not in "uif":
            raise UserError(f"{where}: {key} must hold uint8 pixels in [0, 255], got {x.dtype}")
        if x.size and x.dtype.kind == "f" and not np.isfinite(x).all():
            raise UserError(f"{where}: {key} holds NaN or infinite values; store uint8 pixels in [0, 255]")
        if x.size and (x.min() < 0 or x.max() > 255):
            raise UserError(f"{where}: {key} ({x.dtype}) has values outside [0, 255]; store uint8 pixels")
        if x.dtype.kind == "f" and x.size and x.max() <= 1.0:
            raise UserError(f"{where}: {key} looks like floats in [0, 1]; store uint8 pixels in [0, 255]")
        if x.dtype.kind == "f" and x.size and not (np.floor(x) == x).all():
            raise UserError(f"{where}: {key} ({x.dtype}) holds fractional pixel values; converting would round them, "
                            "so store uint8 pixels")
        x = x.astype(np.uint8)  # exact: whole numbers in 0..255
    return np.ascontiguousarray(x)


def check_labels(ys: dict, where: str, names: list | None) -> list[str]:
    """Labels are integers 0..K-1 with K <= MAX_IMAGE_CLASSES, checked before any per-class allocation.

    Without class_names, K = max label + 1 and every class 0..K-1 must occur (a stray label of
    10**6 does not make a million empty classes); with class_names, K = len(class_names)."""
    for k, y in ys.items():
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise UserError(f"{where}: {k} must be a 1-D array of integer labels, got {y.dtype} {y.shape}")
        if y.size and int(y.min()) < 0:
            raise UserError(f"{where}: {k} has a negative label ({int(y.min())}); labels are 0..K-1")
        if y.size and int(y.max()) >= bounds.MAX_IMAGE_CLASSES:
            raise UserError(f"{where}: {k} has label {int(y.max())}; labels are 0..K-1 with at most "
                            f"{bounds.MAX_IMAGE_CLASSES} classes")
    k = max((int(y.max()) + 1 for y in ys.values() if y.size), default=0)
    if names is not None:
        if not 1 <= len(names) <= bounds.MAX_IMAGE_CLASSES:
            raise UserError(f"{where}: class_names lists {len(names)} classes (1..{bounds.MAX_IMAGE_CLASSES})")
        if len(names) < k:
            raise UserError(f"{where}: class_names lists {len(names)} classes but labels go up to {k - 1}")
        for n in names:
            safe_input.check_name(n, f"{where}: class name")
        if len(set(names)) != len(names):
            raise UserError(f"{where}: class_names has duplicates")
        return list(names)
    seen = np.zeros(k, bool)
    for y in ys.values():
        seen[y] = True
    if not seen.all():
        missing = np.flatnonzero(~seen)
        raise UserError(f"{where}: labels span 0..{k - 1} but {len(missing)} of those classes never occur (e.g. "
                        f"{int(missing[0])}); use contiguous labels 0..K-1 or give class_names")
    return [str(i) for i in range(k)]


def load_npz(path: Path, name: str | None = None) -> ImageData:
    path = Path(path)
    where = str(path)
    keys = ("x_train", "y_train", "x_test", "y_test")
    px = bounds.MAX_IMAGES * bounds.MAX_IMAGE_PIXELS * 3
    arrays = read_npz(path, keys, ("class_names",), {"x_train": px, "x_test": px, "y_train": bounds.MAX_IMAGES,
                                                     "y_test": bounds.MAX_IMAGES, "class_names": bounds.MAX_IMAGE_CLASSES})
    names = None
    if "class_names" in arrays:
        cn = arrays["class_names"]
        if cn.ndim != 1 or cn.dtype.kind not in "SU":
            raise UserError(f"{where}: class_names must be a 1-D array of strings, got {cn.dtype} {cn.shape}")
        names = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in cn.tolist()]
    names = check_labels({"y_train": arrays["y_train"], "y_test": arrays["y_test"]}, where, names)
    digest = hashlib.md5()
    with safe_input.open_regular(path, "--source", bounds.MAX_NPZ_BYTES) as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            digest.update(blk)
    return ImageData(
        name=name or safe_input.check_stem(path.stem, "dataset name (from the file name; pass --name)"),
        x_train=_as_nhwc(arrays["x_train"], where, "x_train"),
        y_train=arrays["y_train"].astype(np.int64),
        x_test=_as_nhwc(arrays["x_test"], where, "x_test"),
        y_test=arrays["y_test"].astype(np.int64),
        class_names=names,
        source={"kind": "npz", "path": str(path.resolve()), "md5": digest.hexdigest()},
    ).check()


def _class_folders(root: Path, where: str) -> list[str]:
    names = set()
    for s in ("train", "test"):
        for d in (root / s).iterdir():
            if d.name.startswith("."):
                continue
            if d.is_dir():
                names.add(safe_input.check_name(d.name, f"{where}: class folder name"))
            if len(names) > bounds.MAX_IMAGE_CLASSES:
                raise UserError(f"{where}: more than {bounds.MAX_IMAGE_CLASSES} class folders")
    return sorted(names)


def _image_files(root: Path, split: str, classes: list[str], where: str) -> list[tuple[Path, int]]:
    files: list[tuple[Path, int]] = []
    for ci, c in enumerate(classes):
        d = root / split / c
        if not d.is_dir():
            continue
        names = []
        with os.scandir(d) as it:  # counted while listing: a folder of millions of entries stops at the bound
            for e in it:
                if e.name.startswith(".") or os.path.splitext(e.name)[1].lower() not in IMAGE_EXTS:
                    continue
                names.append(e.name)
                if len(files) + len(names) > MAX_IMAGES:
                    raise UserError(f"{where}: more than {MAX_IMAGES} images in {split}/")
        for n in sorted(names):
            safe_input.check_regular(d / n, f"{where}: image", bounds.MAX_IMAGE_FILE_BYTES)
            files.append((d / n, ci))
    return files


def load_image_folder(root: Path, name: str | None = None) -> ImageData:
    """Every image is read exactly (noisebench.safety.images: size, mode and bomb checks); the whole
    source's pixel count is checked against the limit and free memory before the array is made."""

    root = Path(root)
    where = str(root)
    for s in ("train", "test"):
        if not (root / s).is_dir():
            raise UserError(f"{where}: an image-folder source needs train/ and test/ subfolders with one folder per class")
    classes = _class_folders(root, where)
    if not classes:
        raise UserError(f"{where}: no class folders under train/ (expected train/<class_name>/*.png)")
    files = {s: _image_files(root, s, classes, where) for s in ("train", "test")}
    if not files["train"]:
        raise UserError(f"{where}: no images found under train/<class_name>/ ({', '.join(IMAGE_EXTS)})")
    shape = read_image(files["train"][0][0], where).shape
    n = len(files["train"]) + len(files["test"])
    need = n * int(np.prod(shape))
    avail = available_memory()
    if need > bounds.MAX_SOURCE_BYTES or (avail is not None and need > avail):
        what = "the memory available" if avail is not None and need > avail else "the limit"
        raise UserError(f"{where}: {n} images of {shape[1]}x{shape[0]}x{shape[2]} need {need} bytes, more than {what}")
    out = {}
    for s in ("train", "test"):
        x = np.empty((len(files[s]),) + shape, np.uint8)
        for i, (p, _) in enumerate(files[s]):
            a = read_image(p, where)
            if a.shape != shape:
                raise UserError(f"{where}: {p} is {a.shape[1]}x{a.shape[0]}x{a.shape[2]} but earlier images are "
                                f"{shape[1]}x{shape[0]}x{shape[2]}; resize them to one size first")
            x[i] = a
        out[s] = (x, np.array([c for _, c in files[s]], np.int64))
    return ImageData(
        name=name or safe_input.check_stem(root.resolve().name, "dataset name (from the folder name; pass --name)"),
        x_train=out["train"][0], y_train=out["train"][1], x_test=out["test"][0], y_test=out["test"][1],
        class_names=classes, source={"kind": "image-folder", "path": str(root.resolve())},
    ).check()


def _is_npz(path: Path) -> bool:
    return Path(path).suffix.lower() == ".npz" and not Path(path).is_dir()


def _is_image_folder(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "train").is_dir() and (path / "test").is_dir()


@register_source("npz", description="a .npz with x_train, y_train, x_test, y_test (+ optional class_names)",
                 provenance_kind="npz")
class NpzSource:
    """Your own arrays: x uint8 (N,H,W) or (N,H,W,C), y integer labels in [0, K)."""

    find = staticmethod(lambda path: Path(path) if _is_npz(path) else None)

    @staticmethod
    def load(path: Path, verify: bool = True, name: str | None = None) -> "ImageData":
        return load_npz(Path(path), name)


@register_source("image_folder", description="ROOT/train/<class>/*.png|jpg|... and ROOT/test/<class>/...",
                 provenance_kind="image-folder")
class ImageFolderSource:
    """An image folder tree (class names = the sorted folder names; one image size)."""

    find = staticmethod(lambda path: Path(path) if _is_image_folder(path) else None)

    @staticmethod
    def load(path: Path, verify: bool = True, name: str | None = None) -> "ImageData":
        return load_image_folder(Path(path), name)


def detect_kind(path: Path, prefer: str = "cifar10") -> str:
    """The registered source (``cifar10``, ``mnist``, ``npz``, ``image_folder`` or a plug-in's) whose
    ``find`` recognises a --source path (UserError if none does). When several official layouts are
    present, `prefer` decides; official sources are tried before the others."""

    path = Path(path)
    if not path.exists():
        raise UserError(f"--source {path}: no such file or folder")
    if not path.is_dir() and not path.is_file():
        safe_input.check_regular(path, "--source")
    entries = sorted(SOURCES.entries(), key=lambda e: (e.name != prefer, not e.meta.get("official"), not e.builtin))
    for e in entries:
        finder = getattr(e.obj, "find", None)
        if finder is not None and finder(path) is not None:
            return e.name
    if not path.is_dir():
        raise UserError(f"--source {path}: a file source must be a .npz with x_train, y_train, x_test, y_test")
    raise UserError(
        f"--source {path}: unrecognised layout; expected cifar-10-batches-py/ (data_batch_1..5, test_batch, "
        "batches.meta), MNIST idx files (train-images-idx3-ubyte[.gz] ...), an image folder with train/ and "
        "test/ class subfolders, a .npz, or a layout a --plugin source recognises"
    )


def load_source(path: Path, prefer: str = "cifar10", verify: bool = True, name: str | None = None,
                options: dict | None = None) -> "ImageData":
    """Load a --source path with the registered source that recognises it (`options`: keyword
    arguments of `prefer`'s loader; a --source of another layout cannot take them)."""

    entry = SOURCES.get(detect_kind(path, prefer))
    if options and entry.name != prefer:
        raise UserError(f"--source {path} is a {entry.name} layout; {', '.join('--' + k.replace('_', '-') for k in options)} "
                        f"applies only to {prefer}")
    data = entry.obj.load(Path(path), verify=verify, name=name, **(options or {}))
    if not isinstance(data, ImageData):
        raise UserError(f"source {entry.name!r} returned {type(data).__name__}, not noisebench.ImageData")
    return data if entry.builtin else data.check()  # a plug-in's data meets the same bounds as ours
