"""b with resolution: the uniform half-width b whose radii match the real radii best, with its interval.

b with resolution (:func:`fine_b_scan`)
    The Wasserstein distance between real radii |z| and uniform radii b |u_1| on a
    geometric grid around b0 = median |z| / sqrt(N/3) (the radius-matching b of
    :func:`analysis.science.generators.uniform_b_from_radii`), consecutive values a relative
    step apart. :func:`w1_scaled` computes it exactly for all b at once (the two
    quantile functions are step functions; it agrees with
    ``scipy.stats.wasserstein_distance`` and :func:`analysis.science.geometry.b_scan`). The
    bootstrap resamples the real and the uniform radii (each repetition compares their
    2,000 quantiles, :data:`BOOT_QUANTILES`); the best b gets a percentile interval, and the *flat range* is the b whose distance is within ``flat_sd``
    bootstrap standard deviations of the minimum (W1 is convex in b, so it is one interval).

A library module of :mod:`analysis.science.calibration` (which re-exports it): it takes arrays and
raises ValueError on bad input.
"""

from __future__ import annotations

import math

import numpy as np

from analysis.science.geometry import overlap_range
from analysis.science.intervals import percentile_interval


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
    (:func:`analysis.science.geometry.overlap_range`) of each repetition's radii.
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
