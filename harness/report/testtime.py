"""Test-time report tables (CIFAR-10-C style), from the results database's `evaluations` table only.

One study per (dataset, clean file, set origin, training setting): ours (`make cifar10-c`) and the
converted official release are never pooled. Per study: clean accuracy, mean corruption accuracy,
unnormalised mean corruption error, mCE and relative mCE per activation (harness/testtime/metrics.py);
accuracy per corruption × severity; CE and relative CE per corruption. Accuracies and errors in %,
mean ± sample std over seeds (one seed: "n = 1"). Train-time tables never read evaluations.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from noisebench.corruptors.sets import set_label
from noisebench.harness.report.data import SETTING_FIELDS, run_setting
from noisebench.harness.report.output import setting_tag, slug
from noisebench.harness.report.stats import Summary, summarize
from noisebench.harness.report.tables import Table, table_markdown
from noisebench.harness.testtime.metrics import Scores, family_order, score_all
from noisebench.harness.testtime.protocol import CLEAN

ORIGINS = {"ours": "noisebench corruptions (make cifar10-c)", "release": "official CIFAR-10-C release files",
           "sets": "the test splits of other files (ψ, corrupted twins)"}
ORIGIN_SHORT = {"ours": "noisebench corrupted sets", "release": "official CIFAR-10-C files", "sets": "other test sets"}


def origin_of(set_file: str) -> str:
    return "release" if "-c-release-" in set_file else "ours"


@dataclass
class TTStudy:
    dataset: str
    clean_file: str
    origin: str
    setting: tuple
    baseline: str
    acc: dict = field(default_factory=dict)  # activation -> seed -> {(c, s): accuracy}
    clean: dict = field(default_factory=dict)  # activation -> seed -> clean accuracy
    corruptions: list = field(default_factory=list)
    severities: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)  # activation -> Scores

    @property
    def activations(self) -> list:
        acts = set(self.acc) | set(self.clean)
        return sorted(acts, key=lambda a: (a != self.baseline, a))

    @property
    def title(self) -> str:
        s = dict(self.setting)
        return (f"{self.dataset} ({self.clean_file}, {ORIGIN_SHORT[self.origin]}) · {s['model']}, {s['optimizer']} "
                f"lr={float(s['lr']):g} ({s['lr_policy']}), {s['epochs']} epochs")

    @property
    def tag(self) -> str:
        return f"{slug(Path(self.clean_file).stem)}-{self.origin}_{setting_tag(self.setting, self.activations)}"


def collect_testtime(db, baseline: str = "relu", dataset: str | None = None, model: str | None = None,
                     keys: list | None = None, corruptions: list | None = None, severities: list | None = None,
                     origin: str | None = None) -> list[TTStudy]:
    """Test-time studies from the evaluations of ok runs (the latest evaluation per run, corruption,
    severity and set origin); `keys`, `corruptions`, `severities`, `origin` restrict them (one study's console table)."""
    evs = db.evaluations(**({"run_key": list(keys)} if keys is not None else {}))
    evs = [e for e in evs if e["corruption"] == CLEAN or (
        (corruptions is None or e["corruption"] in corruptions) and (severities is None or int(e["severity"]) in severities)
        and (origin is None or origin_of(e["set_file"]) == origin))]
    if not evs:
        return []
    runs = {r["key"]: r for r in db.runs(key=sorted({e["run_key"] for e in evs}))}
    latest: dict = {}
    for e in evs:  # ordered by recorded_at: later rows win
        r = runs.get(e["run_key"])
        if r is None or r["status"] != "ok" or (dataset and r.get("dataset") != dataset) or (model and r["model"] != model):
            continue
        org = "clean" if e["corruption"] == CLEAN else origin_of(e["set_file"])
        latest[(e["run_key"], e["corruption"], int(e["severity"]), org)] = e
    studies: dict = {}
    for (key, c, s, org), e in latest.items():
        r = runs[key]
        origins = [org] if org != "clean" else sorted({o for (k, _, _, o) in latest if k == key and o != "clean"}) or ["ours"]
        for o in origins:
            gk = (str(r.get("dataset")), e["clean_file"], o, run_setting(r))
            st = studies.setdefault(gk, TTStudy(gk[0], gk[1], o, gk[3], baseline))
            seed, act = int(r["seed"]), r["activation"]
            if e["acc"] is None:
                continue
            if c == CLEAN:
                st.clean.setdefault(act, {})[seed] = float(e["acc"])
                st.acc.setdefault(act, {}).setdefault(seed, {})
            else:
                st.acc.setdefault(act, {}).setdefault(seed, {})[(c, s)] = float(e["acc"])
                if c not in st.corruptions:
                    st.corruptions.append(c)
                if s not in st.severities:
                    st.severities.append(s)
    out = []
    for st in studies.values():
        if not st.corruptions:
            continue
        st.severities.sort()
        st.corruptions.sort(key=family_order)
        st.scores = score_all(st.acc, st.clean, st.corruptions, st.severities, baseline)
        out.append(st)
    return sorted(out, key=lambda t: (t.dataset, t.clean_file, t.origin, str(t.setting)))


def pct(s: Summary, digits: int = 1) -> str:
    """'85.0 ± 0.4' in percent; one seed '85.0 (n = 1)'; none or undefined 'n/a'."""
    if s.n == 0 or not math.isfinite(s.mean):
        return "n/a"
    if s.n == 1:
        return f"{100 * s.mean:.{digits}f} (n = 1)"
    return f"{100 * s.mean:.{digits}f} ± {100 * s.std:.{digits}f}"


def _sum(values: dict) -> Summary:
    return summarize(values.values())


def study_tables(st: TTStudy, k: int = 0) -> list[Table]:
    acts = st.activations
    sc: dict[str, Scores] = st.scores
    key = f"tt{k}-{st.tag}"
    has_base = st.baseline in sc and sc[st.baseline].complete_seeds
    label = set_label(st.corruptions)
    cs = f"{label} × severities {','.join(map(str, st.severities))}"
    rows = []
    for a in acts:
        s = sc[a]
        rows.append([a, pct(_sum(s.clean)), pct(_sum(s.mca)), pct(_sum(s.mean_error)), pct(_sum(s.mce)),
                     pct(_sum(s.rel_mce)), f"{len(s.complete_seeds)}/{len(st.acc.get(a, {}))}"])
    notes = [] if has_base else [f"The baseline `{st.baseline}` has no complete seed here: CE, mCE and relative mCE "
                                 "are n/a (add it to the study or choose --baseline)."]
    out = [Table(f"{key}-summary", f"Test-time protocol: {st.title}",
                 f"Trained once on clean data (epoch selected on clean val), evaluated on {cs} "
                 f"({ORIGINS[st.origin]}). Per activation, in %: clean test top-1; mean corruption accuracy (plain "
                 "average over corruptions × severities, CIFAR-10-C style; `benchmark 15` names the 15 corruptions of the published CIFAR-10-C mean, any other set is not comparable with published numbers) and its complement, the unnormalised mean "
                 f"corruption error; mCE = mean over corruptions of CE_c = Σ_s E_s,c / Σ_s E^{st.baseline}_s,c; "
                 f"relative mCE with CE_c = Σ_s (E_s,c − E_clean) / Σ_s (E^{st.baseline}_s,c − E^{st.baseline}_clean). "
                 f"Baseline `{st.baseline}` (its seed-mean errors). Mean ± sample std over the complete seeds.",
                 ["activation", "clean acc", f"mean corruption acc ({label})", "mean corruption error (unnormalised)", "mCE",
                  "relative mCE", "complete seeds"], rows, notes)]
    head = ["corruption · severity"] + acts
    cells = []
    for c in st.corruptions:
        for s in st.severities:
            cells.append([f"{c} · {s}"] + [pct(_sum(sc[a].cell.get((c, s), {}))) for a in acts])
        cells.append([f"{c} · mean"] + [pct(summarize(
            [sum(sc[a].cell[(c, s)][k] for s in st.severities) / len(st.severities) for k in sc[a].complete_seeds]))
            for a in acts])
    out.append(Table(f"{key}-acc", f"Test-time accuracy per corruption × severity: {st.title}",
                     "Test top-1 (%) of the val-selected weights on each corrupted test set and severity; "
                     "mean ± sample std over seeds; `mean`: the average over the severities (complete seeds).",
                     head, cells))
    for what, attr in (("CE", "ce"), ("relative CE", "rel_ce")):
        body = [[c] + [pct(_sum(getattr(sc[a], attr).get(c, {}))) for a in acts] for c in st.corruptions]
        total = "mCE" if attr == "ce" else "relative mCE"
        body.append([total] + [pct(_sum(sc[a].mce if attr == "ce" else sc[a].rel_mce)) for a in acts])
        out.append(Table(f"{key}-{attr}", f"Test-time {what} per corruption (%, baseline {st.baseline} = 100): {st.title}",
                         f"{what}_c normalised by the baseline `{st.baseline}` (definitions in the first test-time "
                         "table); lower is better; n/a where the baseline's denominator is not positive.",
                         ["corruption"] + acts, body))
    return out


def build_testtime_tables(studies: list[TTStudy]) -> list[Table]:
    return [t for i, st in enumerate(studies) for t in study_tables(st, i)]


def testtime_markdown(tables: list[Table]) -> str:
    head = ["# Test-time protocol (CIFAR-10-C style)", "",
            "Models trained once on the clean file and evaluated on corrupted test sets (docs/PROTOCOL.md, "
            "“The test-time protocol”). These numbers never enter the train-time tables.", ""]
    return "\n".join(head + [table_markdown(t) for t in tables])


def write_testtime_csv(studies: list[TTStudy], out_dir: Path) -> list[Path]:
    p1, p2 = Path(out_dir) / "testtime_accuracy.csv", Path(out_dir) / "testtime_scores.csv"
    with open(p1, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "clean_file", "origin", *SETTING_FIELDS, "activation", "corruption", "severity",
                    "n", "mean_acc", "std_acc", "acc_by_seed"])
        for st in studies:
            sv = [v for _, v in st.setting]
            for a in st.activations:
                s = st.scores[a]
                cells = [(CLEAN, 0, s.clean)] + [(c, k, s.cell.get((c, k), {})) for c in st.corruptions for k in st.severities]
                for c, k, vals in cells:
                    m = _sum(vals)
                    w.writerow([st.dataset, st.clean_file, st.origin, *sv, a, c, k, m.n, m.mean, m.std,
                                json.dumps(vals, sort_keys=True)])
    with open(p2, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "clean_file", "origin", *SETTING_FIELDS, "baseline", "activation", "statistic",
                    "corruption", "n", "mean", "std", "by_seed"])
        for st in studies:
            sv = [v for _, v in st.setting]
            for a in st.activations:
                s = st.scores[a]
                stats = [("mean_corruption_acc", "", s.mca), ("mean_corruption_error", "", s.mean_error),
                         ("mCE", "", s.mce), ("relative_mCE", "", s.rel_mce)]
                stats += [("CE", c, s.ce.get(c, {})) for c in st.corruptions]
                stats += [("relative_CE", c, s.rel_ce.get(c, {})) for c in st.corruptions]
                for name, c, vals in stats:
                    m = _sum(vals)
                    w.writerow([st.dataset, st.clean_file, st.origin, *sv, st.baseline, a, name, c, m.n, m.mean, m.std,
                                json.dumps(vals, sort_keys=True)])
    return [p1, p2]


def summary_text(st: TTStudy) -> str:
    """The console table of `noisebench robustness --protocol test-time`."""
    t = study_tables(st)[0]
    widths = [max(len(h), *(len(r[i]) for r in t.rows)) for i, h in enumerate(t.header)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([t.title + " (all in %)", line(t.header), "  ".join("-" * w for w in widths)]
                     + [line(r) for r in t.rows] + t.notes) + "\n"
