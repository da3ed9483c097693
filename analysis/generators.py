"""Simple statistical generators of latent vectors, fitted to the real z-points.

Every generator follows scikit-learn's estimator habits:

* hyper-parameters are the arguments of ``__init__`` and are stored unchanged
  (so ``get_params``, ``set_params``, ``clone`` and ``repr`` work);
* ``fit(z)`` learns from real latent points ``z`` of shape (n, N) and returns ``self``;
* ``sample(n, rng=None)`` draws ``n`` new points, shape (n, N), dtype float32;
* what ``fit`` learns lives in attributes ending in ``_``.

Seeding: ``random_state`` (an int, or None for fresh entropy) seeds everything. ``fit``
creates the generator's random stream ``rng_`` once; consecutive ``sample`` calls
continue that stream, so they give different points, and refitting restarts it.
``sample(n, rng=g)`` draws from the given :class:`numpy.random.Generator` instead and
leaves ``rng_`` untouched. Randomness used while fitting (subsamples, k-means
initialisation) comes from an independent child of the same seed.

The generators (registry :data:`GENERATORS`, factory :func:`make_generator`):

``uniform``
    Independent components, each uniform in [-b, b]: the study's artificial points.
    Their radii concentrate in a thin shell: mean ≈ b·sqrt(N/3), spread ≈ b/sqrt(15).
``standard-normal``
    N(0, I), whatever the data: a VAE's prior (the control of issue 25).
``independent-normal``
    Each component from a normal with its own measured mean and standard deviation.
``independent-empirical``
    Each component from its own empirical distribution (interpolated quantile function).
``mvn``
    Multivariate normal with the measured mean and full covariance.
``mvn-core``
    Multivariate normal refitted on the dense core: points beyond ``core_sigma``
    "Mahalanobis sigmas" of a first fit are dropped (see :class:`MVNCoreGenerator`).
``pca-ellipsoid``
    Independent normals in PCA space, restricted to the ``confidence`` ellipsoid,
    transformed back: the study's method that works.
``gmm``
    A Gaussian mixture with full or diagonal covariances (the RAE paper's ex-post
    density); :class:`GMMSelector` chooses its component count and covariance type by
    held-out log-likelihood (or BIC).

The generators that fit a full N x N covariance (``mvn``, ``mvn-core``,
``pca-ellipsoid``, ``gmm``) need at least N + 1 points.

Bad points or hyper-parameters raise ``ValueError`` (``TypeError`` for a wrong type)
with a plain message; the ``generate`` step turns it into an error naming the config key.
"""

from __future__ import annotations

import difflib
import numbers
import warnings

import numpy as np
from scipy import linalg, stats
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import QuantileTransformer
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from analysis.geometry import mean_cov, radius_matching_b

__all__ = ["GENERATORS", "LatentGenerator", "UniformGenerator", "StandardNormalGenerator", "IndependentNormalGenerator",
           "IndependentEmpiricalGenerator", "MVNGenerator", "MVNCoreGenerator",
           "PCAEllipsoidGenerator", "GMMGenerator", "GMMSelector", "make_generator", "uniform_b_from_radii"]

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


# ---------------------------------------------------------------- generators

class UniformGenerator(LatentGenerator):
    """Independent components, each uniform in [-b, b] (centred on the origin).

    Parameters
    ----------
    b : float or None
        Half-width of the cube. None: measured in ``fit`` by
        :func:`uniform_b_from_radii` (median real radius / sqrt(N/3)).
    random_state : int or None

    Attributes
    ----------
    b_ : float
        The half-width used.
    n_features_in_ : int
        N.
    """

    name = "uniform"

    def __init__(self, b: float | None = None, random_state: int | None = None):
        self.b = b
        self.random_state = random_state

    def _fit(self, z, rng):
        if self.b is None:
            self.b_ = uniform_b_from_radii(z)
        else:
            if isinstance(self.b, bool) or not isinstance(self.b, numbers.Real) or not (
                    np.isfinite(self.b) and self.b > 0):
                raise ValueError(f"uniform generator: b must be a positive number, got {self.b!r}")
            self.b_ = float(self.b)

    def _sample(self, n, rng):
        return rng.uniform(-self.b_, self.b_, size=(n, self.n_features_in_))


