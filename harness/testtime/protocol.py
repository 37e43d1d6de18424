"""The test-time protocol (CIFAR-10-C style): train once on clean data, evaluate on corrupted test sets.

For each (model, activation, seed) the normal clean run is trained once on the clean file (selection
on its val split, harness/run/selection.py) with its weights saved (harness/run/artifacts.py, keyed by the
run key); a run already in the results database is reused when its selected weights are on disk and
trained again (replacing its row) when they are not. Its selected weights are then evaluated on the
clean test split and on every test-only corrupted set (`make cifar10-c`, found through their clean
reference, built when missing) at every severity. Each evaluation is one row of the database's
`evaluations` table, keyed by run key, corruption, severity, the set's content digest and the sha256
of the weights file, so a rerun evaluates only what is missing. Train-time tables never read it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.generators.builds.cifar10c import build_cifar10_c, find_corrupted_sets, read_severity
from noisebench.harness.activations.resolve import resolve_activation
from noisebench.harness.models import build_model
from noisebench.harness.plan.expand import config_from_recipe
from noisebench.harness.plan.pairs import file_meta
from noisebench.harness.plan.study_runner import make_executor, run_configs, unique, with_weights
from noisebench.harness.run.checks import resolve_device
from noisebench.harness.run.config import RunConfig
from noisebench.harness.run.identity import code_version, precision, torch_version
from noisebench.harness.run.loop import SplitTensors, TrainSettings, evaluate
from noisebench.harness.run.recipes import recipe_for
from noisebench.harness.run.runner import prepare
from noisebench.harness.run.subset import subset_indices
from noisebench.harness.run.verify import verify_for_training
from noisebench.safety.inputs import file_digest

PROTOCOL = "test-time"
TRAIN_TIME = "train-time"
CLEAN = "clean"  # the corruption name of the clean test split's evaluation (severity 0)

Note = Callable[[str], None]


@dataclass
class StudyOutcome:
    trained: int = 0
    reused: int = 0
    retrained: int = 0  # in the database without weights: trained again
    not_ok: list = field(default_factory=list)  # (label, status) of null/failed runs (not evaluated)
    evaluated: int = 0
    already: int = 0
    failures: list = field(default_factory=list)


def with_baseline(activations: list[str], baseline: str) -> list[str]:
    """The study's activations with the baseline first added when missing."""
    return list(activations) if baseline in activations else [baseline] + list(activations)


def corrupted_sets(clean: Path, names: list[str] | None, severities: list[int], datasets_dir: Path | None = None,
                   release: bool = False, note: Note = print) -> dict[str, Path]:
    """{corruption: test-only file} paired with `clean` (through its clean_test_sha256), built with
    build_cifar10_c when missing (ours; the converted official files are never built here, and
    `names` None means every one found)."""

    folder = Path(datasets_dir) if datasets_dir is not None else Path(clean).parent
    cmd = "make cifar100-c" if Path(clean).stem.startswith("cifar100") else "make cifar10-c"  # the same layout
    if not folder.is_dir():
        raise UserError(f"--datasets-dir {folder} is not a folder")
    found = find_corrupted_sets(clean, folder, release=release)
    if names is None:
        names = sorted(found)
        if not names:
            raise UserError(f"no converted official sets paired with {Path(clean).name} in {folder}; convert them with: "
                            f"noisebench {cmd} --release DIR --data {clean} --out {folder}")
    missing = [n for n in names if n not in found]
    if missing and release:
        raise UserError(f"no converted official set for {', '.join(missing)} paired with {Path(clean).name} in {folder}; "
                        f"convert them with: noisebench make cifar10-c --release DIR --data {clean} --out {folder}")
    if missing:
        note(f"building the test-only sets of {', '.join(missing)} (severities {','.join(map(str, severities))}) "
             f"from {Path(clean).name} into {folder}")
        for p in build_cifar10_c(clean, missing, severities, folder):
            with open_file(p) as f:
                found[str(f.meta.get("corruption"))] = p
    out = {}
    for n in names:
        with open_file(found[n]) as f:
            held = [int(s) for s in f.meta.get("severities_json", [])]
            seed = f.meta.get("seed")
        lack = [s for s in severities if s not in held]
        if lack:  # the command as it runs: the clean file, the folder and the seed the set was built with
            raise UserError(f"{found[n]} holds severities {','.join(map(str, held))}, not {','.join(map(str, lack))}; "
                            f"rebuild it: noisebench {cmd} --corruptions {n} --severity "
                            f"{','.join(map(str, sorted(set(held) | set(severities))))} --data {clean} "
                            f"--out {folder}{f' --seed {seed}' if seed else ''} --force")
        out[n] = found[n]
    return out


