"""The claims ledger (issue 13): calibrated statistics against known answers, and verdicts that flip.

Small generated latents (N = 8) go through the real stats step and the claims step;
each data set is built so that one finding must come out one way (the origin inside,
at the border of or beyond the cloud; slices emptier than, as full as or fuller than a
fitted normal; a Gaussian or a heavy-tailed core), and the test checks the verdict and
that the sentence the article prints says so.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.covariance import LedoitWolf

from analysis.science import calibration as cal
from analysis import artifacts
from analysis.steps import claims, genfit, genjudge, stats
from analysis.science import geometry, normality, nulls
from analysis.pipeline import provenance, storage
from analysis.artifacts import Run
from analysis.pipeline.config import load_config
from analysis.errors import UserError
from analysis.science.generators import MVNCoreGenerator

N, n = 8, 1500
FAST = ["claims.bootstrap=50", "claims.null_points=20000", "claims.null_draws=2000", "claims.void_points=1000",
        "stats.sample_size=500", "stats.radius_artificial=2000", "stats.b_bootstrap=50"]


def ledger(tmp_path, z, *overrides) -> dict:
    """The claims step on latents z (after the stats step): {id: row}."""
    storage.save_npy(tmp_path / "latents.npy", np.asarray(z, dtype=np.float32))
    cfg = load_config(None, [*FAST, *overrides])
    stats.run(cfg, tmp_path)
    return {r["id"]: r for r in claims.run(cfg, tmp_path)}


def gaussian(seed: int = 1, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, N)) + shift * np.ones(N) / np.sqrt(N)


@pytest.fixture(scope="module")
def shifted(tmp_path_factory) -> tuple:
    """One ledger of a Gaussian whose centre lies 3 sd from the origin, shared by the tests that only read it."""
    d = tmp_path_factory.mktemp("shifted")
    return d, ledger(d, gaussian(shift=3.0))


# --------------------------------------------------------------------------- verdicts flip with the data

def test_origin_inside_at_the_border_or_beyond(tmp_path):
    r_border = float(np.sqrt(sps.chi2.isf(0.04, N)))  # a point at this Mahalanobis radius has 4 % farther out
    inside = ledger(tmp_path / "inside", gaussian())["origin_border"]
    border = ledger(tmp_path / "border", gaussian(shift=r_border))["origin_border"]
    beyond = ledger(tmp_path / "beyond", gaussian(shift=10.0))["origin_border"]
    assert inside["verdict"] == "not reproduced"
    assert inside["sentence"].startswith("In the Mahalanobis metric the origin lies inside the bulk")
    assert border["verdict"] == "reproduced"
    assert border["sentence"].startswith("In the Mahalanobis metric the origin lies at the border")
    assert border["ours"]["low"] <= 0.04 <= border["ours"]["high"]
    assert beyond["verdict"] == "partly"
    assert beyond["sentence"].startswith("In the Mahalanobis metric the origin lies beyond the data")
    assert beyond["ours"]["value"] == 0 and 0 < beyond["ours"]["high"] < 0.01  # an upper bound, not [0, 0]
    for row in (inside, border, beyond):
        assert row["criterion"] and row["null_label"] and row["null"] is not None


def test_slices_emptier_than_as_full_as_or_fuller_than_the_null(tmp_path):
    b, m = 0.8, 2 * n  # a Gaussian puts 1.2 % in the cube and 3.7 % in each slice
    rng = np.random.default_rng(2)
    pts = rng.standard_normal((4 * m, N))
    void = pts[(np.abs(pts) > b).sum(axis=1) >= 3][:m]  # no point in any slice, so none in the cube
    plain = rng.standard_normal((m, N))
    fuller = np.vstack([plain[:m - 300], 0.1 * rng.standard_normal((300, N))])  # extra mass at the origin
    L = {name: ledger(tmp_path / name, z, f"stats.b={b}") for name, z in
         (("void", void), ("plain", plain), ("fuller", fuller))}
    assert L["void"]["slices_empty"]["verdict"] == "reproduced"
    assert "emptier than a normal of the same shape" in L["void"]["slices_empty"]["sentence"]
    assert L["plain"]["slices_empty"]["verdict"] == "partly"
    assert "not a void" in L["plain"]["slices_empty"]["sentence"]
    assert L["fuller"]["slices_empty"]["verdict"] == "not reproduced"
    for rows in L.values():  # the one b, and the figure at both ends of its interval
        assert rows["slices_empty"]["b"] == b and "across the interval of the best b" in rows["slices_empty"]["sentence"]


def test_gaussian_and_heavy_tailed_core(tmp_path):
    rng = np.random.default_rng(3)
    heavy = np.vstack([rng.standard_normal((1050, N)), 3.0 * rng.standard_normal((n - 1050, N))])  # a scale mixture
    g = ledger(tmp_path / "gauss", gaussian())["core_normal"]
    h = ledger(tmp_path / "heavy", heavy)["core_normal"]
    assert g["verdict"] == "reproduced" and g["sentence"].startswith("The dense core is close to a multivariate normal")
    assert g["test"]["method"] == "bootstrap-z" and not g["test"]["significant"]
    assert g["ours"]["low"] <= 1 <= g["ours"]["high"] and g["reference"] > 0.99
    assert h["verdict"] == "not reproduced" and h["sentence"].startswith("The dense core is not close")
    assert h["ours"]["low"] > 1.25 and h["reference"] < 0.95 and h["test"]["significant"]


def _spread(values: np.ndarray, rng: np.random.Generator, m: int = n) -> np.ndarray:
    return rng.standard_normal((m, len(values))) + values


def test_off_centre_counts_material_offsets_not_significance(tmp_path):
    rng = np.random.default_rng(11)
    most = _spread(np.full(N, 1.0), rng)                       # every mean one sd out
    tiny = _spread(np.full(N, 0.15), rng, 3000)                # significant, but a small effect
    some = _spread(np.r_[np.full(3, 1.0), np.zeros(N - 3)], rng)  # 3 of 8 components out
    L = {name: ledger(tmp_path / name, z)["off_centre"] for name, z in (("most", most), ("tiny", tiny), ("some", some))}
    assert L["most"]["verdict"] == "reproduced" and L["most"]["ours"]["value"] == 1.0
    assert L["tiny"]["verdict"] == "not reproduced" and L["tiny"]["ours"]["value"] == 0.0
    assert "differ from zero significantly at any size" in L["tiny"]["sentence"]
    assert "significance alone says nothing about size" in L["tiny"]["sentence"]
    assert L["some"]["verdict"] == "partly" and L["some"]["ours"]["value"] == pytest.approx(3 / 8)


def test_the_centre_is_judged_against_directions_drawn_from_the_covariance(tmp_path):
    """The share of |centre|^2 in the first 5 principal axes, against directions drawn from the
    covariance: a centre along the longest axis where the 5 longest hold 40 % of the variance is a finding
    (reproduced); a centre whose direction is itself a draw from a covariance whose 5 longest axes hold
    98 % lies near their span, but no nearer than chance (partly: the old k/N null called it a finding);
    a centre along the shortest axis is not near them (not reproduced)."""
    rng = np.random.default_rng(12)
    dim = 16
    g = rng.standard_normal((n, dim))
    mild = np.r_[np.full(5, 1.2), np.ones(dim - 5)]
    long5 = np.r_[np.full(5, 10.0), np.ones(dim - 5)]
    drawn = long5 * np.random.default_rng(3).standard_normal(dim)
    L = {"mild": ledger(tmp_path / "mild", g * mild + 2.0 * np.eye(dim)[0])["centre_subspace"],
         "long": ledger(tmp_path / "long", g * long5 + drawn)["centre_subspace"],
         "short": ledger(tmp_path / "short", g * mild + 2.0 * np.eye(dim)[dim - 1])["centre_subspace"]}
    assert L["mild"]["verdict"] == "reproduced" and L["mild"]["test"]["significant"] and L["mild"]["null"] < 0.5
    assert L["long"]["verdict"] == "partly" and not L["long"]["test"]["significant"] and L["long"]["null_passes"]
    assert L["long"]["ours"]["low"] >= 0.5 and L["long"]["null"] > 0.9
    assert "no nearer than a direction drawn from the cloud's covariance" in L["long"]["sentence"]
    assert L["short"]["verdict"] == "not reproduced"
    for row in L.values():
        assert row["test"]["method"] == "monte-carlo" and "c ~ N(0, Σ)" in row["null_label"]


def test_uniform_points_in_a_void_between_or_inside_the_data(tmp_path, shifted):
    """Where uniform points at b lie: far from a cloud away from the origin (a void), partly inside a
    Gaussian whose centre lies 3 sd from the origin, inside data that fill the cube themselves."""
    rng = np.random.default_rng(13)
    far = rng.standard_normal((n, N)) * 0.3 + 5.0
    filled = rng.uniform(-1.0, 1.0, (n, N))
    L = {"far": ledger(tmp_path / "far", far, "stats.b=1")["uniform_void"],
         "gauss": shifted[1]["uniform_void"],
         "filled": ledger(tmp_path / "filled", filled, "stats.b=1")["uniform_void"]}
    assert L["far"]["verdict"] == "reproduced" and L["far"]["ours"]["value"] == 0.0
    assert L["far"]["sentence"].startswith("Uniform points fall into voids")
    assert L["gauss"]["verdict"] == "partly", L["gauss"]["sentence"]
    assert L["filled"]["verdict"] == "not reproduced" and L["filled"]["ours"]["low"] >= 0.5
    for row in L.values():
        assert 0.8 < row["reference"] <= 1.0  # the calibration: held-out real points inside the support
        assert "held-out real points (the support's calibration)" in row["sentence"]
    assert L["far"]["b"] == 1.0 and "stats.b" in " ".join(L["far"]["notes"])


def test_the_cube_is_an_observation_with_radii(shifted):
    d = json.loads((shifted[0] / "claims" / "details.json").read_text())
    cube = d["cube"]
    assert cube["count"] == round(cube["share"] * n) and cube["radius_min"] <= cube["radius_max"]
    assert cube["contrast"] is None and "not at hand" in cube["contrast_reason"]  # latents placed by hand
    assert cube["b"] == d["b"]["value"]


def test_the_step_writes_a_complete_ledger_and_skips_when_up_to_date(tmp_path, capfd):
    rows = ledger(tmp_path, gaussian(shift=3.0))
    assert len(rows) >= 12 and [r["id"] for r in rows.values() if r["kind"] == "check"] == ["thin_shell"]
    for r in rows.values():
        assert r["verdict"] in claims.VERDICTS and r["criterion"] and r["sentence"] and r["claim"] and r["published"]
        o = r["ours"]
        if r["verdict"] == "not testable":
            assert r["reason"] and o == {"value": None, "low": None, "high": None}
        else:
            assert o["low"] <= o["value"] <= o["high"], r["id"]
    # without a generate step the generator findings are not testable, and say why
    assert rows["gmm_beats_simple"]["verdict"] == "not testable"
    assert "generate step has not run" in rows["gmm_beats_simple"]["reason"]
    doc = json.loads((tmp_path / "claims" / "claims.json").read_text())
    assert isinstance(doc, list) and [r["id"] for r in doc] == list(rows)
    manifest = provenance.read_manifest(tmp_path, "claims")
    assert set(manifest["outputs"]) == {"claims/claims.json", "claims/details.json", "claims/arrays.npz"}
    reader = Run(tmp_path)
    assert reader.claims.row("origin_border").sentence == rows["origin_border"]["sentence"]
    assert reader.claims_details.sample.unstable is False and reader.claims_arrays.draws.ndim == 2
    assert len(reader.claims.findings) == len(rows) - 1 and sum(reader.claims.counts.values()) == len(rows) - 1
    before = (tmp_path / "claims" / "claims.json").read_bytes()
    capfd.readouterr()
    claims.run(load_config(None, FAST), tmp_path)
    assert "claims: up to date" in capfd.readouterr().err
    assert (tmp_path / "claims" / "claims.json").read_bytes() == before


def test_few_points_are_flagged(tmp_path):
    rng = np.random.default_rng(4)
    rows = ledger(tmp_path, rng.standard_normal((30, 16)) + 2.0)  # n < 5 N
    details = json.loads((tmp_path / "claims" / "details.json").read_text())
    assert details["sample"]["unstable"] and "unstable" in details["sample"]["sentence"]
    assert any("unstable" in note for note in rows["origin_border"]["notes"])


def test_bad_claims_settings_name_the_key(tmp_path):
    storage.save_npy(tmp_path / "latents.npy", gaussian().astype(np.float32))
    cfg = load_config(None, FAST)
    stats.run(cfg, tmp_path)
    for override, key in (("claims.border_band=[0.2, 0.1]", "claims.border_band"),
                          ("claims.kurtosis_far=0.05", "claims.kurtosis_close"),
                          ("claims.face_ratio=0.1", "claims.nonface_ratio"),
                          ("claims.filled_ratio=0.05", "claims.void_ratio"),
                          ("claims.minor_share=0.6", "claims.minor_share")):
        with pytest.raises(UserError, match=key.replace(".", r"\.")):
            claims.run(load_config(None, [*FAST, override]), tmp_path)
    assert not (tmp_path / "claims").exists()


def test_a_moved_key_says_where_it_went():
    with pytest.raises(UserError, match=r"'claims\.b_step'.*moved to 'stats\.b_step'"):
        load_config(None, ["claims.b_step=0.01"])


def test_one_b_everywhere(tmp_path, shifted):
    """The stats step's fine scan sets the one b; every row, the slice counts and the stats agree, and the
    reader refuses a build where any of them differs."""
    import shutil
    shutil.copytree(shifted[0], tmp_path, dirs_exist_ok=True)
    rows = shifted[1]
    reader = Run(tmp_path)
    S, B = reader.stats, reader.b
    assert S.b.used == S.b.fine.best == B.value == B.best and S.b.used_source == "fine b-scan"
    assert B.low <= B.value <= B.high and B.checks == (B.value, B.low, B.high)
    used = {r["b"] for r in rows.values() if r["b"] is not None}
    assert used == {B.value} and {"projection_overlap", "slices_empty", "uniform_void", "b_range"} <= {
        fid for fid, r in rows.items() if r["b"] is not None}
    assert S.projections.b == S.slices.b == S.radii.uniform.b == B.value
    doc = json.loads((tmp_path / "claims" / "claims.json").read_text())
    doc[[r["id"] for r in doc].index("slices_empty")]["b"] = B.value * 1.03
    (tmp_path / "claims" / "claims.json").write_text(json.dumps(doc))
    with pytest.raises(artifacts.ArtifactError, match="row 'slices_empty' uses b ="):
        Run(tmp_path).b
    stats_doc = json.loads((tmp_path / "stats" / "stats.json").read_text())
    stats_doc["projections"]["b"] = S.b.best * 1.1
    (tmp_path / "stats" / "stats.json").write_text(json.dumps(stats_doc))
    with pytest.raises(artifacts.ArtifactError, match="is not the claims step's b"):
        Run(tmp_path).b


def test_the_chapters_take_b_from_the_one_reader():
    """No chapter reads a b value but through run.b (or the stats views it checks)."""
    import re
    from pathlib import Path
    for page in sorted((Path(__file__).resolve().parents[1] / "report").glob("*.md")):
        text = page.read_text()
        assert not re.search(r"\bb\.used\b|\bbb\.best\b|coarse_best|\.b\.fine\.best|fine_best\b\s*=", text), page.name


def test_claims_needs_a_finished_stats_step(tmp_path):
    storage.save_npy(tmp_path / "latents.npy", gaussian().astype(np.float32))
    with pytest.raises(UserError, match="run the stats step first"):
        claims.run(load_config(None, FAST), tmp_path)


# --------------------------------------------------------------------------- calibrated statistics, known answers

def test_cross_fitted_distance_is_scikit_learns_ledoit_wolf():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6)) + 2.0
    folds = cal.fold_ids(len(x), 4, rng)
    res = cal.crossfit_shares(x, np.zeros(6), folds, 4, np.ones(len(x)), (2, 4))
    for f in range(4):
        lw = LedoitWolf().fit(x[folds != f])
        d0 = np.sqrt(lw.mahalanobis(np.zeros((1, 6)))[0])
        assert res["origin_distance"][f, 0] == pytest.approx(d0, rel=1e-9)
    d = np.concatenate([np.sqrt(LedoitWolf().fit(x[folds != f]).mahalanobis(x[folds == f])) > res["origin_distance"][f, 0]
                        for f in range(4)])
    assert res["share"][0] == pytest.approx(d.mean())


def test_bootstrap_weights_are_duplicated_points():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((120, 4)) + 1.0
    folds = cal.fold_ids(len(x), 3, rng)
    w = rng.integers(0, 3, len(x)).astype(float)
    rep = np.repeat(np.arange(len(x)), w.astype(int))
    a = cal.crossfit_shares(x, np.zeros(4), folds, 3, w, (2,))
    b = cal.crossfit_shares(x[rep], np.zeros(4), folds[rep], 3, np.ones(len(rep)), (2,))
    np.testing.assert_allclose(a["share"], b["share"])
    np.testing.assert_allclose(a["origin_distance"], b["origin_distance"])


def test_origin_at_a_known_mahalanobis_radius():
    """A Gaussian whose centre is at Mahalanobis radius r from the origin: a share chi2.sf(r^2, N) lies farther."""
    rng = np.random.default_rng(7)
    dim, m = 4, 4000
    cov = np.diag([4.0, 2.0, 1.0, 0.5])
    r = float(np.sqrt(sps.chi2.isf(0.2, dim)))
    mean = np.sqrt(cov.diagonal()) * r / 2.0  # (mean / sd) has length r
    x = rng.multivariate_normal(mean, cov, m)
    out = cal.origin_crossfit(x, np.zeros(dim), 5, (2, 3), 40, rng)
    lo, hi = cal.percentile_interval(out["boot_share"][:, 0], 0.95)
    assert out["share"][0] == pytest.approx(0.2, abs=0.03)
    assert lo - 0.01 <= 0.2 <= hi + 0.01 and hi - lo < 0.08


def test_the_origin_bootstrap_does_not_depend_on_its_threads():
    x = np.random.default_rng(14).standard_normal((300, 6)) + 1.0
    one = cal.origin_crossfit(x, np.zeros(6), 4, (2, 4), 12, np.random.default_rng(1), n_jobs=1)
    two = cal.origin_crossfit(x, np.zeros(6), 4, (2, 4), 12, np.random.default_rng(1), n_jobs=3)
    np.testing.assert_array_equal(one["boot_share"], two["boot_share"])
    for key in one["boot_shape"]:
        np.testing.assert_array_equal(one["boot_shape"][key], two["boot_shape"][key])


def test_fine_b_scan_recovers_a_known_scale_and_matches_scipy():
    rng = np.random.default_rng(8)
    unit = np.linalg.norm(rng.uniform(-1, 1, (3000, 32)), axis=1)
    real = 1.7 * np.linalg.norm(rng.uniform(-1, 1, (1500, 32)), axis=1)
    grid = cal.b_grid(1.5, 0.01, 1.5)
    assert np.all(grid[1:] / grid[:-1] <= 1.01 + 1e-12) and grid[0] < 1.7 < grid[-1]
    w = cal.w1_scaled(np.sort(real), np.sort(unit), grid)
    np.testing.assert_allclose(w[::10], [sps.wasserstein_distance(real, b * unit) for b in grid[::10]], rtol=1e-9)
    np.testing.assert_allclose(w, geometry.b_scan(real, unit, grid), rtol=1e-9)
    fb = cal.fine_b_scan(real, unit, grid, 100, 2.0, 0.95, rng)
    assert fb["best"] == pytest.approx(1.7, rel=0.02)
    assert fb["interval"][0] <= 1.7 * 1.01 and fb["interval"][1] >= 1.7 * 0.99
    assert fb["flat"][0] <= fb["best"] <= fb["flat"][1]


def test_core_cut_is_the_mvn_core_generators_and_mardia_its_definition():
    rng = np.random.default_rng(9)
    x = rng.standard_t(4, size=(800, 5))
    kept, thr, _ = normality.core_cut(x, 3.0)
    gen = MVNCoreGenerator(core_sigma=3.0, random_state=0).fit(x)
    assert kept.mean() == pytest.approx(gen.kept_fraction_) and thr == pytest.approx(gen.threshold_)
    small = x[:60]
    c = small - small.mean(axis=0)
    inv = np.linalg.inv(c.T @ c / len(c))
    g = c @ inv @ c.T
    b1, b2 = normality.mardia(small)
    assert b1 == pytest.approx(np.mean(g ** 3)) and b2 == pytest.approx(np.mean(np.diag(g) ** 2))
    z = rng.standard_normal((3000, 6))
    assert normality.mardia(z)[1] == pytest.approx(6 * 8 * 2999 / 3001, rel=0.03)  # E b2 = p(p+2)(n-1)/(n+1)


def test_null_models_keep_what_they_promise():
    rng = np.random.default_rng(10)
    z = rng.standard_normal((300, 5)) * [1, 2, 3, 4, 5] + 1.0
    perm = np.vstack(list(nulls.null_points("permuted", z, None, None, 700, rng)))
    assert perm.shape == (700, 5)
    for j in range(5):  # each block of n rows is one permutation of every column
        np.testing.assert_allclose(np.sort(perm[:300, j]), np.sort(z[:, j].astype(np.float32)))
    mean, cov = z.mean(axis=0), np.cov(z, rowvar=False)
    f = nulls.gaussian_factor(cov)
    a = np.vstack(list(nulls.null_points("normal", z, mean, f, 500, np.random.default_rng(1))))
    b = np.vstack(list(nulls.null_points("normal_at_origin", z, mean, f, 500, np.random.default_rng(1))))
    np.testing.assert_allclose(a - b, np.broadcast_to(mean, a.shape))
    big = np.vstack(list(nulls.null_points("normal", z, mean, f, 40000, rng)))
    np.testing.assert_allclose(np.cov(big, rowvar=False), cov, atol=0.15 * np.abs(cov).max())


def test_ratio_interval_handles_empty_shares():
    r, lo, hi = cal.ratio_interval(0, 2000, 100, 10000, 0.95)  # 20 expected, none seen
    assert r == 0 and 0 < hi < 1 and lo < hi
    r, lo, hi = cal.ratio_interval(20, 1000, 0, 10000, 0.95)
    assert r == np.inf and lo > 1
    r, lo, hi = cal.ratio_interval(100, 1000, 1000, 10000, 0.95)
    assert lo < r < hi and r == pytest.approx(1.0)


# --------------------------------------------------------------------------- generator rows flip with the intervals

R = 5
SPREAD = np.array([-0.01, 0.005, 0.0, 0.01, -0.005])  # the repetitions' scatter around a mean


FACES_OK = {"available": True, "rule": "both", "usable": True, "reason": None, "n_scored": 128, "agreement": None,
            "reconstructions": None, "tests": None, "notes": [],  # (the run's check: not read by the ledger)
            "rule_text": "A decoded image counts as a face when both tests call it one: on held-out labelled images "
                         "this rule's true-positive rate is at least 95.0 % and its false-positive rate at most 1.0 %."}
FACES_BAD = {**FACES_OK, "rule": None, "usable": False, "rule_text": "No face test is used.",
             "reason": "no face test passed its calibration (the detector: false-positive rate 40 % on noise)"}


def generate_view(rows: dict[str, dict[str, float]], choices: list[tuple[int, str]] | None = None,
                  faces: dict | None = None):
    """A generate/metrics.json view whose generators have the given mean metrics (scattered a little over
    R repetitions; unspecified metrics 0.5), built with the generate step's own summary and ranking; the
    gmm's selection chose ``choices`` (n_components, covariance_type) per repetition (default 10 full in
    every one; the first must be 10 full, the first repetition's candidate)."""
    ref = {"precision": 0.93, "coverage": 1.0, "recall": 0.99, "pixel_precision": 0.93, "copy_share": 0.05,
           "face_share": 0.95, "face_score": 0.9}
    specs = {genjudge.REFERENCE: ref, **rows}
    repeats = []
    for i in range(R):
        out = []
        for name, spec in specs.items():
            row = {m: 0.5 for m in genjudge.METRICS}
            row.update({m: float(np.clip(v + (SPREAD[i] if v > 0 else 0.0), 0.0, 1.0)) for m, v in spec.items()})
            p, c = row["precision"], row["coverage"]
            row.update(name=name, kind="reference" if name == genjudge.REFERENCE else "generator",
                       score=2 * p * c / (p + c) if p + c > 0 else 0.0)
            out.append(row)
        repeats.append(genfit.Repeat(rows=out, generators={}))
    fit = {"converged": True, "n_iter": 5, "lower_bound": 10.0, "n_fit_points": 1943, "reg_covar": 0.01}
    info = {nm: {"class": "X", "params": {"random_state": None}, "varying": ["random_state"],
                 "repeat_params": [{"random_state": i} for i in range(R)], "fitted": fit, "repeats": [fit] * R}
            for nm in rows}
    choices = choices or [(10, "full")] * R
    modal = max(choices, key=lambda c: (choices.count(c), -choices.index(c)))
    sweep = {"parameter": "n_components", "values": [], "precision": [], "recall": [], "density": [], "coverage": []}
    doc = {
        "settings": {"n_points": 2429, "latent_dim": 256, "n_fit": 1943, "n_holdout": 486, "n_real": 486,
                     "n_fake": 1943, "n_image": 1943, "n_image_real": 486, "n_images": 64, "image_shape": [1, 24, 24],
                     "k": 5, "copy_quantile": 0.05, "copy_share_limit": 0.1, "holdout_fraction": 0.2, "seed": 0,
                     "repeats": R, "level": 0.95, "interval": "student-t", "repeat_seeds": [[i, i] for i in range(R)],
                     "b": {"value": 2.0, "source": "config"}, "spread": 17.6, "real_radius_mean": 19.1,
                     "latents_vs_encoder": 0.0, "generators": list(rows)},
        "table": genfit.table_of(repeats, 0.95), "generators": info,
        "gmm_selection": {"criterion": "heldout", "validation_fraction": 0.2, "n_train": 1554, "n_validation": 389,
                          "reg_relative": 0.01, "tol": 0.01, "chosen": {"n_components": 10, "covariance_type": "full"},
                          "candidates": [{"n_components": 10, "covariance_type": "full", "heldout_loglik": 11.0,
                                          "bic": 2e6, "converged": True, "n_iter": 5, "lower_bound": 100.0,
                                          "error": None}],
                          "per_repeat": [{"n_components": k, "covariance_type": c, "score": 11.0 + i}
                                         for i, (k, c) in enumerate(choices)],
                          "modal": {"n_components": modal[0], "covariance_type": modal[1]},
                          "agreement": choices.count(modal), "repeats": R} if "gmm" in rows else None,
        "sweeps": {"gmm_components": sweep, "pca_confidence": {**sweep, "parameter": "confidence"}},
        "faces": faces or FACES_OK, "files": {"samples": "samples.npz", "sheets": {}}, "notes": [],
    }
    return artifacts.validate(artifacts.Generate, doc, artifacts.METRICS)


