"""Per-dataset default training recipes (the source study's settings): the one table the CLI options override.

`metric` is the final-epoch value compared between clean and dirty training; `delta` says how
the robustness delta is formed so that a positive delta always means "the dirty data hurt":
- losses (lower is better):     delta = dirty − clean
- accuracies (higher is better): delta = clean − dirty
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from noisebench.errors import UserError
from noisebench.registry import SOURCES, source_for_file


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


# The generated regression set has no source; image sources declare their recipe where they
# register (`recipe=` metadata of nb.register_source: generators/sources/cifar10.py, mnist.py).
SYNTH_RECIPE = Recipe("synth", "mlp", "adam", 1e-3, 1e-10, 64, 20, "fixed", "val_loss",
                      source="MLP, MSE, Adam 1e-3, wd 1e-10, batch 64, 20 epochs")


def _from_source(entry) -> Recipe | None:
    r = entry.meta.get("recipe")
    if not isinstance(r, dict):
        return None
    extra = tuple(sorted((str(k), v) for k, v in (r.get("extra") or {}).items()))
    return Recipe(entry.name, r["model"], r["optimizer"], float(r["lr"]), float(r["weight_decay"]),
                  int(r["batch_size"]), int(r["epochs"]), r["lr_policy"], r["metric"], extra, r.get("source", ""))


class _Recipes(Mapping):
    """name -> Recipe: the synthetic set's, then every registered source that declares one."""

    def _all(self) -> dict:
        out = {"synth": SYNTH_RECIPE}
        for e in SOURCES.entries():
            r = _from_source(e)
            if r is not None:
                out[e.name] = r
        return out

    def __getitem__(self, name: str) -> Recipe:
        return self._all()[name]

    def __iter__(self):
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


RECIPES: Mapping[str, Recipe] = _Recipes()

def source_of(meta_or_dataset) -> str | None:
    """The registered source behind a file: the one whose ``provenance_kind`` is the file's ``source.kind``
    (so a ψ, label-flip, CIFAR-100 coarse, SVHN extra or renamed file finds its source without a table),
    else the source named by its ``dataset`` attribute; a string is a source or dataset name."""
    if isinstance(meta_or_dataset, dict):
        entry = source_for_file(meta_or_dataset.get("source"))
        if entry is not None:
            return entry.name
        name = meta_or_dataset.get("dataset")
    else:
        name = meta_or_dataset
    return str(name) if name is not None and str(name) in SOURCES else None


def default_augment(meta_or_dataset) -> str:
    """The augmentation a file's training images get when the run does not set one: what its source
    declares when it registers (``augment="crop_flip"`` for CIFAR-10), else "none"."""
    name = source_of(meta_or_dataset)
    return str(SOURCES.get(name).meta.get("augment", "none")) if name is not None else "none"


# Image sources that declare no recipe (npz arrays, image folders, plug-ins): the recipe follows the images'
# size and channels.
SHAPE_KEY = "_x_shape"  # set by harness.pairs.file_meta: the train/x shape (N, H, W[, C])


