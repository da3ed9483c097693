"""Geometry of a point cloud: pure functions on arrays, no files and no config.

Moments (centre, covariance, radii), per-component distributions, correlations,
principal axes, Mahalanobis distances (empirical, Ledoit-Wolf, PCA subspace), radii of
uniform points and the b-scan that matches them to real radii, nearest neighbours. The
``stats`` step (:mod:`analysis.steps.stats`) measures a latent cloud with them; the
generators and metrics share :func:`moments`.

Every function takes the points as an (n, N) float array (a ``np.memmap`` is fine) and
works over chunks of rows (:data:`CHUNK_ELEMENTS` elements each), so extra memory stays
far below the size of the input. Bad arguments raise ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np

#: Elements per chunk (rows x N) processed at once: 2**21 float32 = 8 MB.
CHUNK_ELEMENTS = 1 << 21
AUTO_GRID = (0.05, 1.5, 60)  # start, stop (x the data's scale, see auto_b_grid), count
NN_REFERENCE = 50_000
NN_QUERIES = 1_000


def chunk_rows(N: int) -> int:
    """Rows per chunk for N components (about :data:`CHUNK_ELEMENTS` elements)."""
    return max(1, CHUNK_ELEMENTS // max(1, N))


def _chunks(z: np.ndarray):
    """Yield (start, float64 copy of the chunk) over the rows of z."""
    rows = chunk_rows(z.shape[1])
    for s in range(0, z.shape[0], rows):
        yield s, np.array(z[s:s + rows], dtype=np.float64)  # a copy: callers modify it


def moments(z: np.ndarray) -> dict:
    """Centre, covariance and radii in two chunked passes (no copy of z).

    Parameters
    ----------
    z : (n, N) float array

    Returns
    -------
    dict with
        ``mean``, ``min``, ``max`` (N,) float64; ``cov`` (N, N) float64 (divisor n);
        ``radius`` (n,) |z|; ``radius_centred`` (n,) |z - mean|; ``sum_r4`` float,
        the sum of |z - mean|^4 (for the Ledoit-Wolf shrinkage).
    """
    n, N = z.shape
    total, lo, hi = np.zeros(N), np.full(N, np.inf), np.full(N, -np.inf)
    radius = np.empty(n)
    for s, c in _chunks(z):
        total += c.sum(axis=0)
        np.minimum(lo, c.min(axis=0), out=lo)
        np.maximum(hi, c.max(axis=0), out=hi)
        radius[s:s + len(c)] = np.linalg.norm(c, axis=1)
    mean = total / n
    cov = np.zeros((N, N))
    radius_centred = np.empty(n)
    for s, c in _chunks(z):
        c -= mean
        cov += c.T @ c
        radius_centred[s:s + len(c)] = np.linalg.norm(c, axis=1)
    cov /= n
    cov = (cov + cov.T) / 2
    return {"mean": mean, "min": lo, "max": hi, "cov": cov, "radius": radius,
            "radius_centred": radius_centred, "sum_r4": float(np.sum(radius_centred ** 4))}


def component_distributions(z: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int, levels) -> dict:
    """Per-component quantiles and histograms (chunked over columns).

    Parameters
    ----------
    z : (n, N) float array
    lo, hi : (N,) arrays
        Per-component min and max (histogram ranges).
    bins : int
    levels : sequence of Q floats in [0, 1]

    Returns
    -------
    dict with ``quantiles`` (N, Q), ``hist_counts`` (N, bins) int64,
    ``hist_edges`` (N, bins + 1) float64.
    """
    n, N = z.shape
    step = max(1, CHUNK_ELEMENTS // n)
    q = np.empty((N, len(levels)))
    counts = np.empty((N, bins), np.int64)
    edges = np.empty((N, bins + 1))
    for c0 in range(0, N, step):
        block = np.array(z[:, c0:c0 + step], dtype=np.float64).T
        q[c0:c0 + len(block)] = np.quantile(block, levels, axis=1).T
        for i, col in enumerate(block):
            counts[c0 + i], edges[c0 + i] = np.histogram(col, bins, range=(lo[c0 + i], hi[c0 + i]))
    return {"quantiles": q, "hist_counts": counts, "hist_edges": edges}


def correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrix from a covariance; constant components get 0 (diagonal 1).

    Parameters
    ----------
    cov : (N, N) array

    Returns
    -------
    (N, N) float64 array
    """
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(np.outer(sd, sd) > 0, cov / np.outer(sd, sd), 0.0)
    corr = np.clip(corr, -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def pca(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a covariance: principal variances and axes.

    Parameters
    ----------
    cov : (N, N) symmetric array

    Returns
    -------
    eigenvalues : (N,) float64, descending, negatives from round-off set to 0
    axes : (N, N) float64, row k = unit axis k; sign fixed so that its
        largest-magnitude entry is positive (reproducible).
    """
    w, v = np.linalg.eigh(cov)
    w, axes = np.clip(w[::-1], 0.0, None), v[:, ::-1].T.copy()
    big = np.abs(axes).argmax(axis=1)
    axes *= np.where(axes[np.arange(len(axes)), big] < 0, -1.0, 1.0)[:, None]
    return w, axes


def numerical_rank(eig: np.ndarray) -> int:
    """Principal axes along which the cloud really spreads.

    An axis counts if its variance exceeds ``(N * eps32)^2`` times the largest one
    (its spread exceeds N float32 round-off units of the widest axis): latents are
    float32, so thinner directions are round-off, not data.

    Parameters
    ----------
    eig : (N,) principal variances, descending (:func:`pca`)
    """
    if not eig.size or eig[0] <= 0:
        return 0
    tol = eig[0] * (eig.size * np.finfo(np.float32).eps) ** 2
    return int(np.count_nonzero(eig > tol))


def ledoit_wolf_shrinkage(cov: np.ndarray, sum_r4: float, n: int) -> float:
    """scikit-learn's Ledoit-Wolf shrinkage coefficient from chunk-accumulated moments.

    Same formula as ``sklearn.covariance.ledoit_wolf_shrinkage(X)``, written in terms
    of ``cov = X_c^T X_c / n`` and ``sum_r4 = sum_i |x_i - mean|^4`` so that X need not
    be held in memory (``sum(X2^T X2) = sum_i |x_i|^4``); the tests check it against
    scikit-learn. The shrunk covariance ``(1 - s) cov + s (trace(cov) / N) I``
    (``sklearn.covariance.shrunk_covariance``) has the principal axes of cov and
    variances ``(1 - s) eig + s trace(cov) / N``.

    Parameters
    ----------
    cov : (N, N) array, empirical covariance with divisor n
    sum_r4 : float
    n : int

    Returns
    -------
    float in [0, 1]
    """
    p = cov.shape[0]
    if p == 1:
        return 0.0
    trace = float(np.trace(cov))
    mu = trace / p
    delta_ = float(np.sum(cov ** 2))
    beta = (sum_r4 / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * trace + p * mu ** 2) / p
    beta = min(beta, delta)
    return 0.0 if beta == 0 else float(beta / delta)


def mahalanobis(z: np.ndarray, mean: np.ndarray, axes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mahalanobis distances from ``mean`` for covariances sharing the principal axes ``axes``.

    With coordinates ``y = (z - mean) @ axes.T`` along the axes, metric m gives
    ``d_m = sqrt(sum_k weights[m, k] * y_k^2)``: weights = 1 / principal variance, and 0
    leaves an axis out (a PCA subspace, or an axis of zero variance). The empirical, the
    Ledoit-Wolf (same axes, see :func:`ledoit_wolf_shrinkage`) and the PCA-subspace
    metrics are all of this form, so one chunked pass gives all of them.

    Parameters
    ----------
    z : (n, N) float array
    mean : (N,) array
    axes : (N, N) array, row k = principal axis k (:func:`pca`)
    weights : (M, N) array

    Returns
    -------
    (n, M) float64 array
    """
    weights = np.atleast_2d(weights)
    out = np.empty((z.shape[0], len(weights)))
    for s, c in _chunks(z):
        y = (c - mean) @ axes.T
        out[s:s + len(c)] = np.sqrt((y * y) @ weights.T)
    return out


def inverse(variances: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Weights for :func:`mahalanobis`: 1 / variance, 0 where variance <= 0 or not kept.

    Parameters
    ----------
    variances : (N,) array of principal variances
    keep : (N,) bool array, optional

    Returns
    -------
    (N,) float64 array
    """
    v = np.asarray(variances, dtype=float)
    ok = v > (v.max(initial=0.0) * 1e-15)
    if keep is not None:
        ok &= keep
    return np.divide(1.0, v, out=np.zeros_like(v), where=ok)


def uniform_radius_closed_form(N: int, b: float) -> tuple[float, float]:
    """Mean b*sqrt(N/3) and spread b/sqrt(15) of |u| for u uniform in [-b, b]^N (large N)."""
    return b * math.sqrt(N / 3.0), b / math.sqrt(15.0)


def radius_matching_b(radius: np.ndarray, N: int) -> float:
    """b = median(|z|) / sqrt(N/3): the b whose uniform radii, about b·sqrt(N/3), equal the
    median real radius (the closed-form start of the b-scan)."""
    return float(np.median(radius) / math.sqrt(N / 3.0))


def radius_summary(r: np.ndarray) -> dict:
    """``mean``, ``std``, ``min``, ``q05``, ``median``, ``q95``, ``max`` of (n,) radii."""
    q = np.quantile(r, [0.0, 0.05, 0.5, 0.95, 1.0])
    return {"mean": float(np.mean(r)), "std": float(np.std(r)), "min": float(q[0]),
            "q05": float(q[1]), "median": float(q[2]), "q95": float(q[3]), "max": float(q[4])}


def auto_b_grid(q01: np.ndarray, q99: np.ndarray) -> np.ndarray:
    """60 b values evenly spaced over 0.05..1.5 x the data's scale.

    The scale is the largest |1st or 99th percentile| of any component.

    Parameters
    ----------
    q01, q99 : (N,) arrays, per-component 1st and 99th percentiles

    Returns
    -------
    (60,) float64 array (all > 0; a zero scale falls back to 1)
    """
    scale = float(max(np.abs(q01).max(), np.abs(q99).max())) or 1.0
    start, stop, count = AUTO_GRID
    return np.linspace(start * scale, stop * scale, count)


def b_scan(real: np.ndarray, unit: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Wasserstein distance between real radii and uniform radii ``b * unit`` for each b.

    ``scipy.stats.wasserstein_distance`` on the real radii and ``b * unit``; if there are
    more real radii than unit ones (n > m), the real ones enter as their m quantiles at
    p = (i + 1/2) / m, which keeps the scan fast for large n and changes the distance by
    less than the spacing of those quantiles.

    Parameters
    ----------
    real : (n,) radii of real points
    unit : (m,) radii of uniform points in [-1, 1]^N
    grid : (G,) b values

    Returns
    -------
    (G,) float64 array
    """
    m = len(unit)
    if len(real) > m:
        real = np.quantile(real, (np.arange(m) + 0.5) / m)
    from scipy import stats as sps  # here, not at the top: the article's charts import this module

    return np.array([sps.wasserstein_distance(real, b * unit) for b in grid])


def overlap_range(real: np.ndarray, unit: np.ndarray, q: float = 0.05) -> tuple[float, float]:
    """The b for which the central (1 - 2q) ranges of real radii and of ``b * unit`` intersect.

    Parameters
    ----------
    real : (n,) radii of real points
    unit : (m,) radii of uniform points in [-1, 1]^N
    q : float

    Returns
    -------
    (lo, hi) : q-quantile(real) / (1-q)-quantile(unit), (1-q)-quantile(real) / q-quantile(unit)
    """
    rq = np.quantile(real, [q, 1 - q])
    uq = np.quantile(unit, [q, 1 - q])
    return float(rq[0] / uq[1]), float(rq[1] / uq[0])


def nearest_neighbours(z: np.ndarray, rng: np.random.Generator, reference: int = NN_REFERENCE,
                       queries: int = NN_QUERIES) -> tuple[dict, np.ndarray]:
    """The origin's nearest real point compared with typical nearest-neighbour distances.

    Uses a random reference subset of ``reference`` points (all if n is smaller) and
    ``queries`` of them; each query's NN distance excludes itself.

    Parameters
    ----------
    z : (n, N) float array, n >= 2
    rng : numpy Generator

    Returns
    -------
    summary : dict (keys of ``origin.nearest`` in stats.json, except
        ``origin_to_nearest_all``)
    distances : (query_size,) float64, sorted NN distances of the queries
    """
    n, N = z.shape
    ref_idx = np.sort(rng.choice(n, reference, replace=False)) if n > reference else np.arange(n)
    ref = np.asarray(z[ref_idx], dtype=np.float32)
    q_idx = np.sort(rng.choice(len(ref), min(len(ref), queries), replace=False))
    from sklearn import config_context
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(ref)
    with config_context(working_memory=64):
        d, _ = nn.kneighbors(ref[q_idx])
        d0 = float(nn.kneighbors(np.zeros((1, N), np.float32), n_neighbors=1)[0][0, 0])
    dist = np.sort(d[:, 1])
    med = float(np.median(dist))
    return ({"reference_size": len(ref), "query_size": len(q_idx),
             "origin_to_nearest_reference": d0, "nn_q05": float(np.quantile(dist, 0.05)),
             "nn_median": med, "nn_q95": float(np.quantile(dist, 0.95)),
             "origin_over_median_nn": d0 / med if med > 0 else math.inf,
             "share_nn_above_origin": float(np.mean(dist > d0))}, dist)


def mean_cov(z: np.ndarray, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Centre (N,) and covariance (N, N) with divisor n - ``ddof``, float64 (:func:`moments`).

    Parameters
    ----------
    z : (n, N) float array, n > ddof
    ddof : int
        0: maximum likelihood (as ``sklearn.covariance.empirical_covariance``); 1: unbiased.
    """
    n = z.shape[0]
    if n <= ddof:
        raise ValueError(f"{n} points are too few for a covariance with ddof = {ddof}")
    m = moments(z)
    return m["mean"], m["cov"] * (n / (n - ddof)) if ddof else m["cov"]


def spread(z: np.ndarray) -> float:
    """RMS distance of the points from their centre, sqrt(trace of the covariance with divisor n).

    Parameters
    ----------
    z : (n, N) float array

    Returns
    -------
    float
    """
    return math.sqrt(max(float(np.trace(mean_cov(z)[1])), 0.0))
