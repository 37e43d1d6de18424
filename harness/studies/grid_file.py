"""A study as an editable `noisebench grid` file: one [[grid]] table per grid of the preset, with the
data paths, the preset's settings and any flags given (seeds, epochs, subset, activations) written out."""

from __future__ import annotations

import json
import math


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):  # pragma: no cover - parse_grid refuses these
            raise ValueError(v)
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string (JSON escapes are valid TOML escapes)


def spec_table(spec) -> dict:
    t = {"data": [str(p) for p in spec.data]}
    if spec.models:
        t["models"] = list(spec.models)
    t["activations"] = list(spec.activations)
    if spec.lrs:
        t["lrs"] = list(spec.lrs)
    t["seeds"] = list(spec.seeds)
    t.update({k: v for k, v in spec.overrides.items() if v is not None})
    t.update({k: v for k, v in spec.knobs.items() if v is not None})
    if spec.device != "auto":
        t["device"] = spec.device
    if not spec.add_clean:
        t["add_clean"] = False
    return t


def grids_toml(preset, specs) -> str:
    lines = [f"# noisebench grid exported from study preset {preset.name!r}: {preset.description}",
             f"# Source: {preset.source}",
             "# The datasets: `noisebench study " + preset.name + " --dry-run` lists them; build them with",
             "# `noisebench study " + preset.name + " --download` (or the `noisebench make ...` / `synth` commands).",
             "# Run with: noisebench grid THIS_FILE   (several [[grid]] tables run in order, each run once)", ""]
    for s in specs:
        lines.append("[[grid]]")
        lines += [f"{k} = {_value(v)}" for k, v in spec_table(s).items()]
        lines.append("")
    return "\n".join(lines)
