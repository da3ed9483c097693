"""Latent-space geometry: closed forms, planted structure, and the stats step end to end."""

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf, ledoit_wolf_shrinkage

from analysis import artifacts, published
from analysis.science import geometry, slices
from analysis.steps import stats
from analysis.pipeline import storage
from analysis.pipeline.provenance import read_manifest, sha256_file
from analysis.pipeline.config import Config
from analysis.errors import UserError


def gaussian(n, mean, cov, seed=0):
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)


def small_config(**stats_overrides):
    cfg = Config()
    s = cfg.stats
    s.sample_size, s.bins, s.radius_artificial, s.n_pairs = 150, 20, 2000, 1
    for k, v in stats_overrides.items():
        setattr(s, k, v)
    return cfg


def write_latents(run_dir, z):
    run_dir.mkdir(parents=True, exist_ok=True)
    np.save(run_dir / "latents.npy", np.asarray(z, dtype=np.float32))


def synthetic(n=400, N=12, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(N, N)) / np.sqrt(N)
    return rng.normal(size=(n, N)) @ a * 0.8 + 0.4


# ------------------------------------------------------------------ library

def test_uniform_radii_match_closed_form():
    N, b = 256, 1.5
    u = slices.uniform_cube(np.random.default_rng(0), 20000, N, b)
    r = np.linalg.norm(u, axis=1)
    mean, sd = geometry.uniform_radius_closed_form(N, b)
    assert mean == pytest.approx(13.856, abs=1e-3) and sd == pytest.approx(0.3873, abs=1e-4)
    assert r.mean() == pytest.approx(mean, rel=2e-3)
    assert r.std() == pytest.approx(sd, rel=0.03)


def test_moments_match_numpy(monkeypatch):
    z = synthetic().astype(np.float32)
    monkeypatch.setattr(geometry, "CHUNK_ELEMENTS", 100)  # many chunks
    m = geometry.moments(z)
    x = z.astype(np.float64)
    np.testing.assert_allclose(m["mean"], x.mean(0))
    np.testing.assert_allclose(m["cov"], np.cov(x.T, bias=True), atol=1e-12)
    np.testing.assert_allclose(m["radius"], np.linalg.norm(x, axis=1))
    np.testing.assert_allclose(m["radius_centred"], np.linalg.norm(x - x.mean(0), axis=1))
    np.testing.assert_array_equal(m["min"], x.min(0))
    geometry.moments(x)
    np.testing.assert_array_equal(x, z.astype(np.float64))  # input left untouched


def test_ledoit_wolf_matches_sklearn():
    z = synthetic(n=60, N=20)  # n not much larger than N: shrinkage matters
    m = geometry.moments(z)
    s = geometry.ledoit_wolf_shrinkage(m["cov"], m["sum_r4"], len(z))
    assert s == pytest.approx(ledoit_wolf_shrinkage(z), rel=1e-10)
    assert 0 < s < 1


def test_mahalanobis_of_origin_for_known_gaussian():
    mean = np.array([1.0, -0.5, 0.3, 2.0])
    a = np.array([[2.0, 0.3, 0, 0], [0.3, 1.0, 0.2, 0], [0, 0.2, 0.5, 0.1], [0, 0, 0.1, 0.8]])
    cov = a @ a.T
    want = np.sqrt(mean @ np.linalg.solve(cov, mean))
    z = gaussian(40000, mean, cov)
    m = geometry.moments(z)
    eig, axes = geometry.pca(m["cov"])
    origin = np.zeros((1, 4))
    d = geometry.mahalanobis(origin, m["mean"], axes, geometry.inverse(eig))[0, 0]
    assert d == pytest.approx(want, rel=0.03)
    # Ledoit-Wolf metric equals scikit-learn's LedoitWolf estimator exactly
    s = geometry.ledoit_wolf_shrinkage(m["cov"], m["sum_r4"], len(z))
    w_lw = geometry.inverse((1 - s) * eig + s * eig.sum() / 4)
    d_lw = geometry.mahalanobis(origin, m["mean"], axes, w_lw)[0, 0]
    lw = LedoitWolf().fit(z)
    d_sk = lw.location_ @ lw.precision_ @ lw.location_
    assert d_lw ** 2 == pytest.approx(d_sk, rel=1e-8)
    assert s == pytest.approx(lw.shrinkage_, rel=1e-10)
    # a PCA subspace of all axes is the full metric; of one axis, smaller
    d1 = geometry.mahalanobis(origin, m["mean"], axes, geometry.inverse(eig, np.arange(4) < 1))[0, 0]
    assert d1 < d


