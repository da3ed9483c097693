"""Calibrated statistics of the latent cloud: cross-fitted, bootstrapped, with intervals.

The stats step measures the cloud once, in-sample. An in-sample figure can be biased:
the share of points lying farther from the centre than the origin, by a Mahalanobis
distance whose centre and covariance were fitted on those same points, is what a
*fresh* point of a Gaussian of the same covariance also gets. This module gives the
figures the claims ledger (:mod:`analysis.claims`) rests on, each with an interval:

Cross-fitting (:func:`origin_crossfit`)
    The points are split at random into k folds. For each fold, centre and covariance
    are fitted on the other k - 1 folds; the distances of the held-out fold's points and
    of the origin are measured with them, and the origin is compared with the held-out
    points only. The pooled share of held-out points farther out than the origin is
    the cross-fitted share. Three metrics share one fit: the full space with the
    Ledoit-Wolf shrunk covariance (the estimator of ``sklearn.covariance.ledoit_wolf``,
    same axes as the empirical covariance, see :func:`analysis.stats.ledoit_wolf_shrinkage`),
    and the principal subspaces of the first m90 and m99 axes (those holding 90 % and
    99 % of the variance of the whole cloud) with the empirical variances.

Bootstrap
    Each repetition draws multinomial weights (the points resampled with replacement)
    and a new fold split, and refits every fold. The fits need only each fold's weighted
    sums (:func:`fold_moments`), so one repetition costs one pass over the points, not
    k - 1. Intervals are percentile intervals of the repetitions; for a share they are
    widened to the exact binomial (Clopper-Pearson) interval of the held-out count when
    that is wider, so that a share of 0 gets an upper bound (about 3 / n), not [0, 0].
    The same repetitions give the intervals of the shape figures (:func:`shape_figures`):
    the share of off-centre components, the share of axes holding 90 % of the variance,
    the share of |centre|^2 in the first k axes, the mean absolute correlation.

Null of the same shape
    The cross-fitted shares of a Gaussian sample with the data's n, mean and covariance
    (:func:`gaussian_like`), measured the same way: what the origin's position would be
    if the cloud were exactly Gaussian.

b with resolution (:func:`fine_b_scan`)
    The Wasserstein distance between real radii |z| and uniform radii b |u_1| on a
    geometric grid around b0 = median |z| / sqrt(N/3) (the radius-matching b of
    :func:`analysis.generators.uniform_b_from_radii`), consecutive values a relative
    step apart. :func:`w1_scaled` computes it exactly for all b at once (the two
    quantile functions are step functions; it agrees with
    ``scipy.stats.wasserstein_distance`` and :func:`analysis.geometry.b_scan`). The
    bootstrap resamples the real and the uniform radii (each repetition compares their
    2,000 quantiles, :data:`BOOT_QUANTILES`); the best b gets a percentile interval, and the *flat range* is the b whose distance is within ``flat_sd``
    bootstrap standard deviations of the minimum (W1 is convex in b, so it is one interval).

Runs (:func:`hierarchical_bootstrap`)
    A figure measured in several runs (training seeds), each with its own bootstrap
    draws, gets a two-stage interval: runs resampled, then points.

Repetitions (:func:`mean_interval`, :func:`separated_ranks`)
    A figure measured R times (the generate step refits every generator on R random
    splits) is reported as the mean with its Student t interval; items are ranked only
    where their intervals separate, and the others share a rank.

All functions are library code: they take arrays and raise ValueError on bad input.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg
from scipy import stats as sps
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from analysis.geometry import inverse, ledoit_wolf_shrinkage, overlap_range

# --------------------------------------------------------------------------- intervals


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


# --------------------------------------------------------------------------- cross-fitting


def fold_ids(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A random split of n points into k folds of (nearly) equal size: fold of each point, (n,)."""
    if not 2 <= k <= n:
        raise ValueError(f"need 2 <= k <= n folds, got k = {k} for n = {n}")
    ids = np.arange(n) % k
    rng.shuffle(ids)
    return ids


def fold_moments(x: np.ndarray, folds: np.ndarray, k: int, w: np.ndarray) -> dict:
    """Weighted sums of each fold: ``W`` (k,), ``s`` (k, N), ``S`` (k, N, N) = sum w x x^T.

    Parameters
    ----------
    x : (n, N) float64 array (for conditioning, centre it first: the figures here are
        invariant under a common shift as long as the origin is shifted with it)
    folds : (n,) fold of each point
    w : (n,) non-negative weights (1 for the data, multinomial counts for a bootstrap)
    """
    n, N = x.shape
    W = np.zeros(k)
    s = np.zeros((k, N))
    S = np.zeros((k, N, N))
    for f in range(k):
        m = folds == f
        xf, wf = x[m], w[m]
        W[f] = wf.sum()
        s[f] = wf @ xf
        S[f] = (xf * wf[:, None]).T @ xf
    return {"W": W, "s": s, "S": S}


