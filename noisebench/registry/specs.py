"""The typed metadata of registry entries: one frozen dataclass per family (corruptions, sources, models,
activations).

A registration's keywords become the fields of its family's spec, so a keyword the family does not declare is
refused when the entry registers (a misspelt key never passes silently). A spec reads like a mapping
(``entry.meta["task"]``, ``entry.meta.get("license")``).
Imports nothing heavy: every layer and every plug-in may import it (through noisebench.registry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Iterator

from noisebench.errors import UserError

__all__ = ["Spec", "CorruptionSpecMeta", "SourceSpec", "ModelSpecMeta", "ActivationSpecMeta"]


@dataclass(frozen=True)
class Spec(Mapping):
    """The typed metadata of a registration (a frozen dataclass per family), readable as a mapping
    (``entry.meta["task"]``, ``entry.meta.get("license")``). A key the family does not declare is an error
    at registration: a misspelt keyword never passes silently."""

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def build(cls, family: str, name: str, meta: Mapping[str, Any]) -> "Spec":
        unknown = [k for k in meta if k not in cls._names()]
        if unknown:
            import difflib

            hints = [f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, cls._names(), 1)) else k
                     for k in unknown]
            raise UserError(f"{family} {name!r}: unknown registration key(s) {', '.join(hints)}; "
                            f"accepted: {', '.join(cls._names())}")
        return cls(**meta)


@dataclass(frozen=True)
class CorruptionSpecMeta(Spec):
    """What a corruption declares (``nb.register_corruption(name, ...)``); ``params`` is read from the function's
    keyword-only arguments, not given."""

    target: str = "images"  # what it acts on: "images" or "labels"
    params: Mapping = field(default_factory=dict)  # parameter -> default
    severities: Mapping = field(default_factory=dict)  # 1..5 -> parameters (the CIFAR-10-C table)
    ranges: Mapping = field(default_factory=dict)  # parameter -> accepted closed interval
    tag: str = ""  # the file-name tag (default: the name)
    description: str = ""
    reference: str = ""  # where the formula and constants come from
    constants: Mapping = field(default_factory=dict)  # published table name -> its severity table
    differences: str = ""  # known differences from the original implementation
    file_kind: str = ""  # the build module that names, records and samples its files ("": generators/builds/corrupt.py)
    level_label: str = ""  # the axis of reports' delta-versus-level plots (e.g. "ψ (photon scale)")
    command: str = ""  # its own `noisebench` spelling, if any (label_flip: "make mnist-flip")


@dataclass(frozen=True)
class SourceSpec(Spec):
    """What a data source declares (``nb.register_source(name, ...)``)."""

    description: str = ""
    recipe: Mapping | None = None  # model, optimizer, lr, weight_decay, batch_size, epochs, lr_policy, metric[, extra, source]
    augment: str = "none"  # the default training augmentation of its images: "none" or "crop_flip"
    official: bool = False  # an official release (its files and checksums below)
    provenance_kind: str = ""  # the `source.kind` its files record (e.g. "cifar10-python")
    files: Mapping = field(default_factory=dict)  # official file name -> md5
    url_archive: str = ""
    title: str = ""
    url: str = ""
    license: str = ""
    license_short: str = ""
    license_url: str = ""
    citation: str = ""
    bibtex: str = ""


@dataclass(frozen=True)
class ModelSpecMeta(Spec):
    """What a model declares (``nb.register_model(name, ...)``)."""

    task: str = "classification"
    default_input: tuple = (3, 32, 32)
    description: str = ""
    min_hw: int = 1


@dataclass(frozen=True)
class ActivationSpecMeta(Spec):
    """What an activation declares (``nb.register_activation(name, ...)``)."""

    description: str = ""
    order: int | None = None  # its place in listings (zoo, --activation all), lowest first; None: after those
