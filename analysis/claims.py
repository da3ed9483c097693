"""The ``claims`` step: the ledger of the published findings, measured, calibrated, judged.

For each finding of the published study (:data:`analysis.published.FINDINGS`) the step
states the figure that tests it on our data, with an interval, beside what a null
model gives, and a verdict by a rule written down with it. The article's first table
is this ledger, and the sentences its chapters use about the data are chosen here from
the verdicts, so the text never says more than the numbers.

Reads ``latents.npy``, ``stats/stats.json`` and ``stats/arrays.npz`` and, when the
generate step has run, ``generate/metrics.json`` (through :mod:`analysis.artifacts`),
and writes ``<run>/claims/`` (then ``claims.manifest.json`` last):

``claims.json``
    A JSON list, one object per finding, in the study's order:

    ``id``; ``part`` (of the series, or "RAE"); ``claim`` (the finding in our words);
    ``published`` (what the study reported); ``statistic`` (what ``ours`` measures);
    ``unit`` ("share", "ratio", "difference", "b", "score"); ``ours`` {``value``, ``low``,
    ``high``}: the figure and its interval at ``[claims] level`` (all null when the
    finding is not testable); ``null`` (what the null model named in ``null_label``
    gives, or null where none applies); ``reference`` (a theoretical or comparison value
    named in ``reference_label``, or null); ``verdict``: ``reproduced``, ``partly``,
    ``not reproduced`` or ``not testable``; ``criterion``: the rule that gave it, with
    the bands; ``sentence``: what the article says about it (chosen by verdict and band,
    with the numbers); ``reason``: why no interval or verdict applies (null otherwise);
    ``interval``: how the interval was obtained; ``notes``: caveats (small samples,
    subsampling); ``chapter``: where the article discusses it.

``details.json``
    Every figure behind the ledger: ``schema_version``; ``n``, ``N``; ``settings`` (the
    ``[claims]`` values used); ``sample`` {``n_used`` (points the cross-fitting,
    bootstraps and null comparisons of shape use), ``subsampled``, ``n_over_N``,
    ``unstable`` (n < unstable_ratio N), ``estimator``, ``sentence``}; ``origin``
    (cross-fitted shares in the full space and the 90 % / 99 % subspaces with intervals,
    the Gaussian of the same shape, the in-sample share of the stats step, ``band``);
    ``shape`` (off-centre share, axes for 90 %, centre subspace share, mean |r|, spread
    ratio, with intervals and their nulls); ``b`` (fine scan: ``b0``, ``best``,
    ``interval``, ``flat``, ``w1_best``, ``w1_sd``, ``best_at_edge``, ``grid_step``;
    ``checks``: the b values where cube and slices are counted); ``nulls`` (per check b:
    data and null counts, ratios with intervals, ``void``; per shown pair; the atlas);
    ``projection`` (points projecting into [-b, b]^2 vs in the cube); ``normality``
    (core cut, per-axis summaries, Mardia calibrated); ``generators`` (null without a
    generate step: per generator its latent and pixel precision relative to the real
    reference with intervals and bands, ``latent`` / ``pixel``, ``recall_inflated``;
    ``off_support_faces`` and ``in_support_nonfaces``: where latent and pixel metrics
    disagree; ``recall_inflated``; ``sentence`` and ``recall_sentence``: what the article
    says about them);
    ``verdicts`` (count per verdict); ``notes``.

``arrays.npz``
    ``b_fine_grid``, ``b_fine_w1`` (G,), ``b_boot_best`` (B,); ``origin_boot_share``
    (B, 3): full, 90 %, 99 %; ``b_checks`` (4,): b.used, best, flat ends;
    ``check_pair_counts`` (4 kinds: data, normal, normal_at_origin, permuted; 4 b; P
    pairs) float64 (null counts rescaled to n points); ``atlas_median_share`` (4, K):
    median pair's slice share at each ``slices.atlas_b``; ``axis_skew``,
    ``axis_kurtosis``, ``axis_p`` (r,) of the whole cloud and ``core_axis_*`` of the core.

Same inputs and config give byte-identical files; the step is skipped when its manifest
matches (config sections ``claims`` and ``run``, the input hashes and this code).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats as sps
from threadpoolctl import threadpool_limits

from analysis import calibration as cal
from analysis import normality, nulls, published, slices, steps
from analysis.artifacts import ArtifactError, Run, and_list
from analysis.config import ClaimsConfig, Config, _check_range
from analysis.errors import UserError, eprint
from analysis.generators import uniform_b_from_radii
from analysis.geometry import moments
from analysis.provenance import read_manifest
from analysis.storage import load_json, save_json, save_npz

SCHEMA_VERSION = 1
REPRODUCED, PARTLY, NOT, UNTESTABLE = "reproduced", "partly", "not reproduced", "not testable"
VERDICTS = (REPRODUCED, PARTLY, NOT, UNTESTABLE)
STREAMS = {"subsample": 11, "crossfit": 12, "gauss": 13, "bscan": 14, "normal": 15, "permuted": 16,
           "normality": 17, "shape_null": 19}
SIMPLE = ("uniform", "independent-normal", "mvn")  # the "simple priors" of the GMM comparison
CHECK_NAMES = ("b used", "best b", "flat range, low end", "flat range, high end")


# --------------------------------------------------------------------------- wording

def pct(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    v = 100.0 * x
    if v != 0 and abs(v) < 10 ** -digits:
        return f"{v:.1g} %"
    return f"{v:.{digits}f} %"


def num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}"


def interval_text(low, high, fmt=pct) -> str:
    return f"{fmt(low)} to {fmt(high)}"


def _finite(x):
    return None if x is None or not math.isfinite(x) else float(x)


def _three_way(supported: bool, contradicted: bool) -> str:
    return REPRODUCED if supported else NOT if contradicted else PARTLY


def row(fid: str, *, statistic: str, unit: str, value=None, low=None, high=None, null=None, null_label="",
        reference=None, reference_label="", verdict: str, criterion: str, sentence: str, chapter: str,
        interval: str = "", reason: str | None = None, notes: list[str] | None = None) -> dict:
    """One ledger row (see the module docstring); the claim and the published figure come from
    :data:`analysis.published.FINDINGS`."""
    part, claim, pub = published.FINDINGS[fid]
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    if verdict == UNTESTABLE:
        value = low = high = None
    return {"id": fid, "part": part, "claim": claim, "published": pub, "statistic": statistic, "unit": unit,
            "ours": {"value": _finite(value), "low": _finite(low), "high": _finite(high)},
            "null": _finite(null), "null_label": null_label, "reference": _finite(reference),
            "reference_label": reference_label, "verdict": verdict, "criterion": criterion,
            "sentence": sentence, "reason": reason, "interval": interval, "notes": list(notes or []),
            "chapter": chapter}


def untestable(fid: str, statistic: str, unit: str, reason: str, criterion: str, chapter: str,
               notes: list[str] | None = None) -> dict:
    part, claim, pub = published.FINDINGS[fid]
    return row(fid, statistic=statistic, unit=unit, verdict=UNTESTABLE, criterion=criterion, chapter=chapter,
               sentence=f"This build cannot test the finding that {claim[0].lower()}{claim[1:-1]}: {reason}.",
               reason=reason, notes=notes)


# --------------------------------------------------------------------------- checks

def check_config(cfg: Config) -> None:
    """The [claims] settings on their own, before any step runs (:func:`analysis.steps.check_config`)."""
    check_settings(cfg.claims)


def validate(cc: ClaimsConfig, n: int, N: int) -> None:
    """Check the [claims] config against latents of shape (n, N) (UserError naming the key)."""
    check_settings(cc)
    if min(n, cc.max_points) < 2 * cc.folds:
        raise UserError(f"claims.folds = {cc.folds} needs at least {2 * cc.folds} points, the latents have {n}",
                        "lower claims.folds or encode more images")


def check_settings(cc: ClaimsConfig) -> None:
    """The [claims] keys and how they relate (UserError naming the key)."""
    import dataclasses
    for f in dataclasses.fields(cc):
        value = getattr(cc, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_range(f"claims.{f.name}", value, f.metadata)
    band = cc.border_band
    if len(band) != 2 or not 0.0 < band[0] < band[1] < cc.bulk_share:
        raise UserError(f"config key 'claims.border_band' = {band} must be two shares 0 < lo < hi < "
                        f"claims.bulk_share = {cc.bulk_share}", "e.g. claims.border_band = [0.01, 0.1]")
    if cc.kurtosis_close >= cc.kurtosis_far:
        raise UserError(f"claims.kurtosis_close = {cc.kurtosis_close} must be below claims.kurtosis_far = "
                        f"{cc.kurtosis_far}", "e.g. kurtosis_close = 0.1, kurtosis_far = 0.25")
    if cc.nonface_ratio >= cc.face_ratio:
        raise UserError(f"claims.nonface_ratio = {cc.nonface_ratio} must be below claims.face_ratio = "
                        f"{cc.face_ratio}", "e.g. nonface_ratio = 0.2, face_ratio = 0.8")


# --------------------------------------------------------------------------- measuring

def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream]])


def _sample_caveat(n: int, N: int, n_used: int, cc: ClaimsConfig) -> dict:
    unstable = n < cc.unstable_ratio * N
    estimator = ("Ledoit-Wolf shrinkage (scikit-learn's formula) for Mahalanobis distances; the maximum-"
                 "likelihood covariance for the null models and the principal axes")
    if unstable:
        sentence = (f"This build has n = {n:,} points for N = {N} components (n < {cc.unstable_ratio:g} N): "
                    "covariance-based figures (Mahalanobis distances, principal axes, the normal null models, "
                    f"the normality tests) are unstable, and their intervals are wide. Estimator: {estimator}.")
    else:
        sentence = (f"This build has n = {n:,} points for N = {N} components ({n / N:.3g} per component), "
                    f"enough for stable covariance estimates (n >= {cc.unstable_ratio:g} N). Estimator: "
                    f"{estimator}.")
    if n_used < n:
        sentence += (f" Cross-fitting, bootstraps and the normality tests use a random subsample of "
                     f"{n_used:,} points (claims.max_points).")
    return {"n_used": n_used, "subsampled": n_used < n, "n_over_N": n / N, "unstable": unstable,
            "estimator": estimator, "sentence": sentence}


def _cov_note(sample: dict) -> list[str]:
    return [sample["sentence"]] if sample["unstable"] else []


def _share_ci(point: float, count: float, total: float, boot: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile bootstrap interval, widened to the exact binomial interval of the count where that is wider."""
    lo, hi = cal.percentile_interval(boot, level)
    blo, bhi = cal.binomial_interval(count, total, level)
    return min(lo, blo, point), max(hi, bhi, point)


