"""Clean/dirty twins: a robustness delta is only meaningful between two files that differ in the
corruption and nothing else.

`twin_differences(clean, dirty)` lists every difference that is not the corruption:
- source: root `source_fingerprint` (else `params.fingerprint`), and `pair_key`, when both record them;
- split: root `split` (method, seed, val_size, n_train, n_val, n_test, val_indices_sha256),
  comparing the fields both files record, plus the set of splits and every x/y shape;
- task, num_classes, class names;
- labels where labels are not the corruption: the recorded sha256 of every split's `y` must be
  equal, except `train/y` for corruptions that change training targets (label flips, the
  synthetic set's noisy rows). For ψ every split's `y` is identical.
`check_twins` raises a one-line UserError naming them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.format.spec import FILE_KINDS
from noisebench.harness.run.recipes import SHAPE_KEY, Recipe, recipe_for

SPLIT_FIELDS = ("method", "seed", "val_size", "n_train", "n_val", "n_test", "val_indices_sha256")


def _json(v):
    if isinstance(v, (bytes, bytearray)):
        v = v.decode("utf-8", "replace")
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


def _short(v) -> str:
    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    return s if len(s) <= 20 else s[:16] + "…"


def _facts(path: Path) -> dict:
    with open_file(path) as f:
        meta = dict(f.meta)
        shapes = {name: tuple(d.shape) for name, d in f.datasets.items()
                  if name.split("/", 1)[0] in ("train", "val", "test")}
        splits = list(f.splits)
    params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    return {
        "meta": meta,
        "fingerprint": meta.get("source_fingerprint", params.get("fingerprint")),
        "split": _json(meta.get("split")) if meta.get("split") is not None else None,
        "class_names": _json(meta["class_names"]) if "class_names" in meta else None,
        "shapes": shapes,
        "splits": splits,
        "checksums": meta.get("checksums") or {},
    }


def twin_differences(clean: str | Path, dirty: str | Path) -> list[str]:
    a, b = _facts(Path(clean)), _facts(Path(dirty))
    ma, mb = a["meta"], b["meta"]
    diffs: list[str] = []

    def both(x, y, what):
        if x is not None and y is not None and x != y:
            verb = "differ" if what in ("val indices", "class names") else "differs"
            diffs.append(f"{what} {verb} ({_short(x)} vs {_short(y)})")

    both(a["fingerprint"], b["fingerprint"], "source fingerprint")
    both(ma.get("pair_key") or None, mb.get("pair_key") or None, "pair_key")
    sa, sb = a["split"], b["split"]
    if isinstance(sa, dict) and isinstance(sb, dict):
        for k in SPLIT_FIELDS:
            label = "val indices" if k == "val_indices_sha256" else f"split {k}"
            both(sa.get(k), sb.get(k), label)
    if a["splits"] != b["splits"]:
        diffs.append(f"splits differ ({'/'.join(a['splits'])} vs {'/'.join(b['splits'])})")
    for s in sorted(set(a["splits"]) & set(b["splits"])):
        for arr in ("x", "y"):
            n = f"{s}/{arr}"
            xa, xb = a["shapes"].get(n), b["shapes"].get(n)
            if xa != xb:
                diffs.append(f"{n} shape differs ({xa} vs {xb})")
    both(ma.get("task", "classification"), mb.get("task", "classification"), "task")
    both(ma.get("num_classes"), mb.get("num_classes"), "num_classes")
    both(a["class_names"], b["class_names"], "class names")
    kind = mb.get("kind")
    for s in sorted(set(a["splits"]) & set(b["splits"])):
        if s == "train" and kind in FILE_KINDS and FILE_KINDS[kind].train_labels_differ:
            continue  # the corruption itself
        n = f"{s}/y"
        ca, cb = a["checksums"].get(n), b["checksums"].get(n)
        if ca is not None and cb is not None and ca != cb and a["shapes"].get(n) == b["shapes"].get(n):
            diffs.append(f"{n} labels differ")
    return diffs


def check_twins(clean: str | Path, dirty: str | Path) -> None:
    """Refuse (one line) a clean/dirty pair that differs in anything but the corruption."""
    d = twin_differences(clean, dirty)
    if d:
        raise UserError(f"{dirty} and {clean} are not clean/dirty twins: {'; '.join(d)}; "
                        "rebuild the dirty file from the same source and split as its clean file")


@dataclass(frozen=True)
class DataPair:
    dataset: str
    clean: Path
    dirty: Path
    recipe: Recipe


def file_meta(path: Path) -> dict:
    """A file's root attributes, plus its train/x shape under recipes.SHAPE_KEY (for custom recipes)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"data file {path} not found")
    if path.is_dir():
        raise UserError(f"data path {path} is a folder; give a noisebench .h5 file")
    with open_file(path) as f:
        meta = dict(f.meta)
        dx = f.datasets.get("train/x")
        if dx is not None:
            meta[SHAPE_KEY] = tuple(int(n) for n in dx.shape)
    return meta


def pair_for(dirty: Path) -> DataPair:
    """The clean/dirty pair for a dirty file (the clean one named by its clean_reference attribute)."""
    dirty = Path(dirty)
    meta = file_meta(dirty)
    if meta.get("kind") == "clean" or meta.get("variant") == "clean":
        raise UserError(f"{dirty} is a clean file; pass the dirty variant (its clean counterpart is found automatically)")
    ref = meta.get("clean_reference")
    if not ref:
        raise UserError(f"{dirty} has no clean_reference attribute, so its clean counterpart is unknown")
    clean = dirty.parent / Path(str(ref)).name
    if not clean.exists():
        raise UserError(f"{dirty}: its clean counterpart {clean} is missing (build it next to the dirty file)")
    check_twins(clean, dirty)
    recipe = recipe_for(meta)
    return DataPair(str(meta.get("dataset") or meta.get("kind")), clean, dirty, recipe)
