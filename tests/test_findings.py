"""The ledger's rules (issue 23): every counted row can give every verdict, tests are Holm-adjusted as
one family, and intervals pooled over runs widen when the runs disagree.

Figures are built directly (:mod:`analysis.steps.findings` judges plain figures), each made to land in one
verdict; the test runs the row's test through :func:`analysis.science.ledger.adjust` as the claims step does,
so a rule that needs a significant test gets one only where the draws give it. The claims step on
generated latents (tests/test_claims.py) checks that measured data reach the same verdicts.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.science import calibration as cal
from analysis.steps import findings
from analysis.science import ledger
from analysis.pipeline.config import load_config

CC = load_config(None, []).claims
B = 200
RNG = np.random.default_rng(0)


def stat(value, low, high, **extra) -> dict:
    return {"value": value, "low": low, "high": high, **extra}


def draws(value: float, sd: float) -> np.ndarray:
    return value + sd * RNG.standard_normal(B)


def judged(fid: str, fig: dict) -> dict:
    """Run the row's test (Holm over a family of one) and judge it."""
    figs = {fid: fig}
    ledger.adjust(figs, CC.ledger_alpha)
    return findings.JUDGES[fid](figs[fid], CC)


def b_fig(value=1.9) -> dict:
    return {"value": value}


# --------------------------------------------------------------------------- figure factories, one per row

def off_centre(lo, hi):
    v = (lo + hi) / 2
    return {"stats": {"value": stat(v, lo, hi)}, "N": 256, "effect_size": 0.5, "null": 0.0, "majority": 0.5,
            "significant_share": v, "median_abs_mean_over_sd": 0.3, "notes": []}


def own_spread(lo, hi, null=1.08):
    v = (lo + hi) / 2
    sim = null + 0.02 * RNG.standard_normal(5000)
    return {"stats": {"value": stat(v, lo, hi)}, "limit": 1.5, "q90_over_q10": 1.4, "notes": [],
            "test": {"method": "monte-carlo", "direction": "greater", "null_median": float(np.median(sim)),
                     "null_q95": float(np.quantile(sim, 0.95)), "simulations": len(sim), "null_draws": sim}}


def ellipsoid(lo, hi, null=0.77):
    v = (lo + hi) / 2
    return {"stats": {"value": stat(v, lo, hi)}, "N": 256, "mean_abs_corr": 0.15, "mean_abs_corr_independent": 0.02,
            "notes": [], "test": {"method": "bootstrap-z", "direction": "less", "null": null,
                                  "draws": draws(v, (hi - lo) / 4 + 1e-9)}}


def centre(lo, hi, null_centre=0.3):
    v = (lo + hi) / 2
    sim = np.clip(null_centre + 0.1 * RNG.standard_normal(5000), 0, 1)
    return {"stats": {"value": stat(v, lo, hi)}, "k": 5, "N": 256, "offset": 8.0, "offset_over_rms": 0.45,
            "notes": [], "test": {"method": "monte-carlo", "direction": "greater", "null_median": float(np.median(sim)),
                                  "null_q95": float(np.quantile(sim, 0.95)), "simulations": len(sim),
                                  "null_draws": sim}}


def origin(lo, hi, gaussian=0.0):
    v = (lo + hi) / 2
    return {"stats": {"value": stat(v, lo, hi)}, "gaussian": gaussian, "folds": 5, "in_sample": v / 2,
            "others": [{"label": "Euclidean distance from the centre", "share": 0.99, "band": "inside the bulk"}],
            "notes": []}


def projection(lo, hi, normal=0.5):
    v = (lo + hi) / 2
    return {"stats": {"value": stat(v, lo, hi)}, "b": b_fig(), "projected": 2000.0, "cube": int(2000 * v),
            "normal": normal, "notes": [],
            "across_b": {"low_b": 1.88, "low_value": v * 0.9, "high_b": 1.96, "high_value": v * 1.1}}