class StandardNormalGenerator(LatentGenerator):
    """N(0, I): independent standard normal components, whatever the data. A VAE's prior, which its
    KL term pulls the posteriors towards; for an AE a simple generator that ignores the cloud.

    Parameters
    ----------
    random_state : int or None

    Attributes
    ----------
    n_features_in_ : int
        N (the only thing ``fit`` learns).
    """

    name = "standard-normal"

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def _fit(self, z, rng):
        pass

    def _sample(self, n, rng):
        return rng.standard_normal((n, self.n_features_in_))


class IndependentNormalGenerator(LatentGenerator):
    """Each component normal with its own mean and standard deviation; no correlations.

    Parameters
    ----------
    random_state : int or None

    Attributes
    ----------
    mean_ : ndarray of shape (N,)
    scale_ : ndarray of shape (N,)
        Per-component standard deviations (ddof = 1).
    """

    name = "independent-normal"

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def _fit(self, z, rng):
        mean, cov = mean_cov(z, ddof=1)
        self.mean_ = mean
        self.scale_ = np.sqrt(np.clip(np.diag(cov), 0.0, None))

    def _sample(self, n, rng):
        return self.mean_ + rng.standard_normal((n, self.n_features_in_)) * self.scale_


class IndependentEmpiricalGenerator(LatentGenerator):
    """Each component from its own measured distribution; no correlations.

    ``fit`` stores ``n_quantiles`` quantiles of every component
    (:class:`sklearn.preprocessing.QuantileTransformer`); ``sample`` draws a uniform
    u in [0, 1] per component and maps it through that component's quantile function,
    linearly interpolated between the stored quantiles. Values never leave the
    observed [min, max] of each component.

    Parameters
    ----------
    n_quantiles : int
        Quantiles stored per component (clipped to the number of points).
    subsample : int or None
        Estimate the quantiles from at most this many random points (None: all).
    random_state : int or None

    Attributes
    ----------
    quantiles_ : ndarray of shape (n_quantiles, N)
    transformer_ : QuantileTransformer
    """

    name = "independent-empirical"

    def __init__(self, n_quantiles: int = 1000, subsample: int | None = 100_000,
                 random_state: int | None = None):
        self.n_quantiles = n_quantiles
        self.subsample = subsample
        self.random_state = random_state

    def _fit(self, z, rng):
        if isinstance(self.n_quantiles, bool) or not isinstance(self.n_quantiles, numbers.Integral) \
                or self.n_quantiles < 2:
            raise ValueError(f"independent-empirical: n_quantiles must be an integer >= 2, got {self.n_quantiles!r}")
        n = z.shape[0]
        sub = None if self.subsample is None or self.subsample >= n else int(self.subsample)
        self.transformer_ = QuantileTransformer(
            n_quantiles=min(int(self.n_quantiles), n if sub is None else sub),
            output_distribution="uniform", subsample=sub,
            random_state=int(rng.integers(2**31 - 1)))
        self.transformer_.fit(z)
        self.quantiles_ = self.transformer_.quantiles_

    def _sample(self, n, rng):
        u = rng.uniform(0.0, 1.0, size=(n, self.n_features_in_))
        return self.transformer_.inverse_transform(u)


class MVNGenerator(LatentGenerator):
    """Multivariate normal with the measured mean and full covariance.

    Sampling uses ``mean + e @ factor_.T`` with ``factor_ @ factor_.T = covariance_``
    (from the eigen-decomposition, so a singular covariance is fine).

    Parameters
    ----------
    random_state : int or None

    Attributes
    ----------
    mean_ : ndarray of shape (N,)
    covariance_ : ndarray of shape (N, N)
        Unbiased (ddof = 1).
    factor_ : ndarray of shape (N, N)
    """

    name = "mvn"
    needs_full_cov = True

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def _set_gaussian(self, mean, cov):
        w, v = _eig_factor(cov)
        self.mean_ = mean
        self.covariance_ = cov
        self.factor_ = v * np.sqrt(w)

    def _fit(self, z, rng):
        self._set_gaussian(*mean_cov(z, ddof=1))

    def _sample(self, n, rng):
        return self.mean_ + rng.standard_normal((n, self.n_features_in_)) @ self.factor_.T