def measure_origin(x: np.ndarray, axes: tuple[int, int], S, cc: ClaimsConfig, seed: int) -> dict:
    """Cross-fitted origin shares (full, 90 %, 99 %) with intervals, the Gaussian of the same
    shape, and the shape figures with their bootstrap intervals."""
    mean = x.mean(axis=0)
    xc, o = x - mean, -mean
    k_sigma, centre_k = S.components.k_sigma, S.centre.headline_k
    oc = cal.origin_crossfit(xc, o, cc.folds, axes, cc.bootstrap, _rng(seed, "crossfit"), k_sigma, centre_k)
    g = cal.gaussian_like(xc, _rng(seed, "gauss"))
    gn = cal.crossfit_shares(g, o, cal.fold_ids(len(g), cc.folds, _rng(seed, "gauss")), cc.folds,
                             np.ones(len(g)), axes)
    metrics = []
    for i, label in enumerate(("ledoit_wolf", "subspace_90", "subspace_99")):
        lo, hi = _share_ci(oc["share"][i], oc["count"][i], oc["total"], oc["boot_share"][:, i], cc.level)
        metrics.append({"metric": label, "n_axes": None if i == 0 else axes[i - 1], "share": float(oc["share"][i]),
                        "low": lo, "high": hi, "gaussian": float(gn["share"][i]),
                        "origin_distance_median": float(np.median(oc["origin_distance"][:, i]))})
    # independent components: every column permuted (shape null of the correlation figures)
    rng = _rng(seed, "shape_null")
    xp = np.column_stack([xc[rng.permutation(len(xc)), j] for j in range(xc.shape[1])])
    null_shape = cal.shape_figures({"W": float(len(xp)), "s": xp.sum(axis=0), "S": xp.T @ xp}, k_sigma,
                                   centre_k, o)
    shape = {}
    for key, v in oc["shape"].items():
        lo, hi = cal.percentile_interval(oc["boot_shape"][key], cc.level)
        shape[key] = {"value": v, "low": min(lo, v), "high": max(hi, v), "independent": null_shape[key]}
    return {"metrics": metrics, "shape": shape, "boot_share": oc["boot_share"], "total": float(oc["total"])}


def measure_b(z_radius: np.ndarray, unit: np.ndarray, b0: float, cc: ClaimsConfig, seed: int) -> dict:
    grid = cal.b_grid(b0, cc.b_step, cc.b_span)
    fb = cal.fine_b_scan(z_radius, unit, grid, cc.bootstrap, cc.flat_sd, cc.level, _rng(seed, "bscan"))
    lo, hi = fb["interval"]
    return {"b0": b0, "grid": grid, "w1": fb["w1"], "best": fb["best"], "interval": [min(lo, fb["best"]),
            max(hi, fb["best"])], "flat": fb["flat"], "w1_best": fb["w1_best"], "w1_sd": fb["w1_sd"],
            "best_at_edge": fb["best_at_edge"], "boot_best": fb["boot_best"],
            "grid_step": float(grid[1] / grid[0] - 1.0), "grid_min": float(grid[0]), "grid_max": float(grid[-1])}


def measure_nulls(z: np.ndarray, mom: dict, S, A, checks: list[float], cc: ClaimsConfig, seed: int) -> dict:
    """Cube, slice and projection counts of the data and the three nulls at the check b values."""
    n, N = z.shape
    pairs = [tuple(p.pair) for p in S.pairs]
    b_used = S.b.used
    top_i, top_v = slices.top_abs(z, 4)
    factor = nulls.gaussian_factor(mom["cov"])
    kinds = {"data": (top_i, top_v, np.asarray(A.pair_projection_overlap, dtype=np.int64), n)}
    for kind in nulls.KINDS:
        stream = "permuted" if kind == "permuted" else "normal"  # the two normals share their draws
        pts = nulls.null_points(kind, z, mom["mean"], factor, cc.null_points, _rng(seed, stream))
        kinds[kind] = nulls.top_and_overlap(pts, b_used)
    out = {"kinds": list(kinds), "checks": [], "pairs": [list(p) for p in pairs]}
    pair_counts = np.zeros((len(kinds), len(checks), len(pairs)))
    for ib, b in enumerate(checks):
        entry = {"name": CHECK_NAMES[ib], "b": b, "counts": {}}
        for ik, (kind, (ti, tv, _, _)) in enumerate(kinds.items()):
            c = nulls.counts_at(ti, tv, b, N, pairs)
            entry["counts"][kind] = c
            pair_counts[ik, ib] = np.array(c["pairs"], dtype=float) * (n / c["n"])
        d = entry["counts"]["data"]
        entry["ratios"] = {}
        for kind in nulls.KINDS:
            c = entry["counts"][kind]
            cube = cal.ratio_interval(d["cube"], n, c["cube"], c["n"], cc.level)
            med = cal.ratio_interval(int(round(d["median"])), n, int(round(c["median"])), c["n"], cc.level)
            entry["ratios"][kind] = {"cube": list(cube), "median_slice": list(med),
                                     "cube_void": bool(cube[2] < 1.0), "slice_void": bool(med[2] < 1.0)}
        entry["pairs"] = []
        for ip, p in enumerate(pairs):
            c0 = d["pairs"][ip]
            rec = {"pair": list(p), "count": c0, "share": c0 / n, "null": {}}
            for kind in nulls.KINDS:
                cn = entry["counts"][kind]
                r = cal.ratio_interval(c0, n, cn["pairs"][ip], cn["n"], cc.level)
                rec["null"][kind] = {"share": cn["pairs"][ip] / cn["n"], "ratio": list(r), "void": bool(r[2] < 1.0)}
            entry["pairs"].append(rec)
        out["checks"].append(entry)
    atlas = np.array([nulls.median_pair_counts(ti, tv, S.slices.atlas_b, N) / len(tv)
                      for ti, tv, _, _ in kinds.values()])
    out["atlas_b"] = list(S.slices.atlas_b)
    proj = {}
    for kind, (ti, tv, overlap, used) in kinds.items():
        med_overlap = float(np.median(slices.upper(overlap)))
        cube = int(np.count_nonzero(tv[:used, 0] <= b_used))
        share = cube / med_overlap if med_overlap > 0 else None
        proj[kind] = {"points": used, "median_projected": med_overlap, "cube": cube, "kept": share}
    out["projection"] = proj
    return {"doc": out, "pair_counts": pair_counts, "atlas": atlas}


