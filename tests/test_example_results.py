"""The committed example output (docs/results/synth-robustness/) is complete, linked from the README,
at the preset's own settings, small, and says where it disagrees with the source study."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "docs" / "results" / "synth-robustness"


def test_example_report_is_complete_and_linked():
    from noisebench.harness.studies.plan import plan
    from noisebench.harness.studies.preset import load_preset

    assert "docs/results/synth-robustness/README.md" in (ROOT / "README.md").read_text()
    manifest = json.loads((EX / "report.json").read_text())
    n = len(plan(load_preset("synth-robustness"), ROOT / "no-such-folder"))  # the preset's own settings
    assert manifest["study"] == "study synth-robustness" and manifest["runs_done"] == manifest["runs_planned"] == n
    assert all((EX / f).is_file() for f in manifest["files"])
    assert {p.suffix for p in EX.iterdir()} <= {".md", ".json", ".csv", ".tex", ".png", ".pdf", ".svg"}  # no .h5, no DB
    assert sum(p.stat().st_size for p in EX.iterdir()) < 2 << 20
    assert f"{n} of {n} runs of the study" in (EX / "report.md").read_text()
    page = (EX / "README.md").read_text()
    assert "noisebench study synth-robustness" in page and "--out docs/results/synth-robustness" in page
    assert all(w in page for w in ("machine", "nproc", "versions", "2026-"))
    assert "Softsign: contradicted" in page
    for link in [x.split(")")[0] for x in page.split("](")[1:]]:
        assert (EX / link).is_file(), link
