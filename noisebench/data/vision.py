"""``nb.open_dataset``: a torchvision-style Dataset over one split of a noisebench file.

It behaves like ``torchvision.datasets.CIFAR10``: ``ds[i]`` is ``(image, target)`` where the
image is a PIL image (what ``transforms.v2`` pipelines such as RandomCrop/ToImage expect) — or a
uint8 CHW tensor with ``as_tensor=True`` — ``transform``/``target_transform`` are applied to them,
and ``.classes``, ``.class_to_idx``, ``.targets`` and ``.data`` (uint8 NHWC, loaded on first use)
are there. Tabular files give ``(float32 tensor, float target)``. The HDF5 handle opens lazily in
the process that reads, so each DataLoader worker has its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from noisebench.data.loaders import LazyHandle
from noisebench.errors import UserError
from noisebench.format.reader import check_fits_in_memory, open_file

__all__ = ["NoisebenchDataset", "open_dataset"]


class NoisebenchDataset(LazyHandle):
    def __init__(self, path: str | Path, split: str = "train", transform: Callable | None = None,
                 target_transform: Callable | None = None, as_tensor: bool = False):
        self.path = Path(path)
        self.split = split
        self.transform = transform
        self.target_transform = target_transform
        self.as_tensor = bool(as_tensor)
        with open_file(self.path) as f:  # validated once, eagerly, for a clear error
            if split not in f.splits:
                raise UserError(f"{self.path}: no split {split!r} (has {', '.join(f.splits)})")
            x = f.datasets[f"{split}/x"]
            self._len = int(x.shape[0])
            self.task = f.task
            self.images = x.dtype == np.uint8
            names = f.meta.get("class_names")
            if isinstance(names, str):  # stored as a JSON list attribute
                import json

                try:
                    names = json.loads(names)
                except ValueError:
                    names = None
            y = f.datasets[f"{split}/y"]
            check_fits_in_memory([y], str(self.path))
            self._targets = y[...]
        if self.task == "classification":
            k = int(self._targets.max()) + 1 if self._targets.size else 0
            self.classes = [str(n) for n in names] if isinstance(names, (list, tuple)) and names else [str(i) for i in range(k)]
        else:
            self.classes = []
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self._f = None
        self._data = None

    @property
    def targets(self) -> list:
        return self._targets.tolist()

    @property
    def data(self) -> np.ndarray:
        """The whole split's inputs (uint8 NHWC images or float32 features), read once."""
        if self._data is None:
            with open_file(self.path) as f:
                x = f.datasets[f"{self.split}/x"]
                check_fits_in_memory([x], str(self.path))
                self._data = x[...]
        return self._data

    def __len__(self) -> int:
        return self._len

    def _x(self):
        if self._f is None:
            self._f = open_file(self.path)
        return self._f.datasets[f"{self.split}/x"]

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        if not -self._len <= i < self._len:
            raise IndexError(i)
        i = i % self._len
        x = np.asarray(self._x()[i])
        target: Any = int(self._targets[i]) if self.task == "classification" else float(self._targets[i])
        if self.images:
            if self.as_tensor:
                img: Any = torch.from_numpy(np.ascontiguousarray(x if x.ndim == 3 else x[..., None]).transpose(2, 0, 1).copy())
            else:
                from PIL import Image

                img = Image.fromarray(x[..., 0] if x.ndim == 3 and x.shape[2] == 1 else x)
        else:
            img = torch.from_numpy(x.astype(np.float32, copy=False))
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self) -> str:
        return f"NoisebenchDataset({str(self.path)!r}, split={self.split!r}, n={self._len}, classes={len(self.classes)})"


def open_dataset(path: str | Path, split: str = "train", transform: Callable | None = None,
                 target_transform: Callable | None = None, *, as_tensor: bool = False) -> NoisebenchDataset:
    """A torchvision-style Dataset over ``split`` of a noisebench file (see the module docstring)."""
    return NoisebenchDataset(path, split, transform, target_transform, as_tensor)
