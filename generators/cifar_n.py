"""Real human label noise: CIFAR-10N and CIFAR-100N (Wei et al., ICLR 2022), `make cifar10n` / `make cifar100n`.

The CIFAR-N release publishes, for the 50,000 CIFAR training images in the order of the official
training batches, the labels that Amazon Mechanical Turk workers gave:

    CIFAR-10_human.pt   clean_label, aggre_label, worse_label, random_label1, random_label2, random_label3
    CIFAR-100_human.pt  clean_label, noisy_label (fine), clean_coarse_label, noisy_coarse_label

Each file is a torch zip archive whose `data.pkl` is a pickle of a dict of numpy int64 arrays. It is
read without running anything it contains: the archive (at most MAX_LABEL_FILE_BYTES, at most
MAX_ENTRIES members) must hold one `data.pkl`; a pickle of arrays goes through noisebench's own
restricted unpickler (noisebench.safety.pickles: numpy arrays, lists, ints, nothing else), one that
references tensor storages through torch.load(weights_only=True). The result must be a dict of the
known keys, each a 1-D integer array (or list of ints) of one common length; anything else is
refused in one line.

The file pairs with the training set it was made for: its length must equal the source's training
set and its `clean_label` must equal the source's training labels, position by position.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.format.writer import DatasetWriter
from noisebench.generators.builds.images import (
    INDEX_NOTE,
    Progress,
    common_attrs,
    ensure_clean_twin,
    split_params,
    write_splits,
)
from noisebench.generators.image_inputs import clean_path, split_suffix
from noisebench.generators.sources.custom import ImageData
from noisebench.safety import inputs as safe_input
from noisebench.safety.pickles import safe_loads

REPO = "https://github.com/UCSC-REAL/cifar-10-100n"
URL = REPO + "/raw/main/data/{file}"
LABEL_FILES = {"cifar10": "CIFAR-10_human.pt", "cifar100": "CIFAR-100_human.pt"}
# md5 of the files in the release's data/ folder; module-level so tests can register fixtures
OFFICIAL_MD5: dict[str, str] = {
    "CIFAR-10_human.pt": "96644db5574813cae939af5f7f2a0aec",
    "CIFAR-100_human.pt": "a67b45c1d7992051865b5c755bd68bb1",
}
# --noise NAME -> key in the file
NOISE_KEYS = {
    "cifar10": {"aggre": "aggre_label", "random1": "random_label1", "random2": "random_label2",
                "random3": "random_label3", "worst": "worse_label"},
    "cifar100": {"noisy": "noisy_label"},
}
ALLOWED_KEYS = {"cifar10": {"clean_label", *NOISE_KEYS["cifar10"].values()},
                "cifar100": {"clean_label", "noisy_label", "clean_coarse_label", "noisy_coarse_label"}}
# noise rates published with the release (Wei et al., 2022, Table 1)
PUBLISHED_RATES = {("cifar10", "aggre"): 0.0903, ("cifar10", "random1"): 0.1723, ("cifar10", "random2"): 0.1812,
                   ("cifar10", "random3"): 0.1764, ("cifar10", "worst"): 0.4021, ("cifar100", "noisy"): 0.4020}
MAX_LABEL_FILE_BYTES = 64 << 20  # the official files are 2.4 MB and 1.0 MB
MAX_ENTRIES = 64
CITATION = ("Jiaheng Wei, Zhaowei Zhu, Hao Cheng, Tongliang Liu, Gang Niu and Yang Liu. Learning with Noisy Labels "
            "Revisited: A Study Using Real-World Human Annotations. ICLR 2022.")
LICENSE = "CC BY-NC 4.0 (LICENSE.md of the CIFAR-N release, github.com/UCSC-REAL/cifar-10-100n)"


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def _torch_load(raw: bytes, where: Path) -> object:
    """A pickle that references tensor storages: torch's weights-only unpickler (tensors, containers, numbers)."""
    import torch  # only for files that hold tensors

    try:
        obj = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, ... on refused content
        raise UserError(f"{where}: refused by the weights-only loader ({_one_line(e)})") from None
    if isinstance(obj, dict):
        obj = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in obj.items()}
    return obj


