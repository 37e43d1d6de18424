"""The model zoo: every model takes an activation factory and calls it at every nonlinearity.

``build_model(name, activation, in_shape, num_outputs)`` is the one entry point. ``in_shape`` is
channels-first ``(C, H, W)`` for images or ``(features,)`` for tabular data; ``activation`` is a
registry name / ``pkg.mod:Class`` (see ``noisebench.harness.activations.resolve``) or a zero-argument
callable returning a fresh ``nn.Module``.

Adding a model is one new file: ``harness/models/<name>.py`` with a builder ``(act, in_shape, num_outputs)``
that calls ``act()`` for each nonlinearity (never ``nn.ReLU``/``F.relu``), decorated with the public
``@register_model("name", task=..., default_input=..., min_hw=..., description=...)`` that plug-ins use.
The registry imports every module of this package on first lookup (no list names them);
``tests/test_models.py`` picks it up (pin its parameter count and activation-call count there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

from torch import nn

from noisebench.errors import UserError
from noisebench.harness.activations.resolve import resolve_activation
from noisebench.registry import MODELS as REGISTRY
from noisebench.registry import SpecView

__all__ = ["MODELS", "ModelSpec", "build_model", "model_names"]

ActFactory = Callable[[], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    task: str  # "classification" | "regression"
    default_input: tuple
    builder: Callable[[ActFactory, tuple, int], nn.Module]
    min_hw: int = 1  # smallest image height/width the architecture accepts (images only)

    @property
    def tabular(self) -> bool:
        return len(self.default_input) == 1


def _spec_of(entry) -> ModelSpec:
    m = entry.meta
    return ModelSpec(entry.name, entry.description, m["task"], tuple(m["default_input"]), entry.obj, m.get("min_hw", 1))


MODELS: Mapping[str, ModelSpec] = SpecView(REGISTRY, _spec_of)  # the registry as ModelSpecs


def model_names() -> list[str]:
    return list(MODELS)


def _check_shape(spec: ModelSpec, in_shape: tuple) -> tuple:
    try:
        shape = tuple(int(s) for s in in_shape)
    except (TypeError, ValueError):
        raise UserError(f"model {spec.name}: input shape must be a tuple of ints, got {in_shape!r}") from None
    if any(s < 1 for s in shape):
        raise UserError(f"model {spec.name}: input shape {shape} has a non-positive size")
    if spec.tabular:
        if len(shape) != 1:
            raise UserError(
                f"model {spec.name} takes tabular data (features,), but the data has shape {shape}; "
                f"use an image model ({', '.join(n for n, s in MODELS.items() if not s.tabular)})"
            )
    else:
        if len(shape) != 3:
            raise UserError(
                f"model {spec.name} takes images (C, H, W), but the data has shape {shape}; "
                f"use a tabular model ({', '.join(n for n, s in MODELS.items() if s.tabular)})"
            )
        if min(shape[1:]) < spec.min_hw:
            raise UserError(f"model {spec.name} needs images of at least {spec.min_hw}x{spec.min_hw}, got {shape}")
    return shape


def build_model(name: str, activation: str | ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
    """Build a fresh model (weights from torch's global RNG: seed before calling)."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in MODELS:
        raise UserError(f"unknown model {name!r}; valid: {', '.join(model_names())}")
    spec = MODELS[key]
    shape = _check_shape(spec, in_shape)
    if not isinstance(num_outputs, int) or num_outputs < 1:
        raise UserError(f"model {spec.name}: num_outputs must be a positive integer, got {num_outputs!r}")
    act = resolve_activation(activation) if isinstance(activation, str) else activation
    if not callable(act):
        raise UserError(f"activation must be a name or a zero-argument callable returning an nn.Module, got {act!r}")
    return spec.builder(act, shape, num_outputs)
