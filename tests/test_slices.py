"""Flat-cuboid slices and coordinate-plane helpers, checked against brute force."""

import numpy as np
import pytest

from analysis.science import geometry, slices


def naive_pair_counts(z, b):
    """Per-pair loop straight from the definition."""
    n, N = z.shape
    out = np.zeros((N, N), np.int64)
    for j1 in range(N):
        for j2 in range(j1 + 1, N):
            rest = np.delete(z, [j1, j2], axis=1)
            out[j1, j2] = out[j2, j1] = np.count_nonzero(np.all(np.abs(rest) <= b, axis=1))
    return out


def planted(dtype=np.float64, N=10, b=1.0):
    """Random points plus points planted in known slices."""
    rng = np.random.default_rng(7)
    z = rng.normal(0, 0.6, size=(300, N))
    inside = rng.uniform(-b, b, size=(20, N))             # in every slice
    one = rng.uniform(-b, b, size=(15, N)); one[:, 3] = 2.5 * b   # in every (3, *) slice
    two = rng.uniform(-b, b, size=(12, N)); two[:, [2, 7]] = [-3 * b, 1.5 * b]  # only (2, 7)
    three = rng.uniform(-b, b, size=(5, N)); three[:, [0, 1, 9]] = 2 * b      # in none
    tie = np.zeros((3, N)); tie[:, 5] = b; tie[:, 6] = -b  # |x| == b is inside
    return np.vstack([z, inside, one, two, three, tie]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_counts_equals_naive_loop(dtype):
    z, b = planted(dtype), 1.0
    want = naive_pair_counts(z, b)
    got = slices.pair_counts(z, b)
    assert got.dtype == np.int64 and got.shape == (10, 10)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, got.T)
    assert np.all(np.diag(got) == 0)
    idx, val = slices.top_abs(z)
    np.testing.assert_array_equal(slices.pair_counts_from_top(idx, val, b, 10), want)
    # the planted points are where they should be
    assert want[2, 7] >= 20 + 12 and want[3, 5] >= 20 + 15


def test_pair_counts_in_chunks(monkeypatch):
    z = planted()
    whole = slices.pair_counts(z, 0.8)
    monkeypatch.setattr(geometry, "CHUNK_ELEMENTS", 37)  # several rows per chunk, ragged end
    np.testing.assert_array_equal(slices.pair_counts(z, 0.8), whole)
    idx, val = slices.top_abs(z)
    np.testing.assert_array_equal(slices.pair_counts_from_top(idx, val, 0.8, z.shape[1]), whole)


def test_pair_counts_rejects_bad_b():
    with pytest.raises(ValueError):
        slices.pair_counts(np.zeros((3, 4)), 0.0)


def test_top_abs_and_membership_rule():
    z = planted()
    idx, val = slices.top_abs(z)
    order = np.argsort(-np.abs(z), axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(val, np.take_along_axis(np.abs(z), order, axis=1))
    assert np.all(np.diff(val, axis=1) <= 0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        j1, j2 = rng.choice(10, 2, replace=False)
        b = rng.uniform(0.2, 2.5)
        rest = np.delete(z, [j1, j2], axis=1)
        want = np.all(np.abs(rest) <= b, axis=1)
        np.testing.assert_array_equal(slices.in_slice(idx, val, j1, j2, b), want)


def test_top_abs_pads_small_N():
    idx, val = slices.top_abs(np.array([[0.5, -2.0]]))
    np.testing.assert_array_equal(idx, [[1, 0, 0, 0]])
    np.testing.assert_array_equal(val, [[2.0, 0.5, 0.0, 0.0]])


def test_uniform_cube_points_lie_in_every_slice():
    u = slices.uniform_cube(np.random.default_rng(1), 50, 8, b=0.7)
    assert u.shape == (50, 8) and np.abs(u).max() <= 0.7
    c = slices.pair_counts(u, 0.7)
    assert np.all(slices.upper(c) == 50)


def test_occupancy_matches_pair_counts():
    z = planted()
    idx, val = slices.top_abs(z)
    grid = np.array([0.3, 0.9, 1.6, 4.0])
    occ = slices.occupancy(idx, val, grid, z.shape[1])
    for g, b in enumerate(grid):
        c = slices.upper(slices.pair_counts(z, b)) / len(z)
        np.testing.assert_allclose(occ[g], [c.min(), np.median(c), c.max()])
    assert np.all(np.diff(occ, axis=0) >= 0)  # more points fit as b grows
    np.testing.assert_allclose(occ[-1], 1.0)


def test_projection_overlap_naive():
    z = planted()
    got = slices.projection_overlap(z, 0.5)
    a = np.abs(z) <= 0.5
    want = np.array([[np.sum(a[:, i] & a[:, j]) for j in range(10)] for i in range(10)])
    np.testing.assert_array_equal(got, want)


def test_origin_mahalanobis_2d():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5)) + 1.0
    mean, cov = x.mean(0), np.cov(x.T)
    d = slices.origin_mahalanobis_2d(mean, cov)
    for i, j in [(0, 1), (2, 4), (3, 1)]:
        m = mean[[i, j]]
        s = cov[np.ix_([i, j], [i, j])]
        assert d[i, j] == pytest.approx(np.sqrt(m @ np.linalg.solve(s, m)))
    assert np.allclose(d, d.T, equal_nan=True)


def test_choose_pairs_reproducible_and_reasoned():
    z = planted()
    ca = slices.pair_counts(z, 1.0)
    cs = slices.pair_counts(z[::2], 1.0)
    ov = slices.projection_overlap(z, 1.0)
    o2 = slices.origin_mahalanobis_2d(z.mean(0), np.cov(z.T))
    a = slices.choose_pairs(ca, cs, ov, o2, 2)
    assert a == slices.choose_pairs(ca, cs, ov, o2, 2)
    assert [r["reason"] for r in a] == ["emptiest"] * 2 + ["fullest"] * 2 + \
        ["origin_at_border"] * 2 + ["overlap_but_empty"] * 2
    pairs = [tuple(r["pair"]) for r in a]
    assert len(set(pairs)) == len(pairs) and all(i < j for i, j in pairs)
    u = slices.upper(ca)
    assert ca[pairs[0]] == u.min() and ca[pairs[2]] == u.max()
