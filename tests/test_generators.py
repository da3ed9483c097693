"""Generators: moments, geometry, seeding and bad input (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone

from analysis.steps import generate, genfit
from analysis.science.generators import GENERATORS, GMMGenerator, GMMSelector, make_generator


def _cloud(n=4000, N=6, seed=0) -> np.ndarray:
    """Correlated, off-centre Gaussian points (n, N) float32."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(N, N))
    return (rng.standard_normal((n, N)) @ mix + rng.normal(0, 2, N)).astype(np.float32)


@pytest.fixture(scope="module")
def cloud():
    return _cloud()


@pytest.mark.parametrize("name", list(GENERATORS))
def test_every_generator_fits_and_samples(name, cloud):
    gen = make_generator(name, random_state=1)
    assert gen.fit(cloud) is gen
    out = gen.sample(50)
    assert out.shape == (50, cloud.shape[1]) and out.dtype == np.float32
    assert np.isfinite(out).all()
    clone(gen)  # hyper-parameters stored as given: scikit-learn can clone it


@pytest.mark.parametrize("name", list(GENERATORS))
def test_seeded_sampling_is_reproducible_and_successive_calls_differ(name, cloud):
    a = make_generator(name, random_state=3).fit(cloud)
    b = make_generator(name, random_state=3).fit(cloud)
    first = a.sample(20)
    np.testing.assert_array_equal(first, b.sample(20))
    # an explicit rng is used as given and leaves the generator's own stream alone
    r1 = a.sample(5, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(r1, a.sample(5, rng=np.random.default_rng(9)))
    second = a.sample(20)
    assert not np.array_equal(first, second), "sample() must not reset the seed"
    np.testing.assert_array_equal(second, b.sample(20))


def test_mvn_reproduces_mean_and_covariance(cloud):
    gen = make_generator("mvn", random_state=0).fit(cloud)
    n = 40_000
    s = gen.sample(n).astype(np.float64)
    cov = np.cov(cloud, rowvar=False)
    np.testing.assert_allclose(gen.mean_, cloud.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(gen.covariance_, cov, rtol=1e-4, atol=1e-4)
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(s.mean(axis=0) - gen.mean_) < 5 * se_mean)
    # standard error of a covariance entry: sqrt((s_ii s_jj + s_ij^2) / n)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / n)
    assert np.all(np.abs(np.cov(s, rowvar=False) - cov) < 5 * se_cov)


def test_independent_generators_keep_marginals_and_drop_correlations(cloud):
    for name in ("independent-normal", "independent-empirical"):
        s = make_generator(name, random_state=0).fit(cloud).sample(20_000).astype(np.float64)
        np.testing.assert_allclose(s.mean(axis=0), cloud.mean(axis=0), atol=0.1 * cloud.std(axis=0).max())
        np.testing.assert_allclose(s.std(axis=0), cloud.std(axis=0), rtol=0.05)
        corr = np.corrcoef(s, rowvar=False)
        assert np.abs(corr - np.eye(len(corr))).max() < 0.05
    emp = make_generator("independent-empirical", random_state=0).fit(cloud).sample(5000)
    assert np.all(emp >= cloud.min(axis=0)) and np.all(emp <= cloud.max(axis=0))


@pytest.mark.parametrize("confidence", [0.3, 0.95])
def test_pca_ellipsoid_stays_inside_its_ellipsoid(cloud, confidence):
    gen = make_generator("pca-ellipsoid", confidence=confidence, random_state=0).fit(cloud)
    d2 = gen.mahalanobis2(gen.sample(5000))
    assert gen.chi2_threshold_ == pytest.approx(stats.chi2.ppf(confidence, cloud.shape[1]))
    assert d2.max() <= gen.chi2_threshold_ * (1 + 1e-4)
    # truncated, not squeezed: the radii fill the ellipsoid like a Gaussian's would
    assert stats.kstest(d2, lambda x: stats.chi2.cdf(x, cloud.shape[1]) / confidence).pvalue > 1e-3


def test_uniform_radii_follow_the_closed_form():
    N, b = 256, 1.5
    gen = make_generator("uniform", b=b, random_state=0).fit(np.zeros((2, N)))
    s = gen.sample(20_000)
    assert np.abs(s).max() <= b
    r = np.linalg.norm(s.astype(np.float64), axis=1)
    assert r.mean() == pytest.approx(b * np.sqrt(N / 3), rel=0.01)   # 13.86
    assert r.std() == pytest.approx(b / np.sqrt(15), rel=0.05)       # 0.387


def test_uniform_b_measured_by_radius_matching(cloud):
    gen = make_generator("uniform", random_state=0).fit(cloud)
    r_real = np.median(np.linalg.norm(cloud, axis=1))
    r_fake = np.median(np.linalg.norm(gen.sample(5000), axis=1))
    assert r_fake == pytest.approx(r_real, rel=0.02)


def test_mvn_core_drops_outliers_and_reports_the_kept_share(cloud):
    rng = np.random.default_rng(0)
    outliers = rng.normal(0, 50, size=(100, cloud.shape[1])).astype(np.float32)
    z = np.concatenate([cloud, outliers])
    gen = make_generator("mvn-core", core_sigma=3.0, random_state=0).fit(z)
    assert 0.95 < gen.kept_fraction_ < 0.99
    assert gen.tail_probability_ == pytest.approx(0.0027, rel=0.01)
    np.testing.assert_allclose(gen.mean_, cloud.mean(axis=0), atol=0.3)
    plain = make_generator("mvn", random_state=0).fit(z)
    assert np.trace(gen.covariance_) < 0.5 * np.trace(plain.covariance_)


def test_gmm_uses_its_own_stream_and_component_count(cloud):
    gen = make_generator("gmm", n_components=3, random_state=0).fit(cloud)
    assert gen.mixture_.n_components == 3 and gen.factors_.shape == (3, 6, 6)
    s = gen.sample(20_000).astype(np.float64)
    np.testing.assert_allclose(s.mean(axis=0), cloud.mean(axis=0), atol=0.15 * cloud.std(axis=0).max())


def _mixture(k: int, n: int = 900, N: int = 5, seed: int = 0) -> np.ndarray:
    """k well-separated Gaussian clusters with correlated (full) covariances, (n, N) float32."""
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(k):
        centre = np.zeros(N)
        centre[j % N] = 12.0 * (1 + j // N)
        parts.append(rng.standard_normal((n // k, N)) @ (0.6 * rng.normal(size=(N, N))) + centre)
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("criterion", ["heldout", "bic"])
def test_gmm_selection_finds_the_number_of_well_separated_clusters(k, criterion):
    sel = GMMSelector(n_components=(1, 2, 3, 4, 6), covariance_types=("full", "diag"), criterion=criterion,
                      random_state=k).fit(_mixture(k, seed=k))
    assert sel.best_params_ == {"n_components": k, "covariance_type": "full"}
    assert len(sel.results_) == len(sel.estimators_) == 10 and sel.n_train_ + sel.n_validation_ == 900
    best = sel.results_[sel.best_index_]
    key = "heldout_loglik" if criterion == "heldout" else "bic"
    others = [r[key] for i, r in enumerate(sel.results_) if i != sel.best_index_]
    assert all(best[key] >= x for x in others) if criterion == "heldout" else all(best[key] <= x for x in others)
    assert all(isinstance(r["converged"], bool) and r["n_iter"] >= 1 for r in sel.results_)


def test_gmm_selection_in_threads_equals_one_at_a_time():
    z = _mixture(3, seed=5)
    one, two = (GMMSelector(n_components=(1, 3, 6), covariance_types=("full", "diag"), random_state=7,
                            n_jobs=j).fit(z) for j in (1, 2))
    assert one.results_ == two.results_ and one.best_params_ == two.best_params_
    assert [r["n_components"] for r in two.results_] == [1, 3, 6, 1, 3, 6]  # in candidate order
    for a, b in zip(one.estimators_, two.estimators_):
        np.testing.assert_array_equal(a.mixture_.means_, b.mixture_.means_)


def test_gmm_selection_records_candidates_it_cannot_fit():
    z = _mixture(2, n=40)
    sel = GMMSelector(n_components=(2, 50), covariance_types=("full",), random_state=0).fit(z)
    assert sel.best_params_["n_components"] == 2
    assert sel.estimators_[1] is None and "50 components need at least 50 points" in sel.results_[1]["error"]
    assert sel.results_[1]["heldout_loglik"] is None
    with pytest.raises(ValueError, match="no candidate could be fitted"):
        GMMSelector(n_components=(50,), covariance_types=("full",), random_state=0).fit(z)
    with pytest.raises(ValueError, match="criterion"):
        GMMSelector(criterion="aic").fit(z)


def test_gmm_reports_em_convergence(cloud):
    z = _mixture(3)
    gen = GMMGenerator(n_components=3, random_state=0).fit(z)
    assert gen.converged_ and gen.n_iter_ >= 2
    assert gen.lower_bound_ == pytest.approx(gen.score(z), abs=0.05)  # the final per-point log-likelihood
    stopped = GMMGenerator(n_components=3, max_iter=1, tol=1e-12, random_state=0).fit(z)
    assert not stopped.converged_ and stopped.n_iter_ == 1
    notes = genfit.generator_notes("gmm", [stopped, gen], 900, 5, generate.GenerateConfig())
    assert any("did not converge within 1 iterations in 1 of 2 repetitions" in n for n in notes)


def test_gmm_regularisation_prevents_the_degenerate_two_iteration_fit():
    """Components of fewer than N + 1 points: with a tiny reg_covar (scikit-learn's default scale) each
    collapses onto its own points and EM stops after 2 iterations with a poor held-out likelihood."""
    rng = np.random.default_rng(0)
    N = 40
    z = (rng.standard_normal((400, N)) @ (rng.normal(size=(N, N)) / np.sqrt(N)) * np.linspace(0.2, 3, N))
    fit, val = z[:300].astype(np.float32), z[300:]
    tiny = GMMGenerator(n_components=10, reg_relative=1e-6, random_state=0).fit(fit)
    default = GMMGenerator(n_components=10, random_state=0).fit(fit)
    assert tiny.n_iter_ == 2 and tiny.converged_
    assert tiny.lower_bound_ > default.lower_bound_  # it fits its own points better ...
    assert default.score(val) > tiny.score(val) + 50  # ... and new points far worse
    assert default.reg_covar_ == pytest.approx(0.01 * fit.astype(np.float64).var(axis=0).mean(), rel=1e-4)


def test_gmm_tolerance_reaches_every_candidate_and_stops_em_sooner():
    """Heavily overlapping components (a VAE's latents are near one Gaussian) make EM creep: a looser
    tolerance stops it in fewer iterations (here 15 against 58), with a held-out likelihood within half its
    standard error, and the selector passes its tolerance to every candidate."""
    rng = np.random.default_rng(1)
    N = 24
    z = rng.standard_normal((1500, N)) * np.linspace(0.5, 2.0, N)
    z[:, 0] += rng.choice([-0.6, 0.6], size=len(z))  # two components, far from separated
    fit, val = z[:1200].astype(np.float32), z[1200:]
    strict = GMMGenerator(n_components=5, tol=1e-4, random_state=0).fit(fit)
    loose = GMMGenerator(n_components=5, tol=1e-2, random_state=0).fit(fit)
    assert loose.n_iter_ < strict.n_iter_, (loose.n_iter_, strict.n_iter_)
    per_point = strict.mixture_.score_samples(val)
    assert abs(loose.score(val) - strict.score(val)) < 0.5 * per_point.std() / np.sqrt(len(val))
    sel = GMMSelector(n_components=(1, 5), covariance_types=("full",), tol=0.05, random_state=0).fit(fit)
    assert [e.tol for e in sel.estimators_] == [0.05, 0.05]


def test_em_runs_with_subnormal_numbers_flushed_to_zero():
    """EM's float32 responsibilities between e^-104 and e^-87 are subnormal, and products with them run
    tens of times slower: the gmm's fits flush them to zero, and leave the thread's default after."""
    from analysis.science.genmixture import denormals_flushed

    tiny = np.array([1e-30], dtype=np.float32)
    scale = np.array([1e-10], dtype=np.float32)
    assert (tiny * scale)[0] != 0.0  # subnormal (about 1e-40), kept by default
    with denormals_flushed():
        assert (tiny * scale)[0] == 0.0
    assert (tiny * scale)[0] != 0.0  # the default again


def test_gmm_diagonal_covariances_keep_the_variances(cloud):
    gen = GMMGenerator(n_components=1, covariance_type="diag", random_state=0).fit(cloud)
    assert gen.factors_.shape == (1, cloud.shape[1])
    s = gen.sample(40_000).astype(np.float64)
    # the component's variances are the data's plus the regularisation
    np.testing.assert_allclose(s.var(axis=0), cloud.astype(np.float64).var(axis=0) + gen.reg_covar_, rtol=0.03)
    with pytest.raises(ValueError, match="covariance_type"):
        GMMGenerator(covariance_type="tied").fit(cloud)


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "10"])
def test_bad_sample_count_is_a_plain_error(cloud, n):
    gen = make_generator("mvn", random_state=0).fit(cloud)
    with pytest.raises((TypeError, ValueError), match="positive integer"):
        gen.sample(n)


def test_unknown_generator_names_the_closest():
    with pytest.raises((TypeError, ValueError), match="did you mean 'mvn-core'"):
        make_generator("mvn_core")
    with pytest.raises((TypeError, ValueError), match="no hyper-parameter 'bee'"):
        make_generator("uniform", bee=1.0)


@pytest.mark.parametrize("name", ["mvn", "mvn-core", "pca-ellipsoid", "gmm"])
def test_full_covariance_needs_n_plus_one_points(name):
    z = np.random.default_rng(0).normal(size=(8, 8))
    with pytest.raises((TypeError, ValueError), match="at least N \\+ 1 = 9 points"):
        make_generator(name, random_state=0).fit(z)


@pytest.mark.parametrize("bad", [np.zeros(5), np.full((5, 3), np.nan), np.zeros((1, 3))])
def test_bad_points_are_plain_errors(bad):
    with pytest.raises((TypeError, ValueError)):
        make_generator("independent-normal").fit(bad)


def test_the_registry_names_are_the_configs():
    """The config checks generate.generators against analysis.science.gennames (light, no estimator
    imported); the registry built from the classes must hold the same names, in the same order."""
    from analysis.science import gennames
    from analysis.science.generators import GENERATORS

    assert tuple(GENERATORS) == gennames.NAMES
    assert gennames.unknown_name("gmm") is None
    assert "did you mean 'pca-ellipsoid'" in gennames.unknown_name("pca_ellipsoid")
