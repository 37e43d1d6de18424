"""Facts about a noisebench file for dataset cards and Croissant metadata, read generically.

`describe(path)` opens the file with the public reader (`h5format.open_file`) and returns a plain
dict: every root attribute (JSON strings decoded), every dataset's shape, dtype and sha256, the
splits, group attributes (e.g. `truth/`), the whole file's sha256 and size, and measured noise
statistics chosen by what the file contains rather than by a fixed list of kinds:

* label noise (a `truth/clean_labels` dataset): realized flip rate and confusion matrix, recounted
  from the stored labels;
* ψ noise (kind `psi` or a `psi` attribute): PSNR of each split against the clean twin
  (`clean_reference` in the same folder with the same `pair_key`) or a clean copy under `truth/`,
  plus the PSNR the definition predicts from the noisy pixels alone; any other dirty image file
  with a clean twin (e.g. a registered corruption) gets the measured PSNR as well;
* hidden functions (a `hidden_functions_json` attribute on `truth/`): decoded.

Attributes this module does not know about are still reported (under `meta`), so new attributes
and kinds appear in cards without code changes. Reading is bounded: data is streamed in slabs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.safety.inputs import file_digest

SLAB_BYTES = 32 << 20
MAX_GROUP_ATTR_BYTES = 1 << 20
MAX_CONFUSION_CLASSES = 1000  # larger label spaces get the rate but not the K x K matrix


def file_sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def _decode(v: Any) -> Any:
    """JSON-decode string attributes that hold a JSON object or list (e.g. class_names)."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except (ValueError, RecursionError):
            return v
    return v


def _group_attrs(h5, name: str) -> dict:
    """Scalar attributes of one group, size-bounded; unreadable or oversized ones are skipped."""
    out = {}
    try:
        attrs = h5[name].attrs
        keys = list(attrs.keys())
    except Exception:  # noqa: BLE001 - a damaged group header only loses its description
        return out
    for k in keys:
        try:
            if attrs.get_id(k).get_storage_size() > MAX_GROUP_ATTR_BYTES:
                continue
            v = attrs[k]
        except Exception:  # noqa: BLE001
            continue
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, np.ndarray):
            if v.size != 1 or v.dtype.kind == "O":
                continue
            v = v.reshape(-1)[0]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[k] = _decode(v)
    return out


