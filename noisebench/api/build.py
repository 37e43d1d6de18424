"""`nb.build(kind, **options)`: build a dataset file from Python with exactly the options of the
matching CLI command (`noisebench synth`, `noisebench make psi|cifar10|mnist|mnist-flip|corrupt|cifar10-c|
cifar100|cifar100-c|fashion-mnist|svhn|cifar10n|cifar100n`).

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

from noisebench.corruptors.label_flip import check_mode, validate_rate
from noisebench.corruptors.poisson_photon import PAPER_LEVELS, validate_level
from noisebench.corruptors.sets import SETS, check_constants, default_constants
from noisebench.defaults import DEFAULT_OUT  # re-exported: nb.build and the CLI share it
from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.generators.builds.cifar10c import build_cifar10_c, build_release, resolve_names
from noisebench.generators.builds.corrupt import build_corrupt, file_kind, kind_setting, plan_corrupt, planned_paths
from noisebench.generators.builds.corrupt_params import build_corruption, parse_param_args, parse_severities
from noisebench.generators.builds.images import build_split_clean
from noisebench.generators.image_inputs import clean_name, precheck_outputs, predicted_name, resolve_source
from noisebench.generators.synth.files import build as build_synth
from noisebench.generators.synth.generator import SynthParams
from noisebench.progress import bar
from noisebench.safety import bounds
from noisebench.safety.inputs import split_list  # the one list parser (re-exported: nb.build's callers use it)

__all__ = ["build", "build_kinds", "build_options", "DEFAULT_OUT"]



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
        from noisebench.safety.inputs import check_stem

        check_stem(name, "--name")
    nm = predicted_name(default, source, name)
    if nm:
        precheck_outputs(paths_for(nm), force)


def _load(default: str, source, download, no_verify, out, name, options=None):
    return resolve_source(default, _opt_path(source), download, not no_verify, out, name, options)


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
    options = {"independent_levels": independent_levels, "device": device, "sampler": sampler}
    return _corrupt_build("psi", None, [{"level": lv} for lv in levels], seed, val_size, split_seed, source,
                          download, no_verify, name, workers, out, force, options)


def _clean(default: str, val_size, split_seed, source, download, no_verify, name, out, force, options=None) -> Built:
    _check_split_options(val_size, split_seed)
    out = _out_dir(out)
    _precheck(default, source, name, force, lambda nm: [out / clean_name(nm, split_seed)], download)
    data = _load(default, source, download, no_verify, out, name, options)
    with _bar(data.x_train.shape[0] + data.x_test.shape[0], f"clean {data.name}") as b:
        p = build_split_clean(data, out, val_size=val_size, split_seed=split_seed, force=force, progress=b.update)
    return Built([p])


def _cifar10(val_size=5000, split_seed=0, source=None, download=False, no_verify=False, name=None,
             out=DEFAULT_OUT, force=False) -> Built:
    return _clean("cifar10", val_size, split_seed, source, download, no_verify, name, out, force)


def _mnist(val_size=10000, split_seed=0, source=None, download=False, no_verify=False, name=None,
           out=DEFAULT_OUT, force=False) -> Built:
    return _clean("mnist", val_size, split_seed, source, download, no_verify, name, out, force)


def _cifar100(label_type="fine", val_size=5000, split_seed=0, source=None, download=False, no_verify=False, name=None,
              out=DEFAULT_OUT, force=False) -> Built:
    if label_type not in ("fine", "coarse"):
        raise UserError(f"--label-type must be fine or coarse, got {label_type!r}")
    opts = {"label_type": label_type} if label_type != "fine" else None
    name = name or ("cifar100_coarse" if label_type == "coarse" else None)
    return _clean("cifar100", val_size, split_seed, source, download, no_verify, name, out, force, opts)


def _fashion_mnist(val_size=10000, split_seed=0, source=None, download=False, no_verify=False, name=None,
                   out=DEFAULT_OUT, force=False) -> Built:
    return _clean("fashion_mnist", val_size, split_seed, source, download, no_verify, name, out, force)


def _svhn(extra=False, val_size=5000, split_seed=0, source=None, download=False, no_verify=False, name=None,
          out=DEFAULT_OUT, force=False) -> Built:
    if extra and download and source is None:
        from noisebench.generators.sources.svhn import download_svhn

        download_svhn(_out_dir(out) / "raw", extra=True)
    name = name or ("svhn_extra" if extra else None)
    return _clean("svhn", val_size, split_seed, source, download, no_verify, name, out, force,
                  {"extra": True} if extra else None)


def _human_noise(dataset, noise, labels, download, val_size, split_seed, source, no_verify, name, out, force) -> Built:
    from noisebench.generators import cifar_n

    if noise not in cifar_n.NOISE_KEYS[dataset]:
        raise UserError(f"--noise must be one of {', '.join(cifar_n.NOISE_KEYS[dataset])} for {dataset}n, got {noise!r}")
    _check_split_options(val_size, split_seed)
    out = _out_dir(out)
    labels = _opt_path(labels)
    _precheck(dataset, source, name, force, lambda nm: [out / cifar_n.human_noise_name(nm, noise, split_seed)])
    if labels is None:
        folder = out / "raw" / "cifar-n"
        if download:
            labels = cifar_n.download_labels(dataset, folder)
        elif (folder / cifar_n.LABEL_FILES[dataset]).exists():
            labels = folder / cifar_n.LABEL_FILES[dataset]
        else:
            raise UserError(f"no {cifar_n.LABEL_FILES[dataset]} in {folder}; pass --labels FILE (from {cifar_n.REPO}) "
                            "or --download")
    data = _load(dataset, source, download and source is None, no_verify, out, name)
    with _bar(data.x_train.shape[0] + data.x_test.shape[0], f"{dataset}n {noise}") as b:
        paths = Built(cifar_n.build_human_noise(data, dataset, noise, labels, out, val_size=val_size,
                                                split_seed=split_seed, verify=not no_verify, force=force,
                                                progress=b.update))
    with open_file(paths[-1]) as f:
        m = f.meta
        paths.note = (f"{paths[-1].name}: realized noise rate {float(m['realized_rate']):.4f} on the train split "
                      f"({m['n_flipped']} labels), {float(m['realized_rate_all']):.4f} on all training images "
                      f"(published: {m.get('published_rate')})")
    return paths


def _cifar10n(noise="aggre", labels=None, download=False, val_size=5000, split_seed=0, source=None, no_verify=False,
              name=None, out=DEFAULT_OUT, force=False) -> Built:
    return _human_noise("cifar10", noise, labels, download, val_size, split_seed, source, no_verify, name, out, force)


def _cifar100n(noise="noisy", labels=None, download=False, val_size=5000, split_seed=0, source=None, no_verify=False,
               name=None, out=DEFAULT_OUT, force=False) -> Built:
    return _human_noise("cifar100", noise, labels, download, val_size, split_seed, source, no_verify, name, out, force)


def _mnist_flip(rate=0.1, mode="symmetric", matrix=None, val_size=10000, seed=0, split_seed=0, source=None,
                download=False, no_verify=False, name=None, out=DEFAULT_OUT, force=False) -> Built:
    """`make mnist-flip`: the label_flip corruption's own spelling of `make corrupt label_flip --param rate=R
    --param mode=M` (`--matrix FILE`: `--param matrix=FILE`), the same build and file."""

    out = _out_dir(out)
    matrix = _opt_path(matrix)
    if matrix is None:
        validate_rate(rate)
        check_mode(mode)
    else:
        from noisebench.safety.bounds import MAX_MATRIX_BYTES
        from noisebench.safety.inputs import check_regular

        if matrix.is_dir():
            raise UserError(f"--matrix {matrix}: is a directory; give a .npy, .csv or .txt file")
        check_regular(matrix, "--matrix", MAX_MATRIX_BYTES)  # before loading anything: no FIFO, device or huge file
    _check_split_options(val_size, split_seed)
    _numbers(seed=seed)
    params = {"rate": rate, "mode": mode} if matrix is None else {"matrix": str(matrix)}
    return _corrupt_build("label_flip", None, [params], seed, val_size, split_seed, source, download, no_verify, name,
                          None, out, force)


def _corrupt(name, severity=None, param=None, seed=0, val_size=None, split_seed=0, source=None, download=False,
             no_verify=False, data_name=None, workers=None, out=DEFAULT_OUT, force=False, constants=None) -> Built:
    """`make corrupt NAME`: an image corruption, or the label corruption label_flip (`make mnist-flip`);
    `val_size` None: the corruption's file kind's default (5,000; label_flip 10,000)."""

    sevs = parse_severities(",".join(split_list(severity, "--severity")) or None)
    if isinstance(param, dict):
        param = [f"{k}={v}" for k, v in param.items()]
    elif isinstance(param, str):
        param = [param]
    params = parse_param_args(build_corruption(str(name)), list(param or []))
    constants = check_constants(constants)
    return _corrupt_build(str(name), sevs, [params] if params else [], seed, val_size, split_seed, source, download,
                          no_verify, data_name, workers, _out_dir(out), force, constants=constants)


def _corrupt_build(name, sevs, param_sets, seed, val_size, split_seed, source, download, no_verify, data_name,
                   workers, out, force, options=None, constants=None) -> Built:
    """`make corrupt NAME` and its spellings (`make psi`, `make mnist-flip`): plan once, check the outputs, load,
    build. `constants`: the severity table (None: the one published for the images' size); `val_size` None and
    the source read without --source: the corruption's file kind's (cifar10 and 5,000; label_flip mnist and
    10,000, as `make mnist-flip`)."""
    plan = plan_corrupt(name, sevs or [], param_sets=param_sets, constants=constants)  # validates before loading
    kind = file_kind(plan[0][0])
    default = kind_setting(kind, "DEFAULT_SOURCE")
    val_size = kind_setting(kind, "DEFAULT_VAL_SIZE") if val_size is None else val_size
    _check_split_options(val_size, split_seed)
    _numbers(seed=seed, workers=workers)

    keeps = kind.KEEPS_FINISHED

    def _paths(nm):  # a kind that keeps finished files (ψ levels): refused now only when all are there
        ps = planned_paths(plan, nm, out, seed, split_seed, options)
        return ps if not keeps or all(p.exists() for p in ps) else []

    _precheck(default, source, data_name, force, _paths, download)
    data = _load(default, source, download, no_verify, out, data_name)
    entry = plan[0][0]
    with _bar(len(plan) * (data.x_train.shape[0] + data.x_test.shape[0]), f"{entry.name} {data.name}") as b:
        if constants is None and sevs:  # the table published for this image size (a severity's parameters)
            auto = default_constants(*data.x_test.shape[1:3])
            if auto != "cifar10-c":
                plan = plan_corrupt(name, sevs, param_sets=param_sets, constants=auto)
            constants = auto
        paths = Built(build_corrupt(data, entry.name, out, seed=seed, force=force, workers=workers,
                                    progress=b.update, val_size=val_size, split_seed=split_seed, options=options,
                                    plan=plan, constants=constants))
    describe = getattr(kind, "describe", None)  # the flip kind: nominal and realized rates
    if describe is not None:
        paths.note = f"{paths[-1].name}: {describe(paths[-1])}"
    return paths


def _cifar10_c(corruptions=None, severity="1,2,3,4,5", data=None, release=None, seed=0, workers=None, out=None,
               force=False, constants=None) -> Built:
    return _c_sets("cifar10", corruptions, severity, data, release, seed, workers, out, force, constants)


def _cifar100_c(corruptions=None, severity="1,2,3,4,5", data=None, release=None, seed=0, workers=None, out=None,
                force=False, constants=None) -> Built:
    return _c_sets("cifar100", corruptions, severity, data, release, seed, workers, out, force, constants)


def _c_sets(dataset, corruptions, severity, data, release, seed, workers, out, force, constants) -> Built:

    _numbers(seed=seed, workers=workers)
    data, release, out = _opt_path(data), _opt_path(release), _opt_path(out)
    spec = ",".join(split_list(corruptions, "--corruptions")) or ("all" if release is not None else "benchmark")
    constants = check_constants(constants)
    sev_text = ",".join(split_list(severity, "--severity"))
    clean = data if data is not None else (out or DEFAULT_OUT) / f"{dataset}.h5"
    if release is not None:
        if data is not None and not data.exists():
            raise UserError(f"--data {data}: no such file")
        if constants is not None:
            raise UserError("--constants does not apply to --release (the release is CIFAR-10-C's)")
        names = None if spec.lower() == "all" else list(SETS.get(spec.lower(), [c for c in spec.split(",") if c]))
        if sev_text.replace(" ", "") != "1,2,3,4,5":
            raise UserError("--severity does not apply to --release (the release holds severities 1-5)")
        target = _out_dir(out or (clean.parent if clean.exists() else DEFAULT_OUT))
        return Built(build_release(release, target, clean if clean.exists() else None, names, force=force,
                                   dataset=dataset))
    sevs = parse_severities(sev_text)  # options first, then files
    if not sevs:
        raise UserError("--severity is empty; give severities 1..5 separated by commas")
    names = resolve_names(spec)
    if not clean.exists():
        raise UserError(f"{clean}: no clean file; build it with `noisebench make {dataset}` (or pass --data FILE)")
    target = _out_dir(out or clean.parent)

    with open_file(clean) as f:
        n = f.datasets["test/x"].shape[0] if "test" in f.splits else 0
    with _bar(n * len(sevs) * len(names), f"{dataset}-c") as b:
        return Built(build_cifar10_c(clean, names, sevs, target, seed=seed, force=force, workers=workers,
                                     progress=b.update, skip_unsupported=spec.lower() in SETS, constants=constants))


_BUILDERS = {"synth": _synth, "psi": _psi, "cifar10": _cifar10, "mnist": _mnist, "mnist-flip": _mnist_flip,
             "corrupt": _corrupt, "cifar10-c": _cifar10_c, "cifar100": _cifar100, "cifar100-c": _cifar100_c,
             "fashion-mnist": _fashion_mnist, "svhn": _svhn, "cifar10n": _cifar10n, "cifar100n": _cifar100n}


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
