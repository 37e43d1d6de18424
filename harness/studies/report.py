"""A study's report: the published numbers beside ours (report_reported), the figures in the study's
layout (studies/figures), then the standard report (tables as markdown, LaTeX and CSV; curves with
std bands, Δ bars, Δ vs level), all over exactly the study's runs in the database.

The default folder results/studies/NAME belongs to the study: writing the report again replaces that
study's previous report there (it is rebuilt from the database); any other report is only replaced
with --force. Writes are atomic (report_output.Staging)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from noisebench import __version__
from noisebench.errors import UserError
from noisebench.harness.report.latex import build_latex
from noisebench.harness.report.output import MANIFEST, Staging, check_target
from noisebench.harness.report.plots import plot_curves, plot_delta_vs_level, plot_deltas
from noisebench.harness.report.reported import compare, reported_tables, write_reported_csv
from noisebench.harness.report.stats import CLIPPED_METHOD, MIN_SEEDS_FOR_TEST
from noisebench.harness.report.tables import build_tables, collect, table_markdown, write_csv
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.studies.figures import plot_layout

STUDIES_DIR = Path("results/studies")


class StudyRuns:
    """A read-only view of a ResultsDB restricted to a set of run keys (what report code reads)."""

    def __init__(self, db, keys):
        self.db, self.keys = db, set(keys)

    def runs(self, **filters) -> list[dict]:
        return [r for r in self.db.runs(**filters) if r["key"] in self.keys]

    def epochs(self, key: str) -> list[dict]:
        return self.db.epochs(key)


def study_tag(name: str) -> str:
    return f"study {name}"


def _replaceable(out: Path, name: str) -> bool:
    try:
        return json.loads((out / MANIFEST).read_text()).get("study") == study_tag(name)
    except (OSError, ValueError, AttributeError):
        return False


def check_out(out: Path, name: str, force: bool) -> bool:
    """Whether writing the study's report to `out` may replace what is there (refuses early otherwise)."""

    ok = force or _replaceable(out, name)
    check_target(out, ok)
    return ok


def write_report(preset, configs: list, db_path: Path, out: Path, force: bool = False, plots: bool = True,
                 baseline: str = "relu") -> tuple[str, list[Path], list]:
    """(markdown, written files, comparisons) of the study's report in `out`."""

    replace = check_out(out, preset.name, force)
    with ResultsDB(db_path, readonly=True) as rdb:
        view = StudyRuns(rdb, [c.key() for c in configs])
        runs = view.runs()
        if not runs:
            raise UserError(f"no runs of study {preset.name} in {db_path}; run `noisebench study {preset.name}` first")
        rd = collect(view, baseline=baseline)
        comps = compare(runs, preset.reported, preset.row_axis)
        rtables = reported_tables(comps, preset.reported)
        tables = build_tables(rd)
        done = len({r["key"] for r in runs if r["status"] in ("ok", "null")})
        md = "\n".join([
            f"# Study {preset.name}", "", preset.description, "", f"Source: {preset.source}.", "",
            f"{done} of {len(configs)} runs of the study are in `{db_path}`. Statistics: mean ± sample std over "
            f"seeds; 95% CI: {CLIPPED_METHOD}; a published number is tested against our CI only with "
            f"n ≥ {MIN_SEEDS_FOR_TEST} seeds (fewer: 'no power'). Figures: `layout_*` and `by_*` in the study's "
            f"layout ({preset.layout}), `curves_*` per epoch with ±1 std bands.", "",
        ] + ([table_markdown(t) for t in rtables] or ["No published numbers to compare with for this study.", ""])
            + [table_markdown(t) for t in tables])
        with Staging(out, replace) as st:
            st.path("report.md").write_text(md)
            st.path("tables.tex").write_text(build_latex(rtables + tables))
            write_csv(rd, st.dir)
            write_reported_csv(comps, st.dir)
            if plots:
                metric = preset.reported[0].ours if preset.reported else None
                plot_layout(runs, preset.row_axis, rd.activations, metric, comps, st.dir)
                plot_curves(rd, view, st.dir)
                plot_deltas(rd, st.dir)
                plot_delta_vs_level(rd, st.dir)
            written = st.commit({"study": study_tag(preset.name), "db": str(db_path), "baseline": baseline,
                                 "runs_planned": len(configs), "runs_done": done, "activations": rd.activations,
                                 "noisebench_version": __version__,
                                 "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return md, written, comps
