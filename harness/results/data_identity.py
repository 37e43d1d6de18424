"""What a run's data is, as exports name it: dataset, kind, role, level (ψ photon scale or label-flip
rate), corruption and severity (CIFAR-10-C style), and the --subset the run read. Two runs with the
same identity trained on the same data; runs with different identities are never merged in an export.

The values come from the file's attributes recorded with the run (`data_info`: `level`, `corruption`,
`severity`); for runs recorded before those were kept, from the standard file names the builders
write (cifar10-psi16.h5, mnist-flip0.1.h5, cifar10-fog-sev3.h5); a file named otherwise is told apart
by its name."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

__all__ = ["IDENTITY_FIELDS", "data_identity", "identity_label", "meta_identity", "run_name"]

IDENTITY_FIELDS = ("dataset", "kind", "role", "level", "mode", "corruption", "severity", "subset")
_LEVEL = re.compile(r"-(psi|flip|pair)(\d+(?:\.\d+)?(?:e-?\d+)?)(?:-|$)")
_SEVERITY = re.compile(r"-([a-z][a-z0-9_]*)-sev([1-9])(?:-|$)")


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def meta_identity(meta: dict) -> dict:
    """level / corruption / severity from a file's root attributes (None where the file has none)."""
    level = _num(meta.get("psi")) if meta.get("kind") == "psi" else _num(meta.get("nominal_rate"))
    sev = meta.get("severity")
    return {"level": level, "mode": meta.get("flip_mode") or None, "corruption": meta.get("corruption") or None,
            "severity": int(sev) if isinstance(sev, (int, float)) and not isinstance(sev, bool) and sev else None}


def _extra(r: dict) -> dict:
    e = r.get("extra")
    if isinstance(e, str):
        try:
            e = json.loads(e)
        except ValueError:
            e = None
    if isinstance(e, dict):
        return e
    return {k: v for k, v in e or () if isinstance(k, str)} if isinstance(e, (list, tuple)) else {}


def data_identity(r: dict) -> dict:
    """The identity of a run's data (a results-database row)."""
    info = r.get("data_info") if isinstance(r.get("data_info"), dict) else {}
    stem = Path(str(r.get("data") or "")).stem
    out = {"dataset": info.get("dataset") or r.get("dataset"), "kind": info.get("kind") or r.get("kind"),
           "role": r.get("role")}
    if "level" in info or "corruption" in info:
        out |= {k: info.get(k) for k in ("level", "mode", "corruption", "severity")}
    else:
        m, s = _LEVEL.search(stem), _SEVERITY.search(stem)
        out |= {"level": _num(m.group(2)) if m else None, "mode": {"flip": "symmetric", "pair": "pair"}.get(m.group(1))
                if m and m.group(1) != "psi" else None, "corruption": s.group(1) if s else None,
                "severity": int(s.group(2)) if s else None}
    sub = _extra(r).get("subset")
    out["subset"] = int(sub) if sub else None
    if out["role"] != "clean" and out["level"] is None and out["corruption"] is None:
        out["file"] = stem  # nothing else tells two such files apart
    return out


def identity_label(ident: dict) -> str:
    """A short name: cifar10-clean, cifar10-psi16, mnist-flip0.1, cifar10-fog-sev3, synth-7000-dirty (a file
    without a level: its name), with -subset500 when the run read a subset."""
    kind = ident.get("kind") or ""
    parts = [str(ident.get("dataset") or "data")]
    if ident.get("role") == "clean":
        parts.append("clean")
    elif ident.get("corruption"):
        parts.append(str(ident["corruption"]) + (f"-sev{ident['severity']}" if ident.get("severity") else ""))
    elif ident.get("level") is not None:
        tag = "psi" if kind == "psi" else {"pair": "pair", "matrix": "matrix"}.get(ident.get("mode"), "flip") \
            if "flip" in kind else kind or "level"
        parts.append(f"{tag}{ident['level']:g}")
    else:
        f = ident.get("file") or kind or "dirty"
        parts = [f] if f.startswith(f"{parts[0]}-") else parts + [f]  # synth-7000-dirty, not synth-synth-7000-dirty
    if ident.get("subset"):
        parts.append(f"subset{ident['subset']}")
    return "-".join(parts)


def run_name(cfg, info: dict) -> str:
    """A run's name for live TensorBoard folders: its data's identity, then model/activation/role/lr/seed."""
    ident = data_identity({"data_info": info, "data": cfg.data, "role": cfg.role, "extra": list(cfg.extra)})
    return f"{identity_label(ident)}-{cfg.label()}"
