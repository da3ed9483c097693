"""Intervals, ranks and multiple testing for the calibrated figures (:mod:`analysis.science.calibration`).

Percentile and exact binomial intervals of bootstrap draws and counts, the interval of a
ratio of two shares, and Holm's adjustment of a family of p-values.

Runs (:func:`hierarchical_bootstrap`)
    A figure measured in several runs (training seeds), each with its own bootstrap
    draws, gets a two-stage interval: runs resampled, then points.

Repetitions (:func:`mean_interval`, :func:`separated_ranks`)
    A figure measured R times (the generate step refits every generator on R random
    splits) is reported as the mean with its Student t interval; items are ranked only
    where their intervals separate, and the others share a rank.

All functions are library code: they take arrays and raise ValueError on bad input.
:mod:`analysis.science.calibration` re-exports them (its callers use ``cal.<name>``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``draws`` (NaNs ignored)."""
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if not d.size:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(d, [a, 1.0 - a])
    return float(lo), float(hi)


def binomial_interval(count: float, total: float, level: float) -> tuple[float, float]:
    """Clopper-Pearson interval of a share ``count / total`` (``scipy.stats.binomtest``).

    Non-integer counts (weighted) are rounded; ``total`` = 0 gives (0, 1).
    """
    k, n = int(round(count)), int(round(total))
    if n <= 0:
        return 0.0, 1.0
    ci = sps.binomtest(min(max(k, 0), n), n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def ratio_interval(x1: int, n1: int, x2: int, n2: int, level: float) -> tuple[float, float, float]:
    """Ratio of two shares (x1/n1) / (x2/n2) with its Katz log interval.

    ``scipy.stats.contingency.relative_risk`` gives the ratio and the interval. When a
    count is zero that interval has no finite bound; then the interval is computed with
    the Haldane-Anscombe correction (0.5 added to each count and to each total), so that a
    share of 0 still gets a finite upper (or lower) bound. The ratio itself stays x1/n1 over
    x2/n2 (0 or inf).
    """
    from scipy.stats.contingency import relative_risk

    x1, n1, x2, n2 = int(x1), int(n1), int(x2), int(n2)
    if x1 > 0 and x2 > 0:
        rr = relative_risk(x1, n1, x2, n2)
        ci = rr.confidence_interval(confidence_level=level)
        return float(rr.relative_risk), float(ci.low), float(ci.high)
    ratio = (x1 / n1) / (x2 / n2) if x2 > 0 else (math.inf if x1 > 0 else math.nan)
    a, b, c, d = x1 + 0.5, n1 + 0.5, x2 + 0.5, n2 + 0.5
    se = math.sqrt(1 / a - 1 / b + 1 / c - 1 / d)
    z = float(sps.norm.isf((1.0 - level) / 2.0))
    centre = math.log((a / b) / (c / d))
    return ratio, math.exp(centre - z * se), math.exp(centre + z * se)


def mean_interval(values, level: float, lower: float | None = None,
                  upper: float | None = None) -> tuple[float, float, float]:
    """Mean of repeated measurements with its Student t interval.

    ``mean ± t((1 + level) / 2, R - 1) · sd / sqrt(R)`` over the R values (sd with
    ddof = 1), clipped to [``lower``, ``upper``] (a metric's range, e.g. [0, 1] for a
    share). Identical values give the zero-width interval [mean, mean].

    Parameters
    ----------
    values : sequence of float, R >= 2 finite values
    level : float in (0, 1)
    lower, upper : float or None
        The metric's range (None: unbounded).

    Returns
    -------
    (mean, low, high)
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"an interval over repetitions needs at least 2 values, got {v.size}")
    if not np.all(np.isfinite(v)):
        raise ValueError("repeated measurements contain NaN or infinite values")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    mean = float(v.mean())
    half = float(sps.t.ppf((1.0 + level) / 2.0, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    low, high = mean - half, mean + half
    if lower is not None:
        low, mean = max(low, lower), max(mean, lower)
    if upper is not None:
        high, mean = min(high, upper), min(mean, upper)
    return mean, low, high


def hierarchical_bootstrap(draws, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Two-stage bootstrap of a figure measured in several runs: runs, then points.

    Each repetition draws R runs with replacement and, for each chosen run, one of its own
    bootstrap draws (a resample of its points), and averages them: the spread between the
    runs (training seeds) and the spread within each run both enter, so the interval
    widens when the runs disagree (Davison and Hinkley 1997, section 3.8).

    Parameters
    ----------
    draws : sequence of R arrays, each (B_r,) finite bootstrap draws of one run's figure
    reps : repetitions
    rng : numpy Generator

    Returns
    -------
    (reps,) float64: draws of the runs' mean figure
    """
    runs = [np.asarray(d, dtype=float)[np.isfinite(np.asarray(d, dtype=float))] for d in draws]
    if not runs or any(d.size == 0 for d in runs):
        raise ValueError("every run needs at least one finite bootstrap draw")
    R = len(runs)
    pick = rng.integers(0, R, size=(reps, R))
    out = np.zeros(reps)
    for r, d in enumerate(runs):
        chosen = pick == r
        k = int(chosen.sum())
        vals = np.zeros(pick.shape)
        vals[chosen] = d[rng.integers(0, d.size, size=k)]
        out += vals.sum(axis=1)
    return out / R


def separated_ranks(lows, highs) -> tuple[list[int], list[list[int]]]:
    """Ranks that only separated intervals resolve (higher is better), and the ties.

    The rank of item i is 1 + the number of items whose interval lies wholly above
    its own (their low end above its high end), so an item ranks below another only
    where the two intervals separate; items with equal intervals, or with none above
    them, share a rank. ``ties[i]`` lists the other items whose (closed) intervals
    overlap item i's.

    Parameters
    ----------
    lows, highs : sequences of float, the same length, low <= high

    Returns
    -------
    (ranks, ties)
    """
    lo, hi = np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)
    if lo.shape != hi.shape or lo.ndim != 1:
        raise ValueError("lows and highs must be 1-D sequences of the same length")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or np.any(lo > hi):
        raise ValueError("every interval needs finite ends with low <= high")
    ranks = [1 + int(np.sum(lo > hi[i])) for i in range(lo.size)]
    ties = [[j for j in range(lo.size) if j != i and lo[j] <= hi[i] and lo[i] <= hi[j]] for i in range(lo.size)]
    return ranks, ties



def holm(p) -> np.ndarray:
    """Holm's step-down adjustment of the p-values ``p`` (m,): in ascending order, adjusted
    p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)) (Holm 1979; family-wise error control)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(adj) if m else adj
    return out

