"""The metadata digest of a noisebench file: a sha256 over every attribute, recorded at write time.

Checksums cover the arrays; this covers what describes them (`params`, `num_classes`, `task`,
`pair_key`, `split`, class names, group and dataset attributes ...), so `noisebench verify`
notices an edited attribute as surely as an edited pixel.

Definition (docs/FORMAT.md, "Metadata digest"): collect every attribute of every object as
{object path: {attribute name: value}} (root "/", groups and datasets by their path, objects
without attributes left out, the root's `metadata_sha256` itself excluded); values as read back
(strings, integers, floats; bytes decoded as UTF-8); serialise as
`json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)` and hash its bytes.
The recorded attribute is JSON: {"algorithm", "sha256", "attributes": {"<path>@<name>": 16 hex}},
the per-attribute digests letting `verify` name which attributes changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

import h5py

from noisebench.errors import UserError

DIGEST_ATTR = "metadata_sha256"
ALGORITHM = "sha256 of canonical JSON {path: {name: value}} (sorted keys, no spaces, ASCII)"
MAX_ATTRS_PER_OBJECT = 1000


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def collect(h5, read_attr: Callable[[Any, str], Any], where: str = "") -> dict[str, dict[str, Any]]:
    """{object path: {name: value}} for the root, every group and every dataset (hard links only).

    `read_attr(attrs, name)` reads one attribute (the reader's bounded, validating reader)."""


    out: dict[str, dict[str, Any]] = {}

    def take(path: str, obj) -> None:
        names = list(obj.attrs.keys())
        if len(names) > MAX_ATTRS_PER_OBJECT:
            raise UserError(f"{where}: {path} has more than {MAX_ATTRS_PER_OBJECT} attributes; refusing it")
        vals = {n: read_attr(obj.attrs, n) for n in names if not (path == "/" and n == DIGEST_ATTR)}
        if vals:
            out[path] = vals

    def walk(group, prefix: str, depth: int) -> None:
        if depth > 16:
            return
        for name in group.keys():
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                continue
            obj = group[name]
            path = f"{prefix}/{name}"
            take(path, obj)
            if isinstance(obj, h5py.Group):
                walk(obj, path, depth + 1)

    take("/", h5)
    walk(h5, "", 0)
    return out


def _flat(attrs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {f"{path}@{name}": hashlib.sha256(_canonical(value)).hexdigest()[:16]
            for path, vals in attrs.items() for name, value in vals.items()}


def record(attrs: dict[str, dict[str, Any]]) -> str:
    """The JSON string to store as the root attribute `metadata_sha256`."""
    return json.dumps({"algorithm": ALGORITHM, "sha256": hashlib.sha256(_canonical(attrs)).hexdigest(),
                       "attributes": _flat(attrs)}, sort_keys=True)


def _label(key: str) -> str:
    path, name = key.rsplit("@", 1)
    return name if path == "/" else f"{path.lstrip('/')}@{name}"


def check(recorded: Any, attrs: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(status, detail) with status ok / CHANGED / MISSING, comparing `attrs` with the recorded digest."""
    if recorded is None:
        return "MISSING", f"no {DIGEST_ATTR} attribute: the file's metadata cannot be checked"
    try:
        rec = json.loads(recorded) if isinstance(recorded, str) else None
        want, per = rec["sha256"], rec["attributes"]
        if not isinstance(want, str) or not isinstance(per, dict):
            raise TypeError
    except (TypeError, ValueError, KeyError, RecursionError):
        return "CHANGED", f"the {DIGEST_ATTR} record itself is damaged or was edited"
    actual = hashlib.sha256(_canonical(attrs)).hexdigest()
    if actual == want:
        return "ok", actual
    now = _flat(attrs)
    edited = sorted(_label(k) for k in now if k in per and per[k] != now[k])
    added = sorted(_label(k) for k in now if k not in per)
    removed = sorted(_label(k) for k in per if k not in now)
    parts = [f"{what}: {', '.join(names)}" for what, names in (("edited", edited), ("added", added),
                                                               ("removed", removed)) if names]
    if not parts:
        return "CHANGED", f"the {DIGEST_ATTR} record itself is damaged or was edited"
    return "CHANGED", "attributes changed after writing (" + "; ".join(parts) + ")"
