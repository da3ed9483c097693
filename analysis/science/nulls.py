"""Null models for the cube, the slices and the projections around the origin.

A slice that holds few points is not yet a *void*: in high dimensions almost any cloud
leaves the flat cuboid |x_j| <= b (j not in {j1, j2}) nearly empty. Whether the data are
emptier there than they would be without their particular geometry is a comparison
with a null model, counted the same way. Three nulls (:data:`KINDS`):

``normal``
    The multivariate normal fitted to the data: their mean and (maximum-likelihood)
    covariance. It has every component's mean and variance and every pair's covariance,
    which is what cube and slice counts depend on to first order; what it lacks is the
    shape beyond second moments (tails, clusters, curvature).
``normal_at_origin``
    The same normal moved so that its centre is the origin (drawn with the same random
    numbers as ``normal``, so that the two differ only by the shift): what the counts
    would be if the cloud were centred where a symmetric generator puts its mass.
``permuted``
    The data with each component permuted independently (independent permutations
    stacked until there are enough points): every component's distribution exactly,
    no dependence between components.

Counting uses the membership rule of :mod:`analysis.science.slices` on each point's four largest
|x_j| (:func:`analysis.science.slices.top_abs`), so one pass serves every pair and every b. The
cube [-b, b]^N is the set of points with no |x_j| > b; such points lie in every slice,
and they are exactly the points of a pair's slice that also project into [-b, b]^2.

Observed/null ratios of shares get Katz log intervals for relative risks
(:func:`analysis.science.calibration.ratio_interval`); for the median pair the median count is
treated as one pair's binomial count. A share is called a *void* only where the ratio's
upper bound is below 1 (the data emptier than the null).
"""

from __future__ import annotations

import numpy as np

from analysis.science import slices

KINDS = ("normal", "normal_at_origin", "permuted")
CHUNK = 20_000
OVERLAP_POINTS = 20_000  # null points used for the projection counts (a frequent event)


def gaussian_factor(cov: np.ndarray) -> np.ndarray:
    """F with F F^T = cov (cov symmetric PSD; eigen-decomposition, negative round-off clipped)."""
    w, v = np.linalg.eigh((cov + cov.T) / 2.0)
    return v * np.sqrt(np.clip(w, 0.0, None))


def null_points(kind: str, z: np.ndarray, mean: np.ndarray, factor: np.ndarray, m: int,
                rng: np.random.Generator):
    """Yield the m points of null ``kind`` in chunks of at most :data:`CHUNK` rows (float64).

    ``normal`` and ``normal_at_origin`` consume the generator identically: the same
    ``rng`` state gives the same points shifted by ``mean``.
    """
    n, N = z.shape
    if kind not in KINDS:
        raise ValueError(f"unknown null model {kind!r}; one of {', '.join(KINDS)}")
    if kind == "permuted":
        done = 0
        while done < m:  # independent permutations of all n rows, stacked until there are m
            take = min(n, m - done)
            perm = np.empty((take, N), dtype=np.float32)
            for j in range(N):
                perm[:, j] = np.asarray(z[:, j])[rng.permutation(n)[:take]]
            for s in range(0, take, CHUNK):
                yield perm[s:s + CHUNK].astype(np.float64)
            done += take
        return
    shift = mean if kind == "normal" else np.zeros(N)
    for s in range(0, m, CHUNK):
        k = min(CHUNK, m - s)
        yield shift + rng.standard_normal((k, N)) @ factor.T


def top_and_overlap(chunks, b_overlap: float, overlap_points: int = OVERLAP_POINTS):
    """Top-4 |x_j| data of all points of ``chunks`` and the projection counts of the first ones.

    Returns
    -------
    index, value : (m, 4) (:func:`analysis.science.slices.top_abs`)
    overlap : (N, N) int64, :func:`analysis.science.slices.projection_overlap` at ``b_overlap`` of the
        first ``overlap_points`` points
    overlap_n : how many points ``overlap`` counts
    """
    idx, val, overlap, used = [], [], None, 0
    for c in chunks:
        i, v = slices.top_abs(c, 4)
        idx.append(i)
        val.append(v)
        if used < overlap_points:
            part = c[:overlap_points - used]
            o = slices.projection_overlap(part, b_overlap)
            overlap = o if overlap is None else overlap + o
            used += len(part)
    return np.concatenate(idx), np.concatenate(val), overlap, used


def counts_at(index: np.ndarray, value: np.ndarray, b: float, N: int, pairs: list) -> dict:
    """Cube and slice counts at b from top-4 data.

    Returns ``n``, ``cube`` (points with no |x_j| > b), ``median``, ``min``, ``max`` (over
    all pairs' slice counts), ``cube_share`` and ``median_share`` (over n) and ``pairs``
    (the count of each pair in ``pairs``).
    """
    c = slices.pair_counts_from_top(index, value, b, N)
    u = slices.upper(c)
    n = int(len(value))
    cube, med = int(np.count_nonzero(value[:, 0] <= b)), float(np.median(u))
    return {"n": n, "cube": cube, "median": med, "min": int(u.min()), "max": int(u.max()),
            "cube_share": cube / n, "median_share": med / n, "pairs": [int(c[j1, j2]) for j1, j2 in pairs]}


def median_pair_counts(index: np.ndarray, value: np.ndarray, bs, N: int) -> np.ndarray:
    """Median over all pairs of the slice count, for each b in ``bs``."""
    return np.array([float(np.median(slices.upper(slices.pair_counts_from_top(index, value, b, N))))
                     for b in bs])
