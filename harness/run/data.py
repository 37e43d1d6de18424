"""What a run is made of and returns: its result record, the identity of its data file, the file's data.

`RunResult` is what `execute_run` (harness/run/runner.py) returns and drivers record. A data file is
identified by the digest of its recorded per-dataset checksums (`checksums_digest`,
`dataset_digest`); `data_role`/`data_info` read what the file says about itself; `load_splits` reads the
splits onto a device, cached for the last couple of files (a clean/dirty pair).
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from noisebench import __version__
from noisebench.errors import UserError
from noisebench.format.reader import check_fits_in_memory, open_file
from noisebench.harness.results.data_identity import meta_identity
from noisebench.harness.run.config import RunConfig

STATUSES = ("ok", "null", "failed")
_DATA_CACHE: dict = {}
_DATA_CACHE_SIZE = 2  # a clean/dirty pair


@dataclass
class RunResult:
    key: str
    config: dict
    status: str
    null_cause: str | None = None
    error: str | None = None
    epochs: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    wall_s: float = 0.0
    device: str = ""
    hostname: str = ""
    code_version: str = ""
    data_info: dict = field(default_factory=dict)  # dataset, kind, variant, task, num_classes, pair_key
    started_at: float = 0.0
    identity: dict = field(default_factory=dict)  # harness/run/identity.py IDENTITY_KEYS

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunResult":
        return cls(**d)

    @property
    def run_config(self) -> RunConfig:
        return RunConfig.from_dict(self.config)


def checksums_digest(checksums: dict) -> str:
    """sha256 of the sorted JSON of a file's recorded per-dataset checksums."""
    blob = json.dumps(checksums, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def dataset_digest(path: str | Path) -> str:
    """The identity of a noisebench file's content, from its recorded checksums (no rehash of the data)."""

    path = Path(path)
    if not path.exists():
        raise UserError(f"data file {path} not found")
    with open_file(path) as f:
        return checksums_digest(f.meta["checksums"])


def data_role(meta: dict) -> str:
    """'clean' or 'dirty' from a file's root attributes."""
    if meta.get("kind") == "clean" or meta.get("variant") == "clean":
        return "clean"
    return "dirty"


LEVEL_ATTRS = ("psi", "corruption", "severity", "flip_mode", "nominal_rate")  # what a file says of its corruption


def level_attrs(meta: dict) -> dict:
    """The attributes that place a dirty file in a level series (ψ, corruption and severity, label-flip mode and
    rate) with the file's seed and split seed and, for ψ, whether its levels drew independent streams: what reports read."""
    out = {k: meta[k] for k in LEVEL_ATTRS if meta.get(k) is not None}
    if out:
        params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
        out["file_seed"] = meta.get("seed")
        out["split_seed"] = params.get("split_seed", 0)
        if "psi" in out:
            out["independent_levels"] = bool(params.get("independent_levels", False))
    return out


def data_info(meta: dict) -> dict:
    task = meta.get("task", "classification")
    nc = meta.get("num_classes")
    return level_attrs(meta) | {
        "dataset": meta.get("dataset") or meta.get("kind"),
        "kind": meta.get("kind"),
        "variant": meta.get("variant") or data_role(meta),
        "task": task,
        "num_classes": int(nc) if nc is not None else None,
        "pair_key": meta.get("pair_key"),
        "clean_reference": meta.get("clean_reference"),
    } | meta_identity(meta)  # level, corruption, severity: what exports key the data by


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit of the source tree when there is one."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+g{sha}" if sha else __version__


def load_splits(path: str, digest: str, device) -> tuple[dict, dict]:
    """(meta, splits as tensors on device), cached for the last couple of files."""

    st = Path(path).stat()
    ck = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino, digest, str(device))
    if ck in _DATA_CACHE:
        return _DATA_CACHE[ck]

    with open_file(path) as f:
        meta = dict(f.meta)
        check_fits_in_memory([f.datasets[f"{s}/{a}"] for s in f.splits for a in "xy"], str(path))
        splits = {}
        for s in f.splits:
            if f"{s}/x" in f.datasets and f"{s}/y" in f.datasets:
                splits[s] = (
                    torch.from_numpy(f.datasets[f"{s}/x"][...]).to(device),
                    torch.from_numpy(f.datasets[f"{s}/y"][...]).to(device),
                )
    if len(_DATA_CACHE) >= _DATA_CACHE_SIZE:
        _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
    _DATA_CACHE[ck] = (meta, splits)
    return meta, splits


def clear_data_cache() -> None:
    _DATA_CACHE.clear()


def config_for_file(path: str | Path, **kw) -> RunConfig:
    """A RunConfig for `path` with its digest filled in (role from the file unless given)."""

    p = Path(path)
    if not p.exists():
        raise UserError(f"data file {p} not found")
    with open_file(p) as f:
        meta = dict(f.meta)
    kw.setdefault("role", data_role(meta))
    return RunConfig(data=str(p), data_sha256=checksums_digest(meta["checksums"]), **kw)


# older private names, kept for callers outside the package
_load = load_splits
