"""``nb.evaluate``: score any trained classifier on clean and corrupted test sets, from Python — the
engine of ``noisebench evaluate`` (harness/testtime/evaluate.py)::

    import noisebench as nb
    res = nb.evaluate(model, data="datasets_cache/cifar10.h5", corruptions="benchmark")
    print(res.table())

``model`` is an ``nn.Module`` (inputs in [0, 1] unless ``normalize``, ``transform`` or its
``preprocessing`` attribute say otherwise), a registered model name (with ``weights`` and ``activation``;
normalised with the clean file's train statistics, as the harness trains it) or ``"FILE.py:FUNCTION"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from noisebench.errors import UserError

__all__ = ["Evaluation", "evaluate"]


@dataclass
class Evaluation:
    """The rows of one evaluation (one per set × severity, clean first) and its summary statistics."""

    name: str
    key: str
    rows: list
    clean_acc: float | None = None
    mean_corruption_acc: float | None = None  # plain mean over the benchmark corruptions × severities evaluated
    corruptions: list = field(default_factory=list)  # those the mean counts
    severities: list = field(default_factory=list)
    reference: str | None = None
    ce: dict = field(default_factory=dict)  # corruption -> CE_c against the reference
    mce: float | None = None
    relative_mce: float | None = None

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def acc(self, name: str, severity: int = 0) -> float | None:
        """The top-1 accuracy of one set at one severity (clean: ``acc("clean")``)."""
        for r in self.rows:
            if r["set"] == name and int(r["severity"]) == int(severity):
                return r["acc"]
        return None

    def table(self) -> str:
        """The rows and the summary as plain text (accuracies in %)."""
        lines = [f"{self.name}: top-1 accuracy (%)", f"{'set':<24} {'severity':>8} {'images':>7} {'acc':>7}"]
        lines += [f"{r['set']:<24} {r['severity']:>8} {r['n']:>7} {_pct(r['acc']):>7}" for r in self.rows]
        if self.mean_corruption_acc is not None:
            lines.append(f"mean corruption accuracy: {_pct(self.mean_corruption_acc)} % over {len(self.corruptions)} "
                         f"benchmark corruptions × severities {','.join(map(str, self.severities))}")
        if self.mce is not None:
            lines.append(f"mCE vs {self.reference}: {_pct(self.mce)} %  (relative mCE {_pct(self.relative_mce)} %)")
        return "\n".join(lines)


def _pct(v) -> str:
    import math

    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.2f}"


def evaluate(model, data: str | Path | None = None, corruptions: str | list | None = None,
             transform: Callable | None = None, *, severity: list[int] | None = None, datasets: list | tuple = (),
             release: bool = False, datasets_dir: str | Path | None = None, normalize: tuple | None = None,
             weights: str | Path | None = None, activation: str = "relu", name: str | None = None,
             reference: str | Evaluation | None = None, db: str | Path | None = None, device: str = "auto",
             precision: str = "auto", batch_size: int | None = None, force: bool = False,
             quiet: bool = False) -> Evaluation:
    """Evaluate ``model`` on the clean test split of ``data``, its corrupted sets (``corruptions``:
    "benchmark", "extra", "all" or a list; ``severity`` 1..5, default all) and any ``datasets``.
    With ``db`` the rows are recorded in that results database (rerun: only what is missing). An
    ``nn.Module`` is moved to ``device`` and left in eval mode."""
    import torch.nn as nn

    from noisebench import progress
    from noisebench.harness.testtime import external_model as em
    from noisebench.harness.testtime.evaluate import ModelUnderTest, dataset_of, run_evaluation
    from noisebench.harness.testtime.sets import plan_sets, probe, train_statistics

    mode = progress.choose(quiet)
    from noisebench.harness.run.checks import resolve_device
    from noisebench.harness.testtime.evaluate import resolve_precision

    resolve_precision(precision, resolve_device(device))  # bad settings fail before any file is read
    if batch_size is not None and not 1 <= int(batch_size) <= 1 << 16:
        raise UserError(f"--batch-size must be in 1..65536, got {batch_size}")
    if data is None and not datasets:
        raise UserError("nothing to evaluate on: give --data CLEAN (with --corruptions) and/or --datasets FILE ...")
    nc, in_shape = probe(Path(data if data is not None else list(datasets)[0]))  # the model is checked before any set is built
    prep = em.check_preprocessing({"mean": normalize[0], "std": normalize[1]}, "--normalize") if normalize else None
    wfile = None
    if isinstance(model, nn.Module):
        if weights is not None:
            state, wsha = em.load_state_dict(weights)
            em.fit_state_dict(model, state, f"--weights {weights}")
            wfile = Path(weights).name
        else:
            wsha = None
        msha, src = em.module_hashes(model)
        wsha = wsha or msha
        declared = getattr(model, "preprocessing", None)
        prep = prep or (em.check_preprocessing(declared, type(model).__name__) if declared is not None else None)
        ident = {"model_kind": "module", "model": f"{type(model).__module__}.{type(model).__qualname__}",
                 "activation": None, "source_sha256": src}
        label = name or type(model).__name__
    elif isinstance(model, (str, Path)) and em.split_factory_spec(str(model)):
        path, fn = em.split_factory_spec(str(model))
        model_obj, src, declared = em.factory_model(path, fn)
        if weights is not None:
            state, wsha = em.load_state_dict(weights)
            em.fit_state_dict(model_obj, state, f"--weights {weights}")
            wfile = Path(weights).name
        else:
            wsha = em.module_hashes(model_obj)[0]
        prep = prep or declared
        ident = {"model_kind": "factory", "model": f"{path.name}:{fn}", "activation": None, "source_sha256": src}
        label, model = name or f"{path.stem}:{fn}", model_obj
    elif isinstance(model, str):
        if weights is None:
            raise UserError(f"--model {model}: a registered model needs --weights FILE (its saved state dict)")
        model_obj, src = em.registered_model(model, activation, in_shape, nc)
        state, wsha = em.load_state_dict(weights)
        em.fit_state_dict(model_obj, state, f"--weights {weights}")
        wfile = Path(weights).name
        if prep is None and transform is None:
            if data is None:
                raise UserError(f"--model {model}: a registered model is normalised with the training statistics of "
                                "the clean file; give --data CLEAN or --normalize MEAN STD")
            prep = train_statistics(Path(data))
        ident = {"model_kind": "registered", "model": model, "activation": activation, "source_sha256": src}
        label, model = name or f"{model}/{activation}", model_obj
    else:
        raise UserError(f"model must be an nn.Module, a registered model name or FILE.py:FUNCTION, not "
                        f"{type(model).__name__}")
    ident.update(weights_sha256=wsha, weights_file=wfile, transform=em.transform_hash(transform),
                 preprocessing={k: v for k, v in (prep or {}).items() if k in ("mean", "std")} or None)
    mut = ModelUnderTest(model, label, ident, prep, transform)
    sets = plan_sets(data, corruptions, severity, datasets, datasets_dir, release,
                     note=lambda m: progress.say(m, mode))
    clean_file = Path(data).name if data is not None else ""
    kwargs = dict(num_classes=nc, dataset=dataset_of(sets), clean_file=clean_file, device=device,
                  precision=precision, batch_size=batch_size, force=force, mode=mode)
    if db is not None:
        from noisebench.harness.results.db import ResultsDB

        with ResultsDB(db) as rdb:
            ref = _check_reference(_reference(reference, rdb), sets)
            key, rows = run_evaluation(mut, sets, db=rdb, **kwargs)
    else:
        ref = _check_reference(_reference(reference, None), sets)
        key, rows = run_evaluation(mut, sets, **kwargs)
    return summarize(label, key, rows, ref)


def _check_reference(ref, sets):
    """Refuse, before anything is evaluated, a reference without every benchmark corruption × severity planned."""
    from noisebench.corruptors.sets import BENCHMARK

    if ref is None:
        return None
    planned = {(s.name, s.severity) for s in sets if s.origin in ("ours", "release") and s.name in BENCHMARK}
    lack = sorted(planned - set(ref[1]))
    if lack or ref[2] is None:
        what = f"{lack[0][0]} at severity {lack[0][1]}" if lack else "a clean accuracy"
        raise UserError(f"--reference {ref[0]}: has no {what}; CE / mCE need every evaluated benchmark corruption × "
                        "severity and the clean accuracy")
    return ref


def _reference(reference, rdb) -> tuple[str, dict, float] | None:
    """(name, {(c, s): accuracy}, clean accuracy) of the CE / mCE reference, or None."""
    from noisebench.harness.report import reference_robustbench as rb

    if reference is None:
        return None
    if isinstance(reference, Evaluation):
        return (reference.name, {(r["set"], int(r["severity"])): r["acc"] for r in reference.rows if r["severity"]},
                reference.clean_acc)
    if str(reference) == rb.NAME:
        return rb.NAME, rb.cells(), rb.CLEAN_ACC / 100
    found = rdb.external_models(name=str(reference)) if rdb is not None else []
    if not found:
        raise UserError(f"--reference {reference}: not {rb.NAME} nor a model evaluated in the database")
    evs = rdb.evaluations(run_key=found[-1]["key"])
    cells = {(e["corruption"], int(e["severity"])): e["acc"] for e in evs if e["acc"] is not None}
    return str(reference), {k: v for k, v in cells.items() if k[1]}, cells.get(("clean", 0))


def summarize(label: str, key: str, rows: list, ref) -> Evaluation:
    """Clean accuracy, mean corruption accuracy over the benchmark corruptions and CE / mCE against `ref`."""
    from noisebench.corruptors.sets import BENCHMARK
    from noisebench.harness.testtime.metrics import baseline_errors, score

    ev = Evaluation(label, key, rows)
    ev.clean_acc = next((r["acc"] for r in rows if r["origin"] == "clean"), None)
    corrupted = [r for r in rows if r["origin"] in ("ours", "release")]
    if not corrupted:
        return ev
    origin = corrupted[0]["origin"]
    cells = {(r["set"], int(r["severity"])): r["acc"] for r in corrupted if r["origin"] == origin}
    ev.severities = sorted({s for _, s in cells})
    ev.corruptions = [c for c in BENCHMARK if all((c, s) in cells for s in ev.severities)]
    if not ev.corruptions:
        return ev
    clean = {0: ev.clean_acc} if ev.clean_acc is not None else {}
    base = None
    if ref is not None:
        ev.reference = ref[0]
        ref_acc, ref_clean = ref[1], ref[2]
        if all((c, s) in ref_acc for c in ev.corruptions for s in ev.severities) and ref_clean is not None:
            base = baseline_errors({0: ref_acc}, {0: ref_clean}, ev.corruptions, ev.severities)
        else:
            raise UserError(f"reference {ref[0]} lacks some of the evaluated corruptions × severities (or its clean "
                            "accuracy); CE / mCE need them all")
    if not clean:  # mean corruption accuracy needs no clean accuracy
        ev.mean_corruption_acc = sum(cells[(c, s)] for c in ev.corruptions for s in ev.severities) / (
            len(ev.corruptions) * len(ev.severities))
        return ev
    sc = score(label, {0: cells}, clean, ev.corruptions, ev.severities, base)
    ev.mean_corruption_acc = sc.mca.get(0)
    if base is not None:
        ev.ce = {c: v.get(0) for c, v in sc.ce.items()}
        ev.mce, ev.relative_mce = sc.mce.get(0), sc.rel_mce.get(0)
    return ev
