"""Reading noisebench files from PyTorch: a worker-safe Dataset and a whole-split loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noisebench.errors import UserError
from noisebench.h5format import open_file


class H5SplitDataset:
    """`torch.utils.data.Dataset` over one split of a noisebench file.

    The HDF5 handle is opened lazily in the process that first reads, so the object can be
    pickled into DataLoader workers (each worker opens its own handle).
    Returns (x, y) as torch tensors: images uint8 NHWC -> float CHW in [0, 1] unless raw=True.
    """

    def __init__(self, path: str | Path, split: str = "train", transform=None, raw: bool = False):
        self.path = Path(path)
        self.split = split
        self.transform = transform
        self.raw = raw
        with open_file(self.path) as f:  # validate once, eagerly, for a clear error
            if split not in f.splits:
                raise UserError(f"{self.path}: no split {split!r} (has {', '.join(f.splits)})")
            self._len = f.datasets[f"{split}/x"].shape[0]
            self.task = f.task
        self._f = None

    def __len__(self) -> int:
        return self._len

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_f"] = None
        return state

    def _open(self):
        if self._f is None:
            self._f = open_file(self.path)
            self._x = self._f.datasets[f"{self.split}/x"]
            self._y = self._f.datasets[f"{self.split}/y"]
        return self._f

    def __getitem__(self, i: int):
        import torch

        self._open()
        x = torch.from_numpy(np.asarray(self._x[i]))
        y = torch.as_tensor(self._y[i])
        if not self.raw and x.dtype == torch.uint8:
            x = (x.permute(2, 0, 1) if x.ndim == 3 else x).float().div_(255)
        if self.transform is not None:
            x = self.transform(x)
        return x, y

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def load_split(path: str | Path, split: str = "train", device=None):
    """Load a whole split as tensors (x keeps its stored dtype, e.g. uint8 NHWC), optionally on `device`."""
    import torch

    with open_file(path) as f:
        if split not in f.splits:
            raise UserError(f"{path}: no split {split!r} (has {', '.join(f.splits)})")
        x = torch.from_numpy(f.datasets[f"{split}/x"][...])
        y = torch.from_numpy(f.datasets[f"{split}/y"][...])
    if device is not None:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return x, y