def _eigh(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, clipped at 0) and eigenvectors (columns) of a symmetric matrix (LAPACK evd)."""
    w, v = linalg.eigh(cov, driver="evd", check_finite=False)
    return np.clip(w[::-1], 0.0, None), v[:, ::-1]


def _fit(W: float, s: np.ndarray, S: np.ndarray, sum_r4: float) -> dict:
    """Mean, eigen-decomposition and Ledoit-Wolf shrinkage of weighted points, from their sums.

    ``W`` = sum of weights, ``s`` = sum w x, ``S`` = sum w x x^T, ``sum_r4`` = sum w |x - mean|^4.
    """
    N = len(s)
    mean = s / W
    cov = S / W - np.outer(mean, mean)
    cov = (cov + cov.T) / 2.0
    shrink = ledoit_wolf_shrinkage(cov, sum_r4, W)
    eig, vec = _eigh(cov)
    eig_lw = (1.0 - shrink) * eig + shrink * float(eig.sum()) / N
    return {"mean": mean, "cov": cov, "eig": eig, "vec": vec, "eig_lw": eig_lw, "shrinkage": shrink}


def crossfit_shares(x: np.ndarray, origin: np.ndarray, folds: np.ndarray, k: int, w: np.ndarray,
                    axes: tuple[int, ...]) -> dict:
    """Cross-fitted shares of held-out points farther from the centre than ``origin``.

    Parameters
    ----------
    x : (n, N) float64 array
    origin : (N,) the point compared (the origin, in x's coordinates)
    folds, k, w : as :func:`fold_moments`
    axes : numbers of principal axes of the subspace metrics (e.g. (m90, m99))

    Returns
    -------
    dict with
        ``share`` (2 + len(axes),): the pooled weighted share for the full Ledoit-Wolf
        metric, then each subspace, then the Euclidean distance from the centre;
        ``count``, ``total``: its numerator and denominator; ``origin_distance``
        (k, 2 + len(axes)): the origin's distance in each fold's fit;
        ``totals``: the summed moments {W, s, S} of all folds (for :func:`shape_figures`).
    """
    n, N = x.shape
    mom = fold_moments(x, folds, k, w)
    W, s, S = mom["W"], mom["s"], mom["S"]
    sq = np.einsum("ij,ij->i", x, x)
    Wt, st, St = W.sum(), s.sum(axis=0), S.sum(axis=0)
    M = 2 + len(axes)
    count = np.zeros(M)
    d0 = np.zeros((k, M))
    means = (st - s) / (Wt - W)[:, None]                      # (k, N): each training part's mean
    r2 = sq[:, None] - 2.0 * (x @ means.T) + np.einsum("ij,ij->i", means, means)[None, :]  # (n, k)
    for f in range(k):
        train = folds != f
        sum_r4 = float(w[train] @ (r2[train, f] ** 2))
        fit = _fit(Wt - W[f], st - s[f], St - S[f], sum_r4)
        weights = np.stack([inverse(fit["eig_lw"])] +
                           [inverse(fit["eig"], np.arange(N) < a) for a in axes] + [np.ones(N)])
        held = ~train
        y = (x[held] - fit["mean"]) @ fit["vec"]
        d = np.sqrt((y * y) @ weights.T)                      # (n_f, M)
        y0 = (origin - fit["mean"]) @ fit["vec"]
        d0[f] = np.sqrt(weights @ (y0 * y0))
        count += w[held] @ (d > d0[f])
    total = W.sum()
    return {"share": count / total, "count": count, "total": total, "origin_distance": d0,
            "totals": {"W": Wt, "s": st, "S": St}}


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


def shape_figures(totals: dict, k_sigma: float, centre_k: int, origin: np.ndarray, effect: float = 0.5,
                  alpha: float = 0.05) -> dict:
    """Shape figures of the (weighted) cloud from its summed moments.

    Returns ``off_centre`` (share of components whose mean lies more than ``effect`` of
    their standard deviation from the origin and differs from it significantly: Holm over
    the N components' t-tests at ``alpha``), ``significant_share`` (significant at any
    size), ``median_abs_mean_over_sd``, ``off_centre_k_sigma`` (share more than ``k_sigma``
    standard errors out, unadjusted), ``axes_90`` (share of the N axes needed for 90 % of
    the variance), ``centre_subspace`` (share of |centre - origin|^2 in the span of the
    first ``centre_k`` principal axes), ``mean_abs_corr`` (mean |r| over pairs),
    ``std_ratio`` (largest over smallest standard deviation; inf if a component is
    constant) and ``std_q90_q10`` (90th over 10th percentile of the standard deviations).
    """
    W, s, S = totals["W"], totals["s"], totals["S"]
    N = len(s)
    mean = s / W
    cov = S / W - np.outer(mean, mean)
    cov = (cov + cov.T) / 2.0
    var = np.clip(np.diag(cov), 0.0, None)
    se = np.sqrt(var / max(W - 1.0, 1.0))
    offset = mean - origin
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, np.abs(offset) / se, np.where(offset == 0, 0.0, np.inf))
        d = np.where(var > 0, np.abs(offset) / np.sqrt(var), np.where(offset == 0, 0.0, np.inf))
    p = 2.0 * sps.t.sf(z, max(W - 1.0, 1.0))
    significant = holm(p) < alpha
    eig, vec = _eigh(cov)
    cum = np.cumsum(eig) / eig.sum() if eig.sum() > 0 else np.ones(N)
    c2 = (offset @ vec) ** 2
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(np.outer(sd, sd) > 0, cov / np.outer(sd, sd), 0.0)
    iu = np.triu_indices(N, 1)
    q10, q90 = np.quantile(sd, [0.1, 0.9])
    return {"off_centre": float(np.mean(significant & (d > effect))), "significant_share": float(np.mean(significant)),
            "median_abs_mean_over_sd": float(np.median(d)), "off_centre_k_sigma": float(np.mean(z > k_sigma)),
            "std_ratio": float(sd.max() / sd.min()) if sd.min() > 0 else math.inf,
            "std_q90_q10": float(q90 / q10) if q10 > 0 else math.inf,
            "axes_90": float((np.searchsorted(cum, 0.9 - 1e-12) + 1) / N),
            "centre_subspace": float(c2[:centre_k].sum() / c2.sum()) if c2.sum() > 0 else 0.0,
            "mean_abs_corr": float(np.mean(np.abs(corr[iu]))) if len(iu[0]) else 0.0}


def origin_crossfit(x: np.ndarray, origin: np.ndarray, k: int, axes: tuple[int, ...], bootstrap: int,
                    rng: np.random.Generator, k_sigma: float = 3.0, centre_k: int = 5, effect: float = 0.5,
                    alpha: float = 0.05, n_jobs: int = 1) -> dict:
    """Cross-fitted origin shares and shape figures, with bootstrap repetitions.

    Parameters
    ----------
    x : (n, N) float64 array (centred or not; ``origin`` in the same coordinates)
    origin : (N,)
    k : folds
    axes : subspace sizes (see :func:`crossfit_shares`)
    bootstrap : repetitions (each: multinomial weights, a new fold split, all folds refitted)
    rng : numpy Generator
    k_sigma, centre_k, effect, alpha : see :func:`shape_figures`
    n_jobs : repetitions run at once, in threads with one BLAS thread each; each repetition
        draws from its own generator seeded from ``rng``, so the result does not depend on it

    Returns
    -------
    dict with ``share``, ``count``, ``total``, ``origin_distance`` (the data, one seeded
    split), ``shape`` (:func:`shape_figures` of the data), ``boot_share`` (B, M) and
    ``boot_shape`` {figure: (B,)}.
    """
    n = len(x)
    ones = np.ones(n)
    fig_args = (k_sigma, centre_k, origin, effect, alpha)
    with threadpool_limits(1, user_api="blas"):  # N x N decompositions: one BLAS thread is faster
        point = crossfit_shares(x, origin, fold_ids(n, k, rng), k, ones, axes)
        shape = shape_figures(point["totals"], *fig_args)
    boot_share = np.empty((bootstrap, 2 + len(axes)))
    boot_shape = {key: np.empty(bootstrap) for key in shape}
    seeds = rng.integers(0, 2**63 - 1, size=bootstrap)
    blocks = np.array_split(np.arange(bootstrap), max(1, min(n_jobs, bootstrap)))
    with threadpool_limits(1, user_api="blas"):  # N x N decompositions: one BLAS thread each is faster
        Parallel(n_jobs=len(blocks), prefer="threads")(
            delayed(_origin_boot)(x, origin, k, axes, seeds, reps, fig_args, boot_share, boot_shape)
            for reps in blocks)
    return {**{key: point[key] for key in ("share", "count", "total", "origin_distance")},
            "shape": shape, "boot_share": boot_share, "boot_shape": boot_shape}


def _origin_boot(x, origin, k, axes, seeds, reps, fig_args, boot_share, boot_shape) -> None:
    """Bootstrap repetitions ``reps`` (each with its own generator), written into the shared arrays."""
    n = len(x)
    for b in reps:
        rng = np.random.default_rng(seeds[b])
        w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(float)
        res = crossfit_shares(x, origin, fold_ids(n, k, rng), k, w, axes)
        boot_share[b] = res["share"]
        for key, v in shape_figures(res["totals"], *fig_args).items():
            boot_shape[key][b] = v


def ledoit_wolf_fit(x: np.ndarray) -> dict:
    """Centre, principal axes and Ledoit-Wolf principal variances of points x (n, N), n >= 2.

    Returns ``mean`` (N,), ``vec`` (N, N, columns = axes, descending variance), ``eig``
    (empirical principal variances), ``eig_lw`` (the shrunk ones) and ``shrinkage``: the
    fit :func:`crossfit_shares` makes on each fold, here on all points.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need points of shape (n >= 2, N), got {x.shape}")
    shift = x.mean(axis=0)
    xc = x - shift
    r2 = np.einsum("ij,ij->i", xc, xc)
    fit = _fit(float(len(xc)), xc.sum(axis=0), xc.T @ xc, float(r2 @ r2))
    fit["mean"] = fit["mean"] + shift
    return fit


def fit_distances(fit: dict, z: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf Mahalanobis distances (m,) of points z (m, N) from the centre of ``fit``
    (:func:`ledoit_wolf_fit`)."""
    y = (np.asarray(z, dtype=np.float64) - fit["mean"]) @ fit["vec"]
    return np.sqrt((y * y) @ inverse(fit["eig_lw"]))


def crossfit_distances(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each point's Ledoit-Wolf Mahalanobis distance from the centre, cross-fitted.

    The points are split at random into k folds (:func:`fold_ids`); a point's distance is
    measured with the centre and the shrunk covariance fitted on the other k - 1 folds, so
    that it is a fresh point for the fit, like any other point the fit is applied to (an
    in-sample distance is biased towards the centre). Returns (n,) float64.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    x = x - x.mean(axis=0)  # conditioning: distances do not change under a common shift
    folds = fold_ids(n, k, rng)
    mom = fold_moments(x, folds, k, np.ones(n))
    W, s, S = mom["W"], mom["s"], mom["S"]
    Wt, st, St = W.sum(), s.sum(axis=0), S.sum(axis=0)
    out = np.empty(n)
    for f in range(k):
        train, held = folds != f, folds == f
        mean = (st - s[f]) / (Wt - W[f])
        r2 = np.einsum("ij,ij->i", x[train] - mean, x[train] - mean)
        fit = _fit(Wt - W[f], st - s[f], St - S[f], float(r2 @ r2))
        out[held] = fit_distances(fit, x[held])
    return out


def gaussian_like(x: np.ndarray, rng: np.random.Generator, m: int | None = None) -> np.ndarray:
    """``m`` (default n) points of the Gaussian with x's mean and (maximum-likelihood) covariance."""
    n, N = x.shape
    mean = x.mean(axis=0)
    cov = np.cov(x, rowvar=False, bias=True)
    w, v = np.linalg.eigh((cov + cov.T) / 2.0)
    factor = v * np.sqrt(np.clip(w, 0.0, None))
    return mean + rng.standard_normal((m or n, N)) @ factor.T


# --------------------------------------------------------------------------- b with resolution


def b_grid(b0: float, step: float, span: float) -> np.ndarray:
    """Geometric grid from b0 / span to b0 * span with consecutive ratio at most 1 + step."""
    if not (b0 > 0 and step > 0 and span > 1):
        raise ValueError(f"need b0 > 0, step > 0, span > 1; got {b0}, {step}, {span}")
    count = int(math.ceil(2.0 * math.log(span) / math.log1p(step))) + 1
    return b0 * np.exp(np.linspace(-math.log(span), math.log(span), count))


def _quantile_steps(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Widths and indices of the common refinement of the steps of two empirical quantile functions."""
    p = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    left = np.concatenate([[0.0], p[:-1]])
    mid = (left + p) / 2.0
    return p - left, np.minimum((mid * n).astype(np.int64), n - 1), np.minimum((mid * m).astype(np.int64), m - 1)


def w1_scaled(real_sorted: np.ndarray, unit_sorted: np.ndarray, grid: np.ndarray,
              steps: tuple | None = None) -> np.ndarray:
    """Wasserstein-1 distance between the empirical distributions of ``real`` and ``b * unit``, each b.

    Exact: both quantile functions are step functions, so W1 = sum over the common steps
    of width x |Q_real - b Q_unit| (``scipy.stats.wasserstein_distance`` gives the same).

    Parameters
    ----------
    real_sorted : (n,) ascending
    unit_sorted : (m,) ascending
    grid : (G,) b values
    steps : the :func:`_quantile_steps` of (n, m), to reuse across calls

    Returns
    -------
    (G,) float64
    """
    width, ir, iu = steps or _quantile_steps(len(real_sorted), len(unit_sorted))
    qr, qu = real_sorted[ir], unit_sorted[iu]
    out = np.empty(len(grid))
    for i0 in range(0, len(grid), 32):
        g = np.asarray(grid[i0:i0 + 32], dtype=float)[:, None]
        out[i0:i0 + 32] = np.abs(qr[None, :] - g * qu[None, :]) @ width
    return out


def _thin(r: np.ndarray, m: int) -> np.ndarray:
    """r (sorted) as its m quantiles at (i + 1/2) / m when it has more than m values (as stats.b_scan)."""
    return np.quantile(r, (np.arange(m) + 0.5) / m) if len(r) > m else r


BOOT_QUANTILES = 2000  # quantiles of each radius sample in a bootstrap repetition of the b-scan


def fine_b_scan(real: np.ndarray, unit: np.ndarray, grid: np.ndarray, bootstrap: int, flat_sd: float,
                level: float, rng: np.random.Generator, overlap_q: float = 0.05) -> dict:
    """Best b on a fine grid, with a bootstrap interval and the flat range.

    Parameters
    ----------
    real : (n,) radii |z| of the real points
    unit : (m,) radii of uniform points in [-1, 1]^N (b = 1)
    grid : (G,) b values (:func:`b_grid`)
    bootstrap : repetitions (real and uniform radii resampled)
    flat_sd : width of the flat range in bootstrap standard deviations of the minimum
    level : interval level
    rng : numpy Generator
    overlap_q : the overlap range compares the central (1 - 2 overlap_q) radius ranges

    Returns
    -------
    dict with ``w1`` (G,), ``best``, ``w1_best``, ``best_index``, ``best_at_edge``,
    ``interval`` [lo, hi] of the best b, ``boot_best`` (B,), ``w1_sd`` (bootstrap
    standard deviation of the minimal distance), ``flat`` [lo, hi], ``flat_index``
    [i, j] (grid positions), ``boot_overlap`` (B, 2): the overlap range
    (:func:`analysis.geometry.overlap_range`) of each repetition's radii.
    """
    m = len(unit)
    u = np.sort(np.asarray(unit, dtype=float))
    r = np.sort(np.asarray(real, dtype=float))
    rt = _thin(r, m)
    steps = _quantile_steps(len(rt), m)
    w = w1_scaled(rt, u, grid, steps)
    ib = int(np.argmin(w))
    boot_best, boot_min, boot_overlap = np.empty(bootstrap), np.empty(bootstrap), np.empty((bootstrap, 2))
    q = min(BOOT_QUANTILES, m)
    bsteps = _quantile_steps(min(len(r), q), q)
    for b in range(bootstrap):
        rs, us = np.sort(rng.choice(r, len(r))), np.sort(rng.choice(u, m))
        rb, ub = _thin(rs, q), _thin(us, q)
        wb = w1_scaled(rb, ub, grid, bsteps)
        j = int(np.argmin(wb))
        boot_best[b], boot_min[b] = grid[j], wb[j]
        boot_overlap[b] = overlap_range(rs, us, overlap_q)
    sd = float(np.std(boot_min, ddof=1))
    inside = np.flatnonzero(w <= w[ib] + flat_sd * sd)
    lo, hi = percentile_interval(boot_best, level)
    return {"w1": w, "best": float(grid[ib]), "w1_best": float(w[ib]), "best_index": ib,
            "best_at_edge": bool(ib in (0, len(grid) - 1)), "interval": [lo, hi], "boot_best": boot_best,
            "w1_sd": sd, "flat": [float(grid[inside[0]]), float(grid[inside[-1]])],
            "flat_index": [int(inside[0]), int(inside[-1])], "boot_overlap": boot_overlap}