def measure_normality(x: np.ndarray, cc: ClaimsConfig, seed: int) -> dict:
    with threadpool_limits(1, user_api="blas"):  # many small decompositions: one thread is faster
        return _normality(x, cc, seed)


def _normality(x: np.ndarray, cc: ClaimsConfig, seed: int) -> dict:
    rng = _rng(seed, "normality")
    n = len(x)
    kept, thr, tail = normality.core_cut(x, cc.core_sigma)
    k_lo, k_hi = cal.binomial_interval(int(kept.sum()), n, cc.level)
    xs = x if n <= cc.normality_max_points else x[np.sort(rng.choice(n, cc.normality_max_points, replace=False))]
    core_s = normality.core_cut(xs, cc.core_sigma)[0]
    out = {"core_sigma": cc.core_sigma, "threshold": thr, "tail_probability": tail, "kept": float(kept.mean()),
           "kept_low": k_lo, "kept_high": k_hi, "gaussian_kept": 1.0 - tail, "points_tested": len(xs),
           "published_kept": published.CORE_KEPT}
    arrays = {}
    for name, pts in (("whole", xs), ("core", xs[core_s])):
        y = normality.whiten(pts)
        sk, ku = normality.axis_moments(y)
        p, rej = normality.axis_tests(y, cc.alpha)
        b1, b2, d2 = normality.mardia(pts, per_point=True)
        null = normality.mardia_null(len(xs), y.shape[1], cc.normality_null, rng,
                                     cc.core_sigma if name == "core" else None)
        mu = float(np.mean(null["b2"]))
        boot = np.array([np.mean(d2[rng.integers(0, len(d2), len(d2))] ** 2) for _ in range(cc.bootstrap)]) / mu
        rel = b2 / mu
        lo, hi = cal.percentile_interval(boot, cc.level)
        out[name] = {"n": len(pts), "rank": int(y.shape[1]),
                     "skewness": normality.calibrated(b1, null["b1"]), "kurtosis": normality.calibrated(b2, null["b2"]),
                     "relative_kurtosis": rel, "relative_kurtosis_low": min(lo, rel),
                     "relative_kurtosis_high": max(hi, rel),
                     "axis_abs_skew_median": float(np.median(np.abs(sk))),
                     "axis_excess_kurtosis_median": float(np.median(ku)),
                     "axis_excess_kurtosis_max": float(np.max(ku)),
                     "axes_rejected": int(rej.sum()), "axes_rejected_share": float(rej.mean()), "alpha": cc.alpha}
        prefix = "" if name == "whole" else "core_"
        arrays.update({f"{prefix}axis_skew": sk, f"{prefix}axis_kurtosis": ku, f"{prefix}axis_p": p})
    return {"doc": out, "arrays": arrays}


# --------------------------------------------------------------------------- the ledger rows

def _mc_ci(draws: np.ndarray, point: float, level: float) -> tuple[float, float]:
    lo, hi = cal.percentile_interval(draws, level)
    return min(lo, point), max(hi, point)


def claim_off_centre(sh: dict, S, cc: ClaimsConfig, notes: list[str]) -> dict:
    f = sh["off_centre"]
    k = S.components.k_sigma
    null = 2.0 * float(sps.norm.sf(k))
    maj = S.thresholds.majority_share
    v = _three_way(f["low"] >= maj, f["high"] < maj and f["low"] <= 2 * null)
    nums = (f"{pct(f['value'])} of the N = {S.N} means lie more than {k:g} standard errors from zero "
            f"(interval {interval_text(f['low'], f['high'])}; centred components would give {pct(null, 2)} by chance)")
    sentence = {REPRODUCED: f"Most components are off-centre: {nums}.",
                PARTLY: f"Some components are off-centre, but not most: {nums}.",
                NOT: f"The components are centred: {nums}."}[v]
    return row("off_centre", statistic=f"share of components whose mean lies more than {k:g} standard errors "
               "from 0", unit="share", value=f["value"], low=f["low"], high=f["high"], null=null,
               null_label="centred components (chance)", verdict=v,
               criterion=f"reproduced if the interval lies at or above {pct(maj, 0)} (most components); not "
                         f"reproduced if it lies below {pct(maj, 0)} and reaches down to twice the chance share; "
                         "partly otherwise",
               sentence=sentence, chapter="02-components", interval="bootstrap of the points", notes=notes)


def claim_own_spread(sh: dict, S, cc: ClaimsConfig, notes: list[str]) -> dict:
    f = sh["std_ratio"]
    lim = S.thresholds.spread_ratio
    v = _three_way(f["low"] > lim, f["high"] <= lim)
    nums = (f"the widest component's standard deviation is {num(f['value'])} times the narrowest's (interval "
            f"{interval_text(f['low'], f['high'], num)})")
    sentence = {REPRODUCED: f"Each component has its own spread: {nums}.",
                PARTLY: f"The spreads differ somewhat: {nums}, not clearly more than {lim:g}.",
                NOT: f"The components have similar spreads: {nums}."}[v]
    return row("own_spread", statistic="largest over smallest standard deviation of the components", unit="ratio",
               value=f["value"], low=f["low"], high=f["high"], null=1.0, null_label="a common spread",
               verdict=v, criterion=f"reproduced if the interval lies above {lim:g}; not reproduced if it lies "
                                    f"at or below {lim:g}; partly otherwise",
               sentence=sentence, chapter="02-components", interval="bootstrap of the points", notes=notes)


def claim_ellipsoid(sh: dict, S, cc: ClaimsConfig, notes: list[str]) -> dict:
    f, r = sh["axes_90"], sh["mean_abs_corr"]
    null = f["independent"]
    v = _three_way(f["high"] <= cc.few_axes_share and f["high"] < null, f["low"] >= null)
    axes = f"{pct(f['value'], 0)} of the N = {S.N} principal axes (interval {interval_text(f['low'], f['high'], lambda x: pct(x, 0))}) hold 90 % of the variance"
    corr = (f"the mean absolute correlation is {num(r['value'])} (independent components of this sample: "
            f"{num(r['independent'])})")
    sentence = {REPRODUCED: f"The cloud is an ellipsoid stretched along a few main axes: {axes}, against "
                            f"{pct(null, 0)} for independent components with the same spreads; {corr}.",
                PARTLY: f"The cloud is elongated, but not along a few axes only: {axes} (independent components "
                        f"with the same spreads: {pct(null, 0)}); {corr}.",
                NOT: f"The correlations do not concentrate the variance: {axes}, as many as independent "
                     f"components with the same spreads need ({pct(null, 0)}); {corr}."}[v]
    return row("ellipsoid", statistic="share of the N principal axes needed for 90 % of the variance",
               unit="share", value=f["value"], low=f["low"], high=f["high"], null=null,
               null_label="independent components (each permuted)", verdict=v,
               criterion=f"reproduced if the interval lies at or below {pct(cc.few_axes_share, 0)} of the axes and "
                         "below the independent-components value; not reproduced if it reaches no lower than that "
                         "value; partly otherwise",
               sentence=sentence, chapter="03-correlations", interval="bootstrap of the points", notes=notes)


