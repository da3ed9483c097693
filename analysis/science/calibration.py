"""Calibrated statistics of the latent cloud: cross-fitted, bootstrapped, with intervals.

The stats step measures the cloud once, in-sample. An in-sample figure can be biased:
the share of points lying farther from the centre than the origin, by a Mahalanobis
distance whose centre and covariance were fitted on those same points, is what a
*fresh* point of a Gaussian of the same covariance also gets. This module gives the
figures the claims ledger (:mod:`analysis.steps.claims`) rests on, each with an interval:

Cross-fitting (:func:`origin_crossfit`)
    The points are split at random into k folds. For each fold, centre and covariance
    are fitted on the other k - 1 folds; the distances of the held-out fold's points and
    of the origin are measured with them, and the origin is compared with the held-out
    points only. The pooled share of held-out points farther out than the origin is
    the cross-fitted share. Three metrics share one fit: the full space with the
    Ledoit-Wolf shrunk covariance (the estimator of ``sklearn.covariance.ledoit_wolf``,
    same axes as the empirical covariance, see :func:`analysis.steps.stats.ledoit_wolf_shrinkage`),
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

The intervals and Holm's adjustment are in :mod:`analysis.science.intervals`, the b with resolution
(:func:`fine_b_scan`) in :mod:`analysis.science.bscan`; both are re-exported here, where the steps
and the ledger find them (``cal.<name>``).

All functions are library code: they take arrays and raise ValueError on bad input.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg
from scipy import stats as sps
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from analysis.science.bscan import BOOT_QUANTILES, b_grid, fine_b_scan, w1_scaled  # noqa: F401 (re-exported)
from analysis.science.geometry import inverse, ledoit_wolf_shrinkage
from analysis.science.intervals import (binomial_interval, hierarchical_bootstrap, holm, mean_interval,  # noqa: F401
                                percentile_interval, ratio_interval, separated_ranks)


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

