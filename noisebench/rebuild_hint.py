"""The command that rebuilds a file written by an older format version (shown when it is refused)."""

from __future__ import annotations

import json
import shlex
from typing import Any

# what each older format version lacks, in the words of the refusal
MISSING_BY_VERSION = {1: "no validation split, no source fingerprint, no metadata digest"}


def _json(meta: dict, key: str) -> dict:
    v = meta.get(key)
    if isinstance(v, dict):
        return v
    try:
        v = json.loads(v) if isinstance(v, str) else {}
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def rebuild_command(meta: dict) -> str:
    """A `noisebench ...` command line that writes the current-format equivalent of the file."""
    kind, params, source = meta.get("kind"), _json(meta, "params"), _json(meta, "source")
    seed = meta.get("seed") if isinstance(meta.get("seed"), int) else 0
    dataset = str(meta.get("dataset") or "")
    args: list[str] = ["noisebench"]
    if kind == "synth":
        args += ["synth", "--rows", _num(params.get("rows", 7000)), "--cols", _num(params.get("cols", 10))]
        for key in ("dirty_frac", "sigma"):
            if key in params:
                args += [f"--{key.replace('_', '-')}", _num(params[key])]
    elif kind == "psi":
        args += ["make", "psi", "--level", _num(params.get("level", meta.get("psi", 16)))]
    elif kind == "mnist-flip":
        args += ["make", "mnist-flip"]
        mode = params.get("mode", meta.get("flip_mode", "symmetric"))
        if mode == "matrix":
            args += ["--matrix", "T.csv"]
        else:
            args += ["--rate", _num(params.get("rate", 0.1))] + (["--mode", "pair"] if mode == "pair" else [])
    else:
        mnist_like = dataset == "mnist" or (dataset != "cifar10" and "val_size" in params)  # v1: only MNIST had val
        args += ["make", "mnist" if mnist_like else "cifar10"]
    if seed and kind != "clean":
        args += ["--seed", str(seed)]
    official = source.get("kind") in ("cifar10-python", "mnist-idx") or not source
    if not official and source.get("path"):
        args += ["--source", str(source["path"])]
        if dataset:
            args += ["--name", dataset]
    return " ".join(shlex.quote(a) for a in args + ["--force"])


def old_version_message(where: str, meta: dict) -> str:
    v = meta.get("format_version")
    lacks = MISSING_BY_VERSION.get(v, "older layout")
    return f"{where} was written by format version {v} ({lacks}); rebuild it with: {rebuild_command(meta)}"
