"""The activation registry as the harness reads it, and the resolver of ``--activation`` values.

One registry, ``noisebench.registry.ACTIVATIONS``, filled by the built-in modules of this package (one file per
activation, found by walking the folder) and by plug-ins; ``ACTIVATIONS`` here is its typed view
(``ActivationSpec``). A model never builds an activation itself, it calls the factory it was given once per
nonlinearity, so trainable activations (PReLU, TAct, mTAct) get their own parameters at every site.

``resolve_activation`` turns a user's ``--activation`` value into such a factory:

* a registry name, case-insensitive (``relu``, ``TAct``, ...; aliases ``silu`` -> ``swish``,
  ``leakyrelu``/``leaky-relu`` -> ``leaky_relu``);
* ``pkg.mod:Class`` -- any importable ``torch.nn.Module`` subclass constructible with no arguments;
* an entry point in the ``noisebench.activations`` group (installed by another package).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from noisebench.errors import UserError

# names, aliases, de-duplication: names.py (no torch)
from noisebench.harness.activations.names import dedupe_activations, normalize_name
from noisebench.registry import ACTIVATIONS as REGISTRY
from noisebench.registry import SpecView
from noisebench.safety.bounds import MAX_PLUGIN_BYTES
from noisebench.safety.inputs import check_regular, has_control

__all__ = [
    "ACTIVATIONS",
    "ActivationSpec",
    "activation_names",
    "activation_entry_point",
    "resolve_activation",
    "resolve_activations",
    "count_trainable",
]

ENTRY_POINT_GROUP = "noisebench.activations"


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    description: str
    factory: Callable[[], nn.Module]


ACTIVATIONS: Mapping[str, ActivationSpec] = SpecView(REGISTRY, lambda e: ActivationSpec(e.name, e.description, e.obj))


def activation_names() -> list[str]:
    """Registry names, in the registry's order."""
    return list(ACTIVATIONS)


def resolve_activations(names, what: str = "--activation") -> list[str]:
    """The one way a list of activation values becomes the names a study trains: "all" is every registered
    activation; repeats (aliases included) are dropped with a note; each name is checked (`resolve_activation`:
    registry name, alias, ``pkg.mod:Class`` or entry point), so a wrong one fails before any work."""
    names = [str(n).strip() for n in names if str(n).strip()]
    if [n.lower() for n in names] == ["all"]:
        return activation_names()
    if not names:
        raise UserError(f"{what} is empty; give a name, a comma-separated list, or all")
    names = dedupe_activations(names, what)
    for n in names:
        resolve_activation(n)
    return names


def count_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _valid_line() -> str:
    return "valid: " + ", ".join(activation_names()) + ", a plug-in (--plugin FILE), or pkg.module:ClassName"


def _check_module_class(obj, what: str) -> Callable[[], nn.Module]:
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise UserError(f"activation {what} is not a torch.nn.Module subclass (got {type(obj).__name__})")
    # Constructing it once proves it takes no arguments; fork_rng leaves the caller's RNG untouched.
    with torch.random.fork_rng(devices=[]):
        try:
            obj()
        except Exception as e:  # noqa: BLE001 - any failure is the user's class
            raise UserError(f"activation {what} cannot be constructed without arguments: {type(e).__name__}: {e}") from e
    return obj


def _check_module_files(mod_name: str, ref: str) -> None:
    """Each not-yet-imported module on the dotted path must be a regular source file of bounded size
    (a FIFO or device named like a module would block or never end the import)."""
    parts = mod_name.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return  # import_module reports it
        if spec is None:
            return
        if spec.origin and spec.has_location:
            check_regular(spec.origin, f"activation {ref!r}: module file", MAX_PLUGIN_BYTES)
        if i < len(parts):
            try:
                importlib.import_module(name)
            except Exception as e:  # noqa: BLE001
                raise UserError(f"activation {ref!r}: cannot import module {name!r} ({type(e).__name__}: {e})") from e


def _load_user_class(ref: str) -> Callable[[], nn.Module]:
    mod_name, _, attr = ref.partition(":")
    if not mod_name or not attr:
        raise UserError(f"activation {ref!r}: expected pkg.module:ClassName")
    _check_module_files(mod_name, ref)
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - ImportError, SyntaxError in the user's module, ...
        raise UserError(f"activation {ref!r}: cannot import module {mod_name!r} ({type(e).__name__}: {e})") from e
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"activation {ref!r}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return _check_module_class(obj, repr(ref))


def activation_entry_point(name: str):
    try:
        from importlib.metadata import entry_points

        eps = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001 - broken metadata must not break the registry
        return None
    for ep in eps:
        if ep.name.lower() == name:
            return ep
    return None


def resolve_activation(name: str) -> Callable[[], nn.Module]:
    """A factory (call it once per nonlinearity) for a registry name, ``pkg.mod:Class`` or entry point."""
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"activation must be a non-empty name; {_valid_line()}")

    if has_control(name) or len(name) > 512:
        raise UserError(f"activation {name[:60]!r} contains control characters or is too long; refusing it")
    if ":" in name:
        return _load_user_class(name.strip())
    key = normalize_name(name)
    if key in REGISTRY:
        return REGISTRY.get(key).obj
    ep = activation_entry_point(key)
    if ep is not None:
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001
            raise UserError(f"activation {name!r}: entry point {ep.value!r} failed to load ({type(e).__name__}: {e})") from e
        return _check_module_class(obj, f"{name!r} (entry point {ep.value})")
    raise UserError(f"unknown activation {name!r}; {_valid_line()}")