def test_pca_recovers_planted_covariance():
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    var = np.array([9.0, 4.0, 1.0, 0.25, 0.04])
    cov = q @ np.diag(var) @ q.T
    z = gaussian(30000, np.full(5, 0.5), cov, seed=1)
    eig, axes = geometry.pca(geometry.moments(z)["cov"])
    np.testing.assert_allclose(eig, var, rtol=0.05)
    cos = np.abs(np.sum(axes * q.T, axis=1))
    assert np.all(cos > 0.99)
    big = np.abs(axes).argmax(axis=1)
    assert np.all(axes[np.arange(5), big] > 0)  # sign convention


def test_b_scan_finds_planted_b():
    N, b = 64, 1.2
    rng = np.random.default_rng(2)
    real = np.linalg.norm(slices.uniform_cube(rng, 5000, N, b), axis=1)
    unit = np.linalg.norm(slices.uniform_cube(rng, 3000, N), axis=1)
    grid = np.linspace(0.5, 2.0, 31)
    w = geometry.b_scan(real, unit, grid)
    assert grid[np.argmin(w)] == pytest.approx(b)
    lo, hi = geometry.overlap_range(real, unit)
    assert lo < b < hi and hi / lo < 1.6


# ------------------------------------------------------------- the measure

def test_projections_deterministic_for_a_seed():
    z = synthetic(n=500, N=10).astype(np.float32)
    sc = small_config().stats
    a1 = stats.measure(z, sc, seed=3)[1]
    a2 = stats.measure(z, sc, seed=3)[1]
    a3 = stats.measure(z, sc, seed=4)[1]
    for name in ("sample_index", "sample_z", "artificial_z", "slice_artificial_z", "pairs"):
        np.testing.assert_array_equal(a1[name], a2[name])
    assert not np.array_equal(a1["sample_index"], a3["sample_index"])
    np.testing.assert_array_equal(a1["sample_z"], z[a1["sample_index"]].astype(np.float16))


def test_measure_numbers_are_consistent():
    z = synthetic(n=500, N=10).astype(np.float32)
    num, arr = stats.measure(z, small_config(sample_size=10_000).stats, seed=0)
    assert num["notes"] and "sample_size" in num["notes"][0]
    assert num["projections"]["sample_size"] == 500
    b = num["b"]
    assert b["best"] in b["grid"] and b["overlap"][0] < b["overlap"][1]
    # the one b: the fine scan's best b, on its own grid around the radius-matching b
    fine = b["fine"]
    assert b["used"] == fine["best"] and b["used_source"] == "fine b-scan"
    assert fine["grid_min"] <= fine["best"] <= fine["grid_max"] and fine["flat"][0] <= fine["best"] <= fine["flat"][1]
    assert len(arr["b_fine_grid"]) == fine["grid_size"] and arr["b_boot_best"].shape == (fine["bootstrap"],)
    assert num["projections"]["b"] == num["slices"]["b"] == num["radii"]["uniform"]["b"] == b["used"]
    assert len(b["grid"]) == 60 and b["grid_source"] == "auto"
    # slice counts and the explorer's top-3 data agree
    j1, j2 = num["pairs"][0]["pair"]
    inside = slices.in_slice(arr["sample_top_index"], arr["sample_top_abs"], j1, j2, b["used"])
    assert inside.sum() == num["pairs"][0]["slice_sample"]
    k = list(arr["atlas_b"]).index(b["used"])
    assert arr["atlas_counts_all"][k, j1, j2] == num["pairs"][0]["slice_all"]
    assert num["components"]["n_off_centre"] == 10  # every mean planted at 0.4
    assert num["origin"]["mahalanobis"]["primary"] == "ledoit_wolf"


