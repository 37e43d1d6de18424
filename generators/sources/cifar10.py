"""CIFAR-10 in its official "python version" layout (what torchvision downloads).

    cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta

Each batch is a pickle of a dict with b'data' (10000×3072 uint8, channel-planar RGB),
b'labels', b'batch_label', b'filenames'; batches.meta holds b'label_names'.

Safety: unpickling can execute code, so a batch is unpickled only after its md5 matches the
official one (OFFICIAL_MD5, the checksums torchvision lists), or when the user passes
`--no-verify` explicitly. Even then the restricted unpickler of noisebench.safety.pickles allows only
what the official files contain (a dict of ints, bytes, lists and one numpy uint8 array), every
file is a regular file of at most 200 MB (the official batches are 31 MB), and the loaded
structure is checked (keys, types, N x 3072 uint8, labels 0..9) before it is used.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.generators.sources.custom import ImageData
from noisebench.registry import register_source
from noisebench.safety import bounds
from noisebench.safety import inputs as safe_input
from noisebench.safety.pickles import safe_loads

BASE_FOLDER = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TGZ_MD5 = "c58f30108f718f92721af3b95e74349a"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"

# Official md5 of every file (torchvision.datasets.CIFAR10). Module-level so tests can register fixtures.
OFFICIAL_MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MAX_BATCH_BYTES = bounds.MAX_CIFAR_BATCH_BYTES
BATCH_KEYS = {b"batch_label", b"labels", b"data", b"filenames"}
META_KEYS = {b"num_cases_per_batch", b"label_names", b"num_vis"}


def find_cifar_dir(path: Path) -> Path | None:
    """The folder holding the batches: PATH itself, PATH/cifar-10-batches-py, or PATH/raw/cifar-10-batches-py."""
    path = Path(path)
    for cand in (path, path / BASE_FOLDER, path / "raw" / BASE_FOLDER):
        if cand.is_dir() and ((cand / "data_batch_1").exists() or (cand / META_FILE).exists() or cand.name == BASE_FOLDER):
            return cand
    return None


def load_pickle(path: Path, verify: bool, md5_table: dict | None = None) -> dict:
    """Unpickle one batch file after checking its md5 (unless verify=False)."""

    table = OFFICIAL_MD5 if md5_table is None else md5_table
    limit = bounds.MAX_CIFAR_META_BYTES if path.name == META_FILE else MAX_BATCH_BYTES
    if not os.path.lexists(path):
        raise UserError(f"{path}: missing (the official CIFAR-10 layout has data_batch_1..5, test_batch, batches.meta)")
    data = safe_input.read_bytes(path, "CIFAR-10 file", limit)
    digest = hashlib.md5(data).hexdigest()
    if verify:
        want = table.get(path.name)
        if want is None:
            raise UserError(f"{path}: no official checksum known for this file; pass --no-verify to load it anyway")
        if digest != want:
            raise UserError(
                f"{path}: md5 {digest} differs from the official {want} (damaged or re-encoded copy); "
                "not unpickling it. Re-download, or pass --no-verify if you trust this copy"
            )
    try:
        obj = safe_loads(data)
    except pickle.UnpicklingError as e:
        raise UserError(f"{path}: not a CIFAR-10 batch ({' '.join(str(e).split())[:200]})") from None
    except Exception as e:  # noqa: BLE001 - truncated pickles raise EOFError, ValueError, ...
        raise UserError(f"{path}: truncated or corrupted batch file ({type(e).__name__})") from None
    finally:
        del data
    if not isinstance(obj, dict):
        raise UserError(f"{path}: not a CIFAR-10 batch (expected a dict, got {type(obj).__name__})")
    allowed = META_KEYS if path.name == META_FILE else BATCH_KEYS
    extra = [k for k in obj if k not in allowed]
    if extra:
        shown = extra[0][:40] if isinstance(extra[0], (bytes, str)) else type(extra[0]).__name__
        raise UserError(f"{path}: unexpected entry {shown!r} (the official files hold only "
                        f"{', '.join(sorted(str(k) for k in allowed))})")
    return {"_md5": digest, **obj}


def _batch_arrays(d: dict, path: Path) -> tuple[np.ndarray, np.ndarray]:
    data, labels = d.get(b"data"), d.get(b"labels")
    if data is None or labels is None:
        raise UserError(f"{path}: batch lacks the b'data' / b'labels' entries of the official format")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise UserError(f"{path}: b'data' must be a uint8 N×3072 array, got {what}")
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise UserError(f"{path}: b'labels' must list one integer per image, got {labels.dtype} {labels.shape}")
        labels = labels.tolist()
    if not isinstance(labels, list) or len(labels) != data.shape[0]:
        n = len(labels) if isinstance(labels, list) else type(labels).__name__
        raise UserError(f"{path}: b'labels' must list one integer per image ({data.shape[0]}), got {n}")
    if not all(type(v) is int and 0 <= v <= 9 for v in labels):
        raise UserError(f"{path}: labels must be integers in 0..9")
    labels = np.asarray(labels, dtype=np.int64)
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels.astype(np.int64)


def load_cifar10(path: Path, verify: bool = True, name: str = "cifar10", md5_table: dict | None = None) -> ImageData:
    d = find_cifar_dir(Path(path))
    if d is None:
        raise UserError(f"--source {path}: no {BASE_FOLDER}/ folder with data_batch_1..5, test_batch, batches.meta")
    md5s = {}
    meta = load_pickle(d / META_FILE, verify, md5_table)
    md5s[META_FILE] = meta.pop("_md5")
    names = meta.get(b"label_names")
    if not isinstance(names, list) or len(names) != len(CLASS_NAMES):
        raise UserError(f"{d / META_FILE}: b'label_names' must list the {len(CLASS_NAMES)} class names")
    class_names = [safe_input.check_name(n, f"{d / META_FILE}: class name") for n in names]
    parts = {}
    for split, files in (("train", TRAIN_FILES), ("test", TEST_FILES)):
        xs, ys = [], []
        for fn in files:
            b = load_pickle(d / fn, verify, md5_table)
            md5s[fn] = b.pop("_md5")
            x, y = _batch_arrays(b, d / fn)
            xs.append(x)
            ys.append(y)
        parts[split] = (np.concatenate(xs), np.concatenate(ys))
    return ImageData(
        name=name, x_train=parts["train"][0], y_train=parts["train"][1], x_test=parts["test"][0],
        y_test=parts["test"][1], class_names=class_names,
        source={"kind": "cifar10-python", "path": str(d.resolve()), "verified": bool(verify), "md5": md5s, "url": URL},
    ).check()


def download_cifar10(root: Path) -> Path:
    """Fetch and extract the official archive into ROOT (checked against its md5); returns ROOT."""
    from torchvision.datasets.utils import download_and_extract_archive

    root = Path(root)
    if find_cifar_dir(root) is None or not (root / BASE_FOLDER / "test_batch").exists():
        root.mkdir(parents=True, exist_ok=True)
        try:
            download_and_extract_archive(URL, str(root), filename="cifar-10-python.tar.gz", md5=TGZ_MD5)
        except Exception as e:  # noqa: BLE001 - network errors vary
            raise UserError(f"downloading CIFAR-10 from {URL} failed ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                            "download it yourself and pass --source") from None
    return root


# The CIFAR page's terms and the technical report, shared by CIFAR-10 and CIFAR-100 (generators/sources/cifar100.py).
CIFAR_TERMS = dict(
    url="https://www.cs.toronto.edu/~kriz/cifar.html",
    license="No license is stated on the CIFAR page; it asks users of the dataset to cite the technical "
            "report below. Check the source's terms before redistributing images derived from it.",
    license_short="unknown (no license stated by the source; cite Krizhevsky 2009)",
    citation="Alex Krizhevsky. Learning Multiple Layers of Features from Tiny Images. Technical report, "
             "University of Toronto, 2009.",
    bibtex="@techreport{krizhevsky2009learning,\n  author = {Alex Krizhevsky},\n  title = {Learning Multiple "
           "Layers of Features from Tiny Images},\n  institution = {University of Toronto},\n  year = {2009}\n}",
)


@register_source(
    "cifar10", description="CIFAR-10, official python batches: 50,000 + 10,000 RGB 32x32 images, 10 classes",
    recipe=dict(model="resnet18_tv", optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=128, epochs=30,
                lr_policy="fixed", metric="val_acc",
                source="simple ResNet-18 (torchvision), Adam 1e-3, batch 128, 30 epochs, fixed LR"),
    augment="crop_flip",  # random crop (pad 4) + horizontal flip of the training images by default
    official=True, provenance_kind="cifar10-python", files=dict(OFFICIAL_MD5), url_archive=URL,
    title="CIFAR-10",
    **CIFAR_TERMS,
)
class CIFAR10:
    """The official CIFAR-10 python batches (``cifar-10-batches-py/``), md5-checked."""

    @staticmethod
    def find(path: Path) -> Path | None:
        return find_cifar_dir(Path(path))

    @staticmethod
    def download(root: Path) -> Path:
        return download_cifar10(Path(root))

    @staticmethod
    def load(path: Path, verify: bool = True, name: str | None = None) -> ImageData:
        return load_cifar10(Path(path), verify=verify, name=name or "cifar10")
