"""Grid specs: a `GridSpec` (model x activation x dataset x LR x seed) from a TOML file or CLI flags.

    [grid]
    data = ["datasets_cache/synth-7000-dirty.h5"]   # dirty files get their clean counterpart added
    models = ["mlp"]                  # optional; default: each dataset's recipe model
    activations = ["relu", "elu", "tact"]   # or "all"
    lrs = [1e-4, 1e-3, 1e-2]          # optional; default: the recipe's LR
    seeds = [0, 1, 2]                 # or seeds = 3 (0, 1, 2)
    epochs = 20                       # optional overrides: batch_size, optimizer, lr_policy, weight_decay,
                                      # step_size, gamma, momentum, augment, device, add_clean

A file may hold several `[[grid]]` tables instead of one `[grid]` (e.g. a study exported by
`noisebench study NAME --export`): `load_grids(path)` returns one GridSpec per table.

`load_grid(path)` parses and validates the file's structure and types (one-line `UserError`s
naming the file and key); `parse_list`, `parse_lrs` and `parse_seeds` read the same values from
flags. Names and files are checked, and a spec expanded into runs, by harness/plan/expand.py.
TOML needs Python >= 3.11 (tomllib) or the `tomli` package; flags work everywhere.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from noisebench.errors import UserError
from noisebench.registry.plugins import load_plugin
from noisebench.safety import bounds
from noisebench.safety.bounds import MAX_GRID_BYTES, check_lr, check_seed_count, check_seed_list
from noisebench.safety.inputs import check_name, has_control, read_text, split_list

# key -> (kind, help) ; kinds: paths, names, floats, seeds, int, float, str, bool
GRID_KEYS: dict[str, str] = {
    "data": "paths",
    "models": "names",
    "activations": "names",
    "lrs": "floats",
    "seeds": "seeds",
    "epochs": "int",
    "batch_size": "int",
    "optimizer": "str",
    "lr_policy": "str",
    "weight_decay": "float",
    "step_size": "int",
    "gamma": "float",
    "momentum": "float",
    "augment": "str",
    "subset": "int",
    "device": "str",
    "add_clean": "bool",
    "plugins": "paths",
}
DEFAULT_SEEDS = 3  # the same default as `noisebench robustness --seeds`
OVERRIDE_KEYS = ("epochs", "batch_size", "optimizer", "lr_policy", "weight_decay")
KNOB_KEYS = ("step_size", "gamma", "momentum", "augment", "subset")
_KIND_TEXT = {
    "paths": "a list of file paths", "names": "a list of names", "floats": "a list of numbers",
    "seeds": "a positive integer or a list of integers", "int": "an integer", "float": "a number",
    "str": "a string", "bool": "true or false",
}


@dataclass
class GridSpec:
    data: list[Path] = field(default_factory=list)
    models: list[str] | None = None
    activations: list[str] = field(default_factory=list)
    lrs: list[float] | None = None
    seeds: list[int] = field(default_factory=lambda: list(range(DEFAULT_SEEDS)))
    overrides: dict = field(default_factory=dict)  # epochs, batch_size, optimizer, lr_policy, weight_decay
    knobs: dict = field(default_factory=dict)  # step_size, gamma, momentum, augment, subset
    device: str = "auto"
    add_clean: bool = True
    source: str = "flags"
    compile: bool = False

    def with_flags(self, **flags) -> "GridSpec":
        """A copy with the non-None flags replacing the file's values (flags win)."""
        spec = replace(self, overrides=dict(self.overrides), knobs=dict(self.knobs))
        for k, v in flags.items():
            if v is None:
                continue
            if k in OVERRIDE_KEYS:
                spec.overrides[k] = v
            elif k in KNOB_KEYS:
                spec.knobs[k] = v
            elif hasattr(spec, k):
                setattr(spec, k, v)
            else:  # pragma: no cover - programming error
                raise TypeError(f"unknown grid flag {k}")
        return spec


