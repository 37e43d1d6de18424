"""Summary statistics over seeds: mean ± std, 95% CI (Student t), Welch's t-test, Holm's step-down
correction for comparing several activations against one baseline.

A metric with a bounded range (an accuracy in [0, 1], a difference of accuracies in [-1, 1]) gets its
t interval clipped to that range (`summarize(values, bounds=(0, 1))`): the mean of values in the range
lies in it, so an end past the range only says the interval is wide; `Summary.clipped` records it.
An interval from fewer than `MIN_SEEDS_FOR_TEST` values has no power to tell a published number
from ours (with 2 seeds, t(0.975, 1) = 12.7): reports say so instead of "inside".

Undefined quantities are NaN, never 0: a CI or a test needs at least two finite values per group,
and Welch's test is undefined when both groups have zero spread (0/0). Report code prints NaN as "n/a".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_SEEDS_FOR_TEST = 3
CI_METHOD = "Student t interval of the mean over seeds"
CLIPPED_METHOD = CI_METHOD + ", clipped to the metric's range ([0, 1] for accuracies)"


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample std (ddof=1); NaN for n == 1 (undefined, shown as "n = 1")
    ci_lo: float
    ci_hi: float
    clipped: bool = False  # an end of the t interval lay past the metric's range and was clipped to it

    def fmt(self, digits: int = 4) -> str:
        """'mean ± std'; one value prints as 'value (n = 1)' (no spread is known); none as '—'."""
        if self.n == 0:
            return "—"
        if self.n == 1:
            return f"{self.mean:.{digits}g} (n = 1)"
        return f"{self.mean:.{digits}g} ± {self.std:.2g}"

    def fmt_ci(self, digits: int = 4) -> str:
        if self.n < 2:
            return "n/a"
        return f"[{self.ci_lo:.{digits}g}, {self.ci_hi:.{digits}g}]"


def _finite(values) -> list[float]:
    return [float(x) for x in values if x is not None and math.isfinite(float(x))]


def summarize(values, confidence: float = 0.95, bounds: tuple | None = None) -> Summary:
    """Mean, sample std and the t-distribution confidence interval of the mean (finite values only):
    mean ± t(1 − α/2, n − 1) · s / √n, clipped to `bounds` (lo, hi) when the metric has a range."""

    v = np.asarray(_finite(values), dtype=float)
    n = len(v)
    if n == 0:
        return Summary(0, float("nan"), float("nan"), float("nan"), float("nan"))
    mean = float(v.mean())
    if n == 1:
        return Summary(1, mean, float("nan"), float("nan"), float("nan"))
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if bounds is None:
        return Summary(n, mean, std, lo, hi)
    c_lo, c_hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Summary(n, mean, std, c_lo, c_hi, clipped=(c_lo, c_hi) != (lo, hi))


def metric_bounds(metric: str | None, delta: bool = False) -> tuple | None:
    """The range of a metric: accuracies [0, 1] (their differences [-1, 1]); losses are unbounded above."""
    if metric and metric.endswith("acc"):
        return (-1.0, 1.0) if delta else (0.0, 1.0)
    return None


def welch_p(a, b) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test.

    NaN (undefined) if either group has fewer than 2 finite values or both groups have zero
    spread, up to rounding (the statistic is 0/0 or ±∞ with zero degrees of freedom)."""

    a, b = _finite(a), _finite(b)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    if _no_spread(a) and _no_spread(b):
        return float("nan")
    with warnings.catch_warnings():  # scipy warns when one group is constant; the test is still defined
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return p if math.isfinite(p) else float("nan")


def _no_spread(x: list[float]) -> bool:
    """All values equal up to rounding (e.g. 0.9 − 0.7 vs 0.91 − 0.71 as seed deltas)."""
    return float(np.ptp(x)) <= 1e-12 * max(1.0, float(np.max(np.abs(x))))


def holm(pvalues) -> list[float]:
    """Holm's step-down adjusted p-values (the `multipletests(method="holm")` of statsmodels).

    With the m defined p-values sorted ascending, p(1) ≤ … ≤ p(m):
    adj(i) = max over j ≤ i of min(1, (m − j + 1) · p(j)), returned in the input order.
    NaN entries (undefined tests) are left out of the family and stay NaN.
    """
    p = [float(x) if x is not None else float("nan") for x in pvalues]
    idx = sorted((i for i, x in enumerate(p) if math.isfinite(x)), key=lambda i: p[i])
    m = len(idx)
    out = [float("nan")] * len(p)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out