BASE = {"uniform": {"precision": 0.0, "coverage": 0.0, "recall": 0.0, "face_share": 0.04, "face_score": 0.04},
        "independent-normal": {"precision": 0.0, "coverage": 0.0, "recall": 0.0, "face_share": 0.05,
                               "face_score": 0.05},
        "independent-empirical": {"precision": 0.0, "coverage": 0.0, "recall": 0.0, "face_share": 0.06,
                                  "face_score": 0.06},
        "mvn": {"precision": 0.50, "coverage": 0.50, "recall": 0.5, "face_share": 0.6, "face_score": 0.6}}
CC = load_config(None, []).claims


@pytest.mark.parametrize("gmm, mvn, verdict, words", [
    ({"face_score": 0.85}, {}, "reproduced", "beats the simple priors"),
    ({"face_score": 0.61}, {}, "partly", "does not clearly beat"),                  # a tie
    ({"face_score": 0.85, "copy_share": 0.6}, {}, "partly", "copies its fit points"),  # a win by copying
    ({"face_score": 0.30}, {}, "not reproduced", "does worse than a simple prior"),
])
def test_gmm_beats_simple_priors_only_where_its_interval_separates(gmm, mvn, verdict, words):
    G = generate_view({**BASE, "gmm": {"precision": 0.8, "coverage": 0.9, "recall": 0.8, "face_share": 0.9,
                                       "copy_share": 0.0, **gmm}})
    r = claims.claim_gmm(G, CC)
    assert r["verdict"] == verdict and words in r["sentence"], r["sentence"]
    gi, mi = G.row("gmm").interval("face_score"), G.row("mvn").interval("face_score")
    assert (r["ours"]["low"], r["ours"]["high"]) == (gi.low, gi.high) and r["null"] == G.row("mvn").face_score
    assert (gi.low > mi.high) == (verdict == "reproduced" or "copy_share" in gmm)
    assert any("Face test: A decoded image counts as a face" in n for n in r["notes"])
    assert "the held-out log-likelihood chose 10 full-covariance components in all 5 repetitions" in r["sentence"]
    assert "EM converged in 5 of 5 repetitions after 5 iterations" in r["sentence"]