def recipe_for_images(shape) -> Recipe:
    """The recipe for custom images of train/x shape (N, H, W) or (N, H, W, C).

    - under 8 px, or one channel up to 32 px (digit-like): the MNIST CNN and MNIST schedule (it
      resizes its input to 64x64 inside, so any size and channel count fit);
    - up to 63 px: the CIFAR ResNet-18 (3x3 stem, no early downsampling) with the CIFAR-10 settings;
    - 64 px and more: the torchvision ResNet-18 (7x7 stride-2 stem + max-pool), batch 64.
    Augmentation stays off by default (flips are not label-preserving for every data set)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (3, 4):
        raise UserError(f"no image recipe for train/x of shape {shape}; pass --model and the settings explicitly")
    h, w = shape[1], shape[2]
    c = shape[3] if len(shape) == 4 else 1
    side, where = min(h, w), f"{h}x{w}x{c} images"
    if side < 8 or (c == 1 and max(h, w) <= 32):
        return replace(RECIPES["mnist"], name=f"custom-small ({where})",
                       source=f"custom source, {where}: MNIST CNN and MNIST schedule")
    if side < 64:
        return replace(RECIPES["cifar10"], name=f"custom-cifar-like ({where})", model="resnet18",
                       source=f"custom source, {where}: CIFAR ResNet-18, CIFAR-10 settings")
    return replace(RECIPES["cifar10"], name=f"custom-large ({where})", batch_size=64,
                   source=f"custom source, {where}: torchvision ResNet-18, Adam 1e-3, batch 64, 30 epochs")


def recipe_for(meta_or_dataset) -> Recipe:
    """The recipe for a file's root attributes (its source's, else its dataset's or kind's) or a dataset name.

    Files built from a source that declares no recipe (npz, image folder, a plug-in) get `recipe_for_images`
    of their train/x shape (meta[SHAPE_KEY], as harness.pairs.file_meta provides), never the CIFAR-10 one."""
    source = source_of(meta_or_dataset)
    names = [source, meta_or_dataset]
    if isinstance(meta_or_dataset, dict):
        names = [source, meta_or_dataset.get("dataset"), meta_or_dataset.get("kind")]
        shape = meta_or_dataset.get(SHAPE_KEY)
        unknown = source is None and not any(n in RECIPES for n in names[1:] if n is not None)
        if (source is not None and source not in RECIPES) or (unknown and shape is not None and len(shape) in (3, 4)):
            # a source that declares no recipe, or images of no registered source: by the images' size
            if shape is None:
                raise UserError("a custom-source file needs its image shape to choose a recipe; "
                                "pass --model and the settings explicitly")
            return recipe_for_images(shape)
    for n in names:
        if n is not None and n in RECIPES:
            return RECIPES[n]
    raise UserError(
        f"no default recipe for dataset {names[1]!r}; known: {', '.join(RECIPES)} "
        "(pass --model, --lr, --epochs, ... explicitly)"
    )


# Standard file names per suite, and the command that builds each.
SUITES: dict[str, list[tuple[str, str]]] = {
    "synth": [("synth-7000-dirty.h5", "noisebench synth --rows 7000 --out {dir}")],
    "mnist": [("mnist-flip0.1.h5", "noisebench make mnist-flip --rate 0.1 --download --out {dir} (also writes the clean mnist.h5)")],
    "psi": [("cifar10-psi16.h5", "noisebench make psi --level 16 --download --out {dir} (also writes the clean cifar10.h5)")],
}
SUITE_NAMES = ("synth", "mnist", "psi", "all")


# RunConfig.extra knobs: those of each LR policy, and the ones every run may set
POLICY_KNOBS = {
    "fixed": (),
    "step": ("step_size", "gamma"),
    "triangular": ("base_lr", "base_div", "half_cycle"),
    "onecycle": ("div", "final_div", "pct_start"),
}
GENERAL_KNOBS = ("augment", "momentum", "betas", "chance_margin", "fp32", "subset")


# What the engine uses for a knob that is not given (harness/run/runner.py, harness/run/schedules.py,
# harness/run/divergence.py). A knob given at its default is dropped from RunConfig.extra, so passing a
# default explicitly (`--optimizer sgd --momentum 0.9`) trains under the same run key as leaving it out.
KNOB_DEFAULTS = {"momentum": 0.9, "step_size": 2, "gamma": 0.7, "base_div": 4.0, "div": 25.0, "final_div": 1e4,
                 "pct_start": 0.3, "chance_margin": 0.02, "fp32": False}
OPTIMIZER_KNOBS = {"momentum": ("sgd",), "betas": ("adam", "adamw")}  # read by these optimizers only

def default_betas(policy: str) -> tuple[float, float]:
    """Adam's betas when none are given (fastai's one-cycle setting with one-cycle)."""
    return (0.9, 0.99) if policy == "onecycle" else (0.9, 0.999)


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def policy_extra(policy: str, knobs: dict, optimizer: str | None = None, data=None) -> tuple:
    """RunConfig.extra, fully resolved: only the knobs that matter for this LR policy and optimizer (and
    general ones), and only where they differ from the default the engine would use (the augmentation's
    default depends on the `data`: its file's attributes, or a source name), so neither an unused knob nor an
    explicit default changes a run's key."""
    keep = set(POLICY_KNOBS.get(policy, ())) | set(GENERAL_KNOBS)
    out = []
    for k, v in knobs.items():
        if k not in keep or v is None:
            continue
        if optimizer is not None and k in OPTIMIZER_KNOBS and optimizer not in OPTIMIZER_KNOBS[k]:
            continue
        if ((k in KNOB_DEFAULTS and _same(v, KNOB_DEFAULTS[k])) or (k == "betas" and _same(v, default_betas(policy)))
                or (k == "augment" and data is not None and v == default_augment(data))):
            continue
        out.append((k, v))
    return tuple(sorted(out))
