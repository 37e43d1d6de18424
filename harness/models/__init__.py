"""The model zoo: every model takes an activation factory and calls it at every nonlinearity.

``build_model(name, activation, in_shape, num_outputs)`` is the one entry point. ``in_shape`` is
channels-first ``(C, H, W)`` for images or ``(features,)`` for tabular data; ``activation`` is a
registry name / ``pkg.mod:Class`` (see ``noisebench.harness.activations``) or a zero-argument
callable returning a fresh ``nn.Module``.

Adding a model: write ``harness/models/<name>.py`` with ``build(act, in_shape, num_outputs)`` that
calls ``act()`` for each nonlinearity (never ``nn.ReLU``/``F.relu``), then add a ``ModelSpec`` to
``MODELS`` below; ``tests/test_models.py`` picks it up (pin its parameter count and activation-call
count there).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

from torch import nn

from noisebench.errors import UserError
from noisebench.registry import MODELS as REGISTRY
from noisebench.registry import SpecView
from noisebench.harness.activations import resolve_activation

__all__ = ["MODELS", "ModelSpec", "build_model", "model_names"]

ActFactory = Callable[[], nn.Module]

IMAGE_CIFAR = (3, 32, 32)


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


def _lazy(module: str, func: str = "build") -> Callable[[ActFactory, tuple, int], nn.Module]:
    """A builder that imports its module on first use (torchvision etc. only when needed)."""

    def builder(act: ActFactory, in_shape: tuple, num_outputs: int) -> nn.Module:
        mod = importlib.import_module(f"{__name__}.{module}")
        return getattr(mod, func)(act, in_shape, num_outputs)

    builder.__name__ = f"{module}.{func}"
    return builder


def _m(name, description, task, default_input, builder, min_hw=1):
    return name, description, task, default_input, builder, min_hw


_BUILTINS = (
    _m("mlp", "10->128->BN->act->64->BN->act->1 regression MLP (synth; input width follows the data)",
       "regression", (10,), _lazy("mlp")),
    _m("mnist_cnn", "3-conv + 2-FC MNIST CNN, input resized to 64x64 inside, final 128->10 layer restored",
       "classification", (1, 28, 28), _lazy("mnist_cnn")),
    _m("resnet18", "CIFAR ResNet-18 (3x3 stem, no max-pool; kuangliu pytorch-cifar)",
       "classification", IMAGE_CIFAR, _lazy("cifar_resnet", "resnet18"), 8),
    _m("resnet18_tv", "torchvision ImageNet ResNet-18 (7x7 s2 stem + max-pool), 10 outputs: the 'simple ResNet-18'",
       "classification", IMAGE_CIFAR, _lazy("torchvision_resnet"), 16),
    _m("densenet121", "CIFAR DenseNet-121 (growth 32, blocks 6/12/24/16; kuangliu), act in every block",
       "classification", IMAGE_CIFAR, _lazy("densenet", "densenet121"), 8),
    _m("senet18", "CIFAR SE-ResNet-18, pre-activation blocks (kuangliu SENet18)",
       "classification", IMAGE_CIFAR, _lazy("senet", "senet18"), 8),
    _m("mobilenetv2", "CIFAR MobileNetV2 (stride-1 stem and first stage; kuangliu)",
       "classification", IMAGE_CIFAR, _lazy("mobilenetv2"), 8),
    _m("wrn22", "fastai wrn_22: WideResNet(num_groups=3, N=3, k=6, start_nf=16)",
       "classification", IMAGE_CIFAR, _lazy("wide_resnet", "wrn22"), 4),
    _m("xresnet18", "fastai XResNet-18 (3-conv stem 32/32/64, max-pool, avg-pool shortcut)",
       "classification", IMAGE_CIFAR, _lazy("xresnet", "xresnet18"), 16),
    _m("xresnet34", "fastai XResNet-34", "classification", IMAGE_CIFAR, _lazy("xresnet", "xresnet34"), 16),
    _m("xresnet50", "fastai XResNet-50 (bottleneck blocks, expansion 4)",
       "classification", IMAGE_CIFAR, _lazy("xresnet", "xresnet50"), 16),
)
for _name, _desc, _task, _shape, _builder, _min_hw in _BUILTINS:
    REGISTRY.register(_name, _builder, module=__name__, task=_task, default_input=tuple(_shape),
                      description=_desc, min_hw=_min_hw)


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