def slices_(lo, hi, rlo, rhi, normal=0.2):
    return {"stats": {"value": stat((lo + hi) / 2, lo, hi), "ratio": stat((rlo + rhi) / 2, rlo, rhi)},
            "b": b_fig(), "normal": normal, "notes": [],
            "across_b": {"low_b": 1.88, "low_value": lo, "high_b": 1.96, "high_value": hi}}


def void(lo, hi, normal_ratio=0.6):
    v = (lo + hi) / 2
    return {"stats": {"value": stat(v, lo, hi), "uniform": stat(0.9 * v, 0, 1), "calibration": stat(0.9, 0.88, 0.92)},
            "b": b_fig(), "k": 5, "uniform_points": 2000, "notes": [],
            "normal": {"share": 0.9 * normal_ratio, "ratio": normal_ratio},
            "normal_at_origin": {"share": 0.03, "ratio": 0.04},
            "nn": {"real_median": 6.3, "real_q99": 13.2, "uniform_median_ratio": 3.0, "uniform_min_ratio": 1.3,
                   "normal_median_ratio": 2.4, "normal_at_origin_median_ratio": 2.5},
            "test": {"method": "bootstrap-z", "direction": "less", "null": 1.0, "draws": draws(v, (hi - lo) / 4 + 1e-9)}}


def b_range(lo, hi, overlap=(1.1, 3.3), best=1.9):
    return {"stats": {"value": stat((lo + hi) / 2, lo, hi)}, "overlap": list(overlap),
            "b": {"value": best, "best": best, "low": best * 0.98, "high": best * 1.02, "flat": [best * 0.9, best * 1.1],
                  "best_at_edge": False}, "slice_change": 0.3, "notes": []}


def core(lo, hi, kept_lo=0.9):
    v = (lo + hi) / 2
    return {"stats": {"value": stat(v, lo, hi), "kept": stat(kept_lo + 0.02, kept_lo, kept_lo + 0.04)},
            "gaussian_kept": 0.9973, "z": 5.0, "whole": v, "axes_rejected": 3, "rank": 256, "whole_axes_rejected": 9,
            "notes": [], "test": {"method": "bootstrap-z", "direction": "two-sided", "null": 1.0,
                                  "draws": draws(v, (hi - lo) / 4 + 1e-9)}}


CASES = {
    "off_centre": {"reproduced": off_centre(0.6, 0.8), "partly": off_centre(0.2, 0.3), "not reproduced": off_centre(0.0, 0.05)},
    "own_spread": {"reproduced": own_spread(3.0, 4.0), "partly": own_spread(1.3, 1.7), "not reproduced": own_spread(1.05, 1.2)},
    "ellipsoid": {"reproduced": ellipsoid(0.13, 0.15), "partly": ellipsoid(0.3, 0.5), "not reproduced": ellipsoid(0.78, 0.8)},
    "centre_subspace": {"reproduced": centre(0.8, 0.9), "partly": centre(0.8, 0.9, null_centre=0.85),
                        "not reproduced": centre(0.1, 0.3)},
    "origin_border": {"reproduced": origin(0.03, 0.06), "partly": origin(0.2, 0.3), "not reproduced": origin(0.6, 0.7)},
    "projection_overlap": {"reproduced": projection(0.02, 0.05), "partly": projection(0.2, 0.3),
                           "not reproduced": projection(0.6, 0.7)},
    "slices_empty": {"reproduced": slices_(0.01, 0.03, 0.2, 0.5), "partly": slices_(0.01, 0.03, 10.0, 50.0),
                     "not reproduced": slices_(0.2, 0.3, 0.9, 1.1)},
    "uniform_void": {"reproduced": void(0.0, 0.002), "partly": void(0.2, 0.3), "not reproduced": void(0.8, 0.95)},
    "b_range": {"reproduced": b_range(1.0, 1.2), "partly": b_range(1.2, 1.5), "not reproduced": b_range(1.5, 1.9)},
    "core_normal": {"reproduced": core(0.97, 1.05), "partly": core(1.06, 1.13), "not reproduced": core(1.4, 1.6)},
}


