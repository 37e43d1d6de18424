"""MNIST in its official idx format (what torchvision downloads), gzipped or plain.

    train-images-idx3-ubyte[.gz]  (magic 2051: uint8, N×28×28)
    train-labels-idx1-ubyte[.gz]  (magic 2049: uint8, N)
    t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]

Looked up in PATH, PATH/MNIST/raw, PATH/raw and PATH/raw/MNIST/raw (torchvision's layout).
The official md5s (OFFICIAL_MD5, as listed by torchvision) are those of the .gz files; so with
verification on, the .gz files are read. Plain files are read only with `--no-verify`, unless a
checksum for them has been registered in OFFICIAL_MD5 (a module-level dict; tests inject theirs).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.generators.sources.custom import ImageData, md5_file
from noisebench.registry import register_source
from noisebench.safety import bounds
from noisebench.safety import inputs as safe_input

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
OFFICIAL_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
CLASS_NAMES = [str(i) for i in range(10)]
MAGIC_IMAGES, MAGIC_LABELS = 2051, 2049
MAX_BYTES = bounds.MAX_IDX_BYTES


def _candidates(path: Path) -> list[Path]:
    return [path, path / "MNIST" / "raw", path / "raw", path / "raw" / "MNIST" / "raw"]


def has_idx_files(cand: Path) -> bool:
    return cand.is_dir() and any((cand / (FILES["train_images"] + ext)).is_file() for ext in ("", ".gz"))


def find_mnist_dir(path: Path) -> Path | None:
    from noisebench.generators.sources.fashion_mnist import is_fashion  # same idx names: tell the two apart

    for cand in _candidates(Path(path)):
        if has_idx_files(cand) and not is_fashion(cand):
            return cand
    return None


def _pick(d: Path, base: str, verify: bool, md5_table: dict) -> Path:
    gz, plain = d / (base + ".gz"), d / base
    if os.path.lexists(gz):
        return gz
    if os.path.lexists(plain):
        if verify and plain.name not in md5_table:
            raise UserError(
                f"{plain}: the official checksums are of the .gz files; put {gz.name} next to it, "
                "or pass --no-verify to read the uncompressed file unchecked"
            )
        return plain
    raise UserError(f"{d}: missing {base}[.gz] (the official MNIST layout has the four idx files)")


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an idx file (gz or plain) with the expected magic number; every defect is a UserError.

    The file must be a regular file; compressed and decompressed sizes are capped at MAX_BYTES, and
    the header's dimensions are checked (count, side lengths, product = data size) before any array
    is made."""
    return parse_idx(path, safe_input.read_bytes(path, "idx file", MAX_BYTES), magic)


def _gunzip_bounded(path: Path, raw: bytes) -> bytes | bytearray:
    """Decompress an idx.gz into one buffer of the size its header announces, plus one byte to see that
    more follows: a small file that inflates to gigabytes is refused after that many bytes, and a
    header that announces more than MAX_BYTES before any data is inflated."""
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as g:  # readinto inflates at most the buffer's size
        head = g.read(4)
        if len(head) == 4:
            head += g.read(4 * head[3])
        if len(head) < 4 or len(head) != 4 + 4 * head[3]:
            return head  # the stream ended inside the header: parse_idx says "truncated"
        need = 1  # the product of the announced dimensions (Python ints: no overflow)
        for i in range(head[3]):
            need *= int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big")
        if len(head) + need > MAX_BYTES:
            raise UserError(f"{path}: its idx header announces {need} bytes of data, larger than {MAX_BYTES} bytes; "
                            "not an MNIST idx file")
        buf = bytearray(len(head) + need + 1)
        buf[:len(head)] = head
        got = len(head)
        with memoryview(buf) as view:
            while got < len(buf):
                n = g.readinto(view[got:])
                if not n:
                    break
                got += n
    if got > len(head) + need:
        raise UserError(f"{path}: decompresses to more than the {len(head) + need} bytes its idx header announces; "
                        "not an MNIST idx file")
    del buf[got:]
    return buf