def claim_centre(sh: dict, S, cc: ClaimsConfig, notes: list[str]) -> dict:
    f = sh["centre_subspace"]
    k = S.centre.headline_k
    null = k / S.N
    v = _three_way(f["low"] >= cc.centre_share, f["high"] < cc.centre_share and f["low"] <= 2 * null)
    nums = (f"{pct(f['value'], 0)} of the centre's squared distance from the origin lies in the span of the first "
            f"{k} principal axes (interval {interval_text(f['low'], f['high'], lambda x: pct(x, 0))}; a direction "
            f"unrelated to the axes: {pct(null, 0)}); the centre is {num(S.centre.offset)} from the origin, "
            f"{num(S.centre.offset_over_rms_radius)} times the cloud's RMS radius")
    sentence = {REPRODUCED: f"The centre lies near the subspace of a few principal axes: {nums}.",
                PARTLY: f"The centre leans towards the first principal axes without lying near their span: {nums}.",
                NOT: f"The centre is not near a low-dimensional principal subspace: {nums}."}[v]
    return row("centre_subspace", statistic=f"share of |centre|^2 in the span of the first {k} principal axes",
               unit="share", value=f["value"], low=f["low"], high=f["high"], null=null,
               null_label="a direction unrelated to the axes (k/N)", verdict=v,
               criterion=f"reproduced if the interval lies at or above {pct(cc.centre_share, 0)}; not reproduced "
                         f"if it lies below {pct(cc.centre_share, 0)} and reaches down to twice k/N; partly otherwise",
               sentence=sentence, chapter="03-correlations", interval="bootstrap of the points", notes=notes)


def origin_band(share: float, cc: ClaimsConfig) -> str:
    lo, hi = cc.border_band
    if share < lo:
        return "beyond the data"
    if share < hi:
        return "at the border"
    if share < cc.bulk_share:
        return "in the outer part"
    return "inside the bulk"


def claim_origin(orig: dict, S, cc: ClaimsConfig, notes: list[str]) -> dict:
    m = orig["metrics"][0]
    lo_b, hi_b = cc.border_band
    s, lo, hi, g = m["share"], m["low"], m["high"], m["gaussian"]
    band = origin_band(s, cc)
    v = _three_way(lo >= lo_b and hi < hi_b, lo >= cc.bulk_share)
    subs = "; ".join(f"in the {x['n_axes']} axes holding {q} of the variance, {pct(x['share'])}"
                     for x, q in zip(orig["metrics"][1:], ("90 %", "99 %")))
    nums = (f"{pct(s)} of held-out points lie farther from the centre than the origin (cross-fitted "
            f"Ledoit-Wolf Mahalanobis distance, {cc.folds} folds; interval {interval_text(lo, hi)}; a Gaussian "
            f"of the same shape: {pct(g)}); {subs}")
    head = {"beyond the data": "The origin lies beyond the data",
            "at the border": "The origin lies at the border of the cloud",
            "in the outer part": "The origin lies in the outer part of the cloud, not at its edge",
            "inside the bulk": "The origin lies inside the bulk of the cloud"}[band]
    sentence = f"{head}: {nums}."
    if v == PARTLY and band == "at the border":
        sentence += " The interval reaches beyond the border band, so the placement is uncertain."
    return row("origin_border", statistic="share of held-out points farther from the centre than the origin "
               f"(cross-fitted Ledoit-Wolf Mahalanobis distance, {cc.folds} folds)", unit="share", value=s,
               low=lo, high=hi, null=g, null_label="a Gaussian of the same mean and covariance",
               reference=S.origin.mahalanobis.ledoit_wolf.share_farther,
               reference_label="in-sample share of the stats step (biased towards the edge)", verdict=v,
               criterion=f"bands: beyond the data below {pct(lo_b, 0)}, at the border {pct(lo_b, 0)} to "
                         f"{pct(hi_b, 0)}, outer part {pct(hi_b, 0)} to {pct(cc.bulk_share, 0)}, inside the bulk "
                         f"above; reproduced if the interval lies in the border band; not reproduced if it lies "
                         "inside the bulk; partly otherwise",
               sentence=sentence, chapter="04-origin",
               interval="bootstrap (points resampled, folds redrawn and refitted), widened to the exact binomial "
                        "interval of the held-out count", notes=notes)


def claim_projection(nd: dict, S, cc: ClaimsConfig, notes: list[str]) -> dict:
    pr = nd["projection"]
    d, nn = pr["data"], pr["normal"]
    stat = ("share of the points projecting into [-b, b]^2 (median pair) that lie in the whole cube [-b, b]^N, "
            f"b = {num(S.b.used)}")
    crit = (f"reproduced if the interval lies below {pct(cc.overlap_kept, 0)} (slices remove at least "
            f"{pct(1 - cc.overlap_kept, 0)} of the apparent overlap); not reproduced if it lies at or above 50 %; "
            "partly otherwise")
    if not d["median_projected"]:
        return untestable("projection_overlap", stat, "share", f"no point projects into [-b, b]^2 at b = "
                          f"{num(S.b.used)}", crit, "04-origin", notes)
    kept = d["kept"]
    lo, hi = cal.binomial_interval(d["cube"], d["median_projected"], cc.level)
    v = _three_way(hi < cc.overlap_kept, lo >= 0.5)
    nums = (f"of the {d['median_projected']:,.0f} points that project into the square [-b, b]^2 of the median "
            f"pair, {d['cube']:,} ({pct(kept)}, interval {interval_text(lo, hi)}) lie in the cube [-b, b]^N that "
            f"uniform points fill (a normal of the same shape: {pct(nn['kept'])})")
    sentence = {REPRODUCED: f"Projections exaggerate the overlap with uniform points, and slices remove it: {nums}.",
                PARTLY: f"Slices remove much, but not most, of the overlap that projections suggest: {nums}.",
                NOT: f"The overlap that projections show is real: {nums}."}[v]
    return row("projection_overlap", statistic=stat, unit="share", value=kept, low=lo, high=hi, null=nn["kept"],
               null_label="the fitted normal", verdict=v, criterion=crit, sentence=sentence, chapter="04-origin",
               interval="exact binomial (the cube's points are among each pair's projected points)", notes=notes)


def claim_slices(nd: dict, S, cc: ClaimsConfig, notes: list[str]) -> dict:
    ch = nd["checks"][0]
    n = S.n
    d, nm = ch["counts"]["data"], ch["counts"]["normal"]
    share = d["median"] / n
    lo, hi = cal.binomial_interval(d["median"], n, cc.level)
    null = nm["median"] / nm["n"]
    rr = ch["ratios"]["normal"]["median_slice"]
    empty, not_empty = hi < cc.empty_share, lo >= cc.empty_share
    void, fuller = rr[2] < 1.0, rr[1] > 1.0
    v = _three_way(empty and void, not_empty and not void)
    nums = (f"at b = {num(S.b.used)} the median pair's slice holds {pct(share)} of the points (interval "
            f"{interval_text(lo, hi)}); a normal of the same shape puts {pct(null)} there (ratio {num(rr[0])}, "
            f"interval {interval_text(rr[1], rr[2], num)})")
    how_empty = ("The slices are nearly empty" if empty else "The slices are not nearly empty" if not_empty else
                 f"The slices hold about {pct(cc.empty_share, 0)} of the points, too close to call them nearly empty")
    if void:
        compared = "and emptier than a normal of the same shape would leave them (a void)"
    elif fuller:
        compared = ("but fuller than a normal of the same shape would leave them (no void: the data put more "
                    "points there than the normal does)") if empty else (
                    "and fuller than a normal of the same shape would leave them (no void)")
    else:
        compared = ("and as full as a normal of the same shape would leave them (ordinary high-dimensional "
                    "emptiness, not a void)")
    sentence = f"{how_empty}, {compared}: {nums}."
    return row("slices_empty", statistic=f"share of the points in the median pair's slice at b = {num(S.b.used)}",
               unit="share", value=share, low=lo, high=hi, null=null, null_label="the fitted normal", verdict=v,
               criterion=f"reproduced if the interval lies below {pct(cc.empty_share, 0)} (nearly empty) and the "
                         "ratio to the fitted normal lies below 1 (a void); not reproduced if neither holds anywhere "
                         "in the intervals; partly otherwise",
               sentence=sentence, chapter="04-origin",
               interval="exact binomial; ratio: Katz log interval (the median count as one pair's count)",
               notes=notes)