@pytest.mark.case("every counted geometry row of the ledger, given figures made for each verdict",
                  "each rule reaches reproduced, partly and not reproduced, and the sentence agrees with the verdict")
@pytest.mark.parametrize("fid", sorted(CASES))
@pytest.mark.parametrize("verdict", ["reproduced", "partly", "not reproduced"])
def test_every_rule_reaches_every_verdict(fid, verdict):
    row = judged(fid, CASES[fid][verdict])
    assert row["verdict"] == verdict, (fid, row["sentence"])
    assert row["kind"] == "finding" and row["criterion"] and row["sentence"].endswith((".", ".)"))
    if row["null"] is not None:
        assert row["null_label"], fid


def test_the_counted_rows_are_the_judged_ones_and_the_thin_shell_is_a_check():
    assert set(CASES) == set(findings.JUDGES) - {"thin_shell"}
    fig = {"stats": {"value": stat(0.028, 0.0277, 0.0283)}, "theory": 0.028, "real": 0.31, "b": b_fig()}
    row = findings.judge_thin_shell(fig, CC)
    assert row["kind"] == "check" and "not counted" in row["criterion"]


def test_a_rule_that_needs_significance_does_not_pass_without_it():
    """Inside the band but no different from the null model: partly, and the sentence says why."""
    row = judged("centre_subspace", centre(0.8, 0.9, null_centre=0.85))
    assert row["verdict"] == "partly" and not row["test"]["significant"]
    assert "no nearer than a direction drawn from the cloud's covariance" in row["sentence"]
    assert row["null_passes"] and "c ~ N(0, Σ)" in row["null_label"]
    spread = judged("own_spread", own_spread(1.6, 1.7, null=1.65))  # a common spread gives as much
    assert spread["verdict"] == "partly" and spread["null_passes"] and "pass the same rule" in spread["sentence"]


def test_a_null_that_passes_the_rule_is_named_in_the_sentence():
    row = judged("projection_overlap", projection(0.02, 0.05, normal=0.0001))
    assert row["verdict"] == "reproduced" and row["null_passes"]
    assert "passes the same rule" in row["sentence"] and "not of this cloud" in row["sentence"]
    row = judged("uniform_void", void(0.0, 0.002, normal_ratio=0.05))
    assert row["null_passes"] and "fall outside the support as well" in row["sentence"]
    row = judged("origin_border", origin(0.03, 0.06, gaussian=0.05))
    assert row["null_passes"] and "first two moments" in row["sentence"]
    assert not judged("origin_border", origin(0.03, 0.06, gaussian=0.0))["null_passes"]


def test_positions_name_their_metric():
    for verdict in ("reproduced", "partly", "not reproduced"):
        s = judged("origin_border", CASES["origin_border"][verdict])["sentence"]
        assert "Mahalanobis" in s and "Euclidean distance from the centre" in s
        s = judged("uniform_void", CASES["uniform_void"][verdict])["sentence"]
        assert "k-NN support (k = 5; Euclidean)" in s


# --------------------------------------------------------------------------- tests and Holm

def test_holm_matches_its_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, 1*0.04, then running max
    np.testing.assert_allclose(cal.holm(p), [0.03, 0.06, 0.06, 0.02])
    assert cal.holm([0.5, 0.9]).tolist() == [1.0, 1.0] and cal.holm([]).size == 0


def test_p_values_of_both_methods():
    sim = np.arange(1000) / 1000.0
    assert ledger.p_value("monte-carlo", 0.9995, sim, "greater") == pytest.approx(1 / 1001)
    assert ledger.p_value("monte-carlo", -1.0, sim, "greater") == 1.0
    d = np.random.default_rng(1).normal(0.5, 0.1, 4000)
    assert ledger.p_value("bootstrap-z", 0.5, 0.3, "greater", d) == pytest.approx(0.0228, abs=0.004)  # z = 2
    assert ledger.p_value("bootstrap-z", 0.5, 0.3, "less", d) == pytest.approx(0.977, abs=0.004)
    assert ledger.p_value("bootstrap-z", 0.0, 1.0, "less", np.zeros(10)) == 0.0  # no spread, on the claim's side
    with pytest.raises(ValueError):
        ledger.p_value("bootstrap-z", 0.0, 1.0, "sideways", d)


