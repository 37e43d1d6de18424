"""One training run's full description: the unit of work, the database key, the Ray task payload.

`RunConfig.key()` is the run key (harness/run/identity.py): the sha256 of the canonical JSON of the
resolved configuration (every field except `data`/`role`/`recipe`, which name the path, its label
and where the defaults came from; the data itself is identified by `data_sha256`) together with
the run's identity: code version, plug-in source, device type (`device` resolved), precision,
`compile`, torch version. The same run with the file moved has the same key; the same run after a
code change, on another device type or precision, is a new run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from noisebench.harness.run.identity import run_key

ROLES = ("clean", "dirty", "single")
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_POLICIES = ("fixed", "step", "triangular", "onecycle")
# On-device batch augmentations (harness/run/loop.py): none; crop_flip = random crop (4 px zero padding) +
# horizontal flip p=0.5; flip_rot30 = horizontal flip p=0.4 + rotation by U(-30, 30) degrees (the Mish benchmark).
AUGMENTS = ("none", "crop_flip", "flip_rot30")
# Fields left out of the configuration part of the key: `device` and `compile` enter the key
# resolved (device type, precision, compile flag) through the run identity; `data`, `role` and
# `recipe` are labels (the data is identified by its content digest, the recipe by its values).
NON_KEY_FIELDS = ("device", "compile", "data", "role", "recipe")


def _freeze(v: Any) -> Any:
    """Lists (e.g. from JSON) back to tuples, recursively, so configs stay hashable."""
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v


def canonical_extra(extra: Any) -> tuple:
    """`extra` as a sorted tuple of (name, value) pairs; accepts a dict or pairs."""
    if not extra:
        return ()
    items = extra.items() if isinstance(extra, dict) else extra
    return tuple(sorted((str(k), _freeze(v)) for k, v in items))


@dataclass(frozen=True)
class RunConfig:
    model: str
    activation: str
    data: str
    data_sha256: str
    role: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    lr_policy: str
    weight_decay: float
    seed: int
    device: str = "auto"
    compile: bool = False
    extra: tuple = ()
    recipe: str = ""  # the recipe the defaults came from (recorded; its values are the fields above)

    def __post_init__(self):
        object.__setattr__(self, "extra", canonical_extra(self.extra))
        object.__setattr__(self, "data", str(self.data))
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "weight_decay", float(self.weight_decay))
        for name in ("epochs", "batch_size", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))

    def extra_dict(self) -> dict:
        return dict(self.extra)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extra"] = [list(kv) for kv in self.extra]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def key_fields(self) -> dict:
        d = self.to_dict()
        for k in NON_KEY_FIELDS:
            d.pop(k, None)
        return d

    def key(self) -> str:
        """The run key on this machine: configuration + identity (harness/run/identity.py)."""

        return run_key(self)

    def config_digest(self) -> str:
        """sha256 of the configuration alone (no identity): groups the same run across code versions."""
        blob = json.dumps(self.key_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def label(self) -> str:
        """Short human label for progress bars and logs."""
        return f"{self.model}/{self.activation}/{self.role}/lr{self.lr:g}/s{self.seed}"
