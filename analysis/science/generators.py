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

The code: the base class and shared checks in :mod:`analysis.science.genbase`, the closed-form
generators in :mod:`analysis.science.genparametric`, the mixtures in :mod:`analysis.science.genmixture`;
this module holds the registry and re-exports every generator.
"""

from __future__ import annotations

from analysis.science.genbase import LatentGenerator, uniform_b_from_radii
from analysis.science.gennames import unknown_name
from analysis.science.genmixture import GMMGenerator, GMMSelector
from analysis.science.genparametric import (IndependentEmpiricalGenerator, IndependentNormalGenerator, MVNCoreGenerator,
                                    MVNGenerator, PCAEllipsoidGenerator, StandardNormalGenerator, UniformGenerator)

__all__ = ["GENERATORS", "LatentGenerator", "UniformGenerator", "StandardNormalGenerator", "IndependentNormalGenerator",
           "IndependentEmpiricalGenerator", "MVNGenerator", "MVNCoreGenerator",
           "PCAEllipsoidGenerator", "GMMGenerator", "GMMSelector", "make_generator", "uniform_b_from_radii"]


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
        raise ValueError(unknown_name(name) or f"unknown generator '{name}'")
    cls = GENERATORS[name]
    valid = cls._get_param_names()
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ValueError(f"generator '{name}' has no hyper-parameter {', '.join(map(repr, bad))}; "
                         f"its hyper-parameters are: {', '.join(valid)}")
    return cls(**params)
