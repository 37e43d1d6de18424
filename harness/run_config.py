"""One training run's full description: the unit of work, the database key, the Ray task payload.

`RunConfig.key()` is the sha256 of the canonical JSON of the fields that determine the result:
everything except `device` and `compile` (where and how fast it runs) and `data`/`role` (the
path and its label; the data itself is identified by `data_sha256`). So the same run on a GPU
node or a laptop, or with the file moved, has the same key and is not repeated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

ROLES = ("clean", "dirty", "single")
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_POLICIES = ("fixed", "step", "triangular", "onecycle")
# Fields that do not change the result and so are left out of the key.
NON_KEY_FIELDS = ("device", "compile", "data", "role")


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
        blob = json.dumps(self.key_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def label(self) -> str:
        """Short human label for progress bars and logs."""
        return f"{self.model}/{self.activation}/{self.role}/lr{self.lr:g}/s{self.seed}"