def test_the_ledger_adjusts_its_tests_as_one_family():
    figs = {fid: CASES[fid]["reproduced"] for fid in ("own_spread", "ellipsoid", "centre_subspace", "uniform_void",
                                                        "core_normal", "origin_border")}
    figs = {k: {**v, "test": dict(v["test"])} if "test" in v else dict(v) for k, v in figs.items()}
    ids = ledger.adjust(figs, 0.05)
    assert ids == ["own_spread", "ellipsoid", "centre_subspace", "uniform_void", "core_normal"]  # origin has no test
    p = [figs[i]["test"]["p"] for i in ids]
    np.testing.assert_allclose([figs[i]["test"]["p_holm"] for i in ids], cal.holm(p))
    assert all("Holm-adjusted over the ledger's 5 tests" in figs[i]["test"]["family"] for i in ids)
    row = findings.JUDGES["ellipsoid"](figs["ellipsoid"], CC)
    assert row["test"]["family"] in row["criterion"] and row["test"]["p_holm"] >= row["test"]["p"]


# --------------------------------------------------------------------------- pooling over runs

def test_the_hierarchical_bootstrap_widens_when_runs_disagree():
    rng = np.random.default_rng(2)
    agree = [0.3 + 0.01 * rng.standard_normal(200) for _ in range(3)]
    disagree = [v + 0.01 * rng.standard_normal(200) for v in (0.2, 0.3, 0.45)]
    a = cal.percentile_interval(cal.hierarchical_bootstrap(agree, 4000, rng), 0.95)
    d = cal.percentile_interval(cal.hierarchical_bootstrap(disagree, 4000, rng), 0.95)
    one = cal.percentile_interval(agree[0], 0.95)
    assert a[1] - a[0] < one[1] - one[0]  # three agreeing runs: narrower than one run's
    assert d[1] - d[0] > 5 * (a[1] - a[0]) and d[0] < 0.25 and d[1] > 0.4


def _pooled(values: list[tuple[float, float, float]]) -> dict:
    figs, ds = [], []
    for v, lo, hi in values:
        f = origin(lo, hi)
        f["stats"]["value"].update(value=v, count=v * 1000, total=1000.0)
        figs.append({"origin_border": f})
        ds.append({"origin_border/value": v + (hi - lo) / 4 * RNG.standard_normal(B)})
    return ledger.pool(figs, ds, [{}] * len(values), ["seed0", "seed1", "seed2"], 0.95, 4000, 0)


def test_pooled_rows_are_judged_on_the_pooled_interval():
    agree = _pooled([(0.05, 0.04, 0.06), (0.052, 0.042, 0.062), (0.048, 0.038, 0.058)])["origin_border"]
    disagree = _pooled([(0.05, 0.04, 0.06), (0.30, 0.28, 0.32), (0.45, 0.43, 0.47)])["origin_border"]
    wa = agree["stats"]["value"]["high"] - agree["stats"]["value"]["low"]
    wd = disagree["stats"]["value"]["high"] - disagree["stats"]["value"]["low"]
    assert wd > 5 * wa
    ra, rd = findings.judge_origin(agree, CC), findings.judge_origin(disagree, CC)
    assert ra["verdict"] == "reproduced" and rd["verdict"] == "partly"  # each run of the second set alone: partly or worse
    assert rd["pooled"]["n"] == 3 and "hierarchical bootstrap over the 3 runs" in rd["interval"]
    assert rd["ours"]["value"] == pytest.approx((0.05 + 0.30 + 0.45) / 3) and "(mean of 3 runs)" in rd["sentence"]