def claim_cube(nd: dict, S, cc: ClaimsConfig, notes: list[str]) -> dict:
    ch = nd["checks"][0]
    n = S.n
    d = ch["counts"]["data"]
    shares = {k: ch["counts"][k]["cube"] / ch["counts"][k]["n"] for k in nulls.KINDS}
    rr = ch["ratios"]["normal"]["cube"]
    stat = f"data / fitted normal: share of the points in the whole cube [-b, b]^N, b = {num(S.b.used)}"
    crit = ("reproduced if the interval of the ratio lies below 1 (a void: the data emptier than the fitted "
            "normal); not reproduced if it lies above 1 (more mass near the origin than the normal puts there); "
            "partly otherwise")
    if ch["counts"]["normal"]["cube"] == 0 and d["cube"] == 0:
        return untestable("cube_void", stat, "ratio", f"neither the data nor {ch['counts']['normal']['n']:,} "
                          "points of the fitted normal lie in the cube", crit, "04-origin", notes)
    v = _three_way(rr[2] < 1.0, rr[1] > 1.0)
    nums = (f"at b = {num(S.b.used)}, {pct(d['cube'] / n)} of the points ({d['cube']:,} of {n:,}) lie inside the whole "
            f"cube [-b, b]^N, where uniform points live; a normal fitted to the data puts {pct(shares['normal'], 2)} "
            f"there, the same normal centred at the origin {pct(shares['normal_at_origin'], 2)}, the data with "
            f"each component permuted {pct(shares['permuted'], 2)} (ratio to the fitted normal {num(rr[0])}, "
            f"interval {interval_text(rr[1], rr[2], num)})")
    sentence = {REPRODUCED: f"Uniform points fall into a void: {nums}.",
                PARTLY: f"The data are not clearly emptier near the origin than a normal of their shape: {nums}.",
                NOT: f"There is no void where uniform points lie; the data put more mass there than a normal of "
                     f"their shape: {nums}."}[v]
    return row("cube_void", statistic=stat, unit="ratio", value=rr[0], low=rr[1], high=rr[2], null=1.0,
               null_label="equal shares (ratio 1)", reference=shares["normal"],
               reference_label="share of the fitted normal in the cube", verdict=v, criterion=crit,
               sentence=sentence, chapter="04-origin", interval="Katz log interval of the ratio of two shares",
               notes=notes)


def claim_thin_shell(unit: np.ndarray, S, cc: ClaimsConfig, seed: int) -> dict:
    N = S.N
    rel = float(np.std(unit) / np.mean(unit))
    rng = _rng(seed, "bscan")
    boot = np.array([(lambda u: np.std(u) / np.mean(u))(unit[rng.integers(0, len(unit), len(unit))])
                     for _ in range(cc.bootstrap)])
    lo, hi = _mc_ci(boot, rel, cc.level)
    theory = math.sqrt(3.0 / (15.0 * N))  # (b / sqrt 15) / (b sqrt(N/3))
    real = S.radii.real.std / S.radii.real.mean
    v = _three_way(abs(lo / theory - 1) <= 0.1 and abs(hi / theory - 1) <= 0.1 and hi < real / 2,
                   lo >= real)
    nums = (f"uniform radii spread by {pct(rel, 2)} of their mean (interval {interval_text(lo, hi, lambda x: pct(x, 2))}; "
            f"closed form 1/sqrt(5N) = {pct(theory, 2)}), the radii of the real points by {pct(real)}")
    sentence = {REPRODUCED: f"Uniform points lie on a thin shell: {nums}.",
                PARTLY: f"Uniform radii are concentrated, but the shell is not much thinner than the data's: {nums}.",
                NOT: f"Uniform radii are not thinner than the real ones: {nums}."}[v]
    return row("thin_shell", statistic="relative spread (std / mean) of the radii of uniform points",
               unit="share", value=rel, low=lo, high=hi, reference=theory,
               reference_label="closed form sqrt(3 / (15 N))", null=real,
               null_label="relative spread of the real radii", verdict=v,
               criterion="reproduced if the interval lies within 10 % of the closed form and below half the "
                         "relative spread of the real radii; not reproduced if it reaches no lower than the real "
                         "radii's; partly otherwise",
               sentence=sentence, chapter="04-origin", interval="bootstrap of the uniform radii")


def claim_b_range(bd: dict, nd: dict, S, cc: ClaimsConfig) -> dict:
    lo, hi = S.b.overlap
    pub_lo, pub_hi = published.FACTS["b_match_range"]
    pub_width = (pub_hi - pub_lo) / published.FACTS["b_best"]
    best = bd["best"]
    exists = lo < hi
    width = (hi - lo) / best if exists else None
    inside = exists and lo <= best <= hi
    similar = width is not None and pub_width / 2 <= width <= pub_width * 2
    v = _three_way(inside and similar, not exists)
    med = [c["counts"]["data"]["median"] / S.n for c in nd["checks"][2:4]]
    move = (max(med) / min(med) - 1.0) if min(med) > 0 else None
    nums = (f"the best b is {num(best)} (interval {interval_text(*bd['interval'], num)}; flat range {num(bd['flat'][0])} "
            f"to {num(bd['flat'][1])}, where the Wasserstein distance stays within {cc.flat_sd:g} bootstrap standard "
            f"deviations of its minimum); the central 90 % radius ranges overlap for b from {num(lo)} to {num(hi)}, a "
            f"width of {pct(width, 0) if width is not None else 'n/a'} of the best b (published: {pub_lo:g} to "
            f"{pub_hi:g} around {published.FACTS['b_best']:g}, {pct(pub_width, 0)})")
    if move is not None:
        nums += f"; across the flat range the median slice's share changes by {pct(move, 0)}"
    if bd["best_at_edge"]:
        nums += "; the best b lies at the edge of the fine grid"
    sentence = {REPRODUCED: f"Radii match only in a narrow range of b, as published (the b values themselves depend "
                            f"on each autoencoder's latent scale): {nums}.",
                PARTLY: f"Radii match in a range of b whose relative width differs from the published one: {nums}.",
                NOT: f"No b makes the radius ranges of uniform and real points overlap: {nums}."}[v]
    return row("b_range", statistic="best b of the fine Wasserstein scan of radii (|z| against b |u_1|)", unit="b",
               value=best, low=bd["interval"][0], high=bd["interval"][1], reference=bd["b0"],
               reference_label="closed form median|z| / sqrt(N/3)", verdict=v,
               criterion="b is scale-dependent, so the test is relative: reproduced if the radius ranges overlap for "
                         "a bounded range of b that contains the best b and whose width relative to it is within a "
                         "factor 2 of the published (2 - 1) / 1.5; not reproduced if no b gives overlapping ranges; "
                         "partly otherwise",
               sentence=sentence, chapter="04-origin", interval="bootstrap of real and uniform radii")


def _gen_rows(G):
    return {r.name: r for r in G.table}


def _generator_caveat(G, cc: ClaimsConfig, pixel: bool = True) -> tuple[str | None, list[str]]:
    """Why a generator metric is not testable (too few held-out points), or None; and its caveats."""
    st = G.settings
    few = st.n_image_real if pixel else st.n_real
    if few < cc.min_heldout:
        what = ("a k-NN support of so few points is coarse and can count blurred images as faces" if pixel else
                "a k-NN support of so few points is coarse, and precision and coverage read high for any "
                "spread-out sample")
        return (f"the {'pixel' if pixel else 'latent'} metrics rest on only {few} held-out real points (fewer "
                f"than claims.min_heldout = {cc.min_heldout}): {what}", [])
    notes = []
    if st.n_real < 5 * cc.min_heldout:
        notes.append(f"The latent metrics compare with {st.n_real} held-out real points: their k-NN support is "
                     "coarse, and intervals are wide.")
    notes.append(f"Intervals: Student t over the {st.repeats} repetitions of the generate step, each a new "
                 "split, a refit and new samples.")
    return None, notes