def test_stored_figures_agree_with_the_arrays():
    """The derived figures and findings the article states are stored, and agree with the arrays."""
    n, N = 500, 10
    num, arr = stats.measure(synthetic(n=n, N=N).astype(np.float32), small_config().stats, seed=0)
    th = num["thresholds"]
    assert num["schema_version"] == 3 and th == stats.THRESHOLDS
    c, std, zs = num["components"], arr["component_std"], arr["component_mean_over_se"]
    assert c["std_ratio"] == pytest.approx(std.max() / std.min())
    assert c["spreads_differ"] == (c["std_ratio"] > th["spread_ratio"])
    assert c["off_centre_majority"] == (c["share_off_centre"] >= th["majority_share"])
    levels = list(arr["component_quantile_levels"])
    lo, hi = arr["component_quantiles"][:, levels.index(0.01)], arr["component_quantiles"][:, levels.index(0.99)]
    assert c["n_central_98_excluding_zero"] == int(np.sum((lo > 0) | (hi < 0)))
    assert c["share_central_98_excluding_zero"] == c["n_central_98_excluding_zero"] / N
    assert (c["central_98_width_min"], c["central_98_width_max"]) == (float((hi - lo).min()), float((hi - lo).max()))
    picks = {ch["why"]: ch["component"] for ch in c["characteristic"]}
    assert len(set(picks.values())) == len(picks) == len(c["characteristic"])
    assert picks["most off-centre"] == int(np.argmax(np.abs(zs)))
    assert picks.get("widest", int(np.argmax(std))) == int(np.argmax(std))
    co = num["correlation"]
    assert co["n_pairs"] == N * (N - 1) // 2 and co["share_pairs_above_0_5"] == co["n_pairs_above_0_5"] / co["n_pairs"]
    p, ce = num["pca"], num["centre"]
    assert p["headline_k"] == 10 and p["variance_share_headline_k"] == arr["pca_variance_cumulative"][9]
    assert p["axis_length_ratio"] ** 2 == pytest.approx(p["condition_number"])
    assert ce["headline_k"] == 5 and ce["offset_share_headline_k"] == ce["offset_share_first_k"]["5"]
    assert ce["variance_share_headline_k"] == p["variance_share_first_k"]["5"]
    mh = num["origin"]["mahalanobis"]
    assert mh["at_border"] == (mh["ledoit_wolf"]["share_farther"] < th["border_share"])
    b, sl, grid, occ = num["b"], num["slices"], arr["b_grid"], arr["occupancy"]
    assert (b["grid_min"], b["grid_max"]) == (grid.min(), grid.max())
    assert b["published_best_in_grid"] == (published.FACTS["b_best"] <= grid.max())
    assert (sl["share_all_min"], sl["share_all_max"]) == (sl["count_all"]["min"] / n, sl["count_all"]["max"] / n)
    i = int(np.searchsorted(grid, b["used"]))  # occupancy grows with b: the grid's neighbours bracket the b used
    assert 0 < i < len(grid)
    assert occ[i - 1, 0] <= sl["share_all_min"] <= occ[i, 0] and occ[i - 1, 2] <= sl["share_all_max"] <= occ[i, 2]
    half = grid[occ[:, 0] >= th["half_share"]]
    assert sl["b_half_emptiest"] == (float(half.min()) if len(half) else None)
    iu = np.triu_indices(N, 1)
    assert sl["atlas_empty_pairs"] == [int(np.sum(a[iu] == 0)) for a in arr["atlas_counts_all"]]
    assert arr["atlas_b"][sl["atlas_index_b"]] == b["used"]
    assert num["projections"]["n_hidden_components"] == N - 2
    r = num["radii"]
    assert r["uniform"]["relative_spread"] == r["uniform"]["std"] / r["uniform"]["mean"]
    # the published closed form, recomputed from the study's N and b, rounds to what the study quoted
    pcf, pub = r["published_closed_form"], num["published_reference"]
    assert (pcf["N"], pcf["b"]) == (pub["N"], pub["b_best"]) == (256, 1.5)
    assert round(pcf["mean"], 1) == pub["uniform_radius_mean_closed_form"]
    assert round(pcf["std"], 2) == pub["uniform_radius_std_closed_form"]
    assert {k: pub[k] for k in published.FACTS} == published.FACTS


