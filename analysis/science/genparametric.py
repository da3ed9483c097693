"""The closed-form generators: uniform, normal, empirical marginals, Gaussian, Gaussian core, PCA ellipsoid.

Each fits in one pass (moments, quantiles, an eigen- or singular-value decomposition);
the mixtures, fitted by EM, are in :mod:`analysis.science.genmixture`, the registry in
:mod:`analysis.science.generators`.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.preprocessing import QuantileTransformer
from threadpoolctl import threadpool_limits

from analysis.science.genbase import _CHUNK, LatentGenerator, _eig_factor, _rank_tol, uniform_b_from_radii
from analysis.science.geometry import mean_cov


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