def _ratio_repeats(row, ref, metric: str, level: float) -> tuple[float, float, float] | None:
    """Mean of ``metric`` of ``row`` relative to the reference row's, per repetition (the same split),
    with its Student t interval; None when the reference's value is 0 or undefined in a repetition."""
    a, b = row.interval(metric).repeats, ref.interval(metric).repeats
    if any(x is None for x in a) or any(y is None or y <= 0 for y in b):
        return None
    return cal.mean_interval([x / y for x, y in zip(a, b)], level, 0.0, None)


def _interval_text(row, metric: str) -> str:
    iv = row.interval(metric)
    return interval_text(iv.low, iv.high)


def claim_faces(fid: str, name: str, G, cc: ClaimsConfig) -> dict:
    """Decoded images of generator ``name`` against the real held-out reference (pixel precision ratio)."""
    stat = f"pixel precision of {name} relative to that of the real held-out reference"
    want_faces = fid == "pca_faces"
    crit = (f"reproduced if the interval lies at or above {cc.face_ratio:g}; not reproduced if it lies below "
            f"{cc.nonface_ratio:g}; partly otherwise" if want_faces else
            f"reproduced if the interval lies below {cc.nonface_ratio:g}; not reproduced if it lies at or above "
            f"{cc.face_ratio:g}; partly otherwise")
    chapter = "05-generating"
    if not G:
        return untestable(fid, stat, "ratio", "the generate step has not run for this build", crit, chapter)
    rows = _gen_rows(G)
    if name not in rows:
        return untestable(fid, stat, "ratio", f"the {name} generator is not among generate.generators", crit, chapter)
    reason, notes = _generator_caveat(G, cc)
    if reason:
        return untestable(fid, stat, "ratio", reason, crit, chapter)
    r, ref = rows[name], G.reference
    ratio = _ratio_repeats(r, ref, "pixel_precision", cc.level)
    if ratio is None:
        return untestable(fid, stat, "ratio", "the real reference's pixel precision is 0 in a repetition", crit,
                          chapter)
    ratio, lo, hi = ratio
    if want_faces:
        v = _three_way(lo >= cc.face_ratio, hi < cc.nonface_ratio)
    else:
        v = _three_way(hi < cc.nonface_ratio, lo >= cc.face_ratio)
    nums = (f"{pct(r.pixel_precision)} of its decoded points fall inside the k-NN support of decoded real faces, "
            f"against {pct(ref.pixel_precision)} for real held-out points (ratio {num(ratio)}, interval "
            f"{interval_text(lo, hi, num)}); in latent space its precision is {pct(r.precision)}")
    if want_faces:
        sentence = {REPRODUCED: f"Points sampled inside the PCA confidence ellipsoid decode to face-like images: {nums}.",
                    PARTLY: f"Points sampled inside the PCA confidence ellipsoid decode partly to face-like images: {nums}.",
                    NOT: f"Points sampled inside the PCA confidence ellipsoid do not decode to face-like images: {nums}."}[v]
    else:
        sentence = {REPRODUCED: f"Uniform random vectors decode to images that are not faces: {nums}.",
                    PARTLY: f"Uniform random vectors decode to images between faces and non-faces: {nums}.",
                    NOT: f"Uniform random vectors decode to face-like images here: {nums}."}[v]
    return row(fid, statistic=stat, unit="ratio", value=ratio, low=lo, high=hi, null=None,
               reference=1.0, reference_label="the real held-out reference", verdict=v, criterion=crit,
               sentence=sentence, chapter=chapter,
               interval="Student t over the generate step's repetitions of the ratio (same split for both rows)",
               notes=notes)


def _separated(a, b, metric: str) -> tuple[bool, bool]:
    """Whether the interval of ``metric`` of row ``a`` lies wholly above, or wholly below, that of row ``b``."""
    ia, ib = a.interval(metric), b.interval(metric)
    return ia.low > ib.high, ia.high < ib.low


def claim_per_component(G, cc: ClaimsConfig, checks: dict | None) -> dict:
    fid, a, b = "per_component_better", "independent-empirical", "uniform"
    stat = f"pixel precision of {a} (the share of its decoded points inside the support of decoded real faces)"
    crit = (f"reproduced if its interval lies wholly above that of {b}; not reproduced if it lies wholly below; "
            "partly (a tie: the intervals overlap) otherwise")
    chapter = "05-generating"
    if not G:
        return untestable(fid, stat, "share", "the generate step has not run for this build", crit, chapter)
    rows = _gen_rows(G)
    missing = [x for x in (a, b) if x not in rows]
    if missing:
        return untestable(fid, stat, "share", f"{' and '.join(missing)} not among generate.generators", crit,
                          chapter)
    reason, notes = _generator_caveat(G, cc)
    if reason:
        return untestable(fid, stat, "share", reason, crit, chapter)
    ra, rb = rows[a], rows[b]
    above, below = _separated(ra, rb, "pixel_precision")
    v = _three_way(above, below)
    nums = (f"{pct(ra.pixel_precision)} of the decoded points of {a} fall inside the support of decoded real faces "
            f"(interval {_interval_text(ra, 'pixel_precision')}), {pct(rb.pixel_precision)} of those of {b} "
            f"(interval {_interval_text(rb, 'pixel_precision')}); in latent space their precisions are "
            f"{pct(ra.precision)} and {pct(rb.precision)}")
    sentence = {REPRODUCED: f"Drawing each component from its own distribution does better than uniform vectors: {nums}.",
                PARTLY: f"Drawing each component from its own distribution does about as well as uniform vectors: {nums}.",
                NOT: f"Drawing each component from its own distribution does worse than uniform vectors: {nums}."}[v]
    if checks and a in checks["off_support_faces"]:
        sentence += (" Latent and pixel metrics disagree: its points lie off the support of the real latent "
                     "points, yet decode to face-like images.")
    return row(fid, statistic=stat, unit="share", value=ra.pixel_precision, low=ra.interval("pixel_precision").low,
               high=ra.interval("pixel_precision").high, null=rb.pixel_precision,
               null_label=f"pixel precision of {b}, interval {_interval_text(rb, 'pixel_precision')}", verdict=v,
               criterion=crit, sentence=sentence, chapter=chapter,
               interval="Student t over the generate step's repetitions", notes=notes)


