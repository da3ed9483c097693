"""The generators' base class and the checks and linear algebra they share.

:class:`LatentGenerator` holds the scikit-learn-style protocol of every generator of
:mod:`analysis.science.generators` (validation, seeding, ``fit``/``sample``); the helpers below
check points, counts and seeds, and factor covariances. Split out of
:mod:`analysis.science.generators` (which keeps the registry and the overview).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from analysis.science.geometry import radius_matching_b

_CHUNK = 16384  # rows per block when streaming over large point sets


# ---------------------------------------------------------------- helpers

def _check_points(z, name: str, min_points: int = 1) -> np.ndarray:
    """Return ``z`` as a 2-D finite float array of at least ``min_points`` rows.

    Keeps float32 input as float32 (no copy of large mmapped arrays beyond the read).
    """
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] < 1:
        raise ValueError(f"generator '{name}' needs latent points of shape (n, N), got shape {z.shape}")
    if not np.issubdtype(z.dtype, np.floating) and not np.issubdtype(z.dtype, np.integer):
        raise TypeError(f"generator '{name}' needs numeric latent points, got dtype {z.dtype}")
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float64)
    if z.shape[0] < min_points:
        raise ValueError(f"generator '{name}' needs at least {min_points} points to fit, got {z.shape[0]}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"generator '{name}' was given NaN or infinite latent values")
    return z


def _check_full_cov(z: np.ndarray, name: str) -> None:
    n, dim = z.shape
    if n < dim + 1:
        raise ValueError(f"generator '{name}' fits a full {dim}x{dim} covariance and needs at least "
                         f"N + 1 = {dim + 1} points, got {n}")


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"the number of points to sample must be a positive integer, got {n!r}")
    if n <= 0:
        raise ValueError(f"the number of points to sample must be a positive integer, got {n!r}")
    return int(n)


def _check_random_state(random_state) -> None:
    if random_state is None:
        return
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be a non-negative integer or None, got {random_state!r}")
    if random_state < 0:
        raise ValueError(f"random_state must be a non-negative integer or None, got {random_state!r}")


def _eig_factor(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0, ascending) and eigenvectors of a symmetric PSD matrix."""
    with threadpool_limits(1, user_api="blas"):  # an N x N decomposition: one thread is faster than two
        w, v = linalg.eigh(cov)
    return np.clip(w, 0.0, None), v


def _rank_tol(w: np.ndarray) -> float:
    """Eigenvalues at or below this are numerically zero (as in ``np.linalg.matrix_rank``)."""
    return float(w.max()) * w.size * np.finfo(np.float64).eps if w.size and w.max() > 0 else 0.0


def uniform_b_from_radii(z) -> float:
    """The b whose uniform points have the real points' typical radius.

    Uniform components in [-b, b] have E|u|^2 = N b^2 / 3, so their radii sit near
    b·sqrt(N/3). Setting that equal to the median radius of ``z`` gives
    ``b = median(|z|) / sqrt(N/3)``: the radius-matching rule of the study's b-scan
    in closed form.

    Parameters
    ----------
    z : array of shape (n, N)

    Returns
    -------
    float
    """
    z = np.asarray(z)
    radii = np.concatenate([np.linalg.norm(z[i:i + _CHUNK].astype(np.float64), axis=1)
                            for i in range(0, z.shape[0], _CHUNK)])
    return radius_matching_b(radii, z.shape[1])


# ---------------------------------------------------------------- base class

class LatentGenerator(BaseEstimator):
    """Base class: validation, seeding and the ``fit``/``sample`` protocol.

    Subclasses implement ``_fit(z, rng)`` and ``_sample(n, rng)``; they set
    ``needs_full_cov = True`` when they fit a full covariance.
    """

    name = "base"
    needs_full_cov = False

    def fit(self, z, y=None):
        """Fit the generator to real latent points.

        Parameters
        ----------
        z : array-like of shape (n, N)
            Real latent points (float32 or float64; a memory map is read in blocks where possible).
        y : ignored

        Returns
        -------
        self
        """
        _check_random_state(self.random_state)
        z = _check_points(z, self.name, 2)
        if self.needs_full_cov:
            _check_full_cov(z, self.name)
        fit_seed, sample_seed = np.random.SeedSequence(self.random_state).spawn(2)
        self.n_features_in_ = z.shape[1]
        self._fit(z, np.random.default_rng(fit_seed))
        self.rng_ = np.random.default_rng(sample_seed)
        return self

    def sample(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Draw new latent points.

        Parameters
        ----------
        n : int
            Number of points, >= 1.
        rng : numpy.random.Generator, optional
            Random stream to draw from. Default: the generator's own stream ``rng_``,
            created once by :meth:`fit`, so successive calls give different points.

        Returns
        -------
        ndarray of shape (n, N), float32
        """
        if not hasattr(self, "rng_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(z) first")
        n = _check_n(n)
        if rng is None:
            rng = self.rng_
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
        return np.ascontiguousarray(self._sample(n, rng), dtype=np.float32)

    def _fit(self, z: np.ndarray, rng: np.random.Generator) -> None:  # pragma: no cover
        raise NotImplementedError

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

