"""The figures the claims step judges its geometry rows from (:mod:`analysis.steps.findings` holds the rules):
one builder per row, and :func:`geometry_figures`, which measures the cloud (:mod:`analysis.steps.claimmeasures`)
and builds them all.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats as sps

from analysis.steps import findings
from analysis import published
from analysis.artifacts import Run
from analysis.steps.claimmeasures import (boot_stat, cov_note, cube_observation, jeffreys, measure_normality,
                                          measure_nulls, measure_origin, measure_void, notes_on_b, one_b,
                                          pixel_contrast, resample, sample_caveat, share_stat, stream_rng)
from analysis.pipeline.config import ClaimsConfig
from analysis.science.geometry import moments
from analysis.words import num, pct


# ------------------------------------------------------------------ the figures the geometry rows are judged from
#
# Each builder returns (fig, draws, null_draws): the plain figures (:mod:`analysis.steps.findings`
# judges them), the bootstrap draws of each figure in fig["stats"] (stat -> (B,)), and the
# simulated null figures of a monte-carlo test (or None).

def fig_off_centre(orig: dict, S, cc: ClaimsConfig, notes: list[str]):
    sh, boot = orig["shape"], orig["boot_shape"]
    f = sh["off_centre"]
    n = orig["total"]
    # centred components: |mean| / sd is about N(0, 1/n), so a share 2 Phi(-d sqrt n) exceeds d by chance
    null = float(2.0 * sps.norm.sf(cc.effect_size * math.sqrt(n)))
    fig = {"stats": {"value": {**f, "lower": 0.0, "upper": 1.0}}, "N": S.N, "effect_size": cc.effect_size,
           "null": null, "majority": S.thresholds.majority_share,
           "significant_share": sh["significant_share"]["value"],
           "median_abs_mean_over_sd": sh["median_abs_mean_over_sd"]["value"], "notes": notes}
    return fig, {"value": boot["off_centre"]}, None


def fig_own_spread(orig: dict, S, cc: ClaimsConfig, notes: list[str], seed: int):
    sh, boot = orig["shape"], orig["boot_shape"]
    n, N = int(orig["total"]), S.N
    # one common spread: each sample variance is sigma^2 chi2(n - 1) / (n - 1), exactly for Gaussian components
    rng = stream_rng(seed, "spread_null")
    v = rng.chisquare(max(n - 1, 1), size=(cc.null_draws, N))
    sim = np.sqrt(v.max(axis=1) / v.min(axis=1))
    fig = {"stats": {"value": sh["std_ratio"]}, "limit": S.thresholds.spread_ratio,
           "q90_over_q10": sh["std_q90_q10"]["value"], "notes": notes,
           "test": {"method": "monte-carlo", "direction": "greater", "null_median": float(np.median(sim)),
                    "null_q95": float(np.quantile(sim, 0.95)), "simulations": len(sim)}}
    return fig, {"value": boot["std_ratio"]}, sim


def fig_ellipsoid(orig: dict, S, cc: ClaimsConfig, notes: list[str]):
    sh, boot = orig["shape"], orig["boot_shape"]
    f = sh["axes_90"]
    fig = {"stats": {"value": {k: f[k] for k in ("value", "low", "high")}}, "N": S.N,
           "mean_abs_corr": sh["mean_abs_corr"]["value"], "mean_abs_corr_independent": sh["mean_abs_corr"]["independent"],
           "notes": notes, "test": {"method": "bootstrap-z", "direction": "less", "null": f["independent"]}}
    return fig, {"value": boot["axes_90"]}, None


def centre_null(eig: np.ndarray, k: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Share of |c|^2 in the first k principal axes for c ~ N(0, cov), m simulations: in the principal
    basis c_i = sqrt(eig_i) g_i with g standard normal, so the share is sum_{i<k} eig_i g_i^2 / sum eig_i g_i^2."""
    g2 = rng.standard_normal((m, len(eig))) ** 2 * np.clip(eig, 0.0, None)
    tot = g2.sum(axis=1)
    return np.where(tot > 0, g2[:, :k].sum(axis=1) / np.where(tot > 0, tot, 1.0), 0.0)


