"""The one builder of the command that rebuilds a file: stated on its dataset card and shown when a file of an
older format version is refused."""

from __future__ import annotations

import json
import shlex
from typing import Any

# what each older format version lacks, in the words of the refusal
MISSING_BY_VERSION = {1: "no validation split, no source fingerprint, no metadata digest"}


def _json(meta: dict, key: str) -> dict:
    v = meta.get(key)
    if isinstance(v, dict):
        return v
    try:
        v = json.loads(v) if isinstance(v, str) else {}
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def official_source(source: dict) -> str | None:
    """The registered official source whose `provenance_kind` is the file's `source.kind` (cifar10, svhn, ...)."""
    try:
        from noisebench.registry import source_for_file

        e = source_for_file(source)
    except Exception:  # noqa: BLE001 - a broken plug-in must not stop a card
        return None
    return e.name if e is not None and e.meta.get("official") else None


def _source_flags(meta: dict, source: dict, default: str, card: bool) -> list[str]:
    """Where the data came from: on a card, placeholders for the reader's own copy (or --download for a verified
    official set); in a refusal, the path recorded in the file (this machine's copy)."""
    kind, dataset = str(source.get("kind")), str(meta.get("dataset") or "")
    official = official_source(source)
    if not card:
        if official or not source:
            return []
        return (["--source", str(source["path"])] + (["--name", dataset] if dataset else [])) if source.get("path") else []
    if official:
        name = official
        if source.get("verified") and name == default:
            return ["--download"]
        return ["--source", f"PATH/TO/{name.upper()}_FILES"] + ([] if source.get("verified") else ["--no-verify"])
    if kind == "npz":
        return ["--source", f"PATH/TO/{meta.get('dataset', 'data')}.npz", "--name", str(meta.get("dataset"))]
    if kind == "image-folder":
        return ["--source", "PATH/TO/IMAGE_FOLDER", "--name", str(meta.get("dataset"))]
    return []


def rebuild_command(meta: dict, kind: str | None = None, card: bool = False) -> str:
    """The one builder of the `noisebench ...` command that writes a file again, from its recorded attributes and
    parameters: every build option that shapes its bytes (level, rate and mode, severity or parameters, seed,
    --val-size, --split-seed, --independent-levels) and where its data came from.

    `card=True`: the command a dataset card states (every seed explicit, placeholders for the reader's copy of
    the source data). Otherwise the command an older-format refusal suggests: the recorded source path and
    --force (it replaces the refused file)."""
    kind = kind or meta.get("kind")
    p, source = _json(meta, "params"), _json(meta, "source")
    seed = meta.get("seed") if isinstance(meta.get("seed"), int) else 0
    dataset = str(meta.get("dataset") or "")
    val = p.get("val_size_requested", p.get("val_size"))
    split = _json(meta, "split")
    split_seed = p.get("split_seed", split.get("seed") if split.get("method") == "stratified" else 0) or 0
    seed_args = ["--seed", seed] if card or seed else []
    val_args = (["--val-size", val] if val is not None else []) + (["--split-seed", split_seed] if split_seed else [])
    corruption = meta.get("corruption") or p.get("corruption")
    if kind == "synth":
        args = ["synth", "--rows", _num(p.get("rows", 7000)), "--cols", _num(p.get("cols", 10))]
        args += [a for k in ("dirty_frac", "sigma") if k in p for a in (f"--{k.replace('_', '-')}", _num(p[k]))]
        args += seed_args
    elif kind == "psi":
        args = ["make", "psi", "--level", _num(float(meta.get("psi", p.get("level", 16))))] + seed_args + val_args
        args += ["--independent-levels"] if p.get("independent_levels") else []
    elif kind == "mnist-flip":
        mode = meta.get("flip_mode", p.get("mode", "symmetric"))
        args = ["make", "mnist-flip"]
        args += ["--matrix", "MATRIX.npy"] if mode == "matrix" else ["--rate", _num(p.get("rate", 0.1)), "--mode", mode]
        args += (val_args[:2] if val is not None else []) + seed_args + val_args[2 if val is not None else 0:]
    elif kind == "clean":
        if meta.get("task") == "regression":
            return "(built together with its dirty variant by `noisebench synth`; see the parameters)"
        off = official_source(source)
        base = off or ("mnist" if dataset == "mnist" or (val is not None and dataset != "cifar10") else "cifar10")
        args = ["make", base.replace("_", "-")]
        args += ["--label-type", "coarse"] if source.get("label_type") == "coarse" else []
        args += ["--extra"] if source.get("extra") is True else []
        args += val_args
    elif kind == "label-noise":
        base = official_source(source) or dataset
        labels = source.get("labels") if isinstance(source.get("labels"), dict) else {}
        args = ["make", f"{base}n", "--noise", p.get("noise")]
        if not labels.get("verified"):
            args += ["--labels", f"PATH/TO/{p.get('label_file')}", "--no-verify"]
        args += val_args
        flags = _source_flags(meta, source, base, card)
        args += [a for a in flags if not (a == "--no-verify" and "--no-verify" in args)]
        return _line(args + ([] if card else ["--force"]))
    elif kind == "corrupt" and corruption:
        sev = meta.get("severity", p.get("severity"))
        args = ["make", "corrupt", corruption]
        if isinstance(sev, int) and sev > 0:
            args += ["--severity", sev] + (["--constants", p["constants"]] if p.get("constants") else [])
        else:
            args += [a for k, v in sorted((p.get("params") or {}).items()) for a in ("--param", f"{k}={v}")]
        args += seed_args
    elif kind == "corrupt-test" and corruption:
        sevs = meta.get("severities", p.get("severities")) or []
        c_cmd = "cifar100-c" if dataset == "cifar100" else "cifar10-c"
        args = ["make", c_cmd, "--corruptions", corruption, "--severity", ",".join(str(v) for v in sevs)]
        if p.get("constants") and p.get("origin") != "release":
            args += ["--constants", p["constants"]]
        args += ["--release", f"PATH/TO/{c_cmd.upper()}"] if p.get("origin") == "release" else seed_args + ["--data", "CLEAN.h5"]
        return _line(args + ([] if card else ["--force"]))
    else:
        return f"(kind {kind!r}: see its parameters; this noisebench version does not know its command)"
    made_from = {"mnist-flip": "mnist"}.get(args[1], args[1].replace("-", "_")) if args[0] == "make" else ""
    default = made_from if _registered_source(made_from) else "cifar10"
    return _line(args + _source_flags(meta, source, default, card) + ([] if card else ["--force"]))


def _registered_source(name: str) -> bool:
    try:
        from noisebench.registry import SOURCES

        return bool(name) and name in SOURCES.names()
    except Exception:  # noqa: BLE001 - a broken plug-in must not stop a card
        return False


def _line(args: list) -> str:
    return " ".join(shlex.quote(str(a)) for a in ["noisebench"] + args)


def old_version_message(where: str, meta: dict) -> str:
    v = meta.get("format_version")
    lacks = MISSING_BY_VERSION.get(v, "older layout")
    return f"{where} was written by format version {v} ({lacks}); rebuild it with: {rebuild_command(meta)}"
