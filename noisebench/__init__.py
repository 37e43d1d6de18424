"""noisebench: reproducible corrupted datasets and an activation-robustness benchmark harness.

The plug-in decorators live at the top level so a plug-in file needs only ``import noisebench as nb``.
"""

__version__ = "0.1.0"

from noisebench.registry import (  # noqa: E402 - light module, no torch/h5py
    register_activation,
    register_corruption,
    register_model,
    register_source,
)

_LAZY = {
    "corrupt": "noisebench.api.corrupt",
    "Corrupt": "noisebench.api.transform",
    "resolve_corruptions": "noisebench.corruptors.sets",
    "flip_labels": "noisebench.api.arrays",
    "synth": "noisebench.api.arrays",
    "build": "noisebench.api.build",
    "export": "noisebench.api.export",
    "evaluate": "noisebench.api.evaluate",
    "open_dataset": "noisebench.data.vision",
    "ImageData": "noisebench.generators.sources.custom",
    "Study": "noisebench.api.study",
    "run_study": "noisebench.api.study",
    "run_preset": "noisebench.api.study",
}

__all__ = ["__version__", *_LAZY, "register_activation", "register_corruption", "register_model", "register_source"]


def __getattr__(name: str):
    # the data/harness API loads lazily: `import noisebench` stays light for plug-in files
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'noisebench' has no attribute {name!r}")
