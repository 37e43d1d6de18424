"""`noisebench info`: a readable card describing a noisebench file."""

from __future__ import annotations

import json

from noisebench.format.reader import NoisebenchFile
from noisebench.safety.text import clean

RATE_KEYS = ("rate", "dirty_frac", "nominal_rate", "realized_rate")


def pct(v) -> str:
    """0.1 -> '10%', 0.0312 -> '3.12%'; anything not a number is shown as is."""
    try:
        return f"{float(v) * 100:.4g}%"
    except (TypeError, ValueError):
        return str(v)


def _fmt_value(k: str, v) -> str:
    if k in RATE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:g} ({pct(v)})"
    return str(v)


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={_fmt_value(k, v)}" for k, v in params.items())


def _image_lines(m: dict) -> list[str]:
    """ψ level, flip mode/counts and the realized confusion matrix of image files (issue 3)."""
    out = []
    if "psi" in m:
        out.append(f"psi:       {m['psi']:g} (photon-limited Poisson noise; lower = noisier; docs/IMAGES.md)")
    if "flip_mode" in m:
        out.append(f"flips:     mode {m['flip_mode']}, {m.get('n_flipped', '?')} training labels flipped")
    if "clean_reference" in m:
        out.append(f"clean ref: {m['clean_reference']}")
    cm = m.get("confusion_matrix")
    if isinstance(cm, str):
        try:
            cm = json.loads(cm)
        except ValueError:
            cm = None
    if isinstance(cm, list) and cm and len(cm) <= 20 and all(isinstance(r, list) for r in cm):
        width = max(len(str(v)) for r in cm for v in r)
        out.append("confusion (rows = true train label, cols = stored label):")
        out += ["  " + " ".join(f"{v:>{width}}" for v in r) for r in cm]
    return out


def render(f: NoisebenchFile) -> str:
    m = f.meta
    lines = [
        f"file:      {f.path}",
        f"kind:      {m['kind']} ({m.get('variant', '?')}, {m.get('task', '?')})",
        f"params:    {_fmt_params(m['params'])}",
        f"seed:      {m['seed']}",
        f"created:   {m['created']} by noisebench {m.get('noisebench_version', '?')} (format v{m['format_version']})",
    ]
    src = m.get("source") or {}
    if src:
        lines.append("source:    " + json.dumps(src, sort_keys=True, ensure_ascii=False))  # ψ, § as themselves
    if "num_classes" in m:
        lines.append(f"classes:   {m['num_classes']}")
    if m.get("kind") == "label-noise":
        pub = m.get("published_rate")
        lines.append(f"noise:     human labels ({(m.get('params') or {}).get('noise')}): realized "
                     f"{pct(m.get('realized_rate', '?'))} of the train split, {pct(m.get('realized_rate_all', '?'))} "
                     f"of all training images; published {pct(pub) if pub is not None else 'n/a'}")
    if "nominal_rate" in m:
        lines.append(f"flip rate: nominal {pct(m['nominal_rate'])}, realized {pct(m.get('realized_rate', '?'))} "
                     "of the training labels")
    lines += _image_lines(m)
    sp = m.get("split") or {}
    if isinstance(sp, dict) and sp:
        lines.append(f"split:     {sp.get('method', '?')}, seed {sp.get('seed')}: {sp.get('n_train')} train / "
                     f"{sp.get('n_val')} val / {sp.get('n_test')} test (val indices sha256 "
                     f"{str(sp.get('val_indices_sha256', ''))[:16]}...)")
    if m.get("source_fingerprint"):
        lines.append(f"source fp: {m['source_fingerprint']}")
    lines.append("splits:")
    for s, shapes in f.split_shapes().items():
        x, y = f.datasets[f"{s}/x"], f.datasets[f"{s}/y"]
        lines.append(f"  {s:<5} x {tuple(shapes['x'])} {x.dtype}, y {tuple(shapes['y'])} {y.dtype}")
    truth = [k for k in f.datasets if k.startswith("truth/")]
    if truth:
        lines.append("truth:     " + ", ".join(f"{k} {tuple(f.datasets[k].shape)}" for k in truth))
    lines.append(f"checksums: {len(m['checksums'])} datasets (sha256); run `noisebench verify` to check them")
    return "\n".join(clean(line) for line in lines)  # values come from the file: no control characters
