"""Per-dataset default training recipes (SPEC §2–5): the one table the CLI options override.

`metric` is the final-epoch value compared between clean and dirty training; `delta` says how
the robustness delta is formed so that a positive delta always means "the dirty data hurt":
- losses (lower is better):     delta = dirty − clean
- accuracies (higher is better): delta = clean − dirty
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from noisebench.errors import UserError


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    optimizer: str
    lr: float
    weight_decay: float
    batch_size: int
    epochs: int
    lr_policy: str
    metric: str  # "val_loss" | "val_acc"
    extra: tuple = ()  # policy knobs etc., RunConfig.extra pairs
    source: str = ""

    @property
    def higher_is_better(self) -> bool:
        return self.metric.endswith("acc") or self.metric.endswith("top3")

    @property
    def metric_label(self) -> str:
        return {"val_loss": "val MSE", "val_acc": "val top-1"}.get(self.metric, self.metric)

    @property
    def delta_label(self) -> str:
        return "clean − dirty" if self.higher_is_better else "dirty − clean"

    def with_overrides(self, **kw) -> "Recipe":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


RECIPES: dict[str, Recipe] = {
    "synth": Recipe("synth", "mlp", "adam", 1e-3, 1e-10, 64, 20, "fixed", "val_loss",
                    source="SPEC §2: MLP, MSE, Adam 1e-3, wd 1e-10, batch 64, 20 epochs"),
    "mnist": Recipe("mnist", "mnist_cnn", "adam", 1e-3, 1e-5, 128, 25, "step", "val_acc",
                    extra=(("gamma", 0.7), ("step_size", 2)),
                    source="SPEC §3: CNN, Adam 1e-3, wd 1e-5, StepLR(2, 0.7), batch 128, 25 epochs"),
    "cifar10": Recipe("cifar10", "resnet18_tv", "adam", 1e-3, 0.0, 128, 30, "fixed", "val_acc",
                      source="SPEC §5: simple ResNet-18 (torchvision), Adam 1e-3, batch 128, 30 epochs, fixed LR"),
}

# dataset attribute or kind -> recipe
_ALIASES = {"synth": "synth", "mnist": "mnist", "mnist-flip": "mnist", "cifar10": "cifar10", "psi": "cifar10"}


def recipe_for(meta_or_dataset) -> Recipe:
    """The recipe for a file's root attributes (dataset, else kind) or a dataset name."""
    if isinstance(meta_or_dataset, dict):
        names = [meta_or_dataset.get("dataset"), meta_or_dataset.get("kind")]
    else:
        names = [meta_or_dataset]
    for n in names:
        if n in _ALIASES:
            return RECIPES[_ALIASES[n]]
    raise UserError(
        f"no default recipe for dataset {names[0]!r}; known: {', '.join(RECIPES)} "
        "(pass --model, --lr, --epochs, ... explicitly)"
    )


# Standard file names per suite, and the command that builds each.
SUITES: dict[str, list[tuple[str, str]]] = {
    "synth": [("synth-7000-dirty.h5", "noisebench synth --rows 7000 --out {dir}")],
    "mnist": [("mnist-flip0.1.h5", "noisebench make mnist-flip --rate 0.1 --download --out {dir} (also writes the clean mnist.h5)")],
    "psi": [("cifar10-psi16.h5", "noisebench make psi --level 16 --download --out {dir} (also writes the clean cifar10.h5)")],
}
SUITE_NAMES = ("synth", "mnist", "psi", "all")