def claim_gmm(G, cc: ClaimsConfig) -> dict:
    fid = "gmm_beats_simple"
    stat = ("score of gmm (harmonic mean of latent precision and coverage), against the simple priors (uniform, "
            "independent normal, multivariate normal)")
    crit = ("reproduced if its score interval lies wholly above the interval of every simple prior and the gmm "
            "does not copy its fit points; not reproduced if a simple prior's interval lies wholly above it; "
            "partly otherwise (a tie, or a win by copying)")
    chapter = "05-generating"
    if not G:
        return untestable(fid, stat, "score", "the generate step has not run for this build", crit, chapter)
    rows = _gen_rows(G)
    simple = [x for x in SIMPLE if x in rows]
    if "gmm" not in rows or not simple:
        return untestable(fid, stat, "score", "gmm or every simple prior is missing from generate.generators",
                          crit, chapter)
    reason, notes = _generator_caveat(G, cc, pixel=False)
    if reason:
        return untestable(fid, stat, "score", reason, crit, chapter)
    gmm = rows["gmm"]
    best = max(simple, key=lambda x: (rows[x].interval("score").high, rows[x].score, x))
    wins = [_separated(gmm, rows[x], "score")[0] for x in simple]
    loses = [_separated(gmm, rows[x], "score")[1] for x in simple]
    copies = gmm.copies
    v = _three_way(all(wins) and not copies, any(loses))
    sel, fits = G.gmm_selection, G.generators["gmm"].repeats
    converged = sum(bool(f["converged"]) for f in fits)
    iters = sorted(int(f["n_iter"]) for f in fits)
    nums = (f"the Gaussian mixture ({sel.choice_text}; EM converged in {converged} of {len(fits)} repetitions after "
            f"{iters[0] if iters[0] == iters[-1] else f'{iters[0]} to {iters[-1]}'} iterations) scores "
            f"{num(gmm.score)} (interval {interval_text(gmm.interval('score').low, gmm.interval('score').high, num)}), "
            f"the strongest simple prior ({best}) {num(rows[best].score)} (interval "
            f"{interval_text(rows[best].interval('score').low, rows[best].interval('score').high, num)}); score = "
            "harmonic mean of latent precision and coverage")
    if copies:
        nums += f"; it copies its fit points (copy share {pct(gmm.copy_share)})"
    sentence = {REPRODUCED: f"The ex-post Gaussian mixture beats the simple priors: {nums}.",
                PARTLY: f"The ex-post Gaussian mixture does not clearly beat the simple priors: {nums}.",
                NOT: f"The ex-post Gaussian mixture does worse than a simple prior: {nums}."}[v]
    gi = gmm.interval("score")
    return row(fid, statistic=stat, unit="score", value=gmm.score, low=gi.low, high=gi.high,
               null=rows[best].score, null_label=f"score of the strongest simple prior, {best}", verdict=v,
               criterion=crit, sentence=sentence, chapter=chapter,
               interval="Student t over the generate step's repetitions", notes=notes)


def generator_checks(G, cc: ClaimsConfig) -> dict | None:
    """Where latent and pixel metrics disagree, and where k-NN recall is inflated (None without a generate step).

    Per generator, the latent precision and the pixel precision relative to the real
    reference's (per repetition, Student t interval) are put in the bands of the ledger:
    *in support* / *face-like* when the interval lies at or above ``face_ratio``, *off
    support* / *not face-like* when it lies below ``nonface_ratio``. The two metrics
    disagree when one is in its upper band and the other in its lower band. Recall is
    *inflated* where a generator's points lie off the support yet its recall interval
    lies wholly above its coverage interval: spread-out points have large k-NN balls that
    cover real points they are not near (Kynkäänniemi et al. 2019; Naeem et al. 2020).
    """
    if not G:
        return None
    ref, out = G.reference, []
    for r in G.ranked:
        lat = _ratio_repeats(r, ref, "precision", cc.level)
        pix = _ratio_repeats(r, ref, "pixel_precision", cc.level)
        latent = ("undefined" if lat is None else "in support" if lat[1] >= cc.face_ratio else
                  "off support" if lat[2] < cc.nonface_ratio else "partly in support")
        pixel = ("undefined" if pix is None else "face-like" if pix[1] >= cc.face_ratio else
                 "not face-like" if pix[2] < cc.nonface_ratio else "between")
        rec, cov = r.interval("recall"), r.interval("coverage")
        out.append({"name": r.name, "latent": latent, "pixel": pixel,
                    "latent_ratio": None if lat is None else list(lat), "pixel_ratio": None if pix is None else list(pix),
                    "recall": r.recall, "coverage": r.coverage, "precision": r.precision,
                    "recall_inflated": latent == "off support" and rec.low > cov.high})
    off_faces = [g["name"] for g in out if g["latent"] == "off support" and g["pixel"] == "face-like"]
    in_nonfaces = [g["name"] for g in out if g["latent"] == "in support" and g["pixel"] == "not face-like"]
    inflated = [g for g in out if g["recall_inflated"]]
    return {"rows": out, "off_support_faces": off_faces, "in_support_nonfaces": in_nonfaces,
            "recall_inflated": [g["name"] for g in inflated],
            "sentence": _agreement_sentence(out, off_faces, in_nonfaces, cc),
            "recall_sentence": _recall_sentence(inflated, out)}


def _ratio_text(g: dict, key: str) -> str:
    v, lo, hi = g[key]
    return f"{num(v)} ({interval_text(lo, hi, num)})"


def _agreement_sentence(rows: list[dict], off_faces: list[str], in_nonfaces: list[str], cc: ClaimsConfig) -> str:
    by = {g["name"]: g for g in rows}
    bands = (f"the ledger's bands, relative to the real reference: at or above {cc.face_ratio:g} in support or "
             f"face-like, below {cc.nonface_ratio:g} off support or not face-like")
    parts = []
    if off_faces:
        figs = "; ".join(f"{nm}: latent precision {_ratio_text(by[nm], 'latent_ratio')}, pixel precision "
                         f"{_ratio_text(by[nm], 'pixel_ratio')} times the reference's" for nm in off_faces)
        parts.append(f"Latent and pixel metrics disagree for {and_list(off_faces)}: their points lie off the support "
                     f"of the real latent points, yet decode to images inside the support of decoded real faces "
                     f"({figs}). The decoder maps these off-support points to face-like images, so latent metrics "
                     "judge where the points lie and pixel metrics what they decode to.")
    if in_nonfaces:
        figs = "; ".join(f"{nm}: latent precision {_ratio_text(by[nm], 'latent_ratio')}, pixel precision "
                         f"{_ratio_text(by[nm], 'pixel_ratio')} times the reference's" for nm in in_nonfaces)
        parts.append(f"Latent and pixel metrics disagree for {and_list(in_nonfaces)}: their points lie in the support "
                     f"of the real latent points, yet their decoded images do not fall among decoded real faces "
                     f"({figs}).")
    if not parts:
        return f"Latent and pixel metrics agree for every generator ({bands})."
    return " ".join(parts) + f" ({bands[0].upper()}{bands[1:]}.)"


def _recall_sentence(inflated: list[dict], rows: list[dict]) -> str:
    why = ("the k-NN recall counts a real point as covered when it lies in the k-NN ball of any generated point, and "
           "spread-out points have large balls (Kynkäänniemi et al. 2019; Naeem et al. 2020)")
    if not inflated:
        return (f"No generator whose points lie off the real support gets a recall above its coverage here; {why}, "
                "so recall is read beside coverage throughout.")
    figs = "; ".join(f"{g['name']}: recall {pct(g['recall'])}, coverage {pct(g['coverage'])}, precision "
                     f"{pct(g['precision'])}" for g in inflated)
    return (f"Recall is inflated for {and_list([g['name'] for g in inflated])}: their points lie off the support of "
            f"the real points, yet their recall lies well above their coverage ({figs}). {why[0].upper()}{why[1:]}; "
            "coverage, built on the real points' own balls, does not reward them.")


