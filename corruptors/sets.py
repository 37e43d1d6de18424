"""Named sets of corruptions, the published constant tables, and the typed view of a corruption entry.

* ``benchmark``: the 15 corruptions whose mean is the CIFAR-10-C / ImageNet-C benchmark number
  (mean corruption accuracy, mCE); ``extra``: the 4 held-out ones; ``all``: the 19.
* constant tables: ``cifar10-c`` (32 px, make_cifar_c.py), ``tiny-imagenet-c`` (64 px,
  make_tinyimagenet_c.py) and ``imagenet-c`` (224 px, make_imagenet_c.py; the `imagecorruptions`
  package uses these too). The default follows the image size (`default_constants`).

Light: no scipy, no corruption code imported until a registry lookup needs it (this module registers
nothing itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from noisebench.errors import UserError
from noisebench.registry import CORRUPTIONS, Entry, SpecView

__all__ = ["BENCHMARK", "EXTRA", "ALL", "SETS", "CONSTANT_TABLES", "CorruptionSpec", "corruption_spec", "image_corruption",
           "resolve_corruptions", "set_label", "default_constants", "check_constants", "severity_table",
           "constants_table", "CORRUPTION_SPECS"]

BENCHMARK = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
             "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
             "jpeg_compression")
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL = BENCHMARK + EXTRA
SETS: dict[str, tuple[str, ...]] = {"benchmark": BENCHMARK, "extra": EXTRA, "all": ALL}

CONSTANT_TABLES = ("cifar10-c", "tiny-imagenet-c", "imagenet-c")
TABLE_SIZES = {"cifar10-c": 32, "tiny-imagenet-c": 64, "imagenet-c": 224}
TABLE_SOURCES = {"cifar10-c": "CIFAR-10-C, 32 px: hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py",
                 "tiny-imagenet-c": "Tiny-ImageNet-C, 64 px: hendrycks/robustness ImageNet-C/create_c/make_tinyimagenet_c.py",
                 "imagenet-c": "ImageNet-C, 224 px: hendrycks/robustness ImageNet-C/create_c/make_imagenet_c.py "
                               "(also the constants of the imagecorruptions package)"}


@dataclass(frozen=True)
class CorruptionSpec:
    """A registered corruption as a typed record (the registry entry's metadata, read-only)."""

    name: str
    target: str
    description: str
    params: Mapping[str, Any]
    severities: Mapping[int, Mapping[str, Any]]  # the default (CIFAR-10-C) table
    constants: Mapping[str, Mapping[int, Mapping[str, Any]]]  # table name -> severity -> parameters
    ranges: Mapping[str, tuple]
    reference: str
    differences: str
    builtin: bool
    module: str
    sets: tuple[str, ...] = field(default=())

    def table(self, constants: str) -> Mapping[int, Mapping[str, Any]]:
        return severity_table(self, constants)


def _spec_of(e: Entry) -> CorruptionSpec:
    m = e.meta
    sev = dict(m.get("severities") or {})
    consts = dict(m.get("constants") or {})
    if sev and "cifar10-c" not in consts and e.builtin:
        consts["cifar10-c"] = sev
    return CorruptionSpec(name=e.name, target=str(m.get("target", "images")), description=e.description,
                          params=dict(m.get("params") or {}), severities=sev, constants=consts,
                          ranges=dict(m.get("ranges") or {}), reference=str(m.get("reference", "")),
                          differences=str(m.get("differences", "")), builtin=e.builtin, module=e.module,
                          sets=tuple(k for k, v in SETS.items() if e.name in v))


def corruption_spec(name: str) -> CorruptionSpec:
    """The typed record of a registered corruption (built-in or plug-in)."""
    return _spec_of(CORRUPTIONS.get(name))


def image_corruption(name: str) -> Entry:
    """The registry entry of an image corruption; a corruption acting on something else (label_flip: the labels)
    is refused with one line, by every path that corrupts images (nb.corrupt, nb.Corrupt, make cifar10-c,
    test-time --corruptions, apply_corruption)."""
    e = CORRUPTIONS.get(name)
    target = e.meta.get("target", "images")
    if target != "images":
        own = f" or `noisebench {e.meta['command']}`" if e.meta.get("command") else ""
        hint = f"; build its files with `noisebench make corrupt {e.name} --param NAME=VALUE`{own}" \
            if e.meta.get("file_kind") else ""
        raise UserError(f"corruption {e.name!r} acts on {target}, not on images{hint}")
    return e


def check_constants(constants: str | None) -> str | None:
    """None, or one of CONSTANT_TABLES (``_`` and case accepted)."""
    if constants is None:
        return None
    key = str(constants).strip().lower().replace("_", "-")
    if key not in CONSTANT_TABLES:
        raise UserError(f"--constants must be one of {', '.join(CONSTANT_TABLES)}, got {constants!r}")
    return key


def default_constants(height: int, width: int) -> str:
    """The table published for the size nearest to min(H, W) on a log scale: up to 45 px cifar10-c,
    up to 119 px tiny-imagenet-c, larger imagenet-c."""
    s = min(int(height), int(width))
    if s * s <= 32 * 64:
        return "cifar10-c"
    if s * s < 64 * 224:
        return "tiny-imagenet-c"
    return "imagenet-c"


def severity_table(spec: CorruptionSpec | Entry, constants: str | None) -> Mapping[int, Mapping[str, Any]]:
    """The severity -> parameters table of a corruption for a constant table (None: CIFAR-10-C).

    A plug-in that declares only ``severities`` uses that one table for every constant table."""
    if isinstance(spec, Entry):
        spec = _spec_of(spec)
    key = check_constants(constants) or "cifar10-c"
    if not spec.constants:
        return spec.severities
    if key not in spec.constants:
        raise UserError(f"corruption {spec.name!r} has no {key} constants (published tables: "
                        f"{', '.join(spec.constants)})")
    return spec.constants[key]


def resolve_corruptions(spec: str | Iterable[str] | None, default: str = "benchmark") -> list[str]:
    """Corruption names from a set name (benchmark, extra, all), a comma list, or a list of either.

    Names are normalised (``-`` -> ``_``, lower case), checked against the registry (plug-ins allowed
    in lists) and de-duplicated in order; a name given twice is an error. ``None`` or empty -> ``default``."""
    if spec is None:
        parts = [default]
    elif isinstance(spec, str):
        parts = [spec]
    else:
        parts = [str(p) for p in spec]
    items = [p.strip().lower().replace("-", "_") for part in parts for p in str(part).split(",") if p.strip()]
    if not items:
        if spec is not None and str(spec).strip():
            raise UserError("--corruptions is empty; give benchmark, extra, all or names separated by commas")
        items = [default]
    out: list[str] = []
    for it in items:
        names = SETS.get(it)
        if names is None:
            names = (image_corruption(it).name,)
        elif len(items) > 1:
            raise UserError(f"--corruptions: the set {it!r} cannot be combined with other names; give one set or a list")
        for n in names:
            if n in out:
                raise UserError(f"--corruptions lists {n} twice")
            out.append(n)
    return out


def set_label(names: Iterable[str]) -> str:
    """'benchmark 15', 'extra 4', 'all 19' when `names` is exactly a named set, else 'N corruptions'."""
    s = set(names)
    for k, v in SETS.items():
        if s == set(v):
            return f"{k} {len(v)}"
    return f"{len(s)} corruption{'s' if len(s) != 1 else ''}"


def constants_table(constants: str = "cifar10-c") -> str:
    """The markdown severity table of the 19 built-ins for one constant table (docs/CORRUPTIONS.md shows all
    three; a test keeps them equal to the registry)."""
    key = check_constants(constants)
    rows = [f"| corruption ({key}) | parameters | severity 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|---|"]
    for name in sorted(ALL):
        sev = severity_table(corruption_spec(name), key)
        keys = list(sev[1])

        def cell(d: Mapping, keys=keys) -> str:
            return ", ".join(f"{d[k]:.4g}" if isinstance(d[k], float) else str(d[k]) for k in keys)

        rows.append(f"| `{name}` | {', '.join(keys)} | " + " | ".join(cell(sev[s]) for s in sorted(sev)) + " |")
    return "\n".join(rows)


CORRUPTION_SPECS: Mapping[str, CorruptionSpec] = SpecView(CORRUPTIONS, _spec_of)  # the registry as typed records