def test_gmm_sentence_says_when_the_repetitions_chose_differently():
    choices = [(10, "full"), (5, "full"), (10, "full"), (5, "diag"), (5, "full")]
    G = generate_view({**BASE, "gmm": {"precision": 0.80, "coverage": 0.90, "recall": 0.8, "copy_share": 0.0,
                                       "face_score": 0.85}}, choices)
    sel = G.gmm_selection
    assert sel.varied and (sel.modal.n_components, sel.agreement) == (10, 2)
    r = claims.claim_gmm(G, CC)
    assert ("the choice varied: the held-out log-likelihood chose 10 full-covariance "
            "components in 2 of the 5 repetitions, 5 full-covariance components in 2 and 5 diag-covariance "
            "components in 1") in r["sentence"], r["sentence"]
    assert "in all 5 repetitions" not in r["sentence"]


@pytest.mark.parametrize("empirical, verdict, words", [
    (0.90, "reproduced", "does better than uniform vectors"),
    (0.045, "partly", "does about as well as uniform vectors"),
    (0.0, "not reproduced", "does worse than uniform vectors"),
])
def test_per_component_generation_does_better_only_where_intervals_separate(empirical, verdict, words):
    G = generate_view({**BASE, "independent-empirical": {**BASE["independent-empirical"],
                                                         "face_score": empirical}})
    r = claims.claim_per_component(G, CC, claims.generator_checks(G, CC))
    assert r["verdict"] == verdict and words in r["sentence"], r["sentence"]
    assert r["ours"]["value"] == pytest.approx(empirical, abs=1e-12) and r["unit"] == "score"


