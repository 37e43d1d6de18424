"""CIFAR-100 in its official "python version" layout (what torchvision downloads).

    cifar-100-python/train, cifar-100-python/test, cifar-100-python/meta

`train` and `test` are pickles of a dict with b'data' (N×3072 uint8, channel-planar RGB),
b'fine_labels' (0..99), b'coarse_labels' (0..19), b'filenames', b'batch_label'; `meta` holds
b'fine_label_names' (100) and b'coarse_label_names' (20). Fine labels are used by default;
``label_type="coarse"`` (`make cifar100 --label-type coarse`) uses the 20 superclasses and names
the dataset `cifar100_coarse`.

Safety as for CIFAR-10 (generators/sources/cifar10.py): a file is unpickled only after its md5
matches the official one (torchvision's values), or with `--no-verify`, and always through the
restricted unpickler of noisebench.safety.pickles; the structure is checked before use.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.generators.sources.cifar10 import CIFAR_TERMS
from noisebench.generators.sources.custom import ImageData
from noisebench.registry import register_source
from noisebench.safety import bounds
from noisebench.safety import inputs as safe_input
from noisebench.safety.pickles import safe_loads

BASE_FOLDER = "cifar-100-python"
URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
TGZ_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
# Official md5 of every file (torchvision.datasets.CIFAR100). Module-level so tests can register fixtures.
OFFICIAL_MD5: dict[str, str] = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}
LABEL_TYPES = {"fine": (b"fine_labels", b"fine_label_names", 100), "coarse": (b"coarse_labels", b"coarse_label_names", 20)}
SPLIT_KEYS = {b"filenames", b"batch_label", b"fine_labels", b"coarse_labels", b"data"}
META_KEYS = {b"fine_label_names", b"coarse_label_names"}


def find_cifar100_dir(path: Path) -> Path | None:
    """The folder holding train/test/meta: PATH itself, PATH/cifar-100-python or PATH/raw/cifar-100-python."""
    path = Path(path)
    for cand in (path, path / BASE_FOLDER, path / "raw" / BASE_FOLDER):
        if cand.is_dir() and (cand.name == BASE_FOLDER or ((cand / "meta").is_file() and (cand / "train").is_file())):
            return cand
    return None


def _load(path: Path, verify: bool, table: dict) -> tuple[dict, str]:
    limit = bounds.MAX_CIFAR_META_BYTES if path.name == "meta" else bounds.MAX_CIFAR_BATCH_BYTES
    if not os.path.lexists(path):
        raise UserError(f"{path}: missing (the official CIFAR-100 layout has train, test and meta)")
    data = safe_input.read_bytes(path, "CIFAR-100 file", limit)
    digest = hashlib.md5(data).hexdigest()
    if verify and digest != table.get(path.name):
        raise UserError(f"{path}: md5 {digest} differs from the official {table.get(path.name)} (damaged or "
                        "re-encoded copy); not unpickling it. Re-download, or pass --no-verify if you trust this copy")
    try:
        obj = safe_loads(data)
    except pickle.UnpicklingError as e:
        raise UserError(f"{path}: not a CIFAR-100 file ({' '.join(str(e).split())[:200]})") from None
    except Exception as e:  # noqa: BLE001 - truncated pickles raise EOFError, ValueError, ...
        raise UserError(f"{path}: truncated or corrupted CIFAR-100 file ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: not a CIFAR-100 file (expected a dict, got {type(obj).__name__})")
    allowed = META_KEYS if path.name == "meta" else SPLIT_KEYS
    extra = [k for k in obj if k not in allowed]
    if extra:
        shown = extra[0][:40] if isinstance(extra[0], (bytes, str)) else type(extra[0]).__name__
        raise UserError(f"{path}: unexpected entry {shown!r} (the official file holds only "
                        f"{', '.join(sorted(str(k) for k in allowed))})")
    return obj, digest


def _split(d: dict, path: Path, key: bytes, k: int) -> tuple[np.ndarray, np.ndarray]:
    data, labels = d.get(b"data"), d.get(key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise UserError(f"{path}: b'data' must be a uint8 N×3072 array, got {what}")
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu":
        labels = labels.tolist()
    if not isinstance(labels, list) or len(labels) != data.shape[0]:
        raise UserError(f"{path}: {key!r} must list one integer per image ({data.shape[0]})")
    if not all(type(v) is int and 0 <= v < k for v in labels):
        raise UserError(f"{path}: {key!r} must be integers in 0..{k - 1}")
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.asarray(labels, dtype=np.int64)


def load_cifar100(path: Path, verify: bool = True, name: str | None = None, label_type: str = "fine",
                  md5_table: dict | None = None) -> ImageData:
    if label_type not in LABEL_TYPES:
        raise UserError(f"--label-type must be fine or coarse, got {label_type!r}")
    table = OFFICIAL_MD5 if md5_table is None else md5_table
    d = find_cifar100_dir(Path(path))
    if d is None:
        raise UserError(f"--source {path}: no {BASE_FOLDER}/ folder with train, test and meta")
    key, names_key, k = LABEL_TYPES[label_type]
    meta, md5_meta = _load(d / "meta", verify, table)
    names = meta.get(names_key)
    if not isinstance(names, list) or len(names) != k:
        raise UserError(f"{d / 'meta'}: {names_key!r} must list the {k} class names")
    class_names = [safe_input.check_name(n, f"{d / 'meta'}: class name") for n in names]
    md5s, parts = {"meta": md5_meta}, {}
    for split in ("train", "test"):
        obj, md5s[split] = _load(d / split, verify, table)
        parts[split] = _split(obj, d / split, key, k)
        del obj
    return ImageData(
        name=name or ("cifar100" if label_type == "fine" else "cifar100_coarse"),
        x_train=parts["train"][0], y_train=parts["train"][1], x_test=parts["test"][0], y_test=parts["test"][1],
        class_names=class_names,
        source={"kind": "cifar100-python", "path": str(d.resolve()), "verified": bool(verify), "md5": md5s,
                "url": URL, "label_type": label_type},
    ).check()


def download_cifar100(root: Path) -> Path:
    """Fetch and extract the official archive into ROOT (checked against its md5); returns ROOT."""
    from torchvision.datasets.utils import download_and_extract_archive

    root = Path(root)
    if not (root / BASE_FOLDER / "test").exists():
        root.mkdir(parents=True, exist_ok=True)
        try:
            download_and_extract_archive(URL, str(root), filename="cifar-100-python.tar.gz", md5=TGZ_MD5)
        except Exception as e:  # noqa: BLE001 - network errors vary
            raise UserError(f"downloading CIFAR-100 from {URL} failed ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                            "download it yourself and pass --source") from None
    return root


@register_source(
    "cifar100", description="CIFAR-100, official python pickles: 50,000 + 10,000 RGB 32x32 images, 100 classes "
                            "(20 superclasses with --label-type coarse)",
    recipe=dict(model="resnet18_tv", optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=128, epochs=30,
                lr_policy="fixed", metric="val_acc",
                source="the CIFAR-10 recipe: simple ResNet-18 (torchvision), Adam 1e-3, batch 128, 30 epochs, fixed LR"),
    augment="crop_flip",  # random crop (pad 4) + horizontal flip of the training images by default, as CIFAR-10
    official=True, provenance_kind="cifar100-python", files=dict(OFFICIAL_MD5), url_archive=URL,
    title="CIFAR-100",
    **CIFAR_TERMS,
)
class CIFAR100:
    """The official CIFAR-100 python pickles (``cifar-100-python/``), md5-checked."""

    @staticmethod
    def find(path: Path) -> Path | None:
        return find_cifar100_dir(Path(path))

    @staticmethod
    def download(root: Path) -> Path:
        return download_cifar100(Path(root))

    @staticmethod
    def load(path: Path, verify: bool = True, name: str | None = None, label_type: str = "fine") -> ImageData:
        return load_cifar100(Path(path), verify=verify, name=name, label_type=label_type)
