"""The Gaussian-mixture generator and its selector (component count and covariance type on held-out points).

Split out of :mod:`analysis.science.generators` (which keeps the registry): the RAE paper's ex-post
density, fitted by EM, and :class:`GMMSelector`, which chooses its size.
"""

from __future__ import annotations

import contextlib
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from analysis.science.genbase import LatentGenerator, _check_points, _check_random_state


@contextlib.contextmanager
def denormals_flushed():
    """Floating-point results below the smallest normal number are flushed to zero in this thread (the
    CPU's flush-to-zero and denormals-are-zero modes, set through PyTorch), then the default again.

    EM's responsibilities are exp(log-responsibility): in float32 every one between e^-104 and e^-87 is a
    subnormal number, and a matrix product with many of them runs tens of times slower (measured: the
    M-step's covariances of 20 components, 42 ms without them, 1.6 s with 30 % of them). Flushed, they
    add 0 instead of less than 1e-38 of a point to a component's sums.
    """
    import torch

    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


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
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"), denormals_flushed():
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
    reg_relative, max_fit_points, max_iter, tol : as :class:`GMMGenerator`
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
                 max_fit_points: int | None = 20_000, max_iter: int = 100, tol: float = 1e-3,
                 random_state: int | None = None, n_jobs: int | None = None):
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.validation_fraction = validation_fraction
        self.reg_relative = reg_relative
        self.max_fit_points = max_fit_points
        self.max_iter = max_iter
        self.tol = tol
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
                           max_fit_points=self.max_fit_points, max_iter=self.max_iter, tol=self.tol,
                           random_state=seed)
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