def plan_training(clean: Path, activations: list[str], seeds: list[int], overrides: dict | None = None,
                  device: str = "auto", compile: bool = False, knobs: dict | None = None) -> list[RunConfig]:
    """One clean run per (activation, seed): the same configurations the train-time protocol trains on the clean file."""

    meta = file_meta(Path(clean))
    if meta.get("variant") != "clean":
        raise UserError(f"{clean}: a {meta.get('kind')} file ({meta.get('variant')}); the test-time protocol trains on "
                        "the clean file (e.g. cifar10.h5) and evaluates on its corrupted test sets")
    recipe = recipe_for(meta).with_overrides(**{k: v for k, v in (overrides or {}).items() if v is not None})
    return [config_from_recipe(clean, "clean", recipe, a, s, device, compile, knobs) for a in activations for s in seeds]


def selected_weights(checkpoint_root: Path, key: str) -> Path:
    return Path(checkpoint_root) / key[:2] / key / "selected.pt"


def train_missing(configs: list[RunConfig], db, checkpoint_root: Path, jobs: int = 1, note: Note = print,
                  out: StudyOutcome | None = None, executor=None, force: bool = False,
                  progress: str = "quiet") -> StudyOutcome:
    """Train every configuration without a completed run and saved selected weights (one training each),
    through the one runner (harness/plan/study_runner.py) with the test-time "is it done" rule (`with_weights`);
    `executor` defaults to this machine (`jobs` worker processes), writing the weights under checkpoint_root."""

    out = out or StudyOutcome()
    is_done = with_weights(lambda k: selected_weights(checkpoint_root, k))
    for c in unique(configs):
        if not force and is_done(c, db):
            out.reused += 1
        elif not force and db.has(c.key()):
            note(f"{c.label()}: in {db.path} without its saved weights; training it again with checkpoints "
                 "(its row is replaced)")
            out.retrained += 1
    ex = executor or make_executor("local", jobs, checkpoint_dir=checkpoint_root)
    g = run_configs(configs, db, ex, force=force, progress=progress, is_done=is_done)
    out.trained += g.ran
    out.failures += g.failures
    return out


def run_protocol(clean: Path, activations: list[str], seeds: list[int], names: list[str] | None,
                 severities: list[int], db, checkpoint_root: Path, overrides: dict | None = None,
                 knobs: dict | None = None, device: str = "auto", compile: bool = False, datasets_dir=None,
                 release: bool = False, force: bool = False, executor=None, jobs: int = 1,
                 note: Note = print, on_plan: Callable | None = None) -> tuple[list[RunConfig], dict, StudyOutcome]:
    """The test-time study of `noisebench robustness --protocol test-time`: plan one clean run per (activation,
    seed), check it, find (or build) the corrupted test sets, train what is not done (the one runner, test-time
    rule) on `executor` (default: this machine) and evaluate every ok run on every set and severity.

    `db` is the results database path; `on_plan(configs, sets)` is called before any training.
    Returns (configs, sets, outcome)."""
    from noisebench.harness.plan.expand import preflight_all
    from noisebench.harness.results.db import ResultsDB

    configs = plan_training(clean, activations, seeds, overrides, device, compile, knobs)
    preflight_all(configs)  # bad settings fail before any set is built or the database is created
    sets = corrupted_sets(clean, names, severities, datasets_dir, release=release, note=note)
    if on_plan is not None:
        on_plan(configs, sets)
    with ResultsDB(db) as rdb:
        out = train_missing(configs, rdb, checkpoint_root, jobs, note=note, executor=executor, force=force)
        out = evaluate_study(configs, rdb, sets, severities, checkpoint_root, note=note, out=out)
    return configs, sets, out


def file_sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def _clean_test_labels(clean: Path) -> np.ndarray:
    with open_file(clean) as f:
        return f.datasets["test/y"][()]


