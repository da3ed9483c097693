"""Is the dense core of the cloud a multivariate normal? (The study's part VIII.)

The core
    :func:`core_cut` drops the points whose Mahalanobis distance (mean and covariance
    of all points) exceeds the radius a Gaussian exceeds with the probability of a 1-D
    k-sigma event, ``sqrt(chi2.isf(2 (1 - Phi(k)), rank))``: the rule of the ``mvn-core``
    generator (:class:`analysis.science.generators.MVNCoreGenerator`; a Gaussian keeps 99.73 %
    for k = 3). The study kept more than 80 % of its points this way.

Per principal axis
    :func:`whiten` rotates the points to their principal axes and scales each to unit
    variance. :func:`axis_moments` gives each axis's skewness and excess kurtosis
    (``scipy.stats.skew``/``kurtosis``, bias-corrected), :func:`axis_tests` the
    Shapiro-Wilk p-value of each axis (``scipy.stats.shapiro``, the study's test) and the
    axes rejected at level alpha after the Benjamini-Hochberg correction over all axes
    (``scipy.stats.false_discovery_control``).

Multivariate
    Mardia's multivariate skewness b1 = mean over i, j of ((x_i - m)^T S^-1 (x_j - m))^3
    and kurtosis b2 = mean over i of ((x_i - m)^T S^-1 (x_i - m))^2 (S with divisor n),
    from their definitions (:func:`mardia`; no maintained package for them is among our
    dependencies). Their textbook chi-square and normal approximations assume n much
    larger than N, which a latent cloud (N = 256) does not give, and the core's cut
    changes them again; so both are calibrated by simulation instead
    (:func:`mardia_null`): Gaussian samples of the same n and rank, cut by the same rule
    when the core is tested, give the null mean and spread of b1 and b2. The ledger uses
    the *relative kurtosis* b2 / E0[b2] (1 for a Gaussian cut the same way; > 1 heavier
    tails, < 1 lighter) and the calibrated z-scores (b - E0[b]) / sd0[b] with their normal
    p-values. Mardia's statistics are affine invariant, so the null needs no covariance.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

BLOCK = 1024  # rows per block of the n x n Gram matrix in Mardia's skewness


def _rank(w: np.ndarray) -> int:
    """Eigenvalues above round-off (as ``np.linalg.matrix_rank``'s default tolerance)."""
    if not w.size or w.max() <= 0:
        return 0
    return int(np.count_nonzero(w > w.max() * w.size * np.finfo(np.float64).eps))


def whiten(x: np.ndarray, divisor_n: bool = True) -> np.ndarray:
    """x centred, rotated to its principal axes (largest variance first) and scaled to unit variance.

    Axes of zero variance (rank deficiency) are dropped. Returns (n, rank) float64.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    c = x - x.mean(axis=0)
    cov = c.T @ c / (n if divisor_n else n - 1)
    w, v = np.linalg.eigh((cov + cov.T) / 2.0)
    w, v = w[::-1], v[:, ::-1]
    r = _rank(w)
    return (c @ v[:, :r]) / np.sqrt(w[:r])


def core_cut(x: np.ndarray, k: float) -> tuple[np.ndarray, float, float]:
    """The dense core: points within the k-sigma Mahalanobis radius (see the module docstring).

    Returns
    -------
    kept : (n,) bool
    threshold : the Mahalanobis radius of the cut
    tail_probability : 2 (1 - Phi(k))
    """
    y = whiten(x, divisor_n=False)  # unbiased covariance, as the mvn-core generator
    d2 = np.einsum("ij,ij->i", y, y)
    p = float(2.0 * sps.norm.sf(k))
    thr = float(np.sqrt(sps.chi2.isf(p, y.shape[1])))
    return d2 <= thr * thr, thr, p


def axis_moments(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skewness and excess kurtosis of each column (bias-corrected), (r,) each."""
    return (np.asarray(sps.skew(y, axis=0, bias=False)), np.asarray(sps.kurtosis(y, axis=0, bias=False)))


def axis_tests(y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Shapiro-Wilk p-value of each column, and which are rejected (Benjamini-Hochberg at ``alpha``)."""
    p = np.array([sps.shapiro(col).pvalue for col in y.T])
    return p, sps.false_discovery_control(p) <= alpha


def mardia(y: np.ndarray, per_point: bool = False):
    """Mardia's (b1, b2) of the points y (any affine coordinates; whitened internally).

    With ``per_point`` also each point's squared Mahalanobis norm d2 (n,), b2 = mean(d2^2).
    """
    w = whiten(y)
    n = len(w)
    b1 = 0.0
    for s in range(0, n, BLOCK):
        g = w[s:s + BLOCK] @ w.T
        b1 += float(np.sum(g * g * g))
    d2 = np.einsum("ij,ij->i", w, w)
    if per_point:
        return b1 / (n * n), float(np.mean(d2 * d2)), d2
    return b1 / (n * n), float(np.mean(d2 * d2))


def mardia_null(n: int, p: int, reps: int, rng: np.random.Generator, core_sigma: float | None = None) -> dict:
    """Mardia's statistics of ``reps`` standard normal samples of n points in p dimensions.

    With ``core_sigma`` each sample is first cut to its core (:func:`core_cut`) and the
    statistics are those of the core. Returns ``b1``, ``b2`` (reps,) and ``kept`` (reps,).
    """
    b1, b2, kept = np.empty(reps), np.empty(reps), np.empty(reps)
    for r in range(reps):
        x = rng.standard_normal((n, p))
        if core_sigma is not None:
            mask = core_cut(x, core_sigma)[0]
            x = x[mask]
            kept[r] = mask.mean()
        else:
            kept[r] = 1.0
        b1[r], b2[r] = mardia(x)
    return {"b1": b1, "b2": b2, "kept": kept}


def calibrated(value: float, null: np.ndarray) -> dict:
    """A statistic beside its simulated null: ``value``, ``null_mean``, ``null_sd``, ``z``, ``p`` (two-sided)."""
    mu, sd = float(np.mean(null)), float(np.std(null, ddof=1))
    z = (value - mu) / sd if sd > 0 else (0.0 if value == mu else float(np.sign(value - mu)) * np.inf)
    return {"value": float(value), "null_mean": mu, "null_sd": sd, "z": float(z),
            "p": float(2.0 * sps.norm.sf(abs(z)))}