@pytest.mark.parametrize("fid, name, share, verdict, words", [
    ("uniform_nonfaces", "uniform", 0.04, "reproduced", "decode to images that are not faces"),
    ("uniform_nonfaces", "uniform", 0.5, "partly", "of which some are faces"),
    ("uniform_nonfaces", "uniform", 0.9, "not reproduced", "decode to faces here"),
    ("pca_faces", "pca-ellipsoid", 0.9, "reproduced", "decode to faces"),
    ("pca_faces", "pca-ellipsoid", 0.5, "partly", "decode only partly to faces"),
    ("pca_faces", "pca-ellipsoid", 0.04, "not reproduced", "do not decode to faces"),
])
def test_face_rows_follow_the_face_tests_labels(fid, name, share, verdict, words):
    G = generate_view({**BASE, name: {"precision": 0.5, "coverage": 0.5, "face_share": share, "face_score": share}})
    r = claims.claim_faces(fid, name, G, CC)
    assert r["verdict"] == verdict and words in r["sentence"], r["sentence"]
    assert r["ours"]["value"] == pytest.approx(share / 0.95, rel=0.02)
    assert f"{100 * share:.1f} %" in r["sentence"] and any(n.startswith("Face test: ") for n in r["notes"])
    assert "Face test: a decoded image counts as a face when both tests call it one" in r["criterion"]