def _unpickle(raw: bytes, where: Path) -> dict:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            infos = z.infolist()
            if len(infos) > MAX_ENTRIES:
                raise UserError(f"{where}: the archive has {len(infos)} members; a CIFAR-N label file has a few")
            pkls = [i for i in infos if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"]
            if len(pkls) != 1:
                raise UserError(f"{where}: not a torch label file (expected one data.pkl in the archive)")
            if pkls[0].file_size > MAX_LABEL_FILE_BYTES:
                raise UserError(f"{where}: data.pkl declares {pkls[0].file_size} bytes (at most {MAX_LABEL_FILE_BYTES})")
            with z.open(pkls[0]) as f:
                pkl = f.read(MAX_LABEL_FILE_BYTES + 1)
            has_storages = any("/data/" in i.filename for i in infos)
    except zipfile.BadZipFile:
        raise UserError(f"{where}: not a torch zip archive (the CIFAR-N .pt files are)") from None
    except (OSError, EOFError, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as e:
        raise UserError(f"{where}: damaged archive ({_one_line(e)})") from None
    if len(pkl) > MAX_LABEL_FILE_BYTES:
        raise UserError(f"{where}: data.pkl is larger than {MAX_LABEL_FILE_BYTES} bytes")
    if has_storages:
        return _torch_load(raw, where)
    try:
        return safe_loads(pkl)
    except pickle.UnpicklingError as e:
        raise UserError(f"{where}: refused: the pickle holds more than label arrays ({_one_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - truncated pickles raise EOFError, ValueError, ...
        raise UserError(f"{where}: truncated or corrupted pickle ({type(e).__name__})") from None


def _as_labels(v, key: str, where: Path) -> np.ndarray:
    if isinstance(v, list):
        if not all(type(i) is int for i in v):
            raise UserError(f"{where}: {key!r} must hold integers only")
        v = np.asarray(v, dtype=np.int64)
    if not isinstance(v, np.ndarray):
        raise UserError(f"{where}: {key!r} is a {type(v).__name__}, not an array of labels")
    if v.ndim != 1 or v.dtype.kind not in "iu":
        raise UserError(f"{where}: {key!r} must be a 1-D integer array, got {v.dtype} {v.shape}")
    return v.astype(np.int64)


def load_label_file(path: Path, dataset: str, verify: bool = True) -> tuple[dict[str, np.ndarray], str]:
    """({key: int64 labels}, md5) of a CIFAR-N label file for `dataset` (cifar10 or cifar100)."""
    path = Path(path)
    if not os.path.lexists(path):
        raise UserError(f"--labels {path}: no such file")
    raw = safe_input.read_bytes(path, "--labels", MAX_LABEL_FILE_BYTES)
    digest = hashlib.md5(raw).hexdigest()
    want = OFFICIAL_MD5.get(LABEL_FILES[dataset])
    if verify and digest != want:
        raise UserError(f"--labels {path}: md5 {digest} differs from the official {LABEL_FILES[dataset]} ({want}); "
                        "pass --no-verify to read another copy (it is still read only through the restricted loader)")
    obj = _unpickle(raw, path)
    del raw
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise UserError(f"{path}: expected a dict of label arrays, got {type(obj).__name__}")
    extra = sorted(set(obj) - ALLOWED_KEYS[dataset])
    if extra:
        raise UserError(f"{path}: unexpected entry {extra[0][:40]!r} (a {LABEL_FILES[dataset]} holds "
                        f"{', '.join(sorted(ALLOWED_KEYS[dataset]))})")
    labels = {k: _as_labels(v, k, path) for k, v in obj.items()}
    need = {"clean_label", *NOISE_KEYS[dataset].values()}
    missing = sorted(need - set(labels))
    if missing:
        raise UserError(f"{path}: no {missing[0]!r} entry (not a {LABEL_FILES[dataset]})")
    lengths = {v.shape[0] for v in labels.values()}
    if len(lengths) != 1:
        raise UserError(f"{path}: the label arrays have different lengths {sorted(lengths)}")
    return labels, digest


def check_pairing(labels: dict[str, np.ndarray], y_train: np.ndarray, path: Path, source: str) -> None:
    """The file's clean labels are the source's training labels, in order."""
    n_file, n = labels["clean_label"].shape[0], y_train.shape[0]
    if n_file != n:
        raise UserError(f"{path}: holds {n_file} labels but the training set of {source} has {n} images; a CIFAR-N "
                        "file pairs only with the training set it was made for (the official 50,000, in batch order)")
    diff = np.flatnonzero(labels["clean_label"] != y_train)
    if diff.size:
        raise UserError(f"{path}: its clean labels differ from the training labels of {source} at {diff.size} of {n} "
                        f"positions (first: {int(diff[0])}); not the same training set or not in the same order")


def noise_statistics(clean: np.ndarray, noisy: np.ndarray, k: int) -> dict:
    """Realized noise rate, flip count, confusion counts and row-normalised transition matrix."""
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (clean, noisy), 1)
    rows = conf.sum(axis=1, keepdims=True)
    trans = np.divide(conf, rows, out=np.zeros((k, k)), where=rows > 0)
    n_flip = int((clean != noisy).sum())
    return {"realized_rate": n_flip / max(1, clean.size), "n_flipped": n_flip, "confusion": conf, "transition": trans}


def download_labels(dataset: str, folder: Path) -> Path:
    """Fetch the official label file into FOLDER (checked against its md5)."""
    from torchvision.datasets.utils import download_url

    fname = LABEL_FILES[dataset]
    dest = Path(folder) / fname
    if dest.is_file() and safe_input.file_digest(dest, "md5") == OFFICIAL_MD5[fname]:
        return dest
    Path(folder).mkdir(parents=True, exist_ok=True)
    url = URL.format(file=fname)
    try:
        download_url(url, str(folder), filename=fname, md5=OFFICIAL_MD5[fname])
    except Exception as e:  # noqa: BLE001 - network errors vary
        raise UserError(f"downloading {url} failed ({_one_line(e)}); download it yourself and pass --labels FILE") from None
    return dest


def human_noise_name(name: str, noise: str, split_seed: int = 0) -> str:
    return f"{name}n-{noise}{split_suffix(split_seed)}.h5"


def build_human_noise(data: ImageData, dataset: str, noise: str, labels_path: Path, out_dir: Path,
                      val_size: int = 5000, split_seed: int = 0, verify: bool = True, force: bool = False,
                      progress: Progress = None, with_clean: bool = True) -> list[Path]:
    """The CIFAR-N file: train labels = the human labels of `noise` (val and test clean, val carved from the
    training set as for every file), clean labels and flip mask under truth/, realized statistics in the
    attributes; also the clean reference (same split) if missing."""
    if noise not in NOISE_KEYS[dataset]:
        raise UserError(f"--noise must be one of {', '.join(NOISE_KEYS[dataset])} for {dataset}, got {noise!r}")
    labels, md5 = load_label_file(labels_path, dataset, verify)
    check_pairing(labels, data.y_train, Path(labels_path), f"{data.name} ({data.source.get('path', 'source')})")
    noisy_all = labels[NOISE_KEYS[dataset][noise]]
    k = data.num_classes
    if noisy_all.size and (noisy_all.min() < 0 or noisy_all.max() >= k):
        raise UserError(f"{labels_path}: {NOISE_KEYS[dataset][noise]!r} has labels outside 0..{k - 1}")
    sp = split_params(data, val_size, split_seed)
    out_dir = Path(out_dir)
    cref = clean_path(data, out_dir, split_seed)
    path = out_dir / human_noise_name(data.name, noise, split_seed)
    y_clean, y_noisy = data.y_train[sp.train], noisy_all[sp.train]
    st = noise_statistics(y_clean, y_noisy, k)
    full = noise_statistics(data.y_train, noisy_all, k)
    published = PUBLISHED_RATES.get((dataset, noise))
    params = sp.params | {"noise": noise, "label_key": NOISE_KEYS[dataset][noise], "label_file": LABEL_FILES[dataset],
                          "label_file_md5": md5, "label_file_verified": bool(verify)}
    attrs = common_attrs(data, sp) | {
        "clean_reference": cref.name, "flip_mode": "human", "noise_type": noise, "published_rate": published,
        "realized_rate": st["realized_rate"], "realized_rate_all": full["realized_rate"],
        "n_flipped": st["n_flipped"], "confusion_matrix": st["confusion"].tolist(),
        "transition_matrix": st["transition"].tolist(),
        "reference": f"CIFAR-N ({REPO}): {CITATION} License of the labels: {LICENSE}.",
    }
    source = dict(data.source) | {"labels": {"file": LABEL_FILES[dataset], "md5": md5, "verified": bool(verify),
                                             "url": URL.format(file=LABEL_FILES[dataset])}}
    w = DatasetWriter(path, kind="label-noise", variant="dirty", params=params, seed=0, source=source,
                      pair_key=sp.pair_key, force=force, attrs=attrs)
    made = []
    if with_clean:
        made += ensure_clean_twin(data, out_dir, cref, sp, val_size, split_seed, dataset)
    with w:
        write_splits(w, data, sp, y_noisy, progress)
        w.write("truth/clean_labels", y_clean.astype(np.int64))
        w.write("truth/flip_mask", (y_clean != y_noisy).astype(np.uint8))
        w.group_attrs("truth")["description"] = (
            "clean_labels: the true train labels (CIFAR-N clean_label); flip_mask: 1 where the human label in "
            "train/y differs from them (uint8); " + INDEX_NOTE)
    made.append(path)
    return made