def parse_idx(path: Path, raw: bytes, magic: int) -> np.ndarray:
    """read_idx on bytes already read from PATH."""
    try:
        if path.suffix == ".gz":
            raw = _gunzip_bounded(path, raw)
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: truncated or corrupted gzip file ({type(e).__name__})") from None
    if len(raw) > MAX_BYTES:
        raise UserError(f"{path}: larger than {MAX_BYTES} bytes; not an MNIST idx file")
    if len(raw) < 8:
        raise UserError(f"{path}: truncated idx file ({len(raw)} bytes)")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise UserError(f"{path}: idx magic number {got}, expected {magic} ({'images' if magic == MAGIC_IMAGES else 'labels'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated idx header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if not 0 <= dims[0] <= bounds.MAX_IMAGES:
        raise UserError(f"{path}: header announces {dims[0]} items (at most {bounds.MAX_IMAGES})")
    if any(not 1 <= s <= bounds.MAX_IMAGE_SIDE for s in dims[1:]):
        raise UserError(f"{path}: header announces images of {dims[1:]} pixels (each side 1..{bounds.MAX_IMAGE_SIDE})")
    need = 1
    for s in dims:  # Python ints: no overflow
        need *= s
    if len(raw) - header != need:
        raise UserError(f"{path}: header announces {dims} = {need} bytes of data but the file holds {len(raw) - header}"
                        + (" (truncated)" if len(raw) - header < need else ""))
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_mnist(path: Path, verify: bool = True, name: str = "mnist", md5_table: dict | None = None, *,
               finder=None, class_names: list[str] | None = None, kind: str = "mnist-idx",
               label: str = "MNIST") -> ImageData:
    """The four idx files of MNIST (or of a set in the same layout: `finder`, `class_names`, `kind`)."""
    table = OFFICIAL_MD5 if md5_table is None else md5_table
    d = (finder or find_mnist_dir)(Path(path))
    if d is None:
        raise UserError(f"--source {path}: no {label} idx files (train-images-idx3-ubyte[.gz] ...) found there "
                        f"or in {'MNIST' if label == 'MNIST' else 'FashionMNIST'}/raw/")
    arrays, md5s = {}, {}
    for key, base in FILES.items():
        p = _pick(d, base, verify, table)
        raw = safe_input.read_bytes(p, "idx file", MAX_BYTES)
        digest = hashlib.md5(raw).hexdigest()
        md5s[p.name] = digest
        if verify and digest != table[p.name]:
            raise UserError(f"{p}: md5 {digest} differs from the official {table[p.name]} (damaged or re-encoded copy); "
                            "re-download, or pass --no-verify if you trust this copy")
        arrays[key] = parse_idx(p, raw, MAGIC_IMAGES if key.endswith("images") else MAGIC_LABELS)
        del raw
    out = {}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.ndim != 3:
            raise UserError(f"{d}: {split} images must be N×H×W, got {x.shape}")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise UserError(f"{d}: {split} has {x.shape[0]} images but {y.shape} labels")
        if y.size and y.max() > 9:
            raise UserError(f"{d}: {split} labels must lie in 0..9")
        out[split] = (np.ascontiguousarray(x[..., None]), y.astype(np.int64))
    return ImageData(
        name=name, x_train=out["train"][0], y_train=out["train"][1], x_test=out["test"][0], y_test=out["test"][1],
        class_names=list(class_names or CLASS_NAMES),
        source={"kind": kind, "path": str(d.resolve()), "verified": bool(verify), "md5": md5s},
    ).check()


def download_mnist(root: Path, folder: str = "MNIST", files: dict | None = None, mirrors=MIRRORS) -> Path:
    """Fetch the four official .gz files into ROOT/FOLDER/raw (checked against their md5s)."""
    from torchvision.datasets.utils import download_url

    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for fname, md5 in (OFFICIAL_MD5 if files is None else files).items():
        if (raw / fname).is_file() and md5_file(raw / fname) == md5:
            continue
        errors = []
        for m in mirrors:
            try:
                download_url(m + fname, str(raw), filename=fname, md5=md5)
                break
            except Exception as e:  # noqa: BLE001 - network errors vary
                errors.append(f"{m}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        else:
            raise UserError(f"downloading {fname} failed ({'; '.join(errors)}); download it yourself and pass --source")
    return Path(root)


@register_source(
    "mnist", description="MNIST, official idx files (gz or plain): 60,000 + 10,000 grey 28x28 digits",
    recipe=dict(model="mnist_cnn", optimizer="adam", lr=1e-3, weight_decay=1e-5, batch_size=128, epochs=25,
                lr_policy="step", metric="val_acc", extra={"gamma": 0.7, "step_size": 2},
                source="CNN, Adam 1e-3, wd 1e-5, StepLR(2, 0.7), batch 128, 25 epochs"),
    official=True, provenance_kind="mnist-idx", files=dict(OFFICIAL_MD5),
    title="MNIST",
    url="http://yann.lecun.com/exdb/mnist/",
    license="Creative Commons Attribution-Share Alike 3.0 (CC BY-SA 3.0), as stated for MNIST by Yann LeCun and "
            "Corinna Cortes (who hold its copyright; MNIST is derived from NIST data) and repeated by the catalogues "
            "that redistribute it (torchvision downloads the same files); check the current terms before "
            "redistributing. Share-alike: a corrupted copy is a derivative and should be released under the "
            "same license.",
    license_short="CC BY-SA 3.0",
    license_url="https://creativecommons.org/licenses/by-sa/3.0/",
    citation="Yann LeCun, Léon Bottou, Yoshua Bengio and Patrick Haffner. Gradient-based learning applied to "
             "document recognition. Proceedings of the IEEE, 86(11):2278-2324, 1998.",
    bibtex="@article{lecun1998gradient,\n  author = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and "
           "Haffner, Patrick},\n  title = {Gradient-based learning applied to document recognition},\n  journal = "
           "{Proceedings of the IEEE},\n  volume = {86},\n  number = {11},\n  pages = {2278--2324},\n  year = {1998}\n}",
)
class MNIST:
    """The official MNIST idx files (torchvision's layouts too), md5-checked."""

    @staticmethod
    def find(path: Path) -> Path | None:
        return find_mnist_dir(Path(path))

    @staticmethod
    def download(root: Path) -> Path:
        return download_mnist(Path(root))

    @staticmethod
    def load(path: Path, verify: bool = True, name: str | None = None) -> ImageData:
        return load_mnist(Path(path), verify=verify, name=name or "mnist")
