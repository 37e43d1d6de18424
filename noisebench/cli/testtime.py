"""CLI: `noisebench robustness --protocol test-time` (harness/testtime/protocol.py does the work)."""

from __future__ import annotations

from pathlib import Path

import typer

from noisebench.errors import UserError


def run_testtime(*, data, suite, datasets_dir, activations, seeds, overrides, knobs, device, compile, jobs, db, force,
                 corruptions, severity, baseline, official, executor=None) -> None:
    """`executor(checkpoint_root)` gives the executor (default: this machine, `jobs` processes)."""
    from noisebench.generators.builds.cifar10c import release_names, resolve_names
    from noisebench.generators.builds.corrupt_params import parse_severities
    from noisebench.harness.activations.resolve import resolve_activation
    from noisebench.harness.report.data import run_setting
    from noisebench.harness.report.testtime import collect_testtime, summary_text
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.run.artifacts import checkpoint_dir_for
    from noisebench.harness.testtime.protocol import run_protocol, with_baseline
    from noisebench.safety import bounds

    if suite:
        raise UserError("--suite is for the train-time protocol; the test-time protocol takes the clean file as --data")
    files = list(data or [])
    if len(files) != 1:
        raise UserError("--protocol test-time takes exactly one --data: the clean file (e.g. datasets_cache/cifar10.h5)")
    bounds.check_seed_count(seeds)
    bounds.check_int(jobs, "--jobs", 1, bounds.MAX_JOBS)
    clean = files[0]
    sevs = parse_severities(severity)
    if not sevs:
        raise UserError("--severity is empty; give a comma list of 1..5")
    names = release_names(corruptions) if official else resolve_names(corruptions)
    resolve_activation(baseline)
    acts = with_baseline(activations, baseline)
    if acts != list(activations):
        typer.echo(f"baseline {baseline} added to the study (CE and mCE are normalised by it)")
    root = checkpoint_dir_for(db)

    def on_plan(configs, sets):
        typer.echo(f"test-time protocol: {len(configs)} clean runs ({len(acts)} activations × {seeds} seeds) on "
                   f"{Path(clean).name}, each evaluated on {len(sets)} corrupted test sets × severities "
                   f"{','.join(map(str, sevs))}; weights in {root}")

    configs, sets, out = run_protocol(clean, acts, list(range(seeds)), names, sevs, db, root, overrides, knobs, device,
                                      compile, datasets_dir, release=official, force=force, jobs=jobs,
                                      executor=executor(root) if executor is not None else None, note=typer.echo,
                                      on_plan=on_plan)
    with ResultsDB(db, readonly=True) as rdb:
        row = rdb.runs(key=configs[0].key())
        studies = collect_testtime(rdb, baseline, keys=[c.key() for c in configs], corruptions=names,
                                   severities=sevs, origin="release" if official else "ours")
        studies = [s for s in studies if not row or s.setting == run_setting(row[0])]
    for st in studies:
        typer.echo(summary_text(st))
    typer.echo(f"{out.trained} runs trained ({out.retrained} of them to save missing weights), {out.reused} reused "
               f"from {db}; {out.evaluated} evaluations recorded, {out.already} already there")
    for label, status in out.not_ok:
        typer.echo(f"not evaluated: {label} ({status})", err=True)
    for label, err in out.failures[:5]:
        typer.echo(f"failed: {label}: {err}", err=True)
