"""Summary statistics over seeds: mean ± std, 95% CI (Student t), Welch's t-test."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample std (ddof=1); 0 for n == 1
    ci_lo: float
    ci_hi: float

    def fmt(self, digits: int = 4) -> str:
        if self.n == 0:
            return "—"
        s = f"{self.mean:.{digits}g} ± {self.std:.2g}"
        return s

    def fmt_ci(self, digits: int = 4) -> str:
        if self.n < 2:
            return "n/a"
        return f"[{self.ci_lo:.{digits}g}, {self.ci_hi:.{digits}g}]"


def summarize(values, confidence: float = 0.95) -> Summary:
    """Mean, sample std and the t-distribution confidence interval of the mean (finite values only)."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return Summary(0, float("nan"), float("nan"), float("nan"), float("nan"))
    mean = float(v.mean())
    if n == 1:
        return Summary(1, mean, 0.0, float("nan"), float("nan"))
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def welch_p(a, b) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test; NaN if either side has < 2 values."""
    from scipy import stats

    a = [x for x in a if x is not None and math.isfinite(x)]
    b = [x for x in b if x is not None and math.isfinite(x)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    if np.std(a) == 0 and np.std(b) == 0:
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)
