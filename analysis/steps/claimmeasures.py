"""The claims step's measurements of the latent cloud: the one b, the origin under every metric, where
uniform points lie, the real points inside the cube, the null models of the projections and slices,
and the normality of the core. Each returns plain numbers (with bootstrap draws and histograms) for
:mod:`analysis.steps.claimfigures` to turn into the geometry rows' figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats as sps
from threadpoolctl import threadpool_limits

from analysis.science import calibration as cal
from analysis.steps import findings
from analysis.science import normality, nulls, slices
from analysis import published
from analysis.science import metrics as M
from analysis.pipeline.config import ClaimsConfig
from analysis.pipeline.storage import NpyRows
from analysis.words import num, pct

STREAMS = {"subsample": 11, "crossfit": 12, "gauss": 13, "normal": 15, "permuted": 16, "normality": 17,
           "shape_null": 19, "draws": 20, "spread_null": 21, "centre_null": 22, "void": 23, "local": 24,
           "b_draws": 25, "support": 26}
HIST_BINS = 60


# --------------------------------------------------------------------------- measuring

def stream_rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream]])


def sample_caveat(n: int, N: int, n_used: int, cc: ClaimsConfig) -> dict:
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


def cov_note(sample: dict) -> list[str]:
    return [sample["sentence"]] if sample["unstable"] else []


def share_ci(point: float, count: float, total: float, boot: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile bootstrap interval, widened to the exact binomial interval of the count where that is wider."""
    lo, hi = cal.percentile_interval(boot, level)
    blo, bhi = cal.binomial_interval(count, total, level)
    return min(lo, blo, point), max(hi, bhi, point)


def boot_stat(value: float, draws: np.ndarray, level: float, **extra) -> dict:
    """A figure with its percentile interval (widened to contain the figure)."""
    lo, hi = cal.percentile_interval(draws, level)
    return {"value": float(value), "low": min(lo, float(value)), "high": max(hi, float(value)), **extra}


def share_stat(count: float, total: float, level: float) -> dict:
    """A share count / total with its exact binomial interval (its draws are its Jeffreys posterior's)."""
    lo, hi = cal.binomial_interval(count, total, level)
    v = count / total if total else 0.0
    return {"value": v, "low": min(lo, v), "high": max(hi, v), "count": float(count), "total": float(total),
            "lower": 0.0, "upper": 1.0}


def jeffreys(count: float, total: float, B: int, rng: np.random.Generator) -> np.ndarray:
    """B draws of a share from its Jeffreys posterior Beta(count + 1/2, total - count + 1/2)."""
    return rng.beta(count + 0.5, max(total - count, 0.0) + 0.5, size=B)


