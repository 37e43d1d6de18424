"""The built-in activations and models as `noisebench zoo` lists them, without importing torch.

Counting parameters needs torch (modules built on the meta device), which takes seconds to import; the
built-ins' rows are therefore shipped in ``zoo_catalog.json`` (package data), written by
``python -m noisebench.harness.zoo_catalog`` and checked against the live registries by the tests. When a plug-in
is loaded (``--plugin``, ``NOISEBENCH_PLUGINS``, an entry point) or the file is missing or stale, the rows
are computed live. Stale means another noisebench version, or built-in model or activation files other than
those the catalog was written from (their sources are hashed without importing them): a new built-in file in
``harness/models/`` or ``harness/activations/`` is listed at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.resources import files

from noisebench import __version__

CATALOG = "zoo_catalog.json"
_ENTRY_POINT_GROUPS = ("noisebench.plugins", "noisebench.activations")


def builtins_digest() -> str:
    """sha256 over every .py file of the built-in activation and model packages (read, not imported)."""
    harness = files("noisebench.harness")
    h = hashlib.sha256()
    for folder in ("activations", "models"):
        for t in sorted((t for t in harness.joinpath(folder).iterdir() if t.name.endswith(".py")), key=lambda t: t.name):
            h.update(f"{folder}/{t.name}".encode() + b"\0" + t.read_bytes() + b"\0")
    return h.hexdigest()


def _param_count(build) -> int:
    """Parameters of a module built on the meta device (no memory, no RNG use, fast)."""
    import torch

    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def live_rows(builtin_only: bool = False) -> dict:
    """{"activations": [[name, params, description, origin]], "models": [[name, params, task, shape, description,
    origin]]} from the registries (imports torch); origin is "" for built-ins."""
    from noisebench.harness.activations.resolve import ACTIVATIONS
    from noisebench.harness.models import MODELS, build_model
    from noisebench.registry import ACTIVATIONS as ACT_REG
    from noisebench.registry import MODELS as MODEL_REG

    def origin(registry, name: str) -> str:
        e = registry.get(name)
        return "" if e.builtin else e.origin

    acts = [[name, _param_count(spec.factory), spec.description, origin(ACT_REG, name)]
            for name, spec in ACTIVATIONS.items()]
    models = []
    for name, spec in MODELS.items():
        outputs = 1 if spec.task == "regression" else 10
        n = _param_count(lambda name=name, spec=spec, outputs=outputs: build_model(name, "relu", spec.default_input,
                                                                                   outputs))
        models.append([name, n, spec.task, "x".join(str(s) for s in spec.default_input), spec.description,
                       origin(MODEL_REG, name)])
    if builtin_only:
        acts = [r for r in acts if not r[-1]]
        models = [r for r in models if not r[-1]]
    return {"version": __version__, "builtins_sha256": builtins_digest(), "activations": acts, "models": models}


def _plugins_present() -> bool:
    from noisebench.registry.plugins import ENV_VAR, loaded_plugins

    if loaded_plugins() or os.environ.get(ENV_VAR):
        return True
    try:
        from importlib.metadata import entry_points

        return any(True for g in _ENTRY_POINT_GROUPS for _ in entry_points(group=g))
    except Exception:  # noqa: BLE001 - broken metadata of another package: fall back to the live registries
        return True


def rows() -> dict:
    """The zoo's activation and model rows: the shipped catalog when only built-ins exist, else live."""
    if not _plugins_present():
        try:
            data = json.loads(files("noisebench.harness").joinpath(CATALOG).read_text(encoding="utf-8"))
            if data.get("version") == __version__ and data.get("builtins_sha256") == builtins_digest():
                return data
        except (OSError, ValueError):
            pass
    return live_rows()


def main() -> None:  # pragma: no cover - a maintainer's tool: python -m noisebench.harness.zoo_catalog
    path = os.path.join(os.path.dirname(__file__), CATALOG)
    data = live_rows(builtin_only=True)
    lines = [f'{{"version": {json.dumps(data["version"])}, "builtins_sha256": {json.dumps(data["builtins_sha256"])},']
    for i, key in enumerate(("activations", "models")):
        body = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in data[key])
        lines.append(f' "{key}": [\n  {body}\n ]' + ("," if i == 0 else "}"))
    with open(path, "w", encoding="utf-8") as f:  # one row per line: diffs stay readable
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