def claim_core(nrm: dict, cc: ClaimsConfig, notes: list[str]) -> dict:
    core, whole = nrm["core"], nrm["whole"]
    if core["n"] < cc.unstable_ratio * core["rank"]:
        stat = (f"Mardia's kurtosis of the {cc.core_sigma:g}-sigma core relative to a Gaussian cut the same way "
                "(1 = normal)")
        return untestable("core_normal", stat, "ratio",
                          f"the core has {core['n']:,} tested points for {core['rank']} dimensions (fewer than "
                          f"{cc.unstable_ratio:g} per dimension), where multivariate normality statistics hardly "
                          f"depend on the data (the cut keeps {pct(nrm['kept'])} of the points; published: more "
                          f"than {pct(published.CORE_KEPT, 0)})",
                          f"as for larger samples: within 1 ± {cc.kurtosis_close:g} and more than "
                          f"{pct(published.CORE_KEPT, 0)} kept", "03-correlations", notes)
    rel, lo, hi = core["relative_kurtosis"], core["relative_kurtosis_low"], core["relative_kurtosis_high"]
    kept, klo = nrm["kept"], nrm["kept_low"]
    pub = published.CORE_KEPT
    close = abs(lo - 1) <= cc.kurtosis_close and abs(hi - 1) <= cc.kurtosis_close
    far = min(abs(lo - 1), abs(hi - 1)) > cc.kurtosis_far and (lo - 1) * (hi - 1) > 0
    v = _three_way(close and klo > pub, far)
    nums = (f"the {cc.core_sigma:g}-sigma cut keeps {pct(kept)} of the points (published: more than {pct(pub, 0)}; "
            f"a Gaussian keeps {pct(nrm['gaussian_kept'], 2)}); the core's multivariate kurtosis is {num(rel)} times "
            f"that of a Gaussian cut the same way (interval {interval_text(lo, hi, num)}; calibrated z = "
            f"{num(core['kurtosis']['z'])}), the whole cloud's {num(whole['relative_kurtosis'])} times; "
            f"Shapiro-Wilk rejects normality on {core['axes_rejected']} of {core['rank']} principal axes of the core "
            f"({whole['axes_rejected']} of the whole cloud) at {pct(cc.alpha, 0)} after the Benjamini-Hochberg "
            "correction")
    sentence = {REPRODUCED: f"The dense core is close to a multivariate normal: {nums}.",
                PARTLY: f"The dense core is only roughly normal: {nums}.",
                NOT: f"The dense core is not close to a multivariate normal: {nums}."}[v]
    return row("core_normal", statistic=f"Mardia's kurtosis of the {cc.core_sigma:g}-sigma core relative to a "
               "Gaussian cut the same way (1 = normal)", unit="ratio", value=rel, low=lo, high=hi, null=1.0,
               null_label="a Gaussian sample of the same size, cut the same way", reference=kept,
               reference_label=f"share kept by the cut (published: more than {pct(pub, 0)})", verdict=v,
               criterion=f"reproduced if the interval lies within 1 ± {cc.kurtosis_close:g} and the cut keeps more "
                         f"than {pct(pub, 0)} (the lower end of its interval); not reproduced if the interval lies "
                         f"farther than {cc.kurtosis_far:g} from 1, on one side; partly otherwise",
               sentence=sentence, chapter="03-correlations",
               interval="bootstrap of the core's points (their whitening fixed), over the simulated Gaussian mean",
               notes=notes)


# --------------------------------------------------------------------------- the step

def measure(z: np.ndarray, run: Run, G, cc: ClaimsConfig, seed: int) -> tuple[list[dict], dict, dict]:
    """The ledger rows, details.json and arrays.npz of latents z (see the module docstring)."""
    S, A = run.stats, run.arrays
    n, N = z.shape
    n_used = min(n, cc.max_points)
    idx = np.arange(n) if n_used == n else np.sort(_rng(seed, "subsample").choice(n, n_used, replace=False))
    x = np.asarray(z[idx], dtype=np.float64)
    sample = _sample_caveat(n, N, n_used, cc)
    cov_notes = _cov_note(sample)
    sub_notes = ([f"Measured on a random subsample of {n_used:,} of the {n:,} points (claims.max_points)."]
                 if n_used < n else [])
    afv = S.pca.axes_for_variance
    axes = (afv["0.9"], afv["0.99"])
    orig = measure_origin(x, axes, S, cc, seed)
    mom = moments(z)
    bd = measure_b(mom["radius"], np.asarray(A.radius_uniform_unit, dtype=np.float64), uniform_b_from_radii(z),
                   cc, seed)
    checks = [S.b.used, bd["best"], bd["flat"][0], bd["flat"][1]]
    nl = measure_nulls(np.asarray(z), mom, S, A, checks, cc, seed)  # in memory: the permutation reads columns
    nd = nl["doc"]
    nrm = measure_normality(x, cc, seed)
    gen_checks = generator_checks(G, cc)
    rows = [
        claim_off_centre(orig["shape"], S, cc, sub_notes),
        claim_own_spread(orig["shape"], S, cc, sub_notes),
        claim_ellipsoid(orig["shape"], S, cc, cov_notes + sub_notes),
        claim_centre(orig["shape"], S, cc, cov_notes + sub_notes),
        claim_origin(orig, S, cc, cov_notes + sub_notes),
        claim_projection(nd, S, cc, cov_notes),
        claim_slices(nd, S, cc, cov_notes),
        claim_cube(nd, S, cc, cov_notes),
        claim_thin_shell(np.asarray(A.radius_uniform_unit, dtype=np.float64), S, cc, seed),
        claim_b_range(bd, nd, S, cc),
        claim_faces("uniform_nonfaces", "uniform", G, cc),
        claim_per_component(G, cc, gen_checks),
        claim_core(nrm["doc"], cc, cov_notes + ([f"Normality tests on a random subsample of "
                                                  f"{nrm['doc']['points_tested']:,} points."]
                                                 if nrm["doc"]["points_tested"] < n else [])),
        claim_faces("pca_faces", "pca-ellipsoid", G, cc),
        claim_gmm(G, cc),
    ]
    details = {
        "schema_version": SCHEMA_VERSION, "n": n, "N": N, "seed": seed,
        "settings": {k: v for k, v in vars(cc).items()},
        "sample": sample,
        "origin": {"metrics": orig["metrics"], "band": origin_band(orig["metrics"][0]["share"], cc),
                   "in_sample_share": S.origin.mahalanobis.ledoit_wolf.share_farther, "folds": cc.folds},
        "shape": orig["shape"],
        "b": {k: bd[k] for k in ("b0", "best", "interval", "flat", "w1_best", "w1_sd", "best_at_edge", "grid_step",
                                 "grid_min", "grid_max")} | {"grid_size": len(bd["grid"]), "checks": checks, "check_names": list(CHECK_NAMES),
                                                             "coarse_best": S.b.best},
        "nulls": nd,
        "normality": nrm["doc"],
        "generators": gen_checks,
        "verdicts": {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS},
    }
    arrays = {"b_fine_grid": bd["grid"], "b_fine_w1": bd["w1"], "b_boot_best": bd["boot_best"],
              "origin_boot_share": orig["boot_share"], "b_checks": np.array(checks),
              "check_pair_counts": nl["pair_counts"], "atlas_median_share": nl["atlas"], **nrm["arrays"]}
    return rows, details, arrays


def run(cfg: Config, run_dir: Path, force: bool = False) -> list[dict]:
    """The claims step on ``run_dir`` unless it is up to date (:func:`analysis.steps.run`);
    returns the ledger (claims.json's content).

    Raises
    ------
    UserError
        No finished stats step, inputs changed since their step wrote them, or a
        [claims] value that does not fit; nothing is written then.
    """
    steps.run("claims", cfg, run_dir, force)
    return load_json(Path(run_dir) / "claims" / "claims.json")


def prepare(cfg: Config, run_dir: Path, inputs: dict) -> dict:
    """Check the latents, the [claims] config against them, and that the stats describe these latents."""
    z = steps.load_latents(run_dir / "latents.npy")
    validate(cfg.claims, *z.shape)
    stats_m = read_manifest(run_dir, "stats") or {}
    if stats_m.get("inputs", {}).get("latents.npy") != inputs["latents.npy"]:
        raise UserError(f"the stats in {run_dir / 'stats'} were measured on other latents than latents.npy",
                        "run the stats step again: python -m analysis stats --config ...")
    return {}


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    """Measure the findings; write ``claims/claims.json``, ``details.json`` and ``arrays.npz``."""
    z = steps.open_latents(run_dir / "latents.npy")
    reader = Run(run_dir)
    try:
        G = reader.generate
        rows, details, arrays = measure(z, reader, G, cfg.claims, cfg.run.seed)
    except ArtifactError as e:
        raise UserError(f"{run_dir / e.file}: {e.problem}", "re-run the step that writes it "
                        "(python -m analysis all --config ...)") from None
    out_dir = run_dir / "claims"
    save_json(out_dir / "claims.json", rows)
    save_json(out_dir / "details.json", details)
    save_npz(out_dir / "arrays.npz", **arrays)
    counts = ", ".join(f"{c} {v}" for v, c in details["verdicts"].items() if c)
    eprint(f"claims: {len(rows)} findings ({counts}) -> {out_dir}")
    return steps.Written()
