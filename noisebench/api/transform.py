"""``nb.Corrupt``: a registered image corruption as a torchvision-style transform, for on-the-fly
corruption in a user's own pipeline (``transforms.v2.Compose([..., nb.Corrupt("fog", 3), ...])``).

Accepts a PIL image (mode L or RGB; other modes are converted to RGB), a uint8 tensor or a float tensor
in [0, 1] laid out channels-first as torchvision does ((C, H, W), (N, C, H, W) or (H, W)), a numpy
array (layout inferred as in ``nb.corrupt``), or a tuple/list/dict sample, in which the images (PIL images
and ``tv_tensors.Image``; else the first tensor or array) are corrupted and everything else passes through.
The output has the input's type, dtype, device and layout (tv_tensors stay tv_tensors).

Randomness: ``seed=None`` draws fresh OS entropy in every process. With an integer seed, each process gets
its own stream ``SeedSequence(seed, spawn_key=(epoch, worker + 1))`` (worker = the DataLoader worker id,
-1 outside workers): the workers of a DataLoader draw distinct streams and a run is reproducible with the
same seed, DataLoader settings and sampler order. Call ``set_epoch(e)`` to draw new corruptions each epoch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from noisebench.errors import UserError

__all__ = ["Corrupt"]


def _worker_id() -> int:
    import sys

    tud = sys.modules.get("torch.utils.data")  # never import torch just to ask
    info = tud.get_worker_info() if tud is not None else None
    return int(info.id) if info is not None else -1


class Corrupt:
    """Corrupt images with the registered corruption `name` at `severity` (1-5) of the `constants` table
    (cifar10-c, tiny-imagenet-c, imagenet-c; default: by image size), or with explicit `params`."""

    def __init__(self, name: str, severity: int | None = None, seed: int | None = None, *,
                 constants: str | None = None, **params: Any):
        from noisebench.api.corrupt import resolve_params
        from noisebench.corruptors.sets import check_constants, image_corruption

        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or not 0 <= int(seed) < 2**63):
            raise UserError(f"seed must be None or an integer in [0, 2**63), got {seed!r}")
        self.constants = check_constants(constants)
        image_corruption(name)  # a label corruption (label_flip) is refused before its parameters are read
        entry, _ = resolve_params(name, severity, constants=self.constants, **params)  # fail now, not in a worker
        self.name, self.severity, self.seed, self.params = entry.name, severity, seed, dict(params)
        self.epoch = 0
        self._rng: np.random.Generator | None = None
        self._key: tuple | None = None

    def set_epoch(self, epoch: int) -> None:
        """Start the streams of another epoch (integer seeds only; seed=None is always fresh)."""
        self.epoch = int(epoch)
        self._key = None

    def generator(self) -> np.random.Generator:
        """This process's generator (re-created after a fork, in each DataLoader worker, or after set_epoch)."""
        worker = _worker_id()
        key = (os.getpid(), worker, self.epoch)
        if self._rng is None or key != self._key:
            if self.seed is None:
                self._rng = np.random.default_rng()
            else:
                ss = np.random.SeedSequence(int(self.seed), spawn_key=(self.epoch, worker + 1))
                self._rng = np.random.Generator(np.random.SFC64(ss))
            self._key = key
        return self._rng

    def _apply(self, x: Any, layout: str | None) -> Any:
        from noisebench.api.corrupt import corrupt

        return corrupt(x, self.name, self.severity, seed=self.generator(), layout=layout, constants=self.constants,
                       **self.params)

    def _one(self, x: Any) -> Any:
        mod = type(x).__module__.split(".")[0]
        if mod == "PIL":
            from PIL import Image

            img = x if x.mode in ("L", "RGB") else x.convert("RGB")
            return Image.fromarray(self._apply(np.asarray(img), "HW" if img.mode == "L" else "HWC"), mode=img.mode)
        if mod == "torch" or hasattr(x, "as_subclass"):
            import torch

            layout = {2: "HW", 3: "CHW", 4: "NCHW"}.get(x.ndim)
            if layout is None:
                raise UserError(f"Corrupt: tensors must be (H, W), (C, H, W) or (N, C, H, W), got shape {tuple(x.shape)}")
            out = self._apply(x.as_subclass(torch.Tensor), layout)
            if type(x) is not torch.Tensor:
                try:
                    from torchvision import tv_tensors

                    return tv_tensors.wrap(out, like=x)
                except (ImportError, TypeError):
                    return out
            return out
        if isinstance(x, np.ndarray):
            return self._apply(x, None)
        raise UserError(f"Corrupt: expects a PIL image, a tensor or a numpy array, got {type(x).__name__}")

    @staticmethod
    def _is_image(x: Any) -> bool:
        mod = type(x).__module__
        return mod.startswith("PIL") or type(x).__name__ == "Image" and mod.startswith("torchvision")

    def __call__(self, sample: Any) -> Any:
        if isinstance(sample, (tuple, list, dict)):
            items = list(sample.values()) if isinstance(sample, dict) else list(sample)
            pick = [i for i, v in enumerate(items) if self._is_image(v)]
            if not pick:
                pick = [i for i, v in enumerate(items)
                        if isinstance(v, np.ndarray) or type(v).__module__.split(".")[0] == "torch"][:1]
            if not pick:
                raise UserError("Corrupt: the sample holds no image (PIL image, tensor or array)")
            for i in pick:
                items[i] = self._one(items[i])
            if isinstance(sample, dict):
                return dict(zip(sample.keys(), items))
            return type(sample)(items) if isinstance(sample, list) else tuple(items)
        return self._one(sample)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        c = f", constants={self.constants!r}" if self.constants else ""
        return f"Corrupt({self.name!r}, severity={self.severity!r}, seed={self.seed!r}{c}{extra})"