def test_a_pair_listed_twice_is_shown_once():
    num, arr = stats.measure(synthetic(n=200, N=6).astype(np.float32),
                             small_config(pairs=[[0, 1], [2, 3], [0, 1]]).stats, seed=0)
    assert [p["pair"] for p in num["pairs"]] == [[0, 1], [2, 3]] and arr["pairs"].tolist() == [[0, 1], [2, 3]]


# ---------------------------------------------------------------- the step

def test_run_end_to_end(tmp_path, monkeypatch):
    run = tmp_path / "run"
    write_latents(run, synthetic())
    cfg = small_config()
    res = stats.run(cfg, run)
    js, npz = run / "stats" / "stats.json", run / "stats" / "arrays.npz"
    assert js.is_file() and npz.is_file()
    assert res == storage.load_json(js)
    assert {"best", "overlap", "used", "grid"} <= set(res["b"])
    man = read_manifest(run, "stats")
    assert set(man["outputs"]) == {"stats/stats.json", "stats/arrays.npz"}
    assert man["inputs"]["latents.npy"] == sha256_file(run / "latents.npy")
    with np.load(npz) as a:
        assert a["sample_z"].shape == (150, 12) and a["atlas_counts_all"].shape[1:] == (12, 12)
    # the reader of the article accepts what the step wrote, every key and array
    reader = artifacts.Run(run)
    assert reader.stats.N == 12 and reader.arrays.corr.shape == (12, 12)
    before = js.read_bytes(), npz.read_bytes()
    # complete: skipped without recomputing
    monkeypatch.setattr(stats, "measure", lambda *a, **k: pytest.fail("recomputed"))
    assert stats.run(cfg, run) == res
    monkeypatch.undo()
    # forced: recomputed, byte-identical
    stats.run(cfg, run, force=True)
    assert (js.read_bytes(), npz.read_bytes()) == before


@pytest.mark.parametrize("case, needle", [
    ("nan", "NaN/inf"),
    ("pair", "stats.pairs[1]"),
    ("grid", "stats.b_grid[1]"),
    ("few", "N + 1"),
    ("bins", "stats.bins"),
])
def test_bad_input_is_a_user_error_and_writes_nothing(tmp_path, case, needle):
    run = tmp_path / "run"
    z = synthetic()
    cfg = small_config()
    if case == "nan":
        z[3, 4] = np.nan
    elif case == "pair":
        cfg.stats.pairs = [[0, 1], [2, 12]]
    elif case == "grid":
        cfg.stats.b_grid = [0.5, -1.0]
    elif case == "few":
        z = z[:12]
    elif case == "bins":
        cfg.stats.bins = 1
    write_latents(run, z)
    with pytest.raises(UserError) as e:
        stats.run(cfg, run)
    assert needle in str(e.value)
    assert not (run / "stats").exists()
    assert read_manifest(run, "stats") is None


def test_missing_latents_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        stats.run(small_config(), tmp_path)