def evaluate_study(configs: list[RunConfig], db, sets: dict[str, Path], severities: list[int], checkpoint_root: Path,
                   note: Note = print, out: StudyOutcome | None = None) -> StudyOutcome:
    """Evaluate the selected weights of every ok run on clean test and every set × severity not yet recorded."""

    out = out or StudyOutcome()
    digests = {n: verify_for_training(p) for n, p in sets.items()}  # re-hashed against their checksums (cached)
    for c in configs:
        k = c.key()
        rows = db.runs(key=k)
        if not rows or rows[0]["status"] != "ok":
            out.not_ok.append((c.label(), rows[0]["status"] if rows else "missing"))
            continue
        ckpt = selected_weights(checkpoint_root, k)
        if not ckpt.is_file():
            out.not_ok.append((c.label(), "no saved weights"))
            continue
        wsha = file_sha256(ckpt)
        todo = [(CLEAN, 0)] if not db.has_evaluation(k, CLEAN, 0, c.data_sha256, wsha) else []
        todo += [(n, s) for n in sets for s in severities if not db.has_evaluation(k, n, s, digests[n], wsha)]
        out.already += (1 + len(sets) * len(severities)) - len(todo)
        if todo:
            n_new = evaluate_run(c, rows[0], ckpt, wsha, {n: (sets[n], digests[n]) for n in sets}, todo, db)
            out.evaluated += n_new
            note(f"{c.label()}: {n_new} evaluations recorded")
    return out


def evaluate_run(cfg: RunConfig, run: dict, ckpt: Path, wsha: str, sets: dict, todo: list, db) -> int:
    """Load the run's selected weights and evaluate them on each (corruption, severity) of `todo`."""

    device = resolve_device(cfg.device)
    data, meta = prepare(cfg, device, for_training=True)  # verified clean file, its train statistics, subset
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    if state.get("key") != run["key"]:
        raise UserError(f"{ckpt}: weights of run {str(state.get('key'))[:12]}…, not of {run['key'][:12]}…")
    nout = data.num_classes if data.task == "classification" else 1
    model = build_model(cfg.model, resolve_activation(cfg.activation), data.in_shape, nout)
    model.load_state_dict(state["state_dict"])
    model.to(device)
    extra = cfg.extra_dict()
    channels_last = device.type == "cuda" and data.images  # as in training (runner.execute_run)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    autocast = device.type == "cuda" and not extra.get("fp32", False)
    settings = TrainSettings(epochs=1, batch_size=1, optimizer=None, schedule=None, seed=cfg.seed, device=device,
                             autocast=autocast, channels_last=channels_last,
                             eval_batch=2048 if device.type == "cuda" else 1024)
    ident = {"code_version": code_version(), "device_type": device.type, "precision": precision(device.type, extra),
             "torch_version": torch_version(), "selected_epoch": state.get("epoch")}
    clean_y = _clean_test_labels(Path(cfg.data))
    base = {"run_key": run["key"], "weights_sha256": wsha, "model": cfg.model, "activation": cfg.activation,
            "seed": cfg.seed, "dataset": (run.get("data_info") or {}).get("dataset") or run.get("dataset"),
            "clean_file": Path(cfg.data).name, "code_version": ident["code_version"], "identity": ident}
    done = 0
    for name, sev in todo:
        t0 = time.perf_counter()
        if name == CLEAN:
            split, path, digest = data.test, Path(cfg.data), cfg.data_sha256
        else:
            path, digest = sets[name]
            x, y = read_severity(path, sev)
            if not np.array_equal(y.astype(np.int64), clean_y.astype(np.int64)):
                raise UserError(f"{path}: its labels at severity {sev} are not the clean test labels of {cfg.data}")
            if extra.get("subset"):  # the rows the run's clean test split used
                idx = subset_indices(y, int(extra["subset"]), data.task == "classification")
                x, y = x[idx], y[idx]
            split = SplitTensors(torch.from_numpy(np.ascontiguousarray(x)).to(device), torch.from_numpy(y.astype(np.int64)).to(device))
        if split is None:
            raise UserError(f"{cfg.data}: no test split to evaluate on")
        m = evaluate(model, data, split, settings)
        db.record_evaluation(dict(base, corruption=name, severity=int(sev), set_file=path.name, set_sha256=digest,
                                  n=len(split), acc=m.get("acc"), loss=m.get("loss"), top3=m.get("top3"),
                                  eval_s=time.perf_counter() - t0))
        done += 1
    return done
