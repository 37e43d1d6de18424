"""Reading noisebench files from PyTorch: a worker-safe Dataset and a whole-split loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from noisebench.errors import UserError
from noisebench.format.reader import check_fits_in_memory, open_file


class LazyHandle:
    """A noisebench file opened lazily in the process that first reads (so the object pickles into
    DataLoader workers, each opening its own handle) and closed with the object."""

    _f = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_f"] = None
        return state

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class H5SplitDataset(LazyHandle):
    """`torch.utils.data.Dataset` over one split of a noisebench file.

    The HDF5 handle is opened lazily in the process that first reads, so the object can be
    pickled into DataLoader workers (each worker opens its own handle).
    Returns (x, y) as torch tensors: images uint8 NHWC -> float CHW in [0, 1] unless raw=True.

    Shuffled access touches every compressed chunk many times, so each handle gets a chunk cache
    large enough for the whole split's x, up to `chunk_cache_mb` (default 256 MiB per worker):
    each chunk is then decompressed once per worker instead of once per image (16x faster
    random reads on full-size CIFAR-10, bench/RESULTS.md).
    """

    def __init__(self, path: str | Path, split: str = "train", transform=None, raw: bool = False,
                 chunk_cache_mb: int = 256):
        self.path = Path(path)
        self.split = split
        self.transform = transform
        self.raw = raw
        with open_file(self.path) as f:  # validate once, eagerly, for a clear error
            if split not in f.splits:
                raise UserError(f"{self.path}: no split {split!r} (has {', '.join(f.splits)})")
            x = f.datasets[f"{split}/x"]
            self._len = x.shape[0]
            self._cache_bytes = min(int(chunk_cache_mb) << 20, x.size * x.dtype.itemsize + (1 << 20))
            self.task = f.task
        self._f = None

    def __len__(self) -> int:
        return self._len

    def _open(self):
        if self._f is None:
            self._f = open_file(self.path, chunk_cache_bytes=self._cache_bytes)
            self._x = self._f.datasets[f"{self.split}/x"]
            self._y = self._f.datasets[f"{self.split}/y"]
        return self._f

    def __getitem__(self, i: int):
        self._open()
        x = torch.from_numpy(np.asarray(self._x[i]))
        y = torch.as_tensor(self._y[i])
        if not self.raw and x.dtype == torch.uint8:
            x = (x.permute(2, 0, 1) if x.ndim == 3 else x).float().div_(255)
        if self.transform is not None:
            x = self.transform(x)
        return x, y


MAX_IMAGE_SIDE = 4096


def check_training_arrays(x, y, task: str, num_classes: int | None, where: str) -> None:
    """Refuse (UserError) data a model cannot sensibly train on: checked after loading, before training.

    x: uint8 images (N,H,W) or (N,H,W,C) with C in {1, 3}, or float tabular (N,F), all finite;
    y: (N,); classification labels integers in [0, num_classes); regression targets finite floats.
    Accepts torch tensors or numpy arrays.
    """

    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.ndim < 1 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise UserError(f"{where}: x {tuple(x.shape)} and y {tuple(y.shape)} do not pair up (need y of shape (N,))")
    if x.shape[0] == 0:
        raise UserError(f"{where}: the split is empty")
    if x.dtype == torch.uint8:
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3)):
            raise UserError(f"{where}: images must be uint8 (N,H,W) or (N,H,W,C) with C = 1 or 3, got {tuple(x.shape)}")
        if not all(1 <= s <= MAX_IMAGE_SIDE for s in x.shape[1:3]):
            raise UserError(f"{where}: image size {tuple(x.shape[1:3])} outside 1..{MAX_IMAGE_SIDE}")
    elif x.dtype.is_floating_point:
        if x.ndim != 2 or x.shape[1] < 1:
            raise UserError(f"{where}: float inputs must be tabular (N, features), got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise UserError(f"{where}: inputs contain NaN or infinite values")
    else:
        raise UserError(f"{where}: inputs must be uint8 images or float features, got {x.dtype}")
    if task == "classification":
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
            raise UserError(f"{where}: classification labels must be integers, got {y.dtype}")
        lo, hi = int(y.min()), int(y.max())
        if num_classes is not None and not (0 <= lo and hi < num_classes):
            raise UserError(f"{where}: labels span [{lo}, {hi}], outside [0, {num_classes}) for num_classes={num_classes}")
        if num_classes is None and lo < 0:
            raise UserError(f"{where}: negative label {lo}")
    else:
        if not y.dtype.is_floating_point:
            raise UserError(f"{where}: regression targets must be floats, got {y.dtype}")
        if not bool(torch.isfinite(y).all()):
            raise UserError(f"{where}: targets contain NaN or infinite values")


def load_split(path: str | Path, split: str = "train", device=None):
    """Load a whole split as tensors (x keeps its stored dtype, e.g. uint8 NHWC), optionally on `device`."""

    with open_file(path) as f:
        if split not in f.splits:
            raise UserError(f"{path}: no split {split!r} (has {', '.join(f.splits)})")
        check_fits_in_memory([f.datasets[f"{split}/x"], f.datasets[f"{split}/y"]], str(path))
        x = torch.from_numpy(f.datasets[f"{split}/x"][...])
        y = torch.from_numpy(f.datasets[f"{split}/y"][...])
        check_training_arrays(x, y, f.task, f.meta.get("num_classes"), f"{path} [{split}]")
    if device is not None:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return x, y
