"""k-NN metrics, radius distance and re-encoding gap (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from analysis.science import geometry
from analysis.science import metrics as M


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 16)), rng.normal(size=(400, 16))


def _prdc_bruteforce(real, fake, k):
    """Naeem et al.'s formulas on full distance matrices (reference implementation)."""
    drr, dff, dfr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r_real = np.sort(drr, axis=1)[:, k]
    r_fake = np.sort(dff, axis=1)[:, k]
    inside = dfr <= r_real[None, :]
    return {"precision": inside.any(axis=1).mean(),
            "recall": (dfr <= r_fake[:, None]).any(axis=0).mean(),
            "density": inside.sum() / (k * len(fake)),
            "coverage": (dfr.min(axis=0) <= r_real).mean(),
            "nn_real_mean": dfr.min(axis=1).mean()}


def test_prdc_matches_the_bruteforce_formulas(sets):
    real, fake = sets
    got = M.prdc(real, fake + 0.3, k=3)
    want = _prdc_bruteforce(real, fake + 0.3, 3)
    for key, v in want.items():  # float32 distances: a boundary point may flip
        assert got[key] == pytest.approx(v, rel=1e-5, abs=2 / len(real)), key


def test_identical_sets_score_one(sets):
    real, _ = sets
    m = M.latent_metrics(real, real, k=5)
    assert m["precision"] == m["recall"] == m["coverage"] == m["in_support"] == 1.0
    assert m["density"] == pytest.approx(6 / 5)  # each point also lies in its own ball
    assert m["radius_w1"] == pytest.approx(0.0, abs=1e-12)
    assert m["nn_real_mean"] == pytest.approx(0.0, abs=1e-2)  # float32 rounding


def test_same_distribution_scores_near_one(sets):
    real, fake = sets
    m = M.prdc(real, fake, k=5)
    assert m["precision"] > 0.75 and m["recall"] > 0.75 and m["coverage"] > 0.75
    assert 0.7 < m["density"] < 1.3


def test_disjoint_sets_score_zero(sets):
    real, fake = sets
    m = M.latent_metrics(real, fake + 100.0, k=5)
    assert m["precision"] == m["recall"] == m["density"] == m["coverage"] == m["in_support"] == 0.0
    assert m["radius_w1"] > 300


def test_support_mask_is_precision(sets):
    real, fake = sets
    mask = M.support_mask(real, fake * 2.0, k=5)
    assert mask.dtype == bool and mask.shape == (len(fake),)
    assert mask.mean() == pytest.approx(M.prdc(real, fake * 2.0, k=5)["precision"])


def test_radius_distance_and_thin_shell():
    rng = np.random.default_rng(1)
    a = rng.uniform(-1.5, 1.5, size=(3000, 256))
    assert M.radius_distance(a, a * 2) == pytest.approx(np.linalg.norm(a, axis=1).mean(), rel=1e-9)


def test_image_metrics_flatten_pixels():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(50, 1, 8, 8))
    m = M.image_metrics(x, x, k=3)
    assert set(m) == {"pixel_precision", "pixel_recall", "pixel_density", "pixel_coverage", "pixel_nn_real_mean"}
    assert m["pixel_precision"] == 1.0 and m["pixel_coverage"] == 1.0


def test_reencoding_gap_and_spread():
    z = np.array([[0.0, 0.0], [2.0, 0.0]])
    assert geometry.spread(z) == pytest.approx(1.0)
    g = M.reencoding_gap(z, z + [3.0, 4.0], geometry.spread(z))
    assert g == {"reencode_gap": pytest.approx(5.0), "reencode_gap_rel": pytest.approx(5.0)}


def test_bad_input_is_a_plain_value_error(sets):
    real, fake = sets
    with pytest.raises((TypeError, ValueError), match="at least 6 are needed"):
        M.prdc(real[:5], fake, k=5)
    with pytest.raises((TypeError, ValueError), match="dimensions"):
        M.prdc(real, fake[:, :3], k=5)
    with pytest.raises((TypeError, ValueError), match="k must be a positive integer"):
        M.prdc(real, fake, k=0)
    with pytest.raises((TypeError, ValueError), match="NaN"):
        M.prdc(real, np.full_like(fake, np.nan), k=5)


def test_copy_metrics_detect_copies_and_accept_novelty():
    from analysis.science.metrics import copy_metrics, nearest_distances

    rng = np.random.default_rng(0)
    fit, hold, fresh = (rng.normal(size=(600, 16)) for _ in range(3))
    copies = fit[rng.choice(600, 300)] + rng.normal(scale=1e-3, size=(300, 16))
    c = copy_metrics(fit, hold, copies)
    assert c["copy_share"] > 0.95 and c["nn_fit_ratio"] < 0.05
    exact = copy_metrics(fit, hold, fit[rng.choice(600, 300)])  # verbatim copies, float32 distances
    assert exact["copy_share"] == 1.0 and exact["nn_fit_ratio"] == pytest.approx(0.0, abs=1e-2)
    f = copy_metrics(fit, hold, fresh)
    assert abs(f["copy_share"] - 0.05) < 0.04 and abs(f["nn_fit_ratio"] - 1) < 0.1
    far = copy_metrics(fit, hold, fresh + 10.0)
    assert far["copy_share"] == 0.0 and far["nn_fit_ratio"] > 2
    brute = np.sqrt(((hold[:20, None] - fit[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(nearest_distances(hold[:20], fit), brute, rtol=1e-4)
