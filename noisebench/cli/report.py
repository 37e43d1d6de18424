"""CLI: `report`, tables and figures from the results database (thin over harness/report_*.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app
from noisebench.cli.harness_options import DB_HELP, DEFAULT_DB
from noisebench.errors import UserError
from noisebench.safety.text import clean


@app.command(epilog="Examples: noisebench report    (writes results/reports/<study>/)\n\n"
             "noisebench report --db results/noisebench.db --out results/paper --baseline relu --force")
def report(
    db: Path = typer.Option(DEFAULT_DB, "--db", help=DB_HELP),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: results/reports/STUDY, named after "
                                       "the datasets, models, activations, epochs, LRs and LR policies in it)."),
    baseline: str = typer.Option("relu", help="Activation the p-values compare against."),
    dataset: Optional[str] = typer.Option(None, help="Only this dataset (e.g. synth, mnist, cifar10)."),
    model: Optional[str] = typer.Option(None, help="Only this model."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the figures (PNG, PDF, SVG)."),
    force: bool = typer.Option(False, "--force", help="Replace a report already in the output folder."),
    protocol: str = typer.Option("all", help="all (both protocols the database holds, in separate sections), "
                                 "train-time, or test-time (the CIFAR-10-C-style evaluations only)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="Models evaluated with `noisebench evaluate`: "
                                            "CE / mCE against this column (a model's name, MODEL/ACTIVATION (trained) "
                                            "or robustbench-standard)."),
):
    """Train-time tables as markdown, CSV and LaTeX (rows = data/setting, columns = activation; mean ± std over seeds,
    Δ with 95% t CIs, Welch p vs the baseline with Holm-adjusted p, null-run accounting) and figures as
    PNG + PDF + SVG (curves, Δ bars sorted by Δ, Δ vs corruption level). When the database holds test-time
    evaluations (`robustness --protocol test-time`), their tables (clean and mean corruption accuracy, CE,
    mCE, relative mCE, accuracy per corruption × severity) and figures follow in a section of their own, and
    models evaluated with `noisebench evaluate` get the same tables beside the trained ones (--reference for mCE).
    Refuses to replace an existing report without --force; writes atomically."""
    import time

    from noisebench import __version__
    from noisebench.harness.report import external as rex
    from noisebench.harness.report import testtime as rtt
    from noisebench.harness.report.latex import build_latex
    from noisebench.harness.report.output import REPORTS_DIR, Staging, check_target, study_name
    from noisebench.harness.report.plots import plot_curves, plot_delta_vs_level, plot_deltas
    from noisebench.harness.report.tables import build_markdown, build_tables, collect, write_csv
    from noisebench.harness.results.db import ResultsDB

    if protocol not in ("all", "train-time", "test-time"):
        raise UserError(f"--protocol must be all, train-time or test-time, got {protocol!r}")
    filters = {k: v for k, v in (("dataset", dataset), ("model", model)) if v}
    if out is not None:
        check_target(out, force)
    with ResultsDB(db, readonly=True) as rdb:
        rd = collect(rdb, baseline=baseline, **filters)
        tt = rtt.collect_testtime(rdb, baseline, **filters) if protocol != "train-time" else []
        ext = rex.collect_external(rdb, reference, **filters) if protocol != "train-time" else []
        if reference and not any(reference in x.scores for x in ext):
            raise UserError(f"--reference {reference!r} is not a column of the evaluated models' tables (their names, "
                            "MODEL/ACTIVATION (trained) or robustbench-standard)")
        if (not rd.groups and not ext) or (protocol == "test-time" and not tt and not ext):
            what = "test-time evaluations" if protocol == "test-time" else "runs"
            raise UserError(f"no {what} in {db}" + (f" matching {filters}" if filters else "") + "; run `noisebench robustness` first")
        if rd.groups and baseline not in rd.activations:
            typer.echo(clean(f"note: baseline {baseline!r} has no runs; p-values are n/a (use --baseline)"), err=True)
        study = (study_name(rd) if rd.groups else rex.report_name(ext)) + ("_test-time" if protocol == "test-time" else "")
        target = out if out is not None else REPORTS_DIR / study
        train_time = protocol != "test-time" and bool(rd.groups)
        tables = build_tables(rd) if train_time else []
        md = build_markdown(rd, tables) if train_time else ""
        tt_tables = rtt.build_testtime_tables(tt) + rex.external_tables(ext, start=len(tt))
        tt = tt + ext
        if tt_tables:
            md = (md + "\n" if md else "") + rtt.testtime_markdown(tt_tables)
        with Staging(target, force) as st:
            st.path("report.md").write_text(md)
            st.path("tables.tex").write_text(build_latex(tables + tt_tables))
            if train_time:
                write_csv(rd, st.dir)
            if tt:
                rtt.write_testtime_csv(tt, st.dir)
            if plots and train_time:
                plot_curves(rd, rdb, st.dir)
                plot_deltas(rd, st.dir)
                plot_delta_vs_level(rd, st.dir)
            if plots and tt:
                from noisebench.harness.report.testtime_plots import plot_testtime

                plot_testtime(tt, st.dir)
            written = st.commit({"study": study, "db": str(db), "baseline": baseline, "filters": filters,
                                 "activations": rd.activations, "noisebench_version": __version__,
                                 "protocols": (["train-time"] if train_time else []) + (["test-time"] if tt else []),
                                 "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    typer.echo(clean(md, keep_newlines=True))  # names in the tables come from the database
    figs = [p for p in written if p.suffix in (".png", ".pdf", ".svg")]
    typer.echo(clean(f"wrote {target}/: " + ", ".join(p.name for p in written if p not in figs)
                     + (f" and {len(figs) // 3} figures as PNG, PDF and SVG" if figs else "")))