def resample(draws: np.ndarray, B: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` as exactly B draws (resampled when their number differs)."""
    d = np.asarray(draws, dtype=float)
    return d if len(d) == B else d[rng.integers(0, len(d), B)]


# ---- the one b

def one_b(S, A, cc: ClaimsConfig) -> dict:
    """The b of every row, chart and sentence (stats ``b.used``) and the interval of the fine scan's best b."""
    fine = S.b.fine
    boot = np.asarray(A.b_boot_best, dtype=np.float64)
    lo, hi = cal.percentile_interval(boot, cc.level)
    best = fine.best
    return {"value": S.b.used, "source": S.b.used_source, "best": best, "low": min(lo, best), "high": max(hi, best),
            "flat": list(fine.flat), "b0": fine.b0, "w1_best": fine.w1_best, "w1_sd": fine.w1_sd,
            "best_at_edge": fine.best_at_edge, "grid_step": fine.grid_step, "grid_min": fine.grid_min,
            "grid_max": fine.grid_max, "grid_size": fine.grid_size, "coarse_best": S.b.best}


def notes_on_b(bb: dict) -> list[str]:
    if bb["source"] == "config":
        return [f"b = {num(bb['value'])} is set in the configuration (stats.b); the fine b-scan's best b is "
                f"{num(bb['best'])} (interval {num(bb['low'])} to {num(bb['high'])})."]
    return []


# ---- the origin, under every metric

ORIGIN_LABELS = {"euclidean": "Euclidean distance from the centre",
                 "subspace_90": "Mahalanobis in the principal axes holding 90 % of the variance",
                 "subspace_99": "Mahalanobis in the principal axes holding 99 % of the variance",
                 "ledoit_wolf": "Mahalanobis (Ledoit-Wolf), whole space",
                 "nearest_real": "distance to the nearest real point (local density)"}


def local_density(x: np.ndarray, origin: np.ndarray, k: int, rng: np.random.Generator) -> dict:
    """The origin's distance to the nearest real point against held-out real points' own, cross-fitted.

    For each of k folds the held-out points' and the origin's nearest-point distances are
    measured to the other folds' points; ``count`` held-out points (of ``total``) are more
    isolated than the origin (their distance larger). ``nn`` (n,): the held-out distances.
    """
    n = len(x)
    folds = cal.fold_ids(n, k, rng)
    nn, d0, count = np.empty(n), np.empty(k), 0
    for f in range(k):
        ref, held = x[folds != f], folds == f
        nn[held] = M.nearest_distances(x[held], ref)
        d0[f] = M.nearest_distances(origin[None, :], ref)[0]
        count += int(np.count_nonzero(nn[held] > d0[f]))
    return {"count": count, "total": n, "share": count / n, "origin": float(np.median(d0)), "nn": nn}


def measure_origin(x: np.ndarray, axes: tuple[int, int], S, cc: ClaimsConfig, seed: int, n_jobs: int = 1) -> dict:
    """The origin under every metric (cross-fitted, with intervals and the Gaussian of the same
    shape), and the shape figures with their bootstrap draws."""
    mean = x.mean(axis=0)
    xc, o = x - mean, -mean
    k_sigma, centre_k = S.components.k_sigma, S.centre.headline_k
    oc = cal.origin_crossfit(xc, o, cc.folds, axes, cc.bootstrap, stream_rng(seed, "crossfit"), k_sigma, centre_k,
                             cc.effect_size, cc.ledger_alpha, n_jobs)
    with threadpool_limits(1, user_api="blas"):  # N x N decompositions: one BLAS thread is faster than two
        g = cal.gaussian_like(xc, stream_rng(seed, "gauss"))
        gn = cal.crossfit_shares(g, o, cal.fold_ids(len(g), cc.folds, stream_rng(seed, "gauss")), cc.folds,
                                 np.ones(len(g)), axes)
    table = []
    for i, metric in enumerate(("ledoit_wolf", "subspace_90", "subspace_99", "euclidean")):
        lo, hi = share_ci(oc["share"][i], oc["count"][i], oc["total"], oc["boot_share"][:, i], cc.level)
        table.append({"metric": metric, "label": ORIGIN_LABELS[metric], "n_axes": axes[i - 1] if i in (1, 2) else None,
                      "distance": float(np.median(oc["origin_distance"][:, i])),
                      "unit": "Euclidean" if metric == "euclidean" else "Mahalanobis",
                      "share": float(oc["share"][i]), "low": lo, "high": hi, "gaussian": float(gn["share"][i]),
                      "band": findings.band_of(float(oc["share"][i]), cc)})
    m = _support_subset(len(xc), cc, seed)
    ld = local_density(xc[m], o, cc.folds, stream_rng(seed, "local"))
    gd = local_density(g[m], o, cc.folds, stream_rng(seed, "local"))
    lo, hi = cal.binomial_interval(ld["count"], ld["total"], cc.level)
    med, q99 = (float(v) for v in np.quantile(ld["nn"], [0.5, 0.99]))
    table.append({"metric": "nearest_real", "label": ORIGIN_LABELS["nearest_real"], "n_axes": None,
                  "distance": ld["origin"], "unit": "Euclidean", "share": ld["share"], "low": min(lo, ld["share"]),
                  "high": max(hi, ld["share"]), "gaussian": gd["share"], "band": findings.band_of(ld["share"], cc)})
    order = ("euclidean", "subspace_90", "subspace_99", "ledoit_wolf", "nearest_real")
    table.sort(key=lambda m: order.index(m["metric"]))
    # the chart: cross-fitted Mahalanobis distances of held-out real and Gaussian points, and the origin's
    rng = stream_rng(seed, "crossfit")
    with threadpool_limits(1, user_api="blas"):
        d_real, d_gauss = cal.crossfit_distances(xc, cc.folds, rng), cal.crossfit_distances(g, cc.folds, rng)
    o_lw = next(m["distance"] for m in table if m["metric"] == "ledoit_wolf")
    edges = np.linspace(0.0, max(float(d_real.max()), float(d_gauss.max()), o_lw) * 1.02, HIST_BINS + 1)
    hist = np.stack([np.histogram(d, edges)[0] for d in (d_real, d_gauss)]).astype(np.int64)
    # independent components: every column permuted (shape null of the correlation figures)
    rng = stream_rng(seed, "shape_null")
    xp = np.column_stack([xc[rng.permutation(len(xc)), j] for j in range(xc.shape[1])])
    null_shape = cal.shape_figures({"W": float(len(xp)), "s": xp.sum(axis=0), "S": xp.T @ xp}, k_sigma,
                                   centre_k, o, cc.effect_size, cc.ledger_alpha)
    shape = {}
    for key, v in oc["shape"].items():
        lo, hi = cal.percentile_interval(oc["boot_shape"][key], cc.level)
        shape[key] = {"value": v, "low": min(lo, v), "high": max(hi, v), "independent": null_shape[key]}
    lw = table[[m["metric"] for m in table].index("ledoit_wolf")]
    return {"table": table, "lw": lw, "count": float(oc["count"][0]), "total": float(oc["total"]), "shape": shape,
            "boot_share": oc["boot_share"], "boot_shape": oc["boot_shape"],
            "nn": {"origin": ld["origin"], "median": med, "q99": q99, "origin_over_median": ld["origin"] / med,
                   "origin_over_q99": ld["origin"] / q99},
            "edges": edges, "hist": hist}


def _support_subset(n: int, cc: ClaimsConfig, seed: int) -> np.ndarray:
    """The rows the k-NN computations use: all, or claims.support_points of them at random."""
    if n <= cc.support_points:
        return np.arange(n)
    return np.sort(stream_rng(seed, "support").choice(n, cc.support_points, replace=False))


# ---- where uniform points lie

VOID_KINDS = ("real", "uniform", "normal", "normal_at_origin")


def measure_void(x: np.ndarray, b: float, cc: ClaimsConfig, seed: int) -> dict:
    """Where uniform points at b lie relative to the data's cross-fitted k-NN support.

    For each of ``claims.folds`` folds, the support is the union of the k-NN balls of the
    other folds' points (:func:`analysis.science.metrics.support_mask`); tested against it are the
    held-out fold (the calibration), uniform points in [-b, b]^N, and samples of the
    normal with the fit part's mean and covariance and of the same normal at the origin
    (``void_points`` of each over all folds). Also each tested point's distance to the
    nearest fit-part point. At most ``claims.support_points`` of the points are used.
    """
    rng = stream_rng(seed, "void")
    x = x[_support_subset(len(x), cc, seed)]
    n, N = x.shape
    folds = cal.fold_ids(n, cc.folds, rng)
    per = int(math.ceil(cc.void_points / cc.folds))
    inside = {k: 0 for k in VOID_KINDS}
    total = {k: 0 for k in VOID_KINDS}
    nn: dict[str, list] = {k: [] for k in VOID_KINDS}
    for f in range(cc.folds):
        ref, held = x[folds != f], x[folds == f]
        mean = ref.mean(axis=0)
        with threadpool_limits(1, user_api="blas"):
            factor = nulls.gaussian_factor(np.cov(ref, rowvar=False, bias=True))
        gz = rng.standard_normal((per, N)) @ factor.T
        parts = {"real": held, "uniform": slices.uniform_cube(rng, per, N, b), "normal": mean + gz,
                 "normal_at_origin": gz}
        q = np.vstack([parts[k] for k in VOID_KINDS])
        mask = M.support_mask(ref, q, cc.support_k)
        dist = M.nearest_distances(q, ref)
        s = 0
        for k in VOID_KINDS:
            m = len(parts[k])
            inside[k] += int(mask[s:s + m].sum())
            total[k] += m
            nn[k].append(dist[s:s + m])
            s += m
    nn = {k: np.concatenate(v) for k, v in nn.items()}
    share = {k: inside[k] / total[k] for k in VOID_KINDS}
    real_med, real_q99 = (float(v) for v in np.quantile(nn["real"], [0.5, 0.99]))
    edges = np.linspace(0.0, max(float(np.max(d)) for d in nn.values()) * 1.02, HIST_BINS + 1)
    hist = np.stack([np.histogram(nn[k], edges)[0] for k in VOID_KINDS]).astype(np.int64)
    calib = share["real"]
    doc = {"k": cc.support_k, "folds": cc.folds, "b": b, "points": n,
           "kinds": {k: {"inside": inside[k], "total": total[k], "share": share[k],
                         "ratio": share[k] / calib if calib > 0 else None,
                         "nn_median": float(np.median(nn[k])), "nn_min": float(np.min(nn[k]))} for k in VOID_KINDS},
           "nn": {"real_median": real_med, "real_q99": real_q99,
                  "uniform_median_ratio": float(np.median(nn["uniform"])) / real_med,
                  "uniform_min_ratio": float(np.min(nn["uniform"])) / real_q99,
                  "normal_median_ratio": float(np.median(nn["normal"])) / real_med,
                  "normal_at_origin_median_ratio": float(np.median(nn["normal_at_origin"])) / real_med}}
    return {"doc": doc, "edges": edges, "hist": hist}


# ---- the real points inside the cube: an observation

def cube_observation(z: np.ndarray, radius: np.ndarray, top_v: np.ndarray, unit_radii: np.ndarray, b: float,
                     contrast: np.ndarray | None, contrast_reason: str | None) -> dict:
    """The real points inside the whole cube [-b, b]^N: how many, their radii against the uniform
    shell's, and (with the images) their pixel contrast: what they are, not a void test."""
    inside = top_v[:, 0] <= b
    ur = b * np.asarray(unit_radii, dtype=np.float64)
    doc = {"b": b, "count": int(inside.sum()), "n": int(len(inside)), "share": float(inside.mean()),
           "radius_min": float(radius[inside].min()) if inside.any() else None,
           "radius_median": float(np.median(radius[inside])) if inside.any() else None,
           "radius_max": float(radius[inside].max()) if inside.any() else None,
           "radius_all_median": float(np.median(radius)),
           "uniform_radius_mean": float(ur.mean()), "uniform_radius_sd": float(ur.std()),
           "contrast": None, "contrast_reason": contrast_reason}
    if contrast is not None:
        rho = sps.spearmanr(radius, contrast).statistic
        doc["contrast"] = {
            "measure": "standard deviation of the image's pixel values (0 to 1)",
            "inside_median": float(np.median(contrast[inside])) if inside.any() else None,
            "all_median": float(np.median(contrast)),
            "inside_rank_median": (float(np.median(sps.rankdata(contrast)[inside] / len(contrast)))
                                   if inside.any() else None),
            "spearman_radius": float(rho) if np.isfinite(rho) else None}
    doc["sentence"] = cube_sentence(doc)
    return doc


def cube_sentence(doc: dict) -> str:
    """What the real points inside the cube are, in words chosen from the numbers."""
    shell = f"{num(doc['uniform_radius_mean'])} ± {num(doc['uniform_radius_sd'])}"
    if not doc["count"]:
        return f"No real point lies in the cube; uniform points at this b lie on a shell of radius {shell}."
    apart = doc["radius_max"] < doc["uniform_radius_mean"] - 3 * doc["uniform_radius_sd"]
    out = (f"Their distances from the origin range from {num(doc['radius_min'])} to {num(doc['radius_max'])} (median "
           f"{num(doc['radius_median'])}; all points: {num(doc['radius_all_median'])}), while uniform points at this b "
           f"lie on a shell of radius {shell}: "
           + ("these points sit well inside that shell, nearer to the origin than any uniform point, so they are "
              "not where uniform points lie." if apart else "some of them reach the shell of the uniform points."))
    c = doc["contrast"]
    if c is None:
        return f"{out} What their images look like is not measured here: {doc['contrast_reason']}."
    lower = c["inside_median"] < c["all_median"]
    out += (f" Their images have {'lower' if lower else 'higher'} contrast than the typical image (median pixel "
            f"standard deviation {num(c['inside_median'])} against {num(c['all_median'])}; their median rank among "
            f"all images is the {pct(c['inside_rank_median'], 0)} point)")
    rho = c["spearman_radius"]
    if rho is not None and rho > 0.3:
        out += (f", and over all points the distance from the origin and the contrast correlate (Spearman "
                f"{num(rho)}): faint images are encoded near the origin.")
    return out + ("" if out.endswith(".") else ".")


def pixel_contrast(run_dir: Path, n: int) -> tuple[np.ndarray | None, str | None]:
    """Each latent point's image contrast (pixel standard deviation), or None and why not."""
    ids, data_ids, images = run_dir / "ids.txt", run_dir / "data" / "ids.txt", run_dir / "data" / "images.npy"
    if not (ids.is_file() and data_ids.is_file() and images.is_file()):
        return None, "the images of these latents are not at hand (latents placed by hand)"
    if ids.read_bytes() != data_ids.read_bytes():
        return None, "the latents are not the codes of the data's images in order"
    rows = NpyRows(images)
    if len(rows) != n:
        return None, "the image cache and the latents differ in length"
    out = np.empty(n)
    step = max(1, (64 << 20) // max(rows.row_bytes, 1))
    for s in range(0, n, step):
        block = rows.read(s, s + step).reshape(min(step, n - s), -1).astype(np.float32) / 255.0
        out[s:s + len(block)] = block.std(axis=1)
    return out, None


def measure_nulls(z: np.ndarray, mom: dict, S, A, checks: list[float], check_names: list[str], cc: ClaimsConfig,
                  seed: int) -> dict:
    """Cube, slice and projection counts of the data and the three nulls at the check b values
    (the b, then the ends of its interval); the data's projection counts at each of them."""
    n, N = z.shape
    pairs = [tuple(p.pair) for p in S.pairs]
    b_used = checks[0]
    top_i, top_v = slices.top_abs(z, 4)
    with threadpool_limits(1, user_api="blas"):
        factor = nulls.gaussian_factor(mom["cov"])
    kinds = {"data": (top_i, top_v, np.asarray(A.pair_projection_overlap, dtype=np.int64), n)}
    for kind in nulls.KINDS:
        stream = "permuted" if kind == "permuted" else "normal"  # the two normals share their draws
        pts = nulls.null_points(kind, z, mom["mean"], factor, cc.null_points, stream_rng(seed, stream))
        kinds[kind] = nulls.top_and_overlap(pts, b_used)
    out = {"kinds": list(kinds), "checks": [], "pairs": [list(p) for p in pairs]}
    pair_counts = np.zeros((len(kinds), len(checks), len(pairs)))
    for ib, b in enumerate(checks):
        entry = {"name": check_names[ib], "b": b, "counts": {}}
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
    across = []
    for b in checks[1:]:  # the data at the ends of the b interval
        med_overlap = float(np.median(slices.upper(slices.projection_overlap(z, b))))
        cube = int(np.count_nonzero(top_v[:, 0] <= b))
        across.append({"b": b, "median_projected": med_overlap, "cube": cube,
                       "kept": cube / med_overlap if med_overlap > 0 else None})
    out["projection"] = proj
    out["projection_across_b"] = across
    return {"doc": out, "pair_counts": pair_counts, "atlas": atlas, "top_v": top_v}


def measure_normality(x: np.ndarray, cc: ClaimsConfig, seed: int) -> dict:
    with threadpool_limits(1, user_api="blas"):  # many small decompositions: one thread is faster
        return _normality(x, cc, seed)
def _normality(x: np.ndarray, cc: ClaimsConfig, seed: int) -> dict:
    rng = stream_rng(seed, "normality")
    n = len(x)
    kept, thr, tail = normality.core_cut(x, cc.core_sigma)
    k_lo, k_hi = cal.binomial_interval(int(kept.sum()), n, cc.level)
    xs = x if n <= cc.normality_max_points else x[np.sort(rng.choice(n, cc.normality_max_points, replace=False))]
    core_s = normality.core_cut(xs, cc.core_sigma)[0]
    out = {"core_sigma": cc.core_sigma, "threshold": thr, "tail_probability": tail, "kept": float(kept.mean()),
           "kept_low": k_lo, "kept_high": k_hi, "gaussian_kept": 1.0 - tail, "points_tested": len(xs),
           "published_kept": published.CORE_KEPT, "kept_count": int(kept.sum()), "n_cut": n}
    arrays, boots = {}, {}
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
        boots[name] = boot
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
    return {"doc": out, "arrays": arrays, "boot": boots}
