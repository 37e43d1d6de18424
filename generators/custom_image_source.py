"""Image sources other than the official archives, and the common in-memory form of every source.

* an image-folder tree: `ROOT/train/<class_name>/*.png|jpg|jpeg|bmp` and `ROOT/test/<class_name>/...`
  (class names = the sorted union of the subfolder names; images must all have one size);
* a `.npz` with `x_train, y_train, x_test, y_test` (+ optional `class_names`): x uint8 as
  (N,H,W), (N,H,W,C); y integer labels in [0, K).

`load_any(path, expect=...)` detects the kind of a `--source` path (official CIFAR-10 python
batches, MNIST idx files, image folder, npz).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisebench.errors import UserError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGES = 5_000_000


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
        where = self.source.get("path", self.name)
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.ndim != 4 or x.dtype != np.uint8:
                raise UserError(f"{where}: {split} images must be uint8 (N,H,W,C), got {x.dtype} {x.shape}")
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
    h = hashlib.md5()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def _as_nhwc(x: np.ndarray, where: str, key: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise UserError(f"{where}: {key} must have shape (N,H,W) or (N,H,W,C), got {x.shape}")
    if x.dtype != np.uint8:
        if x.dtype.kind not in "uif" or (x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 255)) or not np.isfinite(x).all():
            raise UserError(f"{where}: {key} must hold uint8 pixels in [0, 255], got {x.dtype}")
        if x.dtype.kind == "f" and x.size and x.max() <= 1.0:
            raise UserError(f"{where}: {key} looks like floats in [0, 1]; store uint8 pixels in [0, 255]")
        x = x.astype(np.uint8)
    return np.ascontiguousarray(x)


def load_npz(path: Path, name: str | None = None) -> ImageData:
    path = Path(path)
    where = str(path)
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - zip/format errors vary
        raise UserError(f"{where}: not a readable .npz file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    with z:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z.files]
        if missing:
            raise UserError(f"{where}: the .npz must contain x_train, y_train, x_test, y_test (missing {', '.join(missing)})")
        try:
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            names = [str(s) for s in z["class_names"].tolist()] if "class_names" in z.files else None
        except ValueError as e:
            raise UserError(f"{where}: {e} (object arrays are not loaded; store plain numbers/strings)") from None
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{where}: damaged .npz ({type(e).__name__})") from None
    ys = {}
    for k in ("y_train", "y_test"):
        y = arrays[k]
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise UserError(f"{where}: {k} must be a 1-D array of integer labels, got {y.dtype} {y.shape}")
        ys[k] = y.astype(np.int64)
    k = int(max(ys["y_train"].max(initial=-1), ys["y_test"].max(initial=-1))) + 1
    if names is None:
        names = [str(i) for i in range(k)]
    elif len(names) < k:
        raise UserError(f"{where}: class_names lists {len(names)} classes but labels go up to {k - 1}")
    return ImageData(
        name=name or path.stem,
        x_train=_as_nhwc(arrays["x_train"], where, "x_train"),
        y_train=ys["y_train"],
        x_test=_as_nhwc(arrays["x_test"], where, "x_test"),
        y_test=ys["y_test"],
        class_names=names,
        source={"kind": "npz", "path": str(path.resolve()), "md5": md5_file(path)},
    ).check()


def _read_image(p: Path, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            a = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"{where}: cannot read image {p} ({type(e).__name__})") from None
    return a[..., None] if a.ndim == 2 else a


def load_image_folder(root: Path, name: str | None = None) -> ImageData:
    root = Path(root)
    where = str(root)
    for s in ("train", "test"):
        if not (root / s).is_dir():
            raise UserError(f"{where}: an image-folder source needs train/ and test/ subfolders with one folder per class")
    classes = sorted({d.name for s in ("train", "test") for d in (root / s).iterdir() if d.is_dir() and not d.name.startswith(".")})
    if not classes:
        raise UserError(f"{where}: no class folders under train/ (expected train/<class_name>/*.png)")
    cidx = {c: i for i, c in enumerate(classes)}
    out = {}
    shape = None
    for s in ("train", "test"):
        files: list[tuple[Path, int]] = []
        for c in classes:
            d = root / s / c
            if d.is_dir():
                files += [(p, cidx[c]) for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_EXTS and p.is_file()]
        if len(files) > MAX_IMAGES:
            raise UserError(f"{where}: more than {MAX_IMAGES} images in {s}/")
        imgs = []
        for p, _ in files:
            a = _read_image(p, where)
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                raise UserError(f"{where}: {p} is {a.shape[1]}x{a.shape[0]}x{a.shape[2]} but earlier images are "
                                f"{shape[1]}x{shape[0]}x{shape[2]}; resize them to one size first")
            imgs.append(a)
        if s == "train" and not imgs:
            raise UserError(f"{where}: no images found under train/<class_name>/ ({', '.join(IMAGE_EXTS)})")
        x = np.stack(imgs) if imgs else np.zeros((0,) + (shape or (1, 1, 1)), np.uint8)
        out[s] = (x, np.array([c for _, c in files], np.int64))
    return ImageData(
        name=name or root.resolve().name,
        x_train=out["train"][0], y_train=out["train"][1], x_test=out["test"][0], y_test=out["test"][1],
        class_names=classes, source={"kind": "image-folder", "path": str(root.resolve())},
    ).check()


def detect_kind(path: Path, prefer: str = "cifar10") -> str:
    """'cifar10' | 'mnist' | 'image-folder' | 'npz' for a --source path (UserError if none fits).

    When PATH holds both official layouts, `prefer` decides."""
    from noisebench.generators.cifar10_source import find_cifar_dir
    from noisebench.generators.mnist_source import find_mnist_dir

    path = Path(path)
    if not path.exists():
        raise UserError(f"--source {path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return "npz"
        raise UserError(f"--source {path}: a file source must be a .npz with x_train, y_train, x_test, y_test")
    found = [k for k, finder in (("cifar10", find_cifar_dir), ("mnist", find_mnist_dir)) if finder(path) is not None]
    if found:
        return prefer if prefer in found else found[0]
    if (path / "train").is_dir() and (path / "test").is_dir():
        return "image-folder"
    raise UserError(
        f"--source {path}: unrecognised layout; expected cifar-10-batches-py/ (data_batch_1..5, test_batch, "
        "batches.meta), MNIST idx files (train-images-idx3-ubyte[.gz] ...), an image folder with train/ and "
        "test/ class subfolders, or a .npz"
    )


def load_custom(path: Path, name: str | None = None) -> ImageData:
    kind = detect_kind(path)
    if kind == "npz":
        return load_npz(path, name)
    if kind == "image-folder":
        return load_image_folder(path, name)
    raise ValueError(kind)