def fig_centre(orig: dict, S, A, cc: ClaimsConfig, notes: list[str], seed: int):
    sh, boot = orig["shape"], orig["boot_shape"]
    f = sh["centre_subspace"]
    k = S.centre.headline_k
    sim = centre_null(np.asarray(A.pca_eigenvalues, dtype=np.float64), k, cc.null_draws, stream_rng(seed, "centre_null"))
    fig = {"stats": {"value": {k_: f[k_] for k_ in ("value", "low", "high")}}, "k": k, "N": S.N,
           "offset": S.centre.offset, "offset_over_rms": S.centre.offset_over_rms_radius, "notes": notes,
           "test": {"method": "monte-carlo", "direction": "greater", "null_median": float(np.median(sim)),
                    "null_q95": float(np.quantile(sim, 0.95)), "simulations": len(sim)}}
    return fig, {"value": boot["centre_subspace"]}, sim


def fig_origin(orig: dict, S, cc: ClaimsConfig, notes: list[str]):
    lw = orig["lw"]
    stat = {"value": lw["share"], "low": lw["low"], "high": lw["high"], "count": orig["count"],
            "total": orig["total"], "lower": 0.0, "upper": 1.0}
    others = [{"label": m["label"], "share": m["share"], "band": m["band"]} for m in orig["table"]
              if m["metric"] != "ledoit_wolf"]
    fig = {"stats": {"value": stat}, "gaussian": lw["gaussian"], "folds": cc.folds, "others": others,
           "in_sample": S.origin.mahalanobis.ledoit_wolf.share_farther, "notes": notes}
    return fig, {"value": orig["boot_share"][:, 0]}, None


def fig_projection(nd: dict, bb: dict, cc: ClaimsConfig, notes: list[str], rng: np.random.Generator):
    pr = nd["projection"]
    d = pr["data"]
    fig = {"stats": {}, "b": {"value": bb["value"]}, "notes": notes}
    if not d["median_projected"]:
        return {**fig, "untestable": True, "reason": f"no point projects into [-b, b]^2 at b = {num(bb['value'])}"}, {}, None
    lo_b, hi_b = nd["projection_across_b"]
    stat = share_stat(d["cube"], d["median_projected"], cc.level)
    fig.update(stats={"value": stat}, projected=d["median_projected"], cube=d["cube"], normal=pr["normal"]["kept"],
               across_b={"low_b": lo_b["b"], "low_value": lo_b["kept"], "high_b": hi_b["b"],
                         "high_value": hi_b["kept"]})
    return fig, {"value": jeffreys(d["cube"], d["median_projected"], cc.bootstrap, rng)}, None


def fig_slices(nd: dict, bb: dict, n: int, cc: ClaimsConfig, notes: list[str], rng: np.random.Generator):
    ch = nd["checks"]
    d, nm = ch[0]["counts"]["data"], ch[0]["counts"]["normal"]
    rr = ch[0]["ratios"]["normal"]["median_slice"]
    share = share_stat(d["median"], n, cc.level)
    ds, ns = jeffreys(d["median"], n, cc.bootstrap, rng), jeffreys(nm["median"], nm["n"], cc.bootstrap, rng)
    fig = {"stats": {"value": share, "ratio": {"value": rr[0], "low": rr[1], "high": rr[2], "lower": 0.0}},
           "b": {"value": bb["value"]}, "normal": nm["median"] / nm["n"], "notes": notes,
           "across_b": {"low_b": ch[1]["b"], "low_value": ch[1]["counts"]["data"]["median"] / n,
                        "high_b": ch[2]["b"], "high_value": ch[2]["counts"]["data"]["median"] / n}}
    return fig, {"value": ds, "ratio": ds / ns}, None


def fig_void(vd: dict, bb: dict, cc: ClaimsConfig, notes: list[str], rng: np.random.Generator):
    k = vd["kinds"]
    u, c = k["uniform"], k["real"]
    du, dc = jeffreys(u["inside"], u["total"], cc.bootstrap, rng), jeffreys(c["inside"], c["total"], cc.bootstrap, rng)
    ratio = u["share"] / c["share"] if c["share"] > 0 else math.inf
    rd = du / dc
    stats_ = {"value": boot_stat(ratio, rd, cc.level, lower=0.0),
              "uniform": share_stat(u["inside"], u["total"], cc.level),
              "calibration": share_stat(c["inside"], c["total"], cc.level)}
    fig = {"stats": stats_, "b": {"value": bb["value"]}, "k": vd["k"], "uniform_points": u["total"],
           "normal": {"share": k["normal"]["share"], "ratio": k["normal"]["ratio"]},
           "normal_at_origin": {"share": k["normal_at_origin"]["share"], "ratio": k["normal_at_origin"]["ratio"]},
           "nn": vd["nn"], "notes": notes,
           "test": {"method": "bootstrap-z", "direction": "less", "null": 1.0}}
    return fig, {"value": rd, "uniform": du, "calibration": dc}, None


