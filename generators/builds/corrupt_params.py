"""What a corruption build is asked for: the corruption (an image corruption, or one with its own file kind),
its parameters (`--param NAME=VALUE`, coerced and range-checked against the registration), its severities
(`--severity 1,3,5`, rows of a constant table) and the file-name tag they give. Checked before any data is read;
generators/builds/corrupt.py plans and builds from them."""

from __future__ import annotations

import math
from typing import Mapping

from noisebench.errors import UserError
from noisebench.registry import CORRUPTIONS

MAX_SEVERITY = 5


# ------------------------------------------------------------------ corruption lookup and parameters


def image_corruption(name: str):
    """The registry entry of an image corruption (built-in or plug-in); others are refused with one line."""
    from noisebench.corruptors.sets import image_corruption as entry_of

    return entry_of(name)


def build_corruption(name: str):
    """The registry entry of a corruption `make corrupt` builds: an image corruption, or one registered with a file
    kind that writes it (the label corruption label_flip: generators/builds/flip.py)."""
    entry = CORRUPTIONS.get(name)
    target = entry.meta.get("target", "images")
    if target != "images" and not entry.meta.get("file_kind"):
        raise UserError(f"corruption {entry.name!r} acts on {target}; `make corrupt` builds image corruptions and "
                        "corruptions registered with a file kind (label_flip)")
    return entry


def non_image_corruptions() -> list:
    """The registered corruptions that act on something other than images (label_flip: the labels)."""
    return sorted((e for e in CORRUPTIONS.entries() if e.meta.get("target", "images") != "images"),
                  key=lambda e: e.name)


def image_corruption_names() -> list[str]:
    return sorted(e.name for e in CORRUPTIONS.entries() if e.meta.get("target", "images") == "images")


def _coerce(entry, key: str, value):
    default = entry.meta.get("params", {}).get(key)
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return value.lower() in ("true", "1")
            return bool(value)
        if isinstance(default, int):
            f = float(value)
            if not math.isfinite(f) or f != int(f):
                raise ValueError
            return int(f)
        if isinstance(default, float) or default is None:
            f = float(value)
            if not math.isfinite(f):
                raise ValueError
            return f
        return type(default)(value)
    except (TypeError, ValueError):
        kind = {bool: "true/false", int: "an integer", float: "a number"}.get(type(default), "a number")
        raise UserError(f"{entry.name}: parameter {key} must be {kind}, got {value!r}") from None


def parse_param_args(entry, args: list[str]) -> dict:
    """`--param k=v` strings -> {k: value} typed like the corruption's defaults."""
    out: dict = {}
    for a in args:
        if "=" not in a:
            raise UserError(f"--param {a!r}: expected NAME=VALUE (e.g. --param c=0.05)")
        k, v = a.split("=", 1)
        k = k.strip()
        if k in out:
            raise UserError(f"--param {k} is given twice")
        out[k] = v.strip()
    return out


def resolve_params(entry, severity: int | None = None, overrides: Mapping | None = None,
                   constants: str | None = None) -> dict:
    """The parameters of one application: the severity's row of the `constants` table (cifar10-c,
    tiny-imagenet-c or imagenet-c; None: cifar10-c), or the defaults with `overrides`.

    Checks names, types and the registered ranges; raises UserError with one line."""
    from noisebench.corruptors.sets import severity_table

    known = dict(entry.meta.get("params", {}))
    sev_table = severity_table(entry, constants) if severity is not None else {}
    overrides = dict(overrides or {})
    if severity is not None and overrides:
        raise UserError("give either --severity or --param, not both")
    if severity is not None:
        try:
            s = int(severity)
        except (TypeError, ValueError):
            raise UserError(f"--severity must be an integer, got {severity!r}") from None
        if s not in sev_table:
            valid = ", ".join(str(k) for k in sorted(sev_table)) or "none (use --param)"
            raise UserError(f"{entry.name} has no severity {severity}; valid: {valid}")
        params = dict(sev_table[s])
    else:
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise UserError(f"{entry.name} has no parameter {', '.join(unknown)}; its parameters: "
                            f"{', '.join(known) or '(none)'}")
        params = {k: v for k, v in known.items()}
        params.update(overrides)
        missing = [k for k, v in params.items() if v is None]
        if missing:
            raise UserError(f"{entry.name}: give --param {missing[0]}=VALUE (no default)")
    params = {k: _coerce(entry, k, v) for k, v in params.items()}
    for k, (lo, hi) in (entry.meta.get("ranges") or {}).items():
        if k in params and not isinstance(params[k], bool):
            v = params[k]
            if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
                raise UserError(f"{entry.name}: {k} must be within [{lo:g}, {hi:g}], got {v}")
    return params


def parse_severities(text: str | None) -> list[int]:
    """'1,3,5' -> [1, 3, 5] (sorted, unique, each 1..5); None or '' -> []. The one --severity parser
    (`make corrupt`, `make cifar10-c`, `robustness --protocol test-time`)."""
    if text is None or not str(text).strip():
        return []
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            s = int(part)
        except ValueError:
            raise UserError(f"--severity: {part[:20]!r} is not an integer; give a comma list of 1..{MAX_SEVERITY} "
                            "(e.g. 1,3,5)") from None
        if not 1 <= s <= MAX_SEVERITY:
            raise UserError(f"--severity: {s} is outside 1..{MAX_SEVERITY}")
        if s in out:
            raise UserError(f"--severity lists {s} twice")
        out.append(s)
    return sorted(out)


def format_value(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else f"{v:.10g}"
    return str(v)


def file_tag(entry, severity: int | None, params: Mapping, constants: str | None = None) -> str:
    """'gaussian_noise-sev3' for a severity ('gaussian_noise-sev3-imagenet-c' from a table other than
    CIFAR-10-C's), 'contrast-c0.2' (sorted k+v joined by '-') for parameters."""
    tag = entry.meta.get("tag") or entry.name
    if severity is not None:
        return f"{tag}-sev{int(severity)}" + (f"-{constants}" if constants and constants != "cifar10-c" else "")
    return "-".join([tag] + [f"{k}{format_value(v)}" for k, v in sorted(params.items())])