# -- parsing -----------------------------------------------------------------------------------
def toml_loads(text: str):
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise UserError(
                "grid TOML files need Python >= 3.11 (or `pip install tomli`); on older Pythons pass the grid as flags"
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(str(e)) from None
    except RecursionError:
        raise ValueError("arrays or tables nested too deeply") from None


def load_grid(path: str | Path) -> GridSpec:
    """Parse and validate a grid TOML file (structure and types; names and files are checked by `validate`)."""
    specs = load_grids(path)
    if len(specs) != 1:
        raise UserError(f"{path}: {len(specs)} [[grid]] tables; this needs one [grid] table")
    return specs[0]


def load_grids(path: str | Path) -> list[GridSpec]:
    """Every grid of a TOML file: one `[grid]` table or several `[[grid]]` tables, in file order."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"grid file {p} not found")
    if p.is_dir():
        raise UserError(f"grid file {p} is a folder; give a .toml file")
    text = read_text(p, "grid file", MAX_GRID_BYTES)  # regular file, bounded size (no FIFO/device hangs)
    try:
        doc = toml_loads(text)
    except ValueError as e:
        raise UserError(f"{p}: not valid TOML ({e})") from None
    return parse_grids(doc, source=str(p))


def parse_grids(doc: dict, source: str = "grid") -> list[GridSpec]:
    """GridSpecs from a parsed document: {"grid": {...}} (one) or {"grid": [{...}, ...]} (`[[grid]]` tables)."""
    g = doc.get("grid")
    if not isinstance(g, list):
        return [parse_grid(doc, source)]
    if not g:
        raise UserError(f"{source}: no [[grid]] tables")
    if len(g) > 1000:
        raise UserError(f"{source}: {len(g)} [[grid]] tables (at most 1000)")
    rest = {k: v for k, v in doc.items() if k != "grid"}
    return [parse_grid(rest | {"grid": t}, source if len(g) == 1 else f"{source} [[grid]] #{i + 1}")
            for i, t in enumerate(g)]


def _check(src: str, key: str, kind: str, v: Any) -> Any:
    bad = UserError(f"{src}: [grid] {key} must be {_KIND_TEXT[kind]}, got {v!r}")
    is_int = lambda x: isinstance(x, int) and not isinstance(x, bool)
    is_num = lambda x: (isinstance(x, (int, float)) and not isinstance(x, bool))
    if kind in ("paths", "names"):
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() for x in v):
            raise bad
        if any(has_control(x) for x in v):
            raise UserError(f"{src}: [grid] {key} has an entry with control characters (newline, escape, ...); refusing it")
        if len(v) > 10_000:
            raise UserError(f"{src}: [grid] {key} lists {len(v)} entries (at most 10000)")
        if kind == "names":
            return _names(v, f"{src}: [grid] {key}")
        return [x.strip() for x in v]
    if kind == "floats":
        if is_num(v):
            v = [v]
        if not isinstance(v, list) or not v or not all(is_num(x) for x in v):
            raise bad
        if len(v) > 10_000:
            raise UserError(f"{src}: [grid] {key} lists {len(v)} entries (at most 10000)")
        if any(not x > 0 for x in v):
            raise UserError(f"{src}: [grid] {key} must be > 0, got {v!r}")
        return _dedupe([check_lr(x, f"{src}: [grid] {key}") for x in v], f"{src}: [grid] {key}")
    if kind == "seeds":
        if is_int(v):
            if v < 1:
                raise UserError(f"{src}: [grid] seeds = N must be >= 1, got {v}")
            return list(range(check_seed_count(v, f"{src}: [grid] seeds")))
        if not isinstance(v, list) or not v or not all(is_int(x) for x in v):
            raise bad
        if any(x < 0 for x in v):
            raise UserError(f"{src}: [grid] seeds must be >= 0, got {v!r}")
        if len(set(v)) != len(v):
            raise UserError(f"{src}: [grid] seeds has duplicates: {v!r}")
        return check_seed_list(v, f"{src}: [grid] seeds")
    if kind == "int":
        if not is_int(v):
            raise bad
        if v < 1:
            raise UserError(f"{src}: [grid] {key} must be >= 1, got {v}")
        hi = {"epochs": bounds.MAX_EPOCHS, "batch_size": bounds.MAX_BATCH_SIZE, "subset": 1 << 48}.get(key, bounds.MAX_STEP_SIZE)
        return bounds.check_int(v, f"{src}: [grid] {key}", 1, hi)
    if kind == "float":
        if not is_num(v):
            raise bad
        if v < 0:
            raise UserError(f"{src}: [grid] {key} must be >= 0, got {v}")
        if key == "momentum":
            return bounds.check_real(v, f"{src}: [grid] momentum", 0.0, 1.0, hi_open=True)
        hi = {"weight_decay": bounds.WEIGHT_DECAY_MAX, "gamma": bounds.GAMMA_MAX}.get(key, bounds.GAMMA_MAX)
        return bounds.check_real(v, f"{src}: [grid] {key}", 0.0, hi, lo_open=key == "gamma")
    if kind == "str":
        if not isinstance(v, str) or not v.strip():
            raise bad
        if has_control(v):
            raise UserError(f"{src}: [grid] {key} {v[:60]!r} contains control characters (newline, escape, ...); refusing it")
        return check_name(v.strip(), f"{src}: [grid] {key}")
    if kind == "bool":
        if not isinstance(v, bool):
            raise bad
        return v
    raise AssertionError(kind)  # pragma: no cover


def parse_grid(doc: dict, source: str = "grid") -> GridSpec:
    """A GridSpec from a parsed TOML document ({"grid": {...}})."""
    extra_tables = [k for k in doc if k != "grid"]
    if extra_tables:
        raise UserError(f"{source}: unknown table or key {extra_tables[0]!r}; the file has one [grid] table")
    g = doc.get("grid")
    if not isinstance(g, dict):
        raise UserError(f"{source}: missing [grid] table (see `noisebench grid --help` for the format)")
    for k in g:
        if k not in GRID_KEYS:
            raise UserError(f"{source}: unknown key [grid] {k!r}; valid keys: {', '.join(GRID_KEYS)}")
    for req in ("data", "activations"):
        if req not in g:
            raise UserError(f"{source}: [grid] needs {req} = [...]")
    v = {k: _check(source, k, GRID_KEYS[k], x) for k, x in g.items()}
    if v.get("plugins"):
        base = Path(source).parent if source != "grid" else None
        for plug in v["plugins"]:
            load_plugin(plug, base_dir=base)
    return GridSpec(
        data=[Path(x) for x in v["data"]],
        models=v.get("models"),
        activations=v["activations"],
        lrs=v.get("lrs"),
        seeds=v.get("seeds", list(range(DEFAULT_SEEDS))),
        overrides={k: v[k] for k in OVERRIDE_KEYS if k in v},
        knobs={k: v[k] for k in KNOB_KEYS if k in v},
        device=v.get("device", "auto"),
        add_clean=v.get("add_clean", True),
        source=source,
    )


def _dedupe(items: list, what: str, key=lambda x: x) -> list:
    """Items in order without repeats; repeats are dropped with a note on stderr (they would train twice)."""
    out, seen, dups = [], set(), []
    for x in items:
        if key(x) in seen:
            dups.append(x)
        else:
            seen.add(key(x))
            out.append(x)
    if dups:
        shown = ", ".join(repr(d) for d in list(dict.fromkeys(dups))[:5])
        print(f"note: {what} lists {shown} more than once; using each once", file=sys.stderr)
    return out


def _names(items: list[str], what: str) -> list[str]:
    names = [check_name(x.strip(), what) for x in items]
    if what.endswith("activations") or what == "--activation":
        from noisebench.harness.activations.names import dedupe_activations  # names only: no torch

        return dedupe_activations(names, what)
    if what.endswith(("models", "--model")):
        return _dedupe(names, what, key=lambda n: n.strip().lower().replace("-", "_"))
    return _dedupe(names, what)


def parse_list(text: str, what: str) -> list[str]:
    """Names from a comma list (the one list parser, safe_input.split_list), checked and without repeats."""
    items = split_list(text, what)
    if not items:
        raise UserError(f"{what} is empty; give a name or a comma-separated list")
    return _names(items, what)


def parse_lrs(text: str) -> list[float]:
    out = []
    for x in parse_list(text, "--lr"):
        try:
            f = float(x)
        except ValueError:
            raise UserError(f"--lr: {x!r} is not a number") from None
        if not f > 0:
            raise UserError(f"--lr must be > 0, got {x}")
        out.append(check_lr(f, "--lr"))
    return _dedupe(out, "--lr")


def parse_seeds(text: str) -> list[int]:
    """'3' -> [0, 1, 2]; '0,4,7' -> [0, 4, 7] (a single seed s: 's,')."""
    text = str(text).strip()
    if len(text) > 20_000:
        raise UserError(f"--seeds: {len(text)} characters is too long a list")
    try:
        if "," not in text:
            n = int(text)
            if n < 1:
                raise UserError(f"--seeds N must be >= 1, got {n}")
            return list(range(check_seed_count(n, "--seeds N")))
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--seeds: expected N or a comma-separated list of seeds, got {text[:60]!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds: expected distinct seeds >= 0, got {text[:60]!r}")
    return check_seed_list(seeds, "--seeds")


# older private names, kept for callers outside the package
_toml_loads = toml_loads