def fig_thin_shell(unit: np.ndarray, S, bb: dict, cc: ClaimsConfig, rng: np.random.Generator):
    rel = float(np.std(unit) / np.mean(unit))
    boot = np.array([(lambda u: np.std(u) / np.mean(u))(unit[rng.integers(0, len(unit), len(unit))])
                     for _ in range(cc.bootstrap)])
    fig = {"stats": {"value": boot_stat(rel, boot, cc.level)}, "theory": math.sqrt(3.0 / (15.0 * S.N)),
           "real": S.radii.real.std / S.radii.real.mean, "b": {"value": bb["value"]}}
    return fig, {"value": boot}, None


def fig_b_range(S, A, bb: dict, nd: dict, cc: ClaimsConfig, rng: np.random.Generator):
    lo, hi = S.b.overlap
    best = bb["best"]
    ov = np.asarray(A.b_boot_overlap, dtype=np.float64)
    boot = resample((ov[:, 1] - ov[:, 0]) / np.asarray(A.b_boot_best, dtype=np.float64), cc.bootstrap, rng)
    med = [c["counts"]["data"]["median"] / S.n for c in nd["checks"]]
    fig = {"stats": {"value": boot_stat((hi - lo) / best, boot, cc.level)}, "overlap": [lo, hi],
           "b": {k: bb[k] for k in ("value", "best", "low", "high", "flat", "best_at_edge")},
           "slice_change": None, "notes": notes_on_b(bb)}
    if min(med[1:]) > 0:  # how much the median slice's share moves across the interval of the best b
        fig["slice_change"] = max(med[1:]) / min(med[1:]) - 1.0
    return fig, {"value": boot}, None


def fig_core(nrm: dict, cc: ClaimsConfig, notes: list[str], rng: np.random.Generator):
    doc = nrm["doc"]
    core, whole = doc["core"], doc["whole"]
    if core["n"] < cc.unstable_ratio * core["rank"]:
        reason = (f"the core has {core['n']:,} tested points for {core['rank']} dimensions (fewer than "
                  f"{cc.unstable_ratio:g} per dimension), where multivariate normality statistics hardly depend on "
                  f"the data (the cut keeps {pct(doc['kept'])} of the points; published: more than "
                  f"{pct(published.CORE_KEPT, 0)})")
        return {"stats": {}, "untestable": True, "reason": reason, "notes": notes}, {}, None
    n_cut = doc["n_cut"]
    kept = {**share_stat(doc["kept_count"], n_cut, cc.level)}
    fig = {"stats": {"value": {"value": core["relative_kurtosis"], "low": core["relative_kurtosis_low"],
                               "high": core["relative_kurtosis_high"]}, "kept": kept},
           "gaussian_kept": doc["gaussian_kept"], "z": core["kurtosis"]["z"], "whole": whole["relative_kurtosis"],
           "axes_rejected": core["axes_rejected"], "rank": core["rank"], "whole_axes_rejected": whole["axes_rejected"],
           "notes": notes, "test": {"method": "bootstrap-z", "direction": "two-sided", "null": 1.0}}
    return fig, {"value": nrm["boot"]["core"], "kept": jeffreys(doc["kept_count"], n_cut, cc.bootstrap, rng)}, None


def _origin_doc(orig: dict, S, cc: ClaimsConfig) -> dict:
    """details.json's ``origin``: the origin in every metric, the verdict's metric and why."""
    eu = next(m for m in orig["table"] if m["metric"] == "euclidean")
    return {"euclidean_sentence": ("In many dimensions most points lie on a shell around their centre, and the "
                                   "origin is nearer to the centre than most of them." if eu["share"] >= 0.5
                                   else ""),
            "table": orig["table"], "verdict_metric": "ledoit_wolf", "metric_text": findings.ORIGIN_METRIC,
            "reason": findings.ORIGIN_REASON, "band": orig["lw"]["band"],
            "in_sample_share": S.origin.mahalanobis.ledoit_wolf.share_farther, "folds": cc.folds,
            "nn": orig["nn"]}


