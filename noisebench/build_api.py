"""`nb.build(kind, **options)`: build a dataset file from Python with exactly the options of the
matching CLI command (`noisebench synth`, `noisebench make psi|cifar10|mnist|mnist-flip|corrupt|cifar10-c`).

The CLI commands are thin layers over the builders here: the option names are the commands'
parameter names (``--val-size`` is ``val_size``, ``--all`` is ``all_levels``, ``make corrupt
--name`` is ``data_name``), the defaults are the same, and every option is validated here, once,
before anything is loaded. List options take a comma string (``"8,16"``), one value or a list.
Returns the written paths (a list of ``pathlib.Path``; ``.note`` holds a one-line summary).

    >>> import noisebench as nb
    >>> nb.build("synth", rows=200, seed=1, out="data")          # doctest: +SKIP
    >>> nb.build("psi", level="8,16", source="cifar-10-batches-py", out="data")  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from pathlib import Path

from noisebench.errors import UserError
from noisebench.safe_input import has_control
from noisebench import bounds
from noisebench.generators.image_inputs import precheck_outputs, predicted_name
from noisebench.generators.image_inputs import resolve_source
from noisebench.progress import bar
from noisebench.generators.synth.generator import SynthParams, build as build_synth
from noisebench.corruptors.poisson_photon import PAPER_LEVELS, validate_level
from noisebench.generators.image_builds import build_psi
from noisebench.generators.image_inputs import psi_name
from noisebench.generators.image_builds import build_clean_images, build_split_clean
from noisebench.generators.image_inputs import clean_name
from noisebench.corruptors.label_flip import load_matrix, validate_rate
from noisebench.generators.image_builds import build_flip, describe_flip
from noisebench.generators.image_inputs import flip_name
from noisebench.generators.corrupt_builds import (build_corrupt, corrupt_path, image_corruption, parse_param_args,
                                                  parse_severities, plan_corrupt)
from noisebench.generators.cifar10c_builds import build_cifar10_c, build_release, resolve_names
from noisebench.h5reader import open_file

__all__ = ["build", "build_kinds", "build_options", "DEFAULT_OUT"]

DEFAULT_OUT = Path("datasets_cache")


class Built(list):
    """The written paths; `.note` is a one-line summary (flip counts, row counts) or ''."""

    note = ""


# -- shared validation ------------------------------------------------------------------------
def _out_dir(out) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    return out


def _opt_path(p) -> Path | None:
    return None if p is None else Path(p)


def split_list(value, flag: str) -> list[str]:
    """A comma string, one value or a list of them (CLI: repeated flags) -> list of stripped strings."""
    if value is None:
        return []

    items = [value] if isinstance(value, (str, int, float)) else list(value)
    for v in items:
        if has_control(str(v)):
            raise UserError(f"{flag} {str(v)[:60]!r} contains control characters (newline, escape, ...); refusing it")
    out = [part.strip() for v in items for part in str(v).split(",")]
    out = [p for p in out if p]
    if not out and items:
        raise UserError(f"{flag} is empty")
    return out


def _check_split_options(val_size: int, split_seed: int) -> None:
    """--val-size and --split-seed inside their documented bounds (docs/BOUNDS.md), before any work."""

    bounds.check_int(val_size, "--val-size", 1, bounds.MAX_VAL_SIZE)
    bounds.check_seed(split_seed, "--split-seed")


def _numbers(seed: int, workers: int | None = None) -> None:
    """Seeds and worker counts inside their documented bounds (docs/BOUNDS.md), before any work."""

    bounds.check_seed(seed)
    if workers is not None:
        if workers < 1:
            raise UserError(f"--workers must be >= 1, got {workers}")
        bounds.check_int(workers, "--workers", 1, bounds.MAX_WORKERS)


def _precheck(default, source, name, force, paths_for, download=False) -> None:
    """Existing outputs without --force: fail before loading, verifying or downloading anything."""

    if source is not None and download:
        raise UserError("give either --source PATH or --download, not both")
    if name is not None:
        from noisebench.safe_input import check_stem

        check_stem(name, "--name")
    nm = predicted_name(default, source, name)
    if nm:
        precheck_outputs(paths_for(nm), force)


def _load(default: str, source, download, no_verify, out, name):
    return resolve_source(default, _opt_path(source), download, not no_verify, out, name)


def _bar(total: int, desc: str, unit: str = "img"):
    return bar(total, desc, unit)


# -- the builders (parameter names and defaults = the CLI command's) ------------------------------
def _synth(rows=7000, cols=10, dirty_frac=0.1, sigma=0.5, seed=0, out=DEFAULT_OUT, force=False) -> Built:
    p = SynthParams(rows=rows, cols=cols, dirty_frac=dirty_frac, sigma=sigma, seed=seed)
    p.validate()
    out = _out_dir(out)
    with _bar(rows, "synth", unit="row") as b:
        paths = Built(build_synth(p, out, force=force, progress=b.update))
    paths.note = f"{p.n_train} train rows, {p.n_dirty} dirty; {p.n_val} val rows, {p.n_test} test rows"
    return paths


def _psi(level=None, all_levels=False, seed=0, val_size=5000, split_seed=0, independent_levels=False, source=None,
         download=False, no_verify=False, name=None, workers=None, device="cpu", sampler=None, out=DEFAULT_OUT,
         force=False) -> Built:

    levels = []
    for lv in split_list(level, "--level"):
        try:
            levels.append(float(lv))
        except ValueError:
            raise UserError(f"--level takes numbers (e.g. --level 8,16), got {lv!r}") from None
    if all_levels:
        levels += [lv for lv in PAPER_LEVELS if lv not in levels]
    if not levels:
        raise UserError("give --level PSI (e.g. --level 16 or --level 8,16) or --all")
    levels = [validate_level(lv) for lv in levels]  # before loading anything
    _numbers(seed=seed, workers=workers)
    _check_split_options(val_size, split_seed)
    if sampler not in (None, "tables", "torch"):
        raise UserError(f"unknown --sampler {sampler!r}; use tables or torch")
    if device != "cpu" or sampler == "torch":  # check the device (and levels on it) before loading anything
        from noisebench.corruptors.photon_torch import TorchPhotonNoise

        if sampler == "tables":
            raise UserError(f"the table sampler runs on the CPU; use --sampler torch for --device {device}")
        for lv in levels:
            TorchPhotonNoise(lv, device)
    out = _out_dir(out)

    def _psi_paths(nm):  # some levels already there: build_psi keeps (skips) those built from this source
        ps = [out / psi_name(nm, lv, seed, split_seed, independent_levels) for lv in levels]
        return ps if all(p.exists() for p in ps) else []  # all there: refused now

    _precheck("cifar10", source, name, force, _psi_paths, download)
    data = _load("cifar10", source, download, no_verify, out, name)
    with _bar(len(levels) * (data.x_train.shape[0] + data.x_test.shape[0]), f"psi {data.name}") as b:
        return Built(build_psi(data, levels, out, seed=seed, force=force, workers=workers, progress=b.update,
                               val_size=val_size, split_seed=split_seed, independent_levels=independent_levels,
                               device=device, sampler=sampler))


def _clean(default: str, val_size, split_seed, source, download, no_verify, name, out, force) -> Built:
    _check_split_options(val_size, split_seed)
    out = _out_dir(out)
    _precheck(default, source, name, force, lambda nm: [out / clean_name(nm, split_seed)], download)
    data = _load(default, source, download, no_verify, out, name)
    with _bar(data.x_train.shape[0] + data.x_test.shape[0], f"clean {data.name}") as b:
        if default == "cifar10":
            p = build_clean_images(data, out, force=force, progress=b.update, val_size=val_size, split_seed=split_seed)
        else:
            p = build_split_clean(data, out, val_size=val_size, split_seed=split_seed, force=force, progress=b.update)
    return Built([p])


def _cifar10(val_size=5000, split_seed=0, source=None, download=False, no_verify=False, name=None,
             out=DEFAULT_OUT, force=False) -> Built:
    return _clean("cifar10", val_size, split_seed, source, download, no_verify, name, out, force)


def _mnist(val_size=10000, split_seed=0, source=None, download=False, no_verify=False, name=None,
           out=DEFAULT_OUT, force=False) -> Built:
    return _clean("mnist", val_size, split_seed, source, download, no_verify, name, out, force)


def _mnist_flip(rate=0.1, mode="symmetric", matrix=None, val_size=10000, seed=0, split_seed=0, source=None,
                download=False, no_verify=False, name=None, out=DEFAULT_OUT, force=False) -> Built:

    out = _out_dir(out)
    matrix = _opt_path(matrix)
    if matrix is None:
        validate_rate(rate)
        if mode not in ("symmetric", "pair"):
            raise UserError(f"--mode must be symmetric or pair (or give --matrix FILE), got {mode!r}")
    else:
        from noisebench.bounds import MAX_MATRIX_BYTES
        from noisebench.safe_input import check_regular

        if matrix.is_dir():
            raise UserError(f"--matrix {matrix}: is a directory; give a .npy, .csv or .txt file")
        check_regular(matrix, "--matrix", MAX_MATRIX_BYTES)  # before loading anything: no FIFO, device or huge file
    _check_split_options(val_size, split_seed)
    _numbers(seed=seed)
    if matrix is None:
        _precheck("mnist", source, name, force, lambda nm: [out / flip_name(nm, seed, mode, rate, None, split_seed)],
                  download)
    data = _load("mnist", source, download, no_verify, out, name)
    m = load_matrix(matrix, data.num_classes) if matrix is not None else None
    with _bar(data.x_train.shape[0] + data.x_test.shape[0], f"flip {data.name}") as b:
        paths = Built(build_flip(data, out, rate=rate, mode=mode, matrix=m, val_size=val_size, seed=seed, force=force,
                                 progress=b.update, split_seed=split_seed))
    paths.note = f"{paths[-1].name}: {describe_flip(paths[-1])}"
    return paths


def _corrupt(name, severity=None, param=None, seed=0, val_size=5000, split_seed=0, source=None, download=False,
             no_verify=False, data_name=None, workers=None, out=DEFAULT_OUT, force=False) -> Built:

    sevs = parse_severities(",".join(split_list(severity, "--severity")) or None)
    entry = image_corruption(str(name))
    if isinstance(param, dict):
        param = [f"{k}={v}" for k, v in param.items()]
    elif isinstance(param, str):
        param = [param]
    params = parse_param_args(entry, list(param or []))
    plan = plan_corrupt(entry.name, sevs, params)  # validates before loading anything
    _numbers(seed=seed, workers=workers)
    _check_split_options(val_size, split_seed)
    out = _out_dir(out)
    _precheck("cifar10", source, data_name, force,
              lambda nm: [corrupt_path(nm, out, t[3], seed, split_seed) for t in plan], download)
    data = _load("cifar10", source, download, no_verify, out, data_name)
    with _bar(len(plan) * (data.x_train.shape[0] + data.x_test.shape[0]), f"{entry.name} {data.name}") as b:
        return Built(build_corrupt(data, entry.name, out, severities=sevs, params=params if not sevs else None,
                                   seed=seed, force=force, workers=workers, progress=b.update, val_size=val_size,
                                   split_seed=split_seed))


def _cifar10_c(corruptions="all", severity="1,2,3,4,5", data=None, release=None, seed=0, workers=None, out=None,
               force=False) -> Built:

    _numbers(seed=seed, workers=workers)
    data, release, out = _opt_path(data), _opt_path(release), _opt_path(out)
    spec = ",".join(split_list(corruptions, "--corruptions")) or "all"
    sev_text = ",".join(split_list(severity, "--severity"))
    clean = data if data is not None else (out or DEFAULT_OUT) / "cifar10.h5"
    if release is not None:
        if data is not None and not data.exists():
            raise UserError(f"--data {data}: no such file")
        names = None if spec.lower() == "all" else [c for c in spec.split(",") if c]
        if sev_text.replace(" ", "") != "1,2,3,4,5":
            raise UserError("--severity does not apply to --release (the release holds severities 1-5)")
        target = _out_dir(out or (clean.parent if clean.exists() else DEFAULT_OUT))
        return Built(build_release(release, target, clean if clean.exists() else None, names, force=force))
    sevs = parse_severities(sev_text)  # options first, then files
    if not sevs:
        raise UserError("--severity is empty; give severities 1..5 separated by commas")
    names = resolve_names(spec)
    if not clean.exists():
        raise UserError(f"{clean}: no clean file; build it with `noisebench make cifar10` (or pass --data FILE)")
    target = _out_dir(out or clean.parent)

    with open_file(clean) as f:
        n = f.datasets["test/x"].shape[0] if "test" in f.splits else 0
    with _bar(n * len(sevs) * len(names), "cifar10-c") as b:
        return Built(build_cifar10_c(clean, names, sevs, target, seed=seed, force=force, workers=workers,
                                     progress=b.update, skip_unsupported=spec.lower() == "all"))


_BUILDERS = {"synth": _synth, "psi": _psi, "cifar10": _cifar10, "mnist": _mnist, "mnist-flip": _mnist_flip,
             "corrupt": _corrupt, "cifar10-c": _cifar10_c}


def build_kinds() -> list[str]:
    return list(_BUILDERS)


def _kind(kind: str) -> str:
    k = str(kind).strip().lower().replace("_", "-")
    k = k[len("make "):] if k.startswith("make ") else k
    if k not in _BUILDERS:
        raise UserError(f"unknown build kind {kind!r}; one of: {', '.join(_BUILDERS)}")
    return k


def build_options(kind: str) -> dict:
    """{option name: default} of a build kind (required options have inspect.Parameter.empty)."""
    return {n: p.default for n, p in inspect.signature(_BUILDERS[_kind(kind)]).parameters.items()}


def build(kind: str, **options) -> Built:
    """Build files like `noisebench synth` / `noisebench make KIND`, with that command's options.

    Unknown options are refused (with the accepted ones listed) before anything is read."""
    k = _kind(kind)
    accepted = build_options(k)
    unknown = [o for o in options if o not in accepted]
    if unknown:
        import difflib

        hints = [f"{o} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(o, accepted, 1)) else o for o in unknown]
        raise UserError(f"build({k!r}): unknown option(s) {', '.join(hints)}; accepted: {', '.join(accepted)}")
    missing = [o for o, d in accepted.items() if d is inspect.Parameter.empty and o not in options]
    if missing:
        raise UserError(f"build({k!r}) needs {', '.join(missing)}")
    return _BUILDERS[k](**options)