@pytest.mark.case("no face test passes its calibration (e.g. the smoke config's synthetic images), or the faces step "
                  "has not run",
                  "the four ledger rows on faces are 'not testable' with the calibration's reason in the row and its "
                  "sentence; latent and face metrics are not compared")
def test_face_rows_are_not_testable_without_a_calibrated_face_test():
    G = generate_view({**BASE, "gmm": {"face_score": 0.85}, "pca-ellipsoid": {"face_share": 0.9}}, faces=FACES_BAD)
    rows = [claims.claim_faces("uniform_nonfaces", "uniform", G, CC), claims.claim_faces("pca_faces", "pca-ellipsoid", G, CC),
            claims.claim_per_component(G, CC, claims.generator_checks(G, CC)), claims.claim_gmm(G, CC)]
    for r in rows:
        assert r["verdict"] == "not testable" and r["reason"] == FACES_BAD["reason"], r
        assert FACES_BAD["reason"] in r["sentence"]
    absent = generate_view(BASE, faces={**FACES_BAD, "available": False})
    assert "the faces step has not run" in claims.claim_faces("uniform_nonfaces", "uniform", absent, CC)["reason"]
    assert claims.generator_checks(G, CC)["sentence"].startswith("Whether latent metrics and the decoded images agree")


def test_latent_and_pixel_metrics_disagree_only_where_the_numbers_say_so():
    off = generate_view({**BASE, "independent-empirical": {"precision": 0.0, "coverage": 0.0, "recall": 0.6,
                                                           "face_share": 0.9}})
    chk = claims.generator_checks(off, CC)
    assert chk["off_support_faces"] == ["independent-empirical"] and chk["in_support_nonfaces"] == []
    assert "disagree for independent-empirical" in chk["sentence"]
    assert "Latent metrics and the face tests disagree" in claims.claim_per_component(off, CC, chk)["sentence"]
    assert chk["recall_inflated"] == ["independent-empirical"] and "Recall is inflated" in chk["recall_sentence"]
    row = next(g for g in chk["rows"] if g["name"] == "independent-empirical")
    assert (row["latent"], row["pixel"]) == ("off support", "face-like")

    on = generate_view({**BASE, "independent-empirical": {"precision": 0.9, "coverage": 0.9, "recall": 0.9,
                                                          "face_share": 0.9}})
    chk = claims.generator_checks(on, CC)
    assert chk["off_support_faces"] == chk["in_support_nonfaces"] == chk["recall_inflated"] == []
    assert chk["sentence"].startswith("Latent metrics and the face tests agree for every generator")
    assert chk["recall_sentence"].startswith("No generator")
    assert "disagree" not in claims.claim_per_component(on, CC, chk)["sentence"]

    blurred = generate_view({**BASE, "mvn": {"precision": 0.9, "coverage": 0.9, "recall": 0.9,
                                             "face_share": 0.05}})
    chk = claims.generator_checks(blurred, CC)
    assert chk["in_support_nonfaces"] == ["mvn"] and "yet the face tests call few" in chk["sentence"]


