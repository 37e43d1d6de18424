"""Grids of runs (model x activation x dataset x LR x seed) from a TOML file or CLI flags.

    [grid]
    data = ["datasets_cache/synth-7000-dirty.h5"]   # dirty files get their clean counterpart added
    models = ["mlp"]                  # optional; default: each dataset's recipe model
    activations = ["relu", "elu", "tact"]   # or "all"
    lrs = [1e-4, 1e-3, 1e-2]          # optional; default: the recipe's LR
    seeds = [0, 1, 2]                 # or seeds = 3 (0, 1, 2)
    epochs = 20                       # optional overrides: batch_size, optimizer, lr_policy, weight_decay,
                                      # step_size, gamma, momentum, augment, device, add_clean

A file may hold several `[[grid]]` tables instead of one `[grid]` (e.g. a study exported by
`noisebench study NAME --export`): `load_grids(path)` returns one GridSpec per table and
`expand_all(specs)` runs them in file order, each run once.

`load_grid(path)` parses and validates (one-line `UserError`s naming the file and key);
`expand(spec)` turns a `GridSpec` into `RunConfig`s in a stable order (clean before dirty for each
seed), with every data path made absolute (workers on other machines read the same shared path).
TOML needs Python >= 3.11 (tomllib) or the `tomli` package; flags work everywhere.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from noisebench import bounds
from noisebench.bounds import MAX_GRID_BYTES, check_lr, check_run_config, check_seed_count, check_seed_list
from noisebench.errors import UserError
from noisebench.plugins import load_plugin
from noisebench.safe_input import check_name, has_control, read_text
from noisebench.harness.run_config import AUGMENTS, LR_POLICIES, OPTIMIZERS, RunConfig

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
def _toml_loads(text: str):
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
        doc = _toml_loads(text)
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
        from noisebench.harness.activations import dedupe_activations

        return dedupe_activations(names, what)
    if what.endswith(("models", "--model")):
        return _dedupe(names, what, key=lambda n: n.strip().lower().replace("-", "_"))
    return _dedupe(names, what)


def parse_list(text: str, what: str) -> list[str]:
    if has_control(str(text)):
        raise UserError(f"{what} {str(text)[:60]!r} contains control characters (newline, escape, ...); refusing it")
    items = [x.strip() for x in str(text).split(",") if x.strip()]
    if not items:
        raise UserError(f"{what} is empty; give a name or a comma-separated list")
    if len(items) > 10_000:
        raise UserError(f"{what} lists {len(items)} entries (at most 10000)")
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


# -- validation and expansion --------------------------------------------------------------------
def validate(spec: GridSpec, check_files: bool = True) -> None:
    """Names, values and files (cheap: no data loaded). Raises UserError naming the source."""
    from noisebench.harness.activations import activation_names, resolve_activation
    from noisebench.harness.models import MODELS, model_names

    src = spec.source
    pre = "" if src == "flags" else f"{src}: "
    if not spec.data:
        raise UserError(f"{pre}no data files; give data = [...] or --data FILE")
    if not spec.activations:
        raise UserError(f"{pre}no activations; give activations = [...] or --activation NAMES")
    if [a.lower() for a in spec.activations] == ["all"]:
        spec.activations = activation_names()
    for a in spec.activations:
        try:
            resolve_activation(a)
        except UserError as e:
            raise UserError(f"{pre}{e}") from None
    for m in spec.models or []:
        if m.strip().lower().replace("-", "_") not in MODELS:
            raise UserError(f"{pre}unknown model {m!r}; valid: {', '.join(model_names())}")
    opt, pol = spec.overrides.get("optimizer"), spec.overrides.get("lr_policy")
    if opt is not None and opt not in OPTIMIZERS:
        raise UserError(f"{pre}unknown optimizer {opt!r}; choose one of {', '.join(OPTIMIZERS)}")
    if pol is not None and pol not in LR_POLICIES:
        raise UserError(f"{pre}unknown lr_policy {pol!r}; choose one of {', '.join(LR_POLICIES)}")
    aug = spec.knobs.get("augment")
    if aug is not None and aug not in AUGMENTS:
        raise UserError(f"{pre}unknown augment {aug!r}; use {', '.join(AUGMENTS)}")
    for p in spec.data if check_files else ():
        if not p.exists():
            raise UserError(f"{pre}data file {p} not found")
        if p.is_dir():
            raise UserError(f"{pre}data path {p} is a folder; give noisebench .h5 files")


def _files_for(path: Path, add_clean: bool, meta_of=None) -> list[tuple[Path, str, dict]]:
    """[(path, role, meta)] for one listed file: a dirty file with a clean_reference brings its clean twin first.

    `meta_of(path)` replaces reading the files' attributes (a plan made before the files exist: the
    study planner passes the attributes the builders will write)."""
    from noisebench.harness.robustness import _meta, pair_for
    from noisebench.harness.runner import data_role

    if meta_of is not None:
        meta = meta_of(path)
        if data_role(meta) == "dirty" and add_clean and meta.get("clean_reference"):
            clean = path.parent / Path(str(meta["clean_reference"])).name
            return [(clean.resolve(), "clean", meta_of(clean)), (path.resolve(), "dirty", meta)]
        return [(path.resolve(), data_role(meta), meta)]
    meta = _meta(path)
    role = data_role(meta)
    if role == "dirty" and add_clean and meta.get("clean_reference"):
        pair = pair_for(path)
        return [(pair.clean.resolve(), "clean", _meta(pair.clean)), (path.resolve(), "dirty", meta)]
    return [(path.resolve(), role, meta)]


def expand_all(specs: list[GridSpec], meta_of=None) -> list[RunConfig]:
    """The runs of several grids in order, each run once (by run key)."""
    out, seen = [], set()
    for spec in specs:
        for c in expand(spec, meta_of):
            if c.key() not in seen:
                seen.add(c.key())
                out.append(c)
    return out


def expand(spec: GridSpec, meta_of=None) -> list[RunConfig]:
    """Every run of the grid, in order: data file, model, activation, LR, seed, then clean/dirty.

    Duplicates (e.g. a clean file listed explicitly and also added as a dirty file's twin) are
    dropped by run key, keeping the first. `meta_of` (see `_files_for`) plans without the files."""
    from noisebench.harness.recipes import RECIPES, recipe_for
    from noisebench.harness.robustness import policy_extra
    from noisebench.harness.runner import checksums_digest

    validate(spec, check_files=meta_of is None)
    out, seen = [], set()
    for listed in spec.data:
        files = _files_for(Path(listed), spec.add_clean, meta_of)
        # The recipe comes from the listed file (the dirty one of a pair) so both twins share it.
        try:
            recipe = recipe_for(files[-1][2])
        except UserError:
            if not spec.models:
                raise UserError(f"{'' if spec.source == 'flags' else spec.source + ': '}{listed} has no default recipe; give models = [...] "
                                "(and lrs, epochs, ... as needed)") from None
            recipe = RECIPES["cifar10"]
        digests = {str(p): checksums_digest(m["checksums"]) for p, _, m in files}
        ov = {k: v for k, v in spec.overrides.items() if v is not None}
        for model in spec.models or [recipe.model]:
            r = recipe.with_overrides(model=model.strip().lower().replace("-", "_"), **ov)
            knobs = dict(r.extra)
            knobs.update({k: v for k, v in spec.knobs.items() if v is not None})
            extra = policy_extra(r.lr_policy, knobs)
            for act in spec.activations:
                for lr in spec.lrs or [r.lr]:
                    for seed in spec.seeds:
                        for path, role, _ in files:
                            cfg = RunConfig(
                                model=r.model, activation=act, data=str(path), data_sha256=digests[str(path)],
                                role=role, epochs=r.epochs, batch_size=r.batch_size, lr=lr, optimizer=r.optimizer,
                                lr_policy=r.lr_policy, weight_decay=r.weight_decay, seed=seed, device=spec.device,
                                extra=extra,
                            )
                            check_run_config(cfg)
                            k = cfg.key()
                            if k not in seen:
                                seen.add(k)
                                out.append(cfg)
    return out


def preflight_all(configs: list[RunConfig]) -> None:
    """The harness's preflight (file, digest, model/data fit, activation) once per (file, model, activation)."""
    from noisebench.harness.runner import preflight

    seen = set()
    for c in configs:
        sig = (c.data, c.model, c.activation)
        if sig not in seen:
            preflight(c)
            seen.add(sig)
