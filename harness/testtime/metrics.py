"""Test-time robustness scores (CIFAR-10-C / ImageNet-C style) from accuracies per corruption × severity.

Errors are E = 1 − top-1 accuracy. For an activation, per seed:

* mean corruption accuracy (mCA) = the plain average of the accuracy over every corruption c and
  severity s (the CIFAR-10-C convention: no normalisation); its complement is the unnormalised mean
  corruption error;
* corruption error CE_c = Σ_s E_{s,c} / Σ_s E^base_{s,c}, and mCE = the mean of CE_c over the corruptions
  (Hendrycks & Dietterich, ICLR 2019, who normalise by AlexNet; here by the baseline activation);
* relative CE_c = Σ_s (E_{s,c} − E_clean) / Σ_s (E^base_{s,c} − E^base_clean), relative mCE its mean
  over c (the same paper's definition).

The baseline's errors are its means over its seeds (one fixed reference, like AlexNet's numbers), so
the numerator varies by seed and the denominator does not: mean ± std over seeds of CE and mCE are
defined, and the baseline's own mCE is exactly 100 %. A ratio whose denominator is not positive (a
baseline no worse on corrupted than on clean data) is undefined (NaN, printed n/a). A seed counts only
when it has the clean accuracy and every (corruption, severity) of the study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from noisebench.harness.report.stats import Summary, summarize
from noisebench.registry import CORRUPTIONS

# The CIFAR-10-C / ImageNet-C families; corruptions outside them (plug-ins) go to "other".
FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"),
    "weather": ("snow", "frost", "fog", "brightness", "spatter"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate"),
}


def family_of(corruption: str) -> str:
    """The family of a corruption: its `family` registry metadata when it has one, else the table above."""

    if corruption in CORRUPTIONS:
        fam = CORRUPTIONS.get(corruption).meta.get("family")
        if fam:
            return str(fam)
    for fam, names in FAMILIES.items():
        if corruption in names:
            return fam
    return "other"


def family_order(corruption: str) -> tuple:
    """Sort key: the four families in their usual order, then any other family by name."""
    fam = family_of(corruption)
    known = list(FAMILIES)
    return (known.index(fam) if fam in known else len(known), fam, corruption)


def _nan() -> float:
    return float("nan")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 and math.isfinite(num) and math.isfinite(den) else _nan()


@dataclass
class Scores:
    """One activation's scores: per-seed values (seed -> value) of every statistic, and summaries."""

    activation: str
    clean: dict = field(default_factory=dict)  # seed -> clean accuracy
    cell: dict = field(default_factory=dict)  # (corruption, severity) -> {seed: accuracy}
    mca: dict = field(default_factory=dict)  # seed -> mean corruption accuracy
    ce: dict = field(default_factory=dict)  # corruption -> {seed: CE_c}
    rel_ce: dict = field(default_factory=dict)
    mce: dict = field(default_factory=dict)  # seed -> mCE
    rel_mce: dict = field(default_factory=dict)
    complete_seeds: list = field(default_factory=list)

    def summary(self, values: dict) -> Summary:
        return summarize(values.values())

    @property
    def mean_error(self) -> dict:
        return {s: 1.0 - v for s, v in self.mca.items()}


def baseline_errors(acc: dict, clean: dict, corruptions: list, severities: list) -> tuple[dict, float]:
    """{(c, s): mean error over the baseline's complete seeds}, mean clean error (NaN if none)."""
    seeds = complete_seeds(acc, clean, corruptions, severities)
    if not seeds:
        return {}, _nan()
    errs = {(c, s): sum(1 - acc[k][(c, s)] for k in seeds) / len(seeds) for c in corruptions for s in severities}
    return errs, sum(1 - clean[k] for k in seeds) / len(seeds)


def complete_seeds(acc: dict, clean: dict, corruptions: list, severities: list) -> list:
    """Seeds with a clean accuracy and every (corruption, severity) accuracy."""
    return sorted(k for k in acc if k in clean and all((c, s) in acc[k] for c in corruptions for s in severities))


def score(activation: str, acc: dict, clean: dict, corruptions: list, severities: list,
          base: tuple[dict, float] | None) -> Scores:
    """Scores of one activation. `acc`: seed -> {(c, s): accuracy}; `clean`: seed -> accuracy;
    `base`: baseline_errors(...) of the baseline activation (None: no baseline, CE undefined)."""
    sc = Scores(activation, clean=dict(clean))
    for k, cells in acc.items():
        for cs, v in cells.items():
            sc.cell.setdefault(cs, {})[k] = v
    sc.complete_seeds = complete_seeds(acc, clean, corruptions, severities)
    base_err, base_clean = base if base else ({}, _nan())
    for k in sc.complete_seeds:
        a = acc[k]
        sc.mca[k] = sum(a[(c, s)] for c in corruptions for s in severities) / (len(corruptions) * len(severities))
        e_clean = 1 - clean[k]
        ces, rels = [], []
        for c in corruptions:
            if base_err:
                ce = _ratio(sum(1 - a[(c, s)] for s in severities), sum(base_err[(c, s)] for s in severities))
                rel = _ratio(sum(1 - a[(c, s)] - e_clean for s in severities),
                             sum(base_err[(c, s)] - base_clean for s in severities))
            else:
                ce = rel = _nan()
            sc.ce.setdefault(c, {})[k] = ce
            sc.rel_ce.setdefault(c, {})[k] = rel
            ces.append(ce)
            rels.append(rel)
        sc.mce[k] = sum(ces) / len(ces) if ces else _nan()
        sc.rel_mce[k] = sum(rels) / len(rels) if rels else _nan()
    return sc


def score_all(acc: dict, clean: dict, corruptions: list, severities: list, baseline: str) -> dict:
    """{activation: Scores}; `acc`: activation -> seed -> {(c, s): accuracy}, `clean`: activation -> seed -> accuracy."""
    base = None
    if baseline in acc:
        base = baseline_errors(acc[baseline], clean.get(baseline, {}), corruptions, severities)
        if not base[0]:
            base = None
    return {a: score(a, acc[a], clean.get(a, {}), corruptions, severities, base) for a in acc}
