"""The four plug-in registries: corruptions, sources, models and activations — one shape for all.

Each entry is one object (a function or a class) that registers itself with a decorator exported
from the package top level::

    import noisebench as nb

    @nb.register_activation("halfrelu")
    class HalfReLU(nn.Module): ...

    @nb.register_model("tinycnn", task="classification", default_input=(3, 32, 32))
    def tinycnn(act, in_shape, num_outputs): ...

    @nb.register_corruption("invert", target="images")
    def invert(x, rng, *, strength: float = 1.0): ...

An entry records its name, the object, the module that defined it (so a run's identity can hash
the plug-in's source) and the family-specific metadata passed to the decorator. A name that is
already taken is refused with one line, built-in or not: a plug-in never silently replaces a
built-in.

This module imports nothing heavy (no torch, no h5py): every layer may import it.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from noisebench.errors import UserError
from noisebench.registry.specs import ActivationSpecMeta, CorruptionSpecMeta, ModelSpecMeta, SourceSpec, Spec

__all__ = [
    "Entry",
    "Registry",
    "Spec",
    "SourceSpec",
    "ModelSpecMeta",
    "ActivationSpecMeta",
    "SpecView",
    "CORRUPTIONS",
    "SOURCES",
    "MODELS",
    "ACTIVATIONS",
    "register_corruption",
    "register_source",
    "register_model",
    "register_activation",
    "source_hash",
    "source_for_file",
]

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_SOURCE_FILES = 2_000  # a plug-in package bigger than this is refused when hashed
MAX_SOURCE_BYTES = 64 << 20


def source_hash(module_name: str) -> str:
    """sha256 over the source files of a module (its file) or package (every .py file under it).

    The hash changes when any line of the plug-in changes; it is what a run identity records for
    plug-in code. Files are hashed in sorted relative-path order, each with its path as a header.
    """
    mod = sys.modules.get(module_name)
    path = getattr(mod, "__file__", None)
    if not path:
        return "builtin:" + module_name
    p = Path(path)
    files = sorted(p.parent.rglob("*.py")) if p.name == "__init__.py" else [p]
    if len(files) > MAX_SOURCE_FILES:
        raise UserError(f"plug-in {module_name}: more than {MAX_SOURCE_FILES} source files to hash")
    h = hashlib.sha256()
    total = 0
    root = p.parent
    for f in files:
        data = f.read_bytes()
        total += len(data)
        if total > MAX_SOURCE_BYTES:
            raise UserError(f"plug-in {module_name}: more than {MAX_SOURCE_BYTES >> 20} MiB of source to hash")
        h.update(str(f.relative_to(root)).encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def _import_tree(name: str, walk: bool) -> None:
    """Import a module (and, with ``walk``, every submodule of the package): built-ins register on import,
    so a new built-in is one new file and no list names it."""
    import importlib
    import pkgutil

    mod = importlib.import_module(name)
    if not walk:
        return
    for info in pkgutil.iter_modules(getattr(mod, "__path__", []) or []):
        if not info.name.startswith("_"):
            importlib.import_module(f"{name}.{info.name}")


@dataclass(frozen=True)
class Entry:
    """One registered corruption, source, model or activation."""

    family: str
    name: str
    obj: Any
    module: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        return self.module == "noisebench" or self.module.startswith("noisebench.")

    @property
    def description(self) -> str:
        d = self.meta.get("description")
        if d:
            return str(d)
        raw = self.obj.__dict__.get("__doc__") if isinstance(self.obj, type) else getattr(self.obj, "__doc__", None)
        doc = inspect.cleandoc(raw) if isinstance(raw, str) else ""  # never a base class's docstring
        return doc.splitlines()[0] if doc else ""

    @property
    def origin(self) -> str:
        """'built-in', or the plug-in's file (or module name) for listings."""
        if self.builtin:
            return "built-in"
        mod = sys.modules.get(self.module)
        return "plug-in " + (getattr(mod, "__file__", None) or self.module)

    def source_hash(self) -> str:
        """The hash a run identity records: the package version for built-ins, source bytes otherwise."""
        return "builtin" if self.builtin else source_hash(self.module)


