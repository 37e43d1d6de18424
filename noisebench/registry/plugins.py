"""Loading plug-ins: a Python file or an importable module that registers corruptions, sources,
models or activations with the ``noisebench.register_*`` decorators.

Three ways, all equivalent:

* ``noisebench --plugin myplug.py COMMAND ...`` (repeatable; a file path or a module name);
* ``plugins = ["myplug.py"]`` in a grid TOML file (paths relative to the TOML file);
* an installed package's entry point in the group ``noisebench.plugins`` (loaded automatically).

A loaded plug-in is recorded in the environment variable ``NOISEBENCH_PLUGINS`` (absolute paths or
module names, separated by ``os.pathsep``), so worker processes (``--jobs``, Ray workers started
from this process) load the same plug-ins before they look anything up. No PYTHONPATH needed: a
file is imported under a private module name derived from its absolute path.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import stat
import sys
from pathlib import Path

from noisebench.errors import UserError

__all__ = ["ENV_VAR", "ENTRY_POINT_GROUP", "load_plugin", "load_configured_plugins", "loaded_plugins"]

ENV_VAR = "NOISEBENCH_PLUGINS"
ENTRY_POINT_GROUP = "noisebench.plugins"
MAX_PLUGIN_BYTES = 8 << 20  # a plug-in file larger than this is refused before it is read

_loaded: dict[str, str] = {}  # spec (absolute path or module name) -> module name
_configured = {"busy": False}


def _module_name_for(path: Path) -> str:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() or c == "_" else "_" for c in path.stem)
    return f"noisebench_plugin_{stem}_{digest}"


def _ensure_builtins() -> None:
    """Built-ins register first, so a plug-in that reuses a built-in name is refused."""
    from noisebench.registry import ACTIVATIONS, CORRUPTIONS, MODELS, SOURCES

    for reg in (CORRUPTIONS, SOURCES, MODELS, ACTIVATIONS):
        reg.names()


def _load_file(path: Path) -> str:
    try:
        st = path.stat()
    except OSError as e:
        raise UserError(f"plug-in {path}: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"plug-in {path}: not a regular file")
    if st.st_size > MAX_PLUGIN_BYTES:
        raise UserError(f"plug-in {path}: larger than {MAX_PLUGIN_BYTES >> 20} MiB")
    name = _module_name_for(path)
    if name in sys.modules:
        return name
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"plug-in {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except UserError as e:
        _forget(name)
        raise UserError(f"plug-in {path}: {e}") from e
    except Exception as e:  # noqa: BLE001 - any failure in the user's file is reported in one line
        _forget(name)
        raise UserError(f"plug-in {path} failed to load: {type(e).__name__}: {e}") from e
    return name


def _forget(module_name: str) -> None:
    """A plug-in that failed half-way leaves nothing registered."""
    from noisebench.registry import ACTIVATIONS, CORRUPTIONS, MODELS, SOURCES

    sys.modules.pop(module_name, None)
    for reg in (CORRUPTIONS, SOURCES, MODELS, ACTIVATIONS):
        for e in reg.entries():
            if e.module == module_name:
                reg.unregister(e.name)


def _load_module(name: str) -> str:
    try:
        importlib.import_module(name)
    except UserError as e:
        raise UserError(f"plug-in {name}: {e}") from e
    except Exception as e:  # noqa: BLE001
        raise UserError(f"plug-in {name!r} cannot be imported: {type(e).__name__}: {e}") from e
    return name


def load_plugin(spec: str | os.PathLike, base_dir: Path | None = None) -> str:
    """Import one plug-in (a ``.py`` file or a module name); returns its module name.

    Loading the same plug-in twice is a no-op. The plug-in is added to ``NOISEBENCH_PLUGINS`` so
    worker processes load it too.
    """
    text = os.fspath(spec).strip()
    if not text:
        raise UserError("plug-in: empty name")
    if any(ord(c) < 32 for c in text):
        raise UserError("plug-in: the name contains control characters")
    looks_like_file = text.endswith(".py") or os.sep in text or (base_dir is not None and (base_dir / text).exists())
    if looks_like_file:
        p = Path(text).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        key = str(p.resolve())
    else:
        key = text
    if key in _loaded:
        return _loaded[key]
    _ensure_builtins()
    name = _load_file(Path(key)) if looks_like_file else _load_module(key)
    _loaded[key] = name
    current = [s for s in os.environ.get(ENV_VAR, "").split(os.pathsep) if s]
    if key not in current:
        os.environ[ENV_VAR] = os.pathsep.join(current + [key])
    return name


def loaded_plugins() -> dict[str, str]:
    """{spec: module name} of the plug-ins loaded in this process."""
    return dict(_loaded)


def load_configured_plugins() -> None:
    """Load the plug-ins named in ``NOISEBENCH_PLUGINS`` and the ``noisebench.plugins`` entry points."""
    if _configured["busy"]:
        return
    _configured["busy"] = True
    try:
        for spec in [s for s in os.environ.get(ENV_VAR, "").split(os.pathsep) if s]:
            if spec not in _loaded:
                load_plugin(spec)
        try:
            from importlib.metadata import entry_points

            eps = list(entry_points(group=ENTRY_POINT_GROUP))
        except Exception:  # noqa: BLE001 - broken metadata of another package must not break noisebench
            eps = []
        for ep in eps:
            key = f"entry-point:{ep.value}"
            if key in _loaded:
                continue
            _ensure_builtins()
            try:
                ep.load()
            except UserError as e:
                raise UserError(f"plug-in entry point {ep.name} ({ep.value}): {e}") from e
            except Exception as e:  # noqa: BLE001
                raise UserError(f"plug-in entry point {ep.name} ({ep.value}) failed to load: {type(e).__name__}: {e}") from e
            _loaded[key] = ep.value.partition(":")[0]
    finally:
        _configured["busy"] = False