class MVNCoreGenerator(MVNGenerator):
    """Multivariate normal refitted on the dense core after dropping outliers.

    A first MVN fit gives each point its Mahalanobis distance d. For a Gaussian,
    d^2 follows chi2 with N degrees of freedom (N = rank of the covariance), so d
    follows the chi distribution, whose typical value is sqrt(N), not 1. "k sigma" is
    therefore defined by tail probability: the cut is the radius that a Gaussian
    exceeds with the same probability as a 1-D normal exceeds k standard deviations,

        p = 2 (1 - Phi(k)),   threshold_ = sqrt(chi2.isf(p, N)).

    For k = 3, p = 0.0027 (N = 256: threshold_ ≈ 18.0, against a typical d ≈ 16.0).
    Points with d > threshold_ are dropped once; mean and covariance are refitted on
    the rest. A Gaussian cloud keeps 99.73 % of its points; the shortfall measures
    how heavy the real tails are.

    Parameters
    ----------
    core_sigma : float
        k above, > 0.
    random_state : int or None

    Attributes
    ----------
    threshold_ : float
        Mahalanobis radius of the cut.
    tail_probability_ : float
        p above.
    kept_fraction_ : float
        Share of the points kept for the refit.
    mean_, covariance_, factor_ :
        As :class:`MVNGenerator`, of the core.
    """

    name = "mvn-core"

    def __init__(self, core_sigma: float = 3.0, random_state: int | None = None):
        self.core_sigma = core_sigma
        self.random_state = random_state

    def _fit(self, z, rng):
        k = self.core_sigma
        if isinstance(k, bool) or not isinstance(k, numbers.Real) or not (np.isfinite(k) and k > 0):
            raise ValueError(f"mvn-core: core_sigma must be a positive number, got {k!r}")
        mean, cov = mean_cov(z, ddof=1)
        w, v = _eig_factor(cov)
        keep_dims = w > _rank_tol(w)
        whiten = v[:, keep_dims] / np.sqrt(w[keep_dims])
        d2 = np.concatenate([np.sum(((z[i:i + _CHUNK].astype(np.float64) - mean) @ whiten) ** 2, axis=1)
                             for i in range(0, z.shape[0], _CHUNK)])
        self.tail_probability_ = float(2.0 * stats.norm.sf(k))
        self.threshold_ = float(np.sqrt(stats.chi2.isf(self.tail_probability_, int(keep_dims.sum()))))
        kept = d2 <= self.threshold_ ** 2
        self.kept_fraction_ = float(kept.mean())
        core = z[kept]
        if core.shape[0] < z.shape[1] + 1:
            raise ValueError(f"mvn-core keeps {core.shape[0]} of {z.shape[0]} points within {k} sigma, fewer than "
                             f"the N + 1 = {z.shape[1] + 1} a full covariance needs")
        self._set_gaussian(*mean_cov(core, ddof=1))


