"""The grid planner: a `GridSpec` (harness/plan/spec.py) checked and expanded into `RunConfig`s.

`validate(spec)` checks names, values and files (no data loaded); `expand(spec)` turns a spec into
`RunConfig`s in a stable order (clean before dirty for each seed), with every data path made
absolute (workers on other machines read the same shared path); `expand_all(specs)` runs the
`[[grid]]` tables of one file in file order, each run once; `preflight_all` runs the harness's
preflight once per (file, model, activation) before any training starts.
"""

from __future__ import annotations

from pathlib import Path

from noisebench.errors import UserError
from noisebench.harness.activations.resolve import resolve_activations
from noisebench.harness.models import MODELS, model_names
from noisebench.harness.plan.pairs import file_meta, pair_for
from noisebench.harness.plan.spec import GridSpec
from noisebench.harness.run.checks import preflight
from noisebench.harness.run.config import AUGMENTS, LR_POLICIES, OPTIMIZERS, RunConfig
from noisebench.harness.run.data import checksums_digest, data_role
from noisebench.harness.run.recipes import RECIPES, Recipe, policy_extra, recipe_for
from noisebench.safety.bounds import check_run_config


# -- validation and expansion --------------------------------------------------------------------
def validate(spec: GridSpec, check_files: bool = True) -> None:
    """Names, values and files (cheap: no data loaded). Raises UserError naming the source."""

    src = spec.source
    pre = "" if src == "flags" else f"{src}: "
    if not spec.data:
        raise UserError(f"{pre}no data files; give data = [...] or --data FILE")
    if not spec.activations:
        raise UserError(f"{pre}no activations; give activations = [...] or --activation NAMES")
    try:
        spec.activations = resolve_activations(spec.activations, f"{pre}activations")
    except UserError as e:
        raise UserError(f"{pre}{e}" if pre and not str(e).startswith(pre) else str(e)) from None
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
    if meta_of is not None:
        meta = meta_of(path)
        if data_role(meta) == "dirty" and add_clean and meta.get("clean_reference"):
            clean = path.parent / Path(str(meta["clean_reference"])).name
            return [(clean.resolve(), "clean", meta_of(clean)), (path.resolve(), "dirty", meta)]
        return [(path.resolve(), data_role(meta), meta)]
    meta = file_meta(path)
    role = data_role(meta)
    if role == "dirty" and add_clean and meta.get("clean_reference"):
        pair = pair_for(path)
        return [(pair.clean.resolve(), "clean", file_meta(pair.clean)), (path.resolve(), "dirty", meta)]
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
            extra = policy_extra(r.lr_policy, knobs, r.optimizer, files[-1][2])
            for act in spec.activations:
                for lr in spec.lrs or [r.lr]:
                    for seed in spec.seeds:
                        for path, role, _ in files:
                            cfg = RunConfig(
                                model=r.model, activation=act, data=str(path), data_sha256=digests[str(path)],
                                role=role, epochs=r.epochs, batch_size=r.batch_size, lr=lr, optimizer=r.optimizer,
                                lr_policy=r.lr_policy, weight_decay=r.weight_decay, seed=seed, device=spec.device,
                                compile=spec.compile, extra=extra, recipe=r.name,
                            )
                            check_run_config(cfg)
                            k = cfg.key()
                            if k not in seen:
                                seen.add(k)
                                out.append(cfg)
    return out


def preflight_all(configs: list[RunConfig]) -> None:
    """The harness's preflight (file, digest, model/data fit, activation) once per (file, model, activation)."""

    seen = set()
    for c in configs:
        sig = (c.data, c.model, c.activation)
        if sig not in seen:
            preflight(c)
            seen.add(sig)


def config_from_recipe(
    path: Path, role: str, recipe: Recipe, activation: str, seed: int, device: str = "auto", compile: bool = False,
    knobs: dict | None = None,
) -> RunConfig:
    meta = file_meta(Path(path))
    k = dict(recipe.extra)
    k.update({a: b for a, b in (knobs or {}).items() if b is not None})
    return RunConfig(
        model=recipe.model, activation=activation, data=str(path), data_sha256=checksums_digest(meta["checksums"]),
        role=role, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, optimizer=recipe.optimizer,
        lr_policy=recipe.lr_policy, weight_decay=recipe.weight_decay, seed=seed, device=device, compile=compile,
        extra=policy_extra(recipe.lr_policy, k, recipe.optimizer, meta), recipe=recipe.name,
    )
