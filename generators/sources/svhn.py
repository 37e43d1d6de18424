"""SVHN (Street View House Numbers, cropped digits) in its official MATLAB format (what torchvision downloads).

    train_32x32.mat, test_32x32.mat [, extra_32x32.mat]

Each file holds `X` (32 × 32 × 3 × N uint8, RGB) and `y` (N × 1, labels 1..10). **Label 10 means the
digit 0**: it is mapped to 0 (as torchvision does), so labels are 0..9 and class i is digit i. The
optional `extra` split (531,131 easier images) is appended to the training set with `extra=True`
(`make svhn --extra`; the dataset is then named `svhn_extra`).

Reading is bounded: every file must be a regular file of at most MAX_MAT_BYTES; its variables are
listed from the headers first (scipy.io.whosmat: no data read), and only a file holding exactly
`X` of 32 × 32 × 3 × N uint8 and `y` of N × 1 with N within the image limit, fitting in free memory,
is loaded (scipy.io.loadmat, which builds plain arrays and runs no code). MATLAB v7.3 (HDF5) files
are refused in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.generators.sources.custom import ImageData, md5_file
from noisebench.registry import register_source
from noisebench.safety import bounds
from noisebench.safety import inputs as safe_input

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
# Official md5s (torchvision.datasets.SVHN). Module-level so tests can register fixtures.
OFFICIAL_MD5: dict[str, str] = {
    "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
    "extra_32x32.mat": "a93ce644f1a588dc4d68dda5feec44a7",
}
CLASS_NAMES = [str(i) for i in range(10)]
MAX_MAT_BYTES = 4 << 30  # the official extra_32x32.mat is 1.3 GB
LABEL_ZERO = 10  # SVHN's label for the digit 0


def find_svhn_dir(path: Path) -> Path | None:
    path = Path(path)
    for cand in (path, path / "svhn", path / "SVHN", path / "raw", path / "raw" / "svhn"):
        if (cand / "train_32x32.mat").is_file():
            return cand
    return None


def read_mat(path: Path, verify: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """(x NHWC uint8, y 0..9 int64, md5) of one SVHN .mat file; every defect is a UserError."""
    import scipy.io  # only when an SVHN file is read

    if not os.path.lexists(path):
        raise UserError(f"{path}: missing (the official SVHN layout has train_32x32.mat and test_32x32.mat)")
    safe_input.check_regular(path, "SVHN file", MAX_MAT_BYTES)
    digest = md5_file(path)
    want = OFFICIAL_MD5.get(path.name)
    if verify and digest != want:
        raise UserError(f"{path}: md5 {digest} differs from the official {want} (damaged or re-encoded copy); "
                        "re-download, or pass --no-verify if you trust this copy")
    try:
        listed = {name: (tuple(shape), cls) for name, shape, cls in scipy.io.whosmat(str(path))}
    except NotImplementedError:
        raise UserError(f"{path}: a MATLAB v7.3 (HDF5) file; the official SVHN files are MATLAB v5") from None
    except Exception as e:  # noqa: BLE001 - scipy raises ValueError, TypeError, OSError... on damaged files
        raise UserError(f"{path}: not a readable MATLAB file ({type(e).__name__})") from None
    if set(listed) != {"X", "y"}:
        raise UserError(f"{path}: holds {sorted(listed)[:6]}; the official SVHN file holds exactly X and y")
    (xs, xc), (ys, yc) = listed["X"], listed["y"]
    if len(xs) != 4 or xs[:3] != (32, 32, 3) or xc != "uint8":
        raise UserError(f"{path}: X must be 32x32x3xN uint8, got {xc} {xs}")
    n = xs[3]
    if yc not in ("uint8", "uint16", "int8", "int16", "int32", "int64", "double", "single"):
        raise UserError(f"{path}: y must hold numeric labels, got MATLAB class {str(yc)[:20]}")
    if not 1 <= n <= bounds.MAX_IMAGES or ys not in ((n, 1), (1, n), (n,)):
        raise UserError(f"{path}: X holds {n} images but y has shape {ys} (expected {n}x1, at most {bounds.MAX_IMAGES})")
    from noisebench.format.reader import available_memory

    need = 2 * n * 32 * 32 * 3 + 16 * n
    avail = available_memory()
    if avail is not None and need > avail:
        raise UserError(f"{path}: {n} images need {need >> 20} MiB; only {avail >> 20} MiB of memory is free")
    try:
        m = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except Exception as e:  # noqa: BLE001 - truncated or damaged data
        raise UserError(f"{path}: truncated or corrupted MATLAB file ({type(e).__name__})") from None
    x, y = m.get("X"), m.get("y")
    if not isinstance(x, np.ndarray) or x.shape != xs or x.dtype != np.uint8 or not isinstance(y, np.ndarray):
        raise UserError(f"{path}: X/y do not match their headers")
    y = y.reshape(-1)
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (np.floor(y) == y).all()):
        raise UserError(f"{path}: y must hold whole-number labels")
    if y.dtype.kind not in "uif" or y.size != n or (n and (y.min() < 1 or y.max() > LABEL_ZERO)):
        raise UserError(f"{path}: y must hold {n} labels in 1..10 (10 = the digit 0)")
    y = y.astype(np.int64)
    y[y == LABEL_ZERO] = 0
    return np.ascontiguousarray(np.transpose(x, (3, 0, 1, 2))), y, digest


def load_svhn(path: Path, verify: bool = True, name: str | None = None, extra: bool = False) -> ImageData:
    d = find_svhn_dir(Path(path))
    if d is None:
        raise UserError(f"--source {path}: no train_32x32.mat / test_32x32.mat (the official SVHN files)")
    md5s = {}
    x_tr, y_tr, md5s["train_32x32.mat"] = read_mat(d / "train_32x32.mat", verify)
    if extra:
        x_ex, y_ex, md5s["extra_32x32.mat"] = read_mat(d / "extra_32x32.mat", verify)
        x_tr, y_tr = np.concatenate([x_tr, x_ex]), np.concatenate([y_tr, y_ex])
        del x_ex, y_ex
    x_te, y_te, md5s["test_32x32.mat"] = read_mat(d / "test_32x32.mat", verify)
    return ImageData(
        name=name or ("svhn_extra" if extra else "svhn"), x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
        class_names=list(CLASS_NAMES),
        source={"kind": "svhn-mat", "path": str(d.resolve()), "verified": bool(verify), "md5": md5s,
                "extra": bool(extra), "label_map": "10 -> 0 (class i is digit i)"},
    ).check()


def download_svhn(root: Path, extra: bool = False) -> Path:
    """Fetch the official .mat files into ROOT/svhn (checked against their md5s); returns that folder."""
    from torchvision.datasets.utils import download_url

    d = Path(root) / "svhn"
    d.mkdir(parents=True, exist_ok=True)
    for fname in ["train_32x32.mat", "test_32x32.mat"] + (["extra_32x32.mat"] if extra else []):
        if (d / fname).is_file() and md5_file(d / fname) == OFFICIAL_MD5[fname]:
            continue
        try:
            download_url(BASE_URL + fname, str(d), filename=fname, md5=OFFICIAL_MD5[fname])
        except Exception as e:  # noqa: BLE001 - network errors vary
            raise UserError(f"downloading {BASE_URL + fname} failed ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                            "download it yourself and pass --source") from None
    return d


@register_source(
    "svhn", description="SVHN cropped digits, official .mat files: 73,257 + 26,032 RGB 32x32 images, 10 digits "
                        "(label 10 mapped to 0; --extra adds the 531,131 extra training images)",
    recipe=dict(model="resnet18_tv", optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=128, epochs=30,
                lr_policy="fixed", metric="val_acc",
                source="the CIFAR-10 recipe: simple ResNet-18 (torchvision), Adam 1e-3, batch 128, 30 epochs, fixed LR"),
    official=True, provenance_kind="svhn-mat", files=dict(OFFICIAL_MD5),
    title="SVHN (Street View House Numbers, format 2: cropped digits)",
    url="http://ufldl.stanford.edu/housenumbers/",
    license="For non-commercial use only, as stated on the SVHN page (the images come from Google Street View); "
            "it asks users to cite the paper below. Check the source's terms before redistributing derived images.",
    license_short="non-commercial use only (cite Netzer et al. 2011)",
    citation="Yuval Netzer, Tao Wang, Adam Coates, Alessandro Bissacco, Bo Wu and Andrew Y. Ng. Reading Digits in "
             "Natural Images with Unsupervised Feature Learning. NIPS Workshop on Deep Learning and Unsupervised "
             "Feature Learning, 2011.",
    bibtex="@inproceedings{netzer2011reading,\n  author = {Netzer, Yuval and Wang, Tao and Coates, Adam and "
           "Bissacco, Alessandro and Wu, Bo and Ng, Andrew Y.},\n  title = {Reading Digits in Natural Images with "
           "Unsupervised Feature Learning},\n  booktitle = {NIPS Workshop on Deep Learning and Unsupervised Feature "
           "Learning},\n  year = {2011}\n}",
)
class SVHN:
    """The official SVHN cropped-digit .mat files, md5-checked; label 10 is the digit 0."""

    @staticmethod
    def find(path: Path) -> Path | None:
        return find_svhn_dir(Path(path))

    @staticmethod
    def download(root: Path) -> Path:
        return download_svhn(Path(root)).parent

    @staticmethod
    def load(path: Path, verify: bool = True, name: str | None = None, extra: bool = False) -> ImageData:
        return load_svhn(Path(path), verify=verify, name=name, extra=extra)