def _slabs(dset):
    n = dset.shape[0]
    row = max(1, int(np.prod(dset.shape[1:], dtype=np.int64)) * dset.dtype.itemsize)
    step = max(1, SLAB_BYTES // row)
    for s in range(0, n, step):
        yield s, dset[s : s + step]


def _label_noise(f) -> dict | None:
    if "truth/clean_labels" not in f.datasets or "train/y" not in f.datasets:
        return None
    clean, noisy = f.datasets["truth/clean_labels"], f.datasets["train/y"]
    if clean.shape != noisy.shape or clean.dtype.kind not in "iu" or noisy.dtype.kind not in "iu":
        return None
    k = f.meta.get("num_classes")
    n = int(clean.shape[0])
    flipped = 0
    conf = None
    if isinstance(k, int) and k <= MAX_CONFUSION_CLASSES:
        conf = np.zeros((k, k), dtype=np.int64)
    for s, c in _slabs(clean):
        y = noisy[s : s + c.shape[0]]
        flipped += int(np.count_nonzero(c != y))
        if conf is not None:
            ok = (c >= 0) & (c < k) & (y >= 0) & (y < k)
            np.add.at(conf, (c[ok], y[ok]), 1)
    out = {"n_train": n, "n_flipped": flipped, "realized_rate": flipped / n if n else 0.0,
           "nominal_rate": f.meta.get("nominal_rate"), "mode": f.meta.get("flip_mode"),
           "published_rate": f.meta.get("published_rate")}
    if conf is not None:
        out["confusion_matrix"] = conf.tolist()
    tm = _decode(f.meta.get("transition_matrix"))
    if isinstance(tm, list):
        out["transition_matrix"] = tm
    return out


def _psnr(sse: float, count: int) -> float:
    if count == 0:
        return float("nan")
    mse = sse / count
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _compare(noisy, clean, offset: int = 0) -> dict:
    """MSE and PSNR of `noisy` rows offset .. offset + len(clean) against `clean` (every row of it)."""
    sse, cnt = 0.0, 0
    n = int(clean.shape[0])
    step = max(1, (32 << 20) // max(1, int(np.prod(clean.shape[1:], dtype=np.int64))))
    for s in range(0, n, step):
        a = noisy[offset + s : offset + min(n, s + step)]
        b = clean[s : s + a.shape[0]]
        d = a.astype(np.int32) - b.astype(np.int32)
        d = d.reshape(-1).astype(np.float64)
        sse += float(d @ d)
        cnt += d.size
    return {"psnr_db": _psnr(sse, cnt), "mse": sse / cnt if cnt else float("nan")}


def _clean_twin(f, where: Path):
    """The clean twin (same folder, same pair_key) opened, or (None, reason)."""
    ref = f.meta.get("clean_reference")
    if not ref:
        return None, "the file names no clean_reference"
    p = where.parent / Path(str(ref)).name
    if not p.is_file():
        return None, f"clean twin {p.name} is not next to the file"
    try:
        twin = open_file(p)
    except UserError as e:
        return None, f"clean twin {p.name} is unreadable ({e})"
    own = f.meta.get("pair_key")  # a test-only corrupted set pairs with its clean file as "<clean pair_key>:test-only"
    if twin.meta.get("pair_key") != own and f"{twin.meta.get('pair_key')}:test-only" != own:
        twin.close()
        return None, f"{p.name} is not this file's clean twin (pair_key differs)"
    return twin, ""


def _psi_stats(f, path: Path) -> dict | None:
    """PSNR per split for ψ files and for any other dirty image file with a clean twin (label flips excepted)."""
    is_psi = f.kind == "psi" or "psi" in f.meta
    psi = f.meta.get("psi", (f.meta.get("params") or {}).get("level")) if is_psi else None
    images = all(len(f.datasets[f"{s}/x"].shape) >= 3 and f.datasets[f"{s}/x"].dtype == np.uint8 for s in f.splits)
    other = (f.meta.get("variant") == "dirty" and f.meta.get("clean_reference") and images
             and "truth/clean_labels" not in f.datasets)
    if not (is_psi or other):
        return None
    out: dict = {"psi": psi, "splits": {}, "reference": None}
    twin, why = _clean_twin(f, path)
    try:
        for s in f.splits:
            x = f.datasets[f"{s}/x"]
            ref = None
            for cand in (f"truth/{s}/clean_x", f"truth/clean_{s}_x", f"truth/{s}_clean_x"):
                if cand in f.datasets and f.datasets[cand].shape == x.shape:
                    ref, out["reference"] = f.datasets[cand], "truth/ (clean pixels stored in the file)"
                    break
            if ref is None and twin is not None and f"{s}/x" in twin.datasets and twin.datasets[f"{s}/x"].shape == x.shape:
                ref, out["reference"] = twin.datasets[f"{s}/x"], f"clean twin {twin.path.name}"
            blocks = _severity_blocks(f, s, twin) if ref is None else None
            if blocks:  # a test-only set: every clean test image once per severity, in severity order
                for k, start in blocks:
                    out["splits"][f"{s} severity {k}"] = _compare(x, twin.datasets[f"{s}/x"], start)
                out["reference"] = f"clean twin {twin.path.name} (its {s} images, per severity)"
                continue
            entry: dict = {}
            if ref is not None:
                entry.update(_compare(x, ref))
            if isinstance(psi, (int, float)) and psi > 0:
                total, cnt = 0.0, 0
                for _, a in _slabs(x):
                    total += float(a.sum(dtype=np.float64))
                    cnt += a.size
                mean = total / cnt if cnt else 0.0
                # Var[y] = 255 x / psi per pixel (before clipping), so the expected MSE is 255 * mean(x) / psi
                entry["predicted_psnr_db"] = _psnr(255.0 * mean / psi * cnt, cnt) if mean > 0 else float("inf")
            out["splits"][s] = entry
    finally:
        if twin is not None:
            twin.close()
    if out["reference"] is None:
        out["reference_missing"] = why
    return out


def _severity_blocks(f, split: str, twin) -> list[tuple[int, int]] | None:
    """[(severity, first row)] when `split` stacks the twin's images once per severity (test-only sets), else None."""
    if twin is None or f"{split}/severity" not in f.datasets or f"{split}/x" not in twin.datasets:
        return None
    x, ref = f.datasets[f"{split}/x"], twin.datasets[f"{split}/x"]
    n = int(ref.shape[0])
    if n == 0 or ref.shape[1:] != x.shape[1:] or x.shape[0] % n:
        return None
    sev = f.datasets[f"{split}/severity"][...]
    if sev.shape != (x.shape[0],):
        return None
    blocks = [(int(sev[i]), i) for i in range(0, x.shape[0], n)]
    if not np.array_equal(sev, np.repeat([k for k, _ in blocks], n)):
        return None
    return blocks


def _synth_stats(f, groups: dict) -> dict | None:
    hf = (groups.get("truth") or {}).get("hidden_functions_json")
    if hf is None:
        return None
    out = {"hidden_functions": hf if isinstance(hf, dict) else _decode(hf)}
    if "truth/dirty_rows" in f.datasets:
        out["n_dirty_rows"] = int(f.datasets["truth/dirty_rows"].shape[0])
    if "truth/offsets" in f.datasets and f.datasets["truth/offsets"].size:
        off = f.datasets["truth/offsets"][: 1 << 20]
        out["offsets_std"] = float(np.std(off, dtype=np.float64))
    return out


def describe(path: str | Path, with_file_hash: bool = True) -> dict:
    """Everything a card or Croissant record needs to say about `path` (see module docstring)."""
    path = Path(path)
    with open_file(path) as f:
        meta = {k: _decode(v) for k, v in f.meta.items()}
        datasets = {}
        for name, d in f.datasets.items():
            datasets[name] = {"shape": [int(s) for s in d.shape], "dtype": str(d.dtype),
                              "sha256": (f.meta.get("checksums") or {}).get(name)}
        splits = {}
        for s in f.splits:
            splits[s] = {"n": int(f.datasets[f"{s}/x"].shape[0]), "x": datasets[f"{s}/x"], "y": datasets[f"{s}/y"]}
        groups = {}  # attributes of groups: those holding datasets and `truth` (synth clean: attributes only)
        names = {n.rsplit("/", 1)[0] for n in f.datasets if "/" in n}
        if "truth" in f.h5 and hasattr(f.h5["truth"], "keys"):
            names.add("truth")
        for g in sorted(names):
            a = _group_attrs(f.h5, g)
            if a:
                groups[g] = a
        stats = {}
        for key, value in (("label_noise", _label_noise(f)), ("psi", _psi_stats(f, path)),
                           ("synth", _synth_stats(f, groups))):
            if value is not None:
                stats[key] = value
        facts = {"path": str(path), "file_name": path.name, "stem": path.stem, "kind": f.kind, "task": f.task,
                 "meta": meta, "splits": splits, "datasets": datasets, "groups": groups, "stats": stats}
    facts["size_bytes"] = path.stat().st_size
    facts["sha256"] = file_sha256(path) if with_file_hash else None
    return facts


def class_names(facts: dict) -> list[str]:
    names = facts["meta"].get("class_names")
    k = facts["meta"].get("num_classes")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    if isinstance(k, int) and k > 0:
        return [str(i) for i in range(k)]
    return []
