"""Report tables for models noisebench did not train (`noisebench evaluate`), beside trained ones.

One study per (dataset, clean file, set origin): its columns are every evaluated external model and
every trained (model, activation) of the test-time protocol on the same clean file and origin (its
seeds pooled as usual), plus, when asked, the RobustBench standard WRN-28-10's published numbers.
CE and mCE are normalised by `--reference` (a column's label); the statistics and tables are those of
the test-time protocol (harness/testtime/metrics.py, harness/report/testtime.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from noisebench.harness.report import reference_robustbench as rb
from noisebench.harness.report.data import SETTING_FIELDS
from noisebench.harness.report.output import sha6, slug
from noisebench.harness.report.testtime import ORIGIN_SHORT, ORIGINS, TTStudy, collect_testtime, origin_of, study_tables
from noisebench.harness.testtime.metrics import family_order, score_all
from noisebench.harness.testtime.protocol import CLEAN

EXTERNAL_SETTING = tuple((k, "evaluated" if k == "model" else "") for k in SETTING_FIELDS)


class ExtStudy(TTStudy):
    @property
    def title(self) -> str:
        where = self.clean_file or "no clean file"
        return f"{self.dataset} ({where}, {ORIGIN_SHORT[self.origin]}) · evaluated models beside trained ones"

    @property
    def tag(self) -> str:
        return f"evaluated-{slug(Path(self.clean_file or 'sets').stem)}-{self.origin}_h{sha6(self.activations)}"


def row_origin(e: dict) -> str:
    if e["corruption"] == CLEAN:
        return CLEAN
    return "sets" if int(e["severity"]) == 0 else origin_of(e["set_file"])


def external_labels(models: list[dict]) -> dict:
    """{key: label}: the model's name, with its key's start when two evaluated models share a name."""
    names = [m["name"] for m in models]
    return {m["key"]: m["name"] if names.count(m["name"]) == 1 else f"{m['name']} [{m['key'][:6]}]" for m in models}


def collect_external(db, reference: str | None = None, dataset: str | None = None,
                     model: str | None = None) -> list[ExtStudy]:
    models = [m for m in db.external_models() if (not dataset or m.get("dataset") == dataset)
              and (not model or m["name"] == model)]
    if not models:
        return []
    labels = external_labels(models)
    latest: dict = {}
    for e in db.evaluations(run_key=list(labels)):  # ordered by recorded_at: later rows win
        latest[(e["run_key"], e["corruption"], int(e["severity"]), row_origin(e))] = e
    studies: dict = {}
    for (key, c, s, org), e in latest.items():
        m = next(x for x in models if x["key"] == key)
        origins = [org] if org != CLEAN else sorted({o for (k, _, _, o) in latest if k == key and o != CLEAN}) or ["ours"]
        for o in origins:
            gk = (str(m.get("dataset")), m.get("clean_file") or "", o)
            st = studies.setdefault(gk, ExtStudy(gk[0], gk[1], o, EXTERNAL_SETTING, reference or ""))
            if e["acc"] is None:
                continue
            if c == CLEAN:
                st.clean.setdefault(labels[key], {})[0] = float(e["acc"])
                st.acc.setdefault(labels[key], {}).setdefault(0, {})
            else:
                st.acc.setdefault(labels[key], {}).setdefault(0, {})[(c, s)] = float(e["acc"])
                st.corruptions += [c] if c not in st.corruptions else []
                st.severities += [s] if s not in st.severities else []
    trained = collect_testtime(db, reference or "relu", dataset=dataset)
    out = []
    for st in studies.values():
        if not st.corruptions:
            continue
        for tt in trained:  # trained models of the same clean file and set origin, as columns
            if (tt.dataset, tt.clean_file, tt.origin) != (st.dataset, st.clean_file, st.origin):
                continue
            for act in tt.activations:
                lab = f"{dict(tt.setting)['model']}/{act} (trained)"
                if lab in st.acc:
                    lab = f"{lab[:-1]}, {tt.tag[-6:]})"
                st.acc[lab] = {k: dict(v) for k, v in tt.acc.get(act, {}).items()}
                st.clean[lab] = dict(tt.clean.get(act, {}))
        if reference == rb.NAME and st.origin in ("ours", "release"):
            st.acc[rb.NAME] = {0: {k: v for k, v in rb.cells().items() if k[0] in st.corruptions}}
            st.clean[rb.NAME] = {0: rb.CLEAN_ACC / 100}
        st.severities.sort()
        st.corruptions.sort(key=family_order)
        st.scores = score_all(st.acc, st.clean, st.corruptions, st.severities, st.baseline)
        out.append(st)
    return sorted(out, key=lambda t: (t.dataset, t.clean_file, t.origin))


def external_tables(studies: list[ExtStudy], start: int = 0) -> list:
    out = []
    for i, st in enumerate(studies):
        ts = study_tables(st, start + i)
        ref = st.baseline
        head = ["model"] + ts[0].header[1:]
        notes = [] if ref and ref in st.scores and st.scores[ref].complete_seeds else [
            "No complete --reference model here: CE, mCE and relative mCE are n/a (report --reference NAME, a column "
            f"of this table{', or ' + rb.NAME if st.origin != 'sets' else ''})."]
        if ref == rb.NAME:
            notes.append(f"{rb.NAME}: RobustBench's standard WideResNet-28-10 on the official CIFAR-10-C files "
                         f"({rb.CLEAN_ACC} % clean, {rb.MEAN_ACC} % mean over its 15 corruptions × 5 severities); "
                         "comparable with evaluations on the official files.")
        cap = (f"Models evaluated with `noisebench evaluate` (one evaluation each, n = 1) beside models trained by the "
               f"test-time protocol (mean ± sample std over seeds), on {len(st.corruptions)} corruptions × severities "
               f"{','.join(map(str, st.severities))} ({ORIGINS[st.origin]}). In %: clean test top-1; mean corruption "
               "accuracy (plain average over corruptions × severities) and its complement; mCE = mean over corruptions "
               f"of CE_c = Σ_s E_s,c / Σ_s E^ref_s,c and relative mCE, against the reference `{ref or 'none'}`.")
        out.append(replace(ts[0], caption=cap, header=head, notes=notes))
        acc_cap = ("Test top-1 (%) on each test set and severity: evaluated models (n = 1) and trained models' "
                   "val-selected weights (mean ± sample std over seeds); `mean`: the average over the severities.")
        out.append(replace(ts[1], caption=acc_cap))
        out += ts[2:]
    return out


def report_name(studies: list[ExtStudy]) -> str:
    """A report folder name for a database with evaluated models only."""
    return f"evaluated_{'-'.join(sorted({slug(s.dataset) for s in studies}))}_h{sha6([s.tag for s in studies])}"
