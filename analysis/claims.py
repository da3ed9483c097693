"""The ``claims`` step: the ledger of the published findings, measured, calibrated, judged.

For each finding of the published study (:data:`analysis.published.FINDINGS`) the step
states the figure that tests it on our data, with an interval, beside what a null
model gives, and a verdict by a rule written down with it. The article's first table
is this ledger, and the sentences its chapters use about the data are chosen here from
the verdicts, so the text never says more than the numbers. The geometry rows are
judged from plain figures by :mod:`analysis.findings` (the ``across`` step judges the
same figures pooled over runs); the shared machinery (rows, tests, Holm, pooling) is
:mod:`analysis.ledger`.

One b. Every row, chart and sentence uses the b of the stats step (``b.used``: the fine
b-scan's best b unless ``stats.b`` is set); its interval is the percentile interval of
the scan's bootstrap draws at ``claims.level``. Slice and projection rows also give
their figure at both ends of that interval.

Reads ``latents.npy``, ``stats/stats.json`` and ``stats/arrays.npz``, when present
``generate/metrics.json`` and, for the cube observation, ``data/images.npy`` with the
ids of both (``ids.txt``, ``data/ids.txt``; pixel contrast only when the latents are the
images' codes), and writes ``<run>/claims/`` (then ``claims.manifest.json`` last):

``claims.json`` (the ledger: one row per finding, in the study's order), ``details.json`` (every figure
behind it) and ``arrays.npz`` (bootstrap draws, null simulations, histograms). Keys and their meaning:
:mod:`analysis.schemas.claims` (JSON Schema: ``schemas/claims.claims.schema.json``,
``schemas/claims.details.schema.json``, ``schemas/claims.arrays.schema.json``).

Same inputs and config give byte-identical files; the step is skipped when its manifest
matches (config sections ``claims`` and ``run``, the input hashes and this code).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from scipy import stats as sps
from threadpoolctl import threadpool_limits

from analysis import calibration as cal
from analysis import findings, ledger, normality, nulls, published, slices, steps
from analysis import metrics as M
from analysis.artifacts import ArtifactError, Run
from analysis.config import ClaimsConfig, Config, _check_range
from analysis.errors import UserError, eprint
from analysis.geometry import moments
from analysis.ledger import VERDICTS
from analysis.words import num, pct
from analysis.provenance import read_manifest
from analysis.storage import NpyRows, load_json, save_json, save_npz
from analysis.schemas.claims import Claim, ClaimsDetails
from analysis.genclaims import claim_faces, claim_gmm, claim_per_component, generator_checks  # noqa: F401

SCHEMA_VERSION = 2
STREAMS = {"subsample": 11, "crossfit": 12, "gauss": 13, "normal": 15, "permuted": 16, "normality": 17,
           "shape_null": 19, "draws": 20, "spread_null": 21, "centre_null": 22, "void": 23, "local": 24,
           "b_draws": 25, "support": 26}
HIST_BINS = 60


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
    fit_part = min(n, cc.max_points, cc.support_points) // cc.folds * (cc.folds - 1)
    if fit_part <= cc.support_k:
        raise UserError(f"claims.support_k = {cc.support_k} needs more points in each fit part than the latents "
                        f"give ({fit_part})", "lower claims.support_k or encode more images")


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
    if cc.void_ratio >= cc.filled_ratio:
        raise UserError(f"claims.void_ratio = {cc.void_ratio} must be below claims.filled_ratio = "
                        f"{cc.filled_ratio}", "e.g. void_ratio = 0.1, filled_ratio = 0.5")
    if cc.minor_share >= 0.5:
        raise UserError(f"claims.minor_share = {cc.minor_share} must be below one half (most components)",
                        "e.g. claims.minor_share = 0.1")


# --------------------------------------------------------------------------- measuring

def _cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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


def _boot_stat(value: float, draws: np.ndarray, level: float, **extra) -> dict:
    """A figure with its percentile interval (widened to contain the figure)."""
    lo, hi = cal.percentile_interval(draws, level)
    return {"value": float(value), "low": min(lo, float(value)), "high": max(hi, float(value)), **extra}


def _share_stat(count: float, total: float, level: float) -> dict:
    """A share count / total with its exact binomial interval (its draws are its Jeffreys posterior's)."""
    lo, hi = cal.binomial_interval(count, total, level)
    v = count / total if total else 0.0
    return {"value": v, "low": min(lo, v), "high": max(hi, v), "count": float(count), "total": float(total),
            "lower": 0.0, "upper": 1.0}


def _jeffreys(count: float, total: float, B: int, rng: np.random.Generator) -> np.ndarray:
    """B draws of a share from its Jeffreys posterior Beta(count + 1/2, total - count + 1/2)."""
    return rng.beta(count + 0.5, max(total - count, 0.0) + 0.5, size=B)


def _resample(draws: np.ndarray, B: int, rng: np.random.Generator) -> np.ndarray:
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


def _b_notes(bb: dict) -> list[str]:
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
    oc = cal.origin_crossfit(xc, o, cc.folds, axes, cc.bootstrap, _rng(seed, "crossfit"), k_sigma, centre_k,
                             cc.effect_size, cc.ledger_alpha, n_jobs)
    with threadpool_limits(1, user_api="blas"):  # N x N decompositions: one BLAS thread is faster than two
        g = cal.gaussian_like(xc, _rng(seed, "gauss"))
        gn = cal.crossfit_shares(g, o, cal.fold_ids(len(g), cc.folds, _rng(seed, "gauss")), cc.folds,
                                 np.ones(len(g)), axes)
    table = []
    for i, metric in enumerate(("ledoit_wolf", "subspace_90", "subspace_99", "euclidean")):
        lo, hi = _share_ci(oc["share"][i], oc["count"][i], oc["total"], oc["boot_share"][:, i], cc.level)
        table.append({"metric": metric, "label": ORIGIN_LABELS[metric], "n_axes": axes[i - 1] if i in (1, 2) else None,
                      "distance": float(np.median(oc["origin_distance"][:, i])),
                      "unit": "Euclidean" if metric == "euclidean" else "Mahalanobis",
                      "share": float(oc["share"][i]), "low": lo, "high": hi, "gaussian": float(gn["share"][i]),
                      "band": findings.band_of(float(oc["share"][i]), cc)})
    m = _support_subset(len(xc), cc, seed)
    ld = local_density(xc[m], o, cc.folds, _rng(seed, "local"))
    gd = local_density(g[m], o, cc.folds, _rng(seed, "local"))
    lo, hi = cal.binomial_interval(ld["count"], ld["total"], cc.level)
    med, q99 = (float(v) for v in np.quantile(ld["nn"], [0.5, 0.99]))
    table.append({"metric": "nearest_real", "label": ORIGIN_LABELS["nearest_real"], "n_axes": None,
                  "distance": ld["origin"], "unit": "Euclidean", "share": ld["share"], "low": min(lo, ld["share"]),
                  "high": max(hi, ld["share"]), "gaussian": gd["share"], "band": findings.band_of(ld["share"], cc)})
    order = ("euclidean", "subspace_90", "subspace_99", "ledoit_wolf", "nearest_real")
    table.sort(key=lambda m: order.index(m["metric"]))
    # the chart: cross-fitted Mahalanobis distances of held-out real and Gaussian points, and the origin's
    rng = _rng(seed, "crossfit")
    with threadpool_limits(1, user_api="blas"):
        d_real, d_gauss = cal.crossfit_distances(xc, cc.folds, rng), cal.crossfit_distances(g, cc.folds, rng)
    o_lw = next(m["distance"] for m in table if m["metric"] == "ledoit_wolf")
    edges = np.linspace(0.0, max(float(d_real.max()), float(d_gauss.max()), o_lw) * 1.02, HIST_BINS + 1)
    hist = np.stack([np.histogram(d, edges)[0] for d in (d_real, d_gauss)]).astype(np.int64)
    # independent components: every column permuted (shape null of the correlation figures)
    rng = _rng(seed, "shape_null")
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
    return np.sort(_rng(seed, "support").choice(n, cc.support_points, replace=False))


# ---- where uniform points lie

VOID_KINDS = ("real", "uniform", "normal", "normal_at_origin")


def measure_void(x: np.ndarray, b: float, cc: ClaimsConfig, seed: int) -> dict:
    """Where uniform points at b lie relative to the data's cross-fitted k-NN support.

    For each of ``claims.folds`` folds, the support is the union of the k-NN balls of the
    other folds' points (:func:`analysis.metrics.support_mask`); tested against it are the
    held-out fold (the calibration), uniform points in [-b, b]^N, and samples of the
    normal with the fit part's mean and covariance and of the same normal at the origin
    (``void_points`` of each over all folds). Also each tested point's distance to the
    nearest fit-part point. At most ``claims.support_points`` of the points are used.
    """
    rng = _rng(seed, "void")
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
        pts = nulls.null_points(kind, z, mom["mean"], factor, cc.null_points, _rng(seed, stream))
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
    rng = _rng(seed, "normality")
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
# --------------------------------------------------------------------------- the figures the geometry rows are judged from
#
# Each builder returns (fig, draws, null_draws): the plain figures (:mod:`analysis.findings`
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
    rng = _rng(seed, "spread_null")
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
    sim = centre_null(np.asarray(A.pca_eigenvalues, dtype=np.float64), k, cc.null_draws, _rng(seed, "centre_null"))
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
    stat = _share_stat(d["cube"], d["median_projected"], cc.level)
    fig.update(stats={"value": stat}, projected=d["median_projected"], cube=d["cube"], normal=pr["normal"]["kept"],
               across_b={"low_b": lo_b["b"], "low_value": lo_b["kept"], "high_b": hi_b["b"],
                         "high_value": hi_b["kept"]})
    return fig, {"value": _jeffreys(d["cube"], d["median_projected"], cc.bootstrap, rng)}, None


def fig_slices(nd: dict, bb: dict, n: int, cc: ClaimsConfig, notes: list[str], rng: np.random.Generator):
    ch = nd["checks"]
    d, nm = ch[0]["counts"]["data"], ch[0]["counts"]["normal"]
    rr = ch[0]["ratios"]["normal"]["median_slice"]
    share = _share_stat(d["median"], n, cc.level)
    ds, ns = _jeffreys(d["median"], n, cc.bootstrap, rng), _jeffreys(nm["median"], nm["n"], cc.bootstrap, rng)
    fig = {"stats": {"value": share, "ratio": {"value": rr[0], "low": rr[1], "high": rr[2], "lower": 0.0}},
           "b": {"value": bb["value"]}, "normal": nm["median"] / nm["n"], "notes": notes,
           "across_b": {"low_b": ch[1]["b"], "low_value": ch[1]["counts"]["data"]["median"] / n,
                        "high_b": ch[2]["b"], "high_value": ch[2]["counts"]["data"]["median"] / n}}
    return fig, {"value": ds, "ratio": ds / ns}, None


def fig_void(vd: dict, bb: dict, cc: ClaimsConfig, notes: list[str], rng: np.random.Generator):
    k = vd["kinds"]
    u, c = k["uniform"], k["real"]
    du, dc = _jeffreys(u["inside"], u["total"], cc.bootstrap, rng), _jeffreys(c["inside"], c["total"], cc.bootstrap, rng)
    ratio = u["share"] / c["share"] if c["share"] > 0 else math.inf
    rd = du / dc
    stats_ = {"value": _boot_stat(ratio, rd, cc.level, lower=0.0),
              "uniform": _share_stat(u["inside"], u["total"], cc.level),
              "calibration": _share_stat(c["inside"], c["total"], cc.level)}
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
    fig = {"stats": {"value": _boot_stat(rel, boot, cc.level)}, "theory": math.sqrt(3.0 / (15.0 * S.N)),
           "real": S.radii.real.std / S.radii.real.mean, "b": {"value": bb["value"]}}
    return fig, {"value": boot}, None


def fig_b_range(S, A, bb: dict, nd: dict, cc: ClaimsConfig, rng: np.random.Generator):
    lo, hi = S.b.overlap
    best = bb["best"]
    ov = np.asarray(A.b_boot_overlap, dtype=np.float64)
    boot = _resample((ov[:, 1] - ov[:, 0]) / np.asarray(A.b_boot_best, dtype=np.float64), cc.bootstrap, rng)
    med = [c["counts"]["data"]["median"] / S.n for c in nd["checks"]]
    fig = {"stats": {"value": _boot_stat((hi - lo) / best, boot, cc.level)}, "overlap": [lo, hi],
           "b": {k: bb[k] for k in ("value", "best", "low", "high", "flat", "best_at_edge")},
           "slice_change": None, "notes": _b_notes(bb)}
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
    kept = {**_share_stat(doc["kept_count"], n_cut, cc.level)}
    fig = {"stats": {"value": {"value": core["relative_kurtosis"], "low": core["relative_kurtosis_low"],
                               "high": core["relative_kurtosis_high"]}, "kept": kept},
           "gaussian_kept": doc["gaussian_kept"], "z": core["kurtosis"]["z"], "whole": whole["relative_kurtosis"],
           "axes_rejected": core["axes_rejected"], "rank": core["rank"], "whole_axes_rejected": whole["axes_rejected"],
           "notes": notes, "test": {"method": "bootstrap-z", "direction": "two-sided", "null": 1.0}}
    return fig, {"value": nrm["boot"]["core"], "kept": _jeffreys(doc["kept_count"], n_cut, cc.bootstrap, rng)}, None


# --------------------------------------------------------------------------- the step

#: The geometry rows in the study's order (their rules: :data:`analysis.findings.JUDGES`).
ORDER = ("off_centre", "own_spread", "ellipsoid", "centre_subspace", "origin_border", "projection_overlap",
         "slices_empty", "uniform_void", "thin_shell", "b_range", "uniform_nonfaces", "per_component_better",
         "core_normal", "pca_faces", "gmm_beats_simple")


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
    idx = np.arange(n) if n_used == n else np.sort(_rng(seed, "subsample").choice(n, n_used, replace=False))
    x = np.asarray(z[idx], dtype=np.float64)
    sample = _sample_caveat(n, N, n_used, cc)
    cov_notes = _cov_note(sample)
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
    rng = _rng(seed, "draws")
    b_notes = _b_notes(bb)
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
    draws = {f"{fid}/{k}": _resample(d, cc.bootstrap, rng) for fid, (_, dd, _) in built.items() for k, d in dd.items()}
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


def plain(fig: dict) -> dict:
    """A figure dict as details.json holds it: no draws."""
    out = dict(fig)
    if "test" in out:
        out["test"] = {k: v for k, v in out["test"].items() if k not in ("draws", "null_draws")}
    return out


def judge(figs: dict[str, dict], G, cc: ClaimsConfig) -> list[dict]:
    """Every row, in the study's order: the geometry rows judged from ``figs`` (after their tests
    were Holm-adjusted together), the generator rows from the generate step's view ``G``."""
    ledger.adjust(figs, cc.ledger_alpha)
    gen_checks = generator_checks(G, cc)
    rows = {fid: findings.JUDGES[fid](f, cc) for fid, f in figs.items()}
    rows["uniform_nonfaces"] = claim_faces("uniform_nonfaces", "uniform", G, cc)
    rows["per_component_better"] = claim_per_component(G, cc, gen_checks)
    rows["pca_faces"] = claim_faces("pca_faces", "pca-ellipsoid", G, cc)
    rows["gmm_beats_simple"] = claim_gmm(G, cc)
    return [rows[fid] for fid in ORDER]


def measure(z: np.ndarray, run_dir: Path, reader: Run, G, cc: ClaimsConfig, seed: int,
            n_jobs: int = 1) -> tuple[list[dict], dict, dict]:
    """The ledger rows, details.json and arrays.npz of latents z (keys: :mod:`analysis.schemas.claims`); ``n_jobs``:
    threads of the origin's bootstrap (the files do not depend on it)."""
    n, N = z.shape
    figs, draws, null_draws, extra, arrays = geometry_figures(z, run_dir, reader, cc, seed, n_jobs)
    rows = judge(figs, G, cc)
    findings_rows = [r for r in rows if r["kind"] == "finding"]
    draw_names, null_names = sorted(draws), sorted(null_draws)
    details = {
        "schema_version": SCHEMA_VERSION, "n": n, "N": N, "seed": seed,
        "settings": {k: v for k, v in vars(cc).items()}, **extra,
        "generators": generator_checks(G, cc),
        "figures": {fid: plain(f) for fid, f in figs.items()},
        "draw_names": draw_names, "null_draw_names": null_names,
        "tests": {"ids": [fid for fid, f in figs.items() if f.get("test", {}).get("family")],
                  "alpha": cc.ledger_alpha,
                  "family": next((f["test"]["family"] for f in figs.values() if f.get("test", {}).get("family")), "")},
        "verdicts": {v: sum(r["verdict"] == v for r in findings_rows) for v in VERDICTS},
        "checks": [r["id"] for r in rows if r["kind"] == "check"],
    }
    m = max((len(v) for v in null_draws.values()), default=1)
    arrays.update(draws=np.stack([draws[k] for k in draw_names]) if draw_names else np.zeros((0, cc.bootstrap)),
                  null_draws=(np.stack([np.resize(null_draws[k], m) for k in null_names]) if null_names
                              else np.zeros((0, m))))
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
        rows, details, arrays = measure(z, run_dir, reader, G, cfg.claims, cfg.run.seed,
                                        cfg.run.threads or _cores())
    except ArtifactError as e:
        raise UserError(f"{run_dir / e.file}: {e.problem}", "re-run the step that writes it "
                        "(python -m analysis all --config ...)") from None
    out_dir = run_dir / "claims"
    save_json(out_dir / "claims.json", rows, list[Claim])
    save_json(out_dir / "details.json", details, ClaimsDetails)
    save_npz(out_dir / "arrays.npz", **arrays)
    counts = ", ".join(f"{c} {v}" for v, c in details["verdicts"].items() if c)
    eprint(f"claims: {len(rows) - len(details['checks'])} findings ({counts}) and {len(details['checks'])} "
           f"check -> {out_dir}")
    return steps.Written()