class Registry:
    """Name -> Entry for one family. Built-in entries are imported lazily on first lookup."""

    def __init__(self, family: str, builtin_modules: tuple[str, ...] = (), walk: bool = False,
                 spec: type[Spec] | None = None):
        self.family = family
        self._walk = walk  # import every submodule of the built-in package (one module per entry)
        self._spec = spec  # the typed metadata (None: a free mapping, the corruptions' format)
        self._entries: dict[str, Entry] = {}
        self._builtin_modules = builtin_modules
        self._loaded = False
        self._loading = False

    # -- registration ---------------------------------------------------------------------------
    def register(self, name: str, obj: Any, module: str | None = None, **meta: Any) -> Entry:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise UserError(
                f"{self.family} name {name!r} is not valid: use 1-64 lowercase letters, digits or _, starting with a letter"
            )
        module = module or getattr(obj, "__module__", None) or "<unknown>"
        if name in self._entries:
            old = self._entries[name]
            if old.module == module and getattr(old.obj, "__qualname__", None) == getattr(obj, "__qualname__", None):
                # the same definition imported again (e.g. a plug-in file loaded twice): keep the first
                return old
            kind = "built-in" if old.builtin else f"from {old.module}"
            raise UserError(f"{self.family} {name!r} is already registered ({kind}); choose another name")
        entry = Entry(self.family, name, obj, module,
                      self._spec.build(self.family, name, meta) if self._spec is not None else dict(meta))
        self._entries[name] = entry
        return entry

    def decorator(self, name: str, **meta: Any) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            self.register(name, obj, **meta)
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove an entry (tests and interactive sessions)."""
        self._entries.pop(name, None)

    # -- lookup ---------------------------------------------------------------------------------
    def _ensure_builtins(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            for mod in self._builtin_modules:
                _import_tree(mod, self._walk)
            self._put_in_order()
            self._loaded = True
        finally:
            self._loading = False
        # plug-ins named in the environment (set by --plugin for worker processes) and entry points
        from noisebench.registry.plugins import load_configured_plugins

        load_configured_plugins()

    def _put_in_order(self) -> None:
        """Entries that declare an ``order`` (the built-in activations) first, lowest first, then the rest in
        registration order: the listing order does not depend on which module happened to be imported first."""
        if any(e.meta.get("order") is not None for e in self._entries.values()):
            ranked = sorted(self._entries.values(), key=lambda e: (e.meta.get("order") is None, e.meta.get("order") or 0))
            self._entries = {e.name: e for e in ranked}

    def get(self, name: str) -> Entry:
        self._ensure_builtins()
        key = str(name).strip().lower().replace("-", "_")
        if key not in self._entries:
            raise UserError(f"unknown {self.family} {name!r}; valid: {', '.join(self.names()) or '(none)'}")
        return self._entries[key]

    def names(self) -> list[str]:
        self._ensure_builtins()
        return list(self._entries)

    def entries(self) -> list[Entry]:
        self._ensure_builtins()
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        self._ensure_builtins()
        return isinstance(name, str) and name.strip().lower().replace("-", "_") in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


class SpecView(Mapping):
    """A live, read-only ``name -> spec`` view of a registry (built-ins first, then plug-ins in load
    order), for code that wants a typed record per entry (``ModelSpec``, ``ActivationSpec``)."""

    def __init__(self, registry: Registry, make: Callable[[Entry], Any]):
        self._registry = registry
        self._make = make

    def __getitem__(self, name: str) -> Any:
        if name not in self._registry:
            raise KeyError(name)
        return self._make(self._registry.get(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry.names())

    def __len__(self) -> int:
        return len(self._registry)


CORRUPTIONS = Registry("corruption", ("noisebench.corruptors",), walk=True, spec=CorruptionSpecMeta)
# built-ins are found by walking their package: every module of noisebench.corruptors, of
# noisebench.generators.sources, of noisebench.harness.models and of noisebench.harness.activations
SOURCES = Registry("source", ("noisebench.generators.sources",), walk=True, spec=SourceSpec)
MODELS = Registry("model", ("noisebench.harness.models",), walk=True, spec=ModelSpecMeta)
ACTIVATIONS = Registry("activation", ("noisebench.harness.activations",), walk=True, spec=ActivationSpecMeta)

CORRUPTION_TARGETS = ("images", "labels", "tabular")


def source_for_file(source: Any) -> Entry | None:
    """The registered source a file was built from: the one whose ``provenance_kind`` is the `source.kind` the
    file recorded (whatever the file's dataset name or kind), else None."""
    kind = source.get("kind") if isinstance(source, Mapping) else None
    if not kind:
        return None
    return next((e for e in SOURCES.entries() if e.meta.get("provenance_kind") == kind), None)


def register_corruption(
    name: str,
    *,
    target: str = "images",
    severities: Mapping[int, Mapping[str, Any]] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    tag: str | None = None,
    description: str = "",
    reference: str = "",
    **meta: Any,
) -> Callable[[Any], Any]:
    """Register ``fn(x, rng, **params) -> corrupted x``.

    ``x`` is uint8 (N, H, W, C) for ``target="images"``; ``rng`` is a ``numpy.random.Generator``;
    the keyword-only parameters (with their defaults) are the corruption's parameters.
    ``severities`` maps 1..5 to parameter dicts (the CIFAR-10-C tables), ``ranges`` the accepted
    closed interval per parameter, ``tag`` the file-name tag (default: the name), ``reference``
    where the formula and constants come from.
    """
    if target not in CORRUPTION_TARGETS:
        raise UserError(f"corruption {name!r}: target must be one of {', '.join(CORRUPTION_TARGETS)}, got {target!r}")

    def deco(fn: Any) -> Any:
        params = {
            p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        CORRUPTIONS.register(
            name, fn, target=target, params=params, severities=dict(severities or {}), ranges=dict(ranges or {}),
            tag=tag or name, description=description, reference=reference, **meta,
        )
        return fn

    return deco


def register_source(name: str, *, description: str = "", **meta: Any) -> Callable[[Any], Any]:
    """Register a data source (a class with ``find(path)``, ``load(path, verify, name)`` and optionally
    ``download(root)``); ``meta`` are the fields of `SourceSpec` (recipe, augment, license, citation, files, ...)."""
    return SOURCES.decorator(name, description=description, **meta)


def register_model(
    name: str, *, task: str = "classification", default_input: tuple = (3, 32, 32), description: str = "",
    min_hw: int = 1, **meta: Any,
) -> Callable[[Any], Any]:
    """Register ``build(act, in_shape, num_outputs) -> nn.Module`` that calls ``act()`` at every nonlinearity."""
    if task not in ("classification", "regression"):
        raise UserError(f"model {name!r}: task must be classification or regression, got {task!r}")
    return MODELS.decorator(
        name, task=task, default_input=tuple(int(s) for s in default_input), description=description,
        min_hw=int(min_hw), **meta,
    )


def register_activation(name: str, *, description: str = "", module: str | None = None,
                        **meta: Any) -> Callable[[Any], Any]:
    """Register an ``nn.Module`` class (or zero-argument factory) built fresh at every nonlinearity.

    ``module`` is the module the entry is credited to (default: where the object is defined); a file that
    registers a class defined elsewhere, such as ``torch.nn.ReLU``, passes its own ``__name__``. ``order``
    places a built-in in listings (``zoo``, ``--activation all``; lowest first, before the unordered ones)."""
    return ACTIVATIONS.decorator(name, description=description, module=module, **meta)


def corruption_table() -> str:
    """The severity table of every registered corruption that has one, as markdown (the README's
    table is this output; a test keeps them equal)."""
    rows = ["| corruption | parameter(s) | severity 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|---|"]
    for e in CORRUPTIONS.entries():
        sev = e.meta.get("severities") or {}
        if not sev:
            continue
        keys = list(sev[min(sev)])

        def cell(d: Mapping, keys=keys) -> str:
            return " / ".join(f"{d[k]:g}" if isinstance(d[k], float) else str(d[k]) for k in keys)

        rows.append(f"| `{e.name}` | {', '.join(keys)} | " + " | ".join(cell(sev[s]) for s in sorted(sev)) + " |")
    return "\n".join(rows)