def geometry_figures(z: np.ndarray, run_dir: Path, reader: Run, cc: ClaimsConfig, seed: int, n_jobs: int = 1):
    """Measure the cloud; the figures of every geometry row, their draws, and what details.json and
    arrays.npz hold besides."""
    S, A = reader.stats, reader.arrays
    n, N = z.shape
    n_used = min(n, cc.max_points)
    idx = np.arange(n) if n_used == n else np.sort(stream_rng(seed, "subsample").choice(n, n_used, replace=False))
    x = np.asarray(z[idx], dtype=np.float64)
    sample = sample_caveat(n, N, n_used, cc)
    cov_notes = cov_note(sample)
    sub_notes = ([f"Measured on a random subsample of {n_used:,} of the {n:,} points (claims.max_points)."]
                 if n_used < n else [])
    afv = S.pca.axes_for_variance
    bb = one_b(S, A, cc)
    checks = [bb["value"], bb["low"], bb["high"]]
    check_names = ["the b" if bb["source"] != "config" else "the b (stats.b)", "low end of the interval of the best b",
                   "high end of the interval of the best b"]
    bb.update(checks=checks, check_names=check_names)
    orig = measure_origin(x, (afv["0.9"], afv["0.99"]), S, cc, seed, n_jobs)
    mom = moments(z)
    nl = measure_nulls(np.asarray(z), mom, S, A, checks, check_names, cc, seed)  # in memory: the permutation reads columns
    vd = measure_void(x, bb["value"], cc, seed)
    contrast, why = pixel_contrast(run_dir, n)
    cube = cube_observation(z, mom["radius"], nl["top_v"], np.asarray(A.radius_uniform_unit), bb["value"], contrast, why)
    nrm = measure_normality(x, cc, seed)
    rng = stream_rng(seed, "draws")
    b_notes = notes_on_b(bb)
    built = {
        "off_centre": fig_off_centre(orig, S, cc, sub_notes),
        "own_spread": fig_own_spread(orig, S, cc, sub_notes, seed),
        "ellipsoid": fig_ellipsoid(orig, S, cc, cov_notes + sub_notes),
        "centre_subspace": fig_centre(orig, S, A, cc, cov_notes + sub_notes, seed),
        "origin_border": fig_origin(orig, S, cc, cov_notes + sub_notes),
        "projection_overlap": fig_projection(nl["doc"], bb, cc, cov_notes + b_notes, rng),
        "slices_empty": fig_slices(nl["doc"], bb, n, cc, cov_notes + b_notes, rng),
        "uniform_void": fig_void(vd["doc"], bb, cc, _support_note(vd["doc"], n) + b_notes, rng),
        "thin_shell": fig_thin_shell(np.asarray(A.radius_uniform_unit, dtype=np.float64), S, bb, cc, rng),
        "b_range": fig_b_range(S, A, bb, nl["doc"], cc, rng),
        "core_normal": fig_core(nrm, cc, cov_notes + ([f"Normality tests on a random subsample of "
                                                        f"{nrm['doc']['points_tested']:,} points."]
                                                       if nrm["doc"]["points_tested"] < n else []), rng),
    }
    figs = {fid: f for fid, (f, _, _) in built.items()}
    draws = {f"{fid}/{k}": resample(d, cc.bootstrap, rng) for fid, (_, dd, _) in built.items() for k, d in dd.items()}
    null_draws = {fid: nd for fid, (_, _, nd) in built.items() if nd is not None}
    for fid, f in figs.items():  # a test reads its draws and simulations in memory; details.json holds neither
        if f.get("test"):
            f["test"]["draws"] = draws.get(f"{fid}/{f['test'].get('stat', 'value')}")
            if fid in null_draws:
                f["test"]["null_draws"] = null_draws[fid]
    extra = {"sample": sample, "b": bb, "origin": _origin_doc(orig, S, cc), "shape": orig["shape"], "nulls": nl["doc"],
             "void": vd["doc"], "cube": cube, "normality": nrm["doc"]}
    arrays = {"origin_boot_share": orig["boot_share"], "origin_edges": orig["edges"], "origin_hist": orig["hist"],
              "void_edges": vd["edges"], "void_hist": vd["hist"], "b_checks": np.array(checks),
              "check_pair_counts": nl["pair_counts"], "atlas_median_share": nl["atlas"], **nrm["arrays"]}
    return figs, draws, null_draws, extra, arrays


def _support_note(vd: dict, n: int) -> list[str]:
    if vd["points"] < n:
        return [f"The k-NN support is built from a random subsample of {vd['points']:,} of the {n:,} points "
                "(claims.support_points)."]
    return []


