"""A study preset with `protocol = "test-time"`: the clean runs of its grid are trained once (weights
kept), evaluated on the clean file's corrupted test sets (built when missing, as `noisebench robustness
--protocol test-time` does), and reported as corruption accuracy, CE, mCE and relative mCE against the
preset's baseline activation (harness/testtime/protocol.py, harness/report/testtime.py)."""

from __future__ import annotations

import time
from pathlib import Path

from noisebench import __version__
from noisebench.errors import UserError
from noisebench.generators.builds.cifar10c import resolve_names
from noisebench.harness.report.output import Staging
from noisebench.harness.report.tables import table_markdown as _md
from noisebench.harness.report.testtime import build_testtime_tables, collect_testtime, write_testtime_csv
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.run.artifacts import checkpoint_dir_for
from noisebench.harness.studies.report import check_out, study_tag
from noisebench.harness.testtime.protocol import corrupted_sets, evaluate_study, train_missing


def run_testtime_study(preset, configs: list, data_dir: Path, db: Path, out: Path, jobs: int = 1, force: bool = False,
                       note=print) -> tuple[Path, object]:
    """Train, evaluate and report; returns (report.md path, the StudyOutcome)."""
    cleans = sorted({c.data for c in configs})
    if len(cleans) != 1 or any(c.role != "clean" for c in configs):
        raise UserError(f"study {preset.name}: a test-time study trains on one clean file; its [[grid]] lists "
                        f"{', '.join(Path(c).name for c in cleans)}")
    acts = {c.activation for c in configs}
    if preset.baseline not in acts:
        raise UserError(f"study {preset.name}: the baseline {preset.baseline!r} (CE and mCE are normalised by it) "
                        "is not among the study's activations")
    replace = check_out(out, preset.name, force)
    names = resolve_names(preset.corruptions)
    sevs = list(preset.severities)
    sets = corrupted_sets(Path(cleans[0]), names, sevs, data_dir, note=note)
    root = checkpoint_dir_for(db)
    with ResultsDB(db) as rdb:
        res = train_missing(configs, rdb, root, jobs, note=note)
        res = evaluate_study(configs, rdb, sets, sevs, root, note=note, out=res)
        studies = collect_testtime(rdb, preset.baseline, keys=[c.key() for c in configs], corruptions=names,
                                   severities=sevs, origin="ours")
    tables = build_testtime_tables(studies)
    md = "\n".join([f"# Study {preset.name}", "", preset.description, "", f"Source: {preset.source}.", "",
                    f"Test-time protocol: {len(configs)} clean runs on {Path(cleans[0]).name}, each evaluated on "
                    f"{len(sets)} corrupted test sets at severities {','.join(map(str, sevs))}; CE and mCE are "
                    f"normalised by {preset.baseline}.", "",
                    "No published numbers to compare with for this study.", ""] + [_md(t) for t in tables])
    with Staging(out, replace) as st:
        st.path("report.md").write_text(md)
        write_testtime_csv(studies, st.dir)
        st.commit({"study": study_tag(preset.name), "db": str(db), "baseline": preset.baseline,
                   "runs_planned": len(configs), "protocol": "test-time", "noisebench_version": __version__,
                   "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return out / "report.md", res