class PCAEllipsoidGenerator(LatentGenerator):
    """Independent normals in PCA space, inside a confidence ellipsoid, transformed back.

    PCA gives the principal axes and variances lambda_i of the real points. A point
    is drawn as y_i = sqrt(lambda_i) u_i with u standard normal conditioned on
    |u|^2 <= chi2.ppf(confidence, d) (d = number of axes), i.e. inside the ellipsoid
    sum y_i^2 / lambda_i <= chi2_threshold_ that holds ``confidence`` of a Gaussian's
    mass; then z = mean + y @ components. The conditioning is exact and needs no
    rejection loop: u = r s with s uniform on the unit sphere and r^2 drawn from chi2(d)
    truncated to [0, chi2_threshold_] by inverse-CDF sampling (radial resampling).

    Parameters
    ----------
    confidence : float
        Gaussian mass inside the ellipsoid, in (0, 1]; 1 means no restriction.
    random_state : int or None

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
        Fitted with all min(n, N) components.
    chi2_threshold_ : float
        Squared Mahalanobis radius of the ellipsoid (inf for confidence = 1).
    """

    name = "pca-ellipsoid"
    needs_full_cov = True

    def __init__(self, confidence: float = 0.95, random_state: int | None = None):
        self.confidence = confidence
        self.random_state = random_state

    def _fit(self, z, rng):
        c = self.confidence
        if isinstance(c, bool) or not isinstance(c, numbers.Real) or not 0.0 < c <= 1.0:
            raise ValueError(f"pca-ellipsoid: confidence must be in (0, 1], got {c!r}")
        with threadpool_limits(1, user_api="blas"):  # an SVD of n x N: one thread is faster than two
            self.pca_ = PCA().fit(z)
        self.chi2_threshold_ = float(stats.chi2.ppf(c, self.pca_.n_components_))

    def mahalanobis2(self, z) -> np.ndarray:
        """Squared Mahalanobis distance of points in PCA space, sum y_i^2 / lambda_i.

        Parameters
        ----------
        z : array of shape (m, N)

        Returns
        -------
        ndarray of shape (m,)
        """
        var = self.pca_.explained_variance_
        ok = var > _rank_tol(var)
        y = self.pca_.transform(np.asarray(z, dtype=np.float64))[:, ok]
        return np.sum(y ** 2 / var[ok], axis=1)

    def _sample(self, n, rng):
        d = self.pca_.n_components_
        u = rng.standard_normal((n, d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        r2 = stats.chi2.ppf(rng.uniform(size=n) * float(self.confidence), d)
        y = u * np.sqrt(r2)[:, None] * np.sqrt(self.pca_.explained_variance_)
        return self.pca_.mean_ + y @ self.pca_.components_


class GMMGenerator(LatentGenerator):
    """Gaussian mixture (scikit-learn's GaussianMixture) with full or diagonal covariances.

    The RAE paper's ex-post density (10 full-covariance components). EM costs about
    n·K·N^2 per iteration (full) or n·K·N (diagonal), so large sets are fitted on a
    random subset of ``max_fit_points`` points. EM runs in the input's precision
    (float32 latents: float32, several times faster, same likelihood to 5 digits), and
    is retried in float64 if a float32 covariance is too ill-conditioned to factorise.
    Sampling uses the generator's own stream (not ``GaussianMixture.sample``, which
    reseeds from its ``random_state`` on every call).

    Regularisation is relative to the data's scale: ``reg_covar_ = reg_relative`` times
    the mean per-coordinate variance of the fit points is added to every covariance's
    diagonal (scikit-learn's ``reg_covar``). It matters: with K full components of
    about n/K < N + 1 points each, the component covariances are rank-deficient, and a
    tiny absolute ``reg_covar`` (scikit-learn's default 1e-6) lets each component
    collapse onto the affine span of its own k-means cluster. Every point's density is
    then hundreds of nats higher under its own component than under any other, the
    k-means responsibilities are already 0 or 1, and the first M-step reproduces them:
    EM stops at this degenerate fixed point after 2 iterations (the lower bound changes
    by less than ``tol``), "converged", with a held-out log-likelihood that is far
    below that of a single Gaussian. Choose ``n_components`` and ``covariance_type`` by
    held-out likelihood (:class:`GMMSelector`).

    Parameters
    ----------
    n_components : int
        Mixture components K.
    covariance_type : {"full", "diag"}
        Full N x N covariances or diagonal ones (per-component variances only).
    reg_relative : float
        Diagonal regularisation relative to the mean per-coordinate variance, >= 0.
    max_fit_points : int or None
        Fit on at most this many random points (None: all).
    max_iter : int
        EM iterations at most.
    tol : float
        EM stops when the per-point lower bound gains less than this.
    random_state : int or None

    Attributes
    ----------
    mixture_ : GaussianMixture
    factors_ : ndarray of shape (K, N, N) or (K, N)
        Cholesky factors of the full component covariances, or the per-coordinate
        standard deviations of the diagonal ones.
    reg_covar_ : float
        The absolute regularisation added.
    n_fit_points_ : int
    converged_ : bool
    n_iter_ : int
        EM iterations run.
    lower_bound_ : float
        The final per-point log-likelihood lower bound on the fit points.
    """

    name = "gmm"
    needs_full_cov = True
    COVARIANCE_TYPES = ("full", "diag")

    def __init__(self, n_components: int = 10, covariance_type: str = "full", reg_relative: float = 0.01,
                 max_fit_points: int | None = 20_000, max_iter: int = 100, tol: float = 1e-3,
                 random_state: int | None = None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_relative = reg_relative
        self.max_fit_points = max_fit_points
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _check_params(self) -> None:
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"gmm: n_components must be a positive integer, got {k!r}")
        if self.covariance_type not in self.COVARIANCE_TYPES:
            raise ValueError(f"gmm: covariance_type must be one of {', '.join(self.COVARIANCE_TYPES)}, "
                             f"got {self.covariance_type!r}")
        r = self.reg_relative
        if isinstance(r, bool) or not isinstance(r, numbers.Real) or not (np.isfinite(r) and r >= 0):
            raise ValueError(f"gmm: reg_relative must be a non-negative number, got {r!r}")

    def _fit(self, z, rng):
        self._check_params()
        k = int(self.n_components)
        n = z.shape[0]
        if self.max_fit_points is not None and self.max_fit_points < n:
            m = int(self.max_fit_points)
            if m < z.shape[1] + 1:
                raise ValueError(f"gmm: max_fit_points = {m} is below N + 1 = {z.shape[1] + 1}")
            z = z[np.sort(rng.choice(n, size=m, replace=False))]
        if k > z.shape[0]:
            raise ValueError(f"gmm: {k} components need at least {k} points, got {z.shape[0]}")
        scale = float(np.mean(np.var(z, axis=0, dtype=np.float64)))
        self.reg_covar_ = float(self.reg_relative) * scale if scale > 0 else float(self.reg_relative)
        self.mixture_ = GaussianMixture(n_components=k, covariance_type=self.covariance_type,
                                        reg_covar=max(self.reg_covar_, 1e-12), max_iter=self.max_iter,
                                        tol=self.tol, random_state=int(rng.integers(2**31 - 1)))
        # K Cholesky factorisations of N x N matrices per EM iteration: one BLAS thread is
        # many times faster than two (OpenBLAS's threaded potrf on small matrices)
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                self.mixture_.fit(z)
            except ValueError:
                try:  # float32 covariances can be too ill-conditioned for a Cholesky: retry in float64
                    self.mixture_.fit(z.astype(np.float64))
                except ValueError as e:
                    raise ValueError(f"gmm with {k} {self.covariance_type} components could not be fitted: "
                                     f"{' '.join(str(e).split())[:200]}") from None
        self.n_fit_points_ = int(z.shape[0])
        self.converged_ = bool(self.mixture_.converged_)
        self.n_iter_ = int(self.mixture_.n_iter_)
        self.lower_bound_ = float(self.mixture_.lower_bound_)
        cov = np.asarray(self.mixture_.covariances_, dtype=np.float64)
        with threadpool_limits(1, user_api="blas"):
            self.factors_ = np.linalg.cholesky(cov) if self.covariance_type == "full" else np.sqrt(cov)

    def score(self, z) -> float:
        """Mean log-likelihood per point of ``z`` under the fitted mixture (nats).

        Parameters
        ----------
        z : array of shape (m, N)

        Returns
        -------
        float
        """
        if not hasattr(self, "mixture_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(z) first")
        return float(self.mixture_.score(np.asarray(z, dtype=np.float64)))

    def bic(self, z) -> float:
        """Bayesian information criterion of the fitted mixture on ``z`` (lower is better)."""
        if not hasattr(self, "mixture_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(z) first")
        return float(self.mixture_.bic(np.asarray(z, dtype=np.float64)))

    def _sample(self, n, rng):
        w = self.mixture_.weights_
        labels = rng.choice(w.size, size=n, p=w / w.sum())
        e = rng.standard_normal((n, self.n_features_in_))
        out = np.empty((n, self.n_features_in_))
        full = self.covariance_type == "full"
        for j in range(w.size):
            idx = labels == j
            if idx.any():
                out[idx] = self.mixture_.means_[j] + (e[idx] @ self.factors_[j].T if full else e[idx] * self.factors_[j])
        return out


class GMMSelector(BaseEstimator):
    """Choose a Gaussian mixture's component count and covariance type on held-out points.

    ``fit(z)`` splits ``z`` at random into a training part and a validation part
    (``validation_fraction``), fits a :class:`GMMGenerator` for every pair of
    ``n_components`` x ``covariance_types`` on the training part and measures each
    candidate's mean log-likelihood per validation point and its BIC on the training
    part. The best candidate has the highest held-out log-likelihood
    (``criterion="heldout"``) or the lowest BIC (``criterion="bic"``); ties go to the
    earlier candidate (fewer components, then the order of ``covariance_types``). A
    candidate that cannot be fitted is recorded with its error and skipped.

    Parameters
    ----------
    n_components : sequence of int
    covariance_types : sequence of {"full", "diag"}
    criterion : {"heldout", "bic"}
    validation_fraction : float
        Share of the points held out for the likelihood, in (0, 1).
    reg_relative, max_fit_points, max_iter : as :class:`GMMGenerator`
    random_state : int or None
        Seeds the split and every candidate's EM.
    n_jobs : int or None
        Candidates fitted at once, in threads with one BLAS thread each (None: 1). Every
        candidate gets the same seed, so the results do not depend on it.

    Attributes
    ----------
    results_ : list of dict
        One per candidate, in the order of ``covariance_types`` then ``n_components``:
        ``n_components``, ``covariance_type``, ``heldout_loglik``, ``bic``, ``converged``,
        ``n_iter``, ``lower_bound`` (None where it could not be fitted) and ``error``
        (None, or why it could not be fitted).
    estimators_ : list of GMMGenerator or None
        The fitted candidates, aligned with ``results_``.
    best_index_ : int
    best_params_ : dict
        ``n_components`` and ``covariance_type`` of the best candidate.
    n_train_, n_validation_ : int
    """

    CRITERIA = ("heldout", "bic")

    def __init__(self, n_components=(1, 2, 5, 10, 20), covariance_types=("full", "diag"),
                 criterion: str = "heldout", validation_fraction: float = 0.2, reg_relative: float = 0.01,
                 max_fit_points: int | None = 20_000, max_iter: int = 100, random_state: int | None = None,
                 n_jobs: int | None = None):
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.validation_fraction = validation_fraction
        self.reg_relative = reg_relative
        self.max_fit_points = max_fit_points
        self.max_iter = max_iter
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _check_params(self) -> None:
        if self.criterion not in self.CRITERIA:
            raise ValueError(f"gmm selection: criterion must be one of {', '.join(self.CRITERIA)}, "
                             f"got {self.criterion!r}")
        if not len(self.n_components) or not len(self.covariance_types):
            raise ValueError("gmm selection needs at least one component count and one covariance type")
        f = self.validation_fraction
        if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0.0 < f < 1.0:
            raise ValueError(f"gmm selection: validation_fraction must be in (0, 1), got {f!r}")

    def _candidate(self, train: np.ndarray, val: np.ndarray, k: int, cov: str, seed: int):
        """One candidate fitted on ``train`` and scored: (its ``results_`` entry, the generator or None)."""
        gen = GMMGenerator(n_components=k, covariance_type=cov, reg_relative=self.reg_relative,
                           max_fit_points=self.max_fit_points, max_iter=self.max_iter, random_state=seed)
        res = {"n_components": k, "covariance_type": cov, "heldout_loglik": None, "bic": None,
               "converged": None, "n_iter": None, "lower_bound": None, "error": None}
        try:
            gen.fit(train)
            ll, bic = gen.score(val), gen.bic(train)
        except ValueError as e:
            return {**res, "error": str(e)}, None
        res.update(heldout_loglik=ll if np.isfinite(ll) else None, bic=bic if np.isfinite(bic) else None,
                   converged=gen.converged_, n_iter=gen.n_iter_, lower_bound=gen.lower_bound_)
        return res, gen

    def fit(self, z, y=None):
        """Fit every candidate on the training part and score it; returns self."""
        self._check_params()
        _check_random_state(self.random_state)
        z = _check_points(z, "gmm", 3)
        split_seed, fit_seed = np.random.SeedSequence(self.random_state).spawn(2)
        n = z.shape[0]
        n_val = min(max(int(round(self.validation_fraction * n)), 1), n - 1)
        perm = np.random.default_rng(split_seed).permutation(n)
        val, train = z[np.sort(perm[:n_val])], z[np.sort(perm[n_val:])]
        seed = int(np.random.default_rng(fit_seed).integers(2**31 - 1))
        self.n_train_, self.n_validation_ = int(train.shape[0]), int(n_val)
        cands = [(k, cov) for cov in self.covariance_types for k in self.n_components]
        # Largest first, so that no thread is left alone with the slowest fit at the end. The pool
        # runs under one BLAS-thread limit: threadpoolctl's setting is process-wide, so limits set
        # and restored inside concurrent fits would undo each other.
        work = sorted(range(len(cands)), key=lambda i: (cands[i][1] != "full", -cands[i][0]))
        with threadpool_limits(1, user_api="blas"):
            fitted = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(self._candidate)(train, val, *cands[i], seed) for i in work)
        by_index = dict(zip(work, fitted))
        self.results_ = [by_index[i][0] for i in range(len(cands))]
        self.estimators_ = [by_index[i][1] for i in range(len(cands))]
        key = "heldout_loglik" if self.criterion == "heldout" else "bic"
        sign = -1.0 if self.criterion == "heldout" else 1.0
        scored = [i for i, r in enumerate(self.results_) if r[key] is not None]
        if not scored:
            errors = "; ".join(sorted({r["error"] for r in self.results_ if r["error"]}))[:300]
            raise ValueError(f"gmm selection: no candidate could be fitted ({errors or 'no finite score'})")
        order = list(self.covariance_types)
        self.best_index_ = min(scored, key=lambda i: (sign * self.results_[i][key], self.results_[i]["n_components"],
                                                      order.index(self.results_[i]["covariance_type"])))
        best = self.results_[self.best_index_]
        self.best_params_ = {"n_components": best["n_components"], "covariance_type": best["covariance_type"]}
        return self


# ---------------------------------------------------------------- registry

GENERATORS: dict[str, type[LatentGenerator]] = {
    cls.name: cls for cls in (UniformGenerator, StandardNormalGenerator, IndependentNormalGenerator, IndependentEmpiricalGenerator,
                              MVNGenerator, MVNCoreGenerator, PCAEllipsoidGenerator, GMMGenerator)
}


def make_generator(name: str, **params) -> LatentGenerator:
    """A new, unfitted generator from its registry name and hyper-parameters.

    Parameters
    ----------
    name : str
        A key of :data:`GENERATORS`.
    **params
        Hyper-parameters of that class (e.g. ``b=1.5`` for ``uniform``).

    Raises
    ------
    ValueError
        Unknown name (naming the closest valid one and listing the valid ones) or unknown
        hyper-parameter.
    """
    if name not in GENERATORS:
        hit = difflib.get_close_matches(str(name), list(GENERATORS), n=1, cutoff=0.4)
        closest = f" (did you mean '{hit[0]}'?)" if hit else ""
        raise ValueError(f"unknown generator '{name}'{closest}; valid generators: {', '.join(GENERATORS)}")
    cls = GENERATORS[name]
    valid = cls._get_param_names()
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ValueError(f"generator '{name}' has no hyper-parameter {', '.join(map(repr, bad))}; "
                         f"its hyper-parameters are: {', '.join(valid)}")
    return cls(**params)