# --------------------------------------------------------------------------- seeds in the intervals

def _headline(dirs: list) -> dict:
    """The across step's headline rows of runs made in ``dirs`` (as analysis.steps.across.compute pools them)."""
    from analysis.steps import across
    from analysis.science import ledger as lg
    parts = [across.pool_inputs(Run(d)) for d in dirs]
    names = [f"seed{i}" for i in range(len(dirs))]
    cc = load_config(None, FAST).claims
    pooled = lg.pool([p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts], names, cc.level,
                     cc.null_draws, 0)
    runs = [(nm, "", [across._row(c) for c in Run(d).claims.rows]) for nm, d in zip(names, dirs)]
    return across.headline_rows(runs, pooled, names, cc)


@pytest.mark.case("three runs of one configuration whose figures agree, and three made to disagree",
                  "the ledger's headline interval pools runs then points: it widens when the runs disagree, and the "
                  "verdict is decided on it; the generator rows keep the primary run's figures and say so")
def test_headline_intervals_widen_when_runs_disagree(tmp_path, shifted):
    agree = [shifted[0]]
    for seed in (2, 3):
        ledger(tmp_path / f"agree{seed}", gaussian(seed, shift=3.0))
        agree.append(tmp_path / f"agree{seed}")
    disagree = [shifted[0]]
    for seed, shift in ((4, 1.0), (5, 7.0)):
        ledger(tmp_path / f"disagree{seed}", gaussian(seed, shift=shift))
        disagree.append(tmp_path / f"disagree{seed}")
    A, D = _headline(agree), _headline(disagree)
    for fid in ("origin_border", "uniform_void", "off_centre"):
        assert A[fid]["pooled"]["n"] == 3 and "hierarchical bootstrap over the 3 runs" in A[fid]["interval"]
    width = {k: {fid: L[fid]["ours"]["high"] - L[fid]["ours"]["low"] for fid in ("origin_border", "uniform_void")}
             for k, L in (("agree", A), ("disagree", D))}
    assert width["disagree"]["origin_border"] > 4 * width["agree"]["origin_border"]
    assert width["disagree"]["uniform_void"] > 2 * width["agree"]["uniform_void"]
    one = shifted[1]["origin_border"]["ours"]
    assert A["origin_border"]["ours"]["low"] < one["value"] < A["origin_border"]["ours"]["high"]
    # the verdict follows the pooled interval: the runs disagree about the band, so the headline is "partly"
    assert D["origin_border"]["verdict"] == "partly" and "(mean of 3 runs)" in D["origin_border"]["sentence"]
    assert D["gmm_beats_simple"]["pooled"] is None and any("not pooled" in x for x in D["gmm_beats_simple"]["notes"])
