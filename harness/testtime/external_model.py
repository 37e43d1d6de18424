"""The model an evaluation scores: a registered model with saved weights, a factory in a Python file,
or an `nn.Module` already in memory; and the hashes that key its evaluations.

Weights load with ``torch.load(weights_only=True)`` (no code runs from the file) and must be a plain
state dict (names -> tensors) or noisebench's own saved run weights (``{"state_dict": ...}``); a state
dict that does not fit the model is refused naming the first mismatched key.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from noisebench.errors import UserError
from noisebench.safety.inputs import file_digest

MAX_WEIGHTS_BYTES = 16 << 30  # a weights file larger than this is refused before it is read


def load_state_dict(path: str | Path) -> tuple[dict, str]:
    """(state dict, sha256 of the file); one-line UserError for anything that is not a plain state dict."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--weights {p}: no such file")
    if p.stat().st_size > MAX_WEIGHTS_BYTES:
        raise UserError(f"--weights {p}: larger than {MAX_WEIGHTS_BYTES >> 30} GiB")
    sha = file_digest(p, "sha256")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"--weights {p}: not a plain state dict (torch.load with weights_only=True refuses the "
                        "objects pickled in it); save model.state_dict() instead") from None
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file: one line
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise UserError(f"--weights {p}: not a PyTorch weights file ({type(e).__name__}: {first})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]  # noisebench's saved run weights (selected.pt)
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise UserError(f"--weights {p}: not a plain state dict (a mapping of parameter names to tensors); "
                        "save model.state_dict()")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):  # saved from nn.DataParallel / DistributedDataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state, sha


def fit_state_dict(model: nn.Module, state: dict, what: str) -> None:
    """Load `state` into `model`, or one line naming the first key that does not fit."""
    own = model.state_dict()
    for k, v in own.items():
        if k not in state:
            raise UserError(f"{what}: state dict does not fit the model: first mismatched key {k!r} is missing "
                            f"from the weights ({len(state)} keys there, {len(own)} in the model)")
        if tuple(state[k].shape) != tuple(v.shape):
            raise UserError(f"{what}: state dict does not fit the model: first mismatched key {k!r} has shape "
                            f"{list(state[k].shape)} in the weights, {list(v.shape)} in the model")
    extra = [k for k in state if k not in own]
    if extra:
        raise UserError(f"{what}: state dict does not fit the model: first mismatched key {extra[0]!r} is not in "
                        "the model")
    model.load_state_dict(state)


def registered_model(name: str, activation: str, in_shape: tuple, num_classes: int) -> tuple[nn.Module, str]:
    """A registered model built as the harness builds it; (module, its source hash: model and activation code)."""
    from noisebench.harness.activations.resolve import resolve_activation
    from noisebench.harness.models import build_model
    from noisebench.registry import ACTIVATIONS, MODELS

    entry = MODELS.get(name)
    if entry.meta.get("task", "classification") != "classification":
        raise UserError(f"--model {name}: a {entry.meta.get('task')} model; evaluate scores classifiers")
    act = resolve_activation(activation)
    model = build_model(name, act, in_shape, num_classes)
    from noisebench.harness.run.identity import code_version

    parts = [entry.source_hash() if not entry.builtin else code_version(), activation]
    if activation in ACTIVATIONS and not ACTIVATIONS.get(activation).builtin:
        parts.append(ACTIVATIONS.get(activation).source_hash())
    return model, hashlib.sha256("|".join(parts).encode()).hexdigest()


def split_factory_spec(spec: str) -> tuple[Path, str] | None:
    """'path/to/file.py:FUNCTION' -> (path, FUNCTION); None when `spec` is not of that form."""
    head, sep, fn = str(spec).rpartition(":")
    if not sep or not head.endswith(".py"):
        return None
    if not fn.isidentifier():
        raise UserError(f"--model {spec}: {fn[:40]!r} is not a function name; use FILE.py:FUNCTION")
    return Path(head), fn


def factory_model(path: Path, fn: str) -> tuple[nn.Module, str, dict | None]:
    """Load `path` like a plug-in and call `fn()`; (module, sha256 of the file, declared preprocessing)."""
    import sys

    from noisebench.registry.plugins import load_plugin

    if not path.is_file():
        raise UserError(f"--model {path}:{fn}: no such file")
    sha = file_digest(path, "sha256")
    mod = sys.modules[load_plugin(path)]
    factory = getattr(mod, fn, None)
    if not callable(factory):
        raise UserError(f"--model {path}:{fn}: {path.name} defines no function {fn}")
    try:
        model = factory()
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: one line
        raise UserError(f"--model {path}:{fn}: the factory failed: {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"--model {path}:{fn}: the factory returned {type(model).__name__}, not a torch.nn.Module")
    prep = getattr(model, "preprocessing", None) or getattr(factory, "preprocessing", None)
    return model, sha, check_preprocessing(prep, f"--model {path}:{fn}") if prep is not None else None


def check_preprocessing(prep, what: str = "preprocessing") -> dict:
    """{"mean": [..], "std": [..]} in [0, 1] units, one value per channel, std > 0."""
    try:
        mean = [float(v) for v in prep["mean"]]
        std = [float(v) for v in prep["std"]]
    except (TypeError, KeyError, ValueError):
        raise UserError(f"{what}: preprocessing must be {{'mean': [...], 'std': [...]}} (per channel, [0, 1] units)") from None
    if not mean or len(mean) != len(std) or not all(s > 0 for s in std) or not all(abs(m) < 1e3 for m in mean):
        raise UserError(f"{what}: mean and std need one value per channel each, std > 0")
    return {"mean": mean, "std": std, **({"from": str(prep["from"])} if isinstance(prep, Mapping) and "from" in prep else {})}


def module_hashes(model: nn.Module) -> tuple[str, str]:
    """(weights hash, source hash) of an in-memory module: its state dict's names, dtypes, shapes and bytes;
    the source files of its module classes (their reprs when a source is not readable)."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous().reshape(-1)
        h.update(f"{k}|{t.dtype}|{tuple(v.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    src = hashlib.sha256()
    for cls in sorted({type(m) for m in model.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        src.update(f"{cls.__module__}.{cls.__qualname__}|".encode())
        if cls.__module__.startswith("torch."):
            continue
        try:
            src.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):
            src.update(repr(model).encode())
    return h.hexdigest(), src.hexdigest()


def transform_hash(transform) -> str | None:
    if transform is None:
        return None
    try:
        text = inspect.getsource(transform)
    except (OSError, TypeError):
        text = repr(transform)
    return hashlib.sha256(text.encode()).hexdigest()


def evaluation_key(identity: dict) -> str:
    """The key of an external model's evaluations: sha256 of everything that changes its numbers."""
    ident = {k: v for k, v in identity.items() if k != "weights_file"}  # the file's content counts, not its name
    return hashlib.sha256(json.dumps(dict(ident, kind="external-model"), sort_keys=True).encode()).hexdigest()
