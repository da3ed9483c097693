"""The ``stats`` step: geometry of the latent point cloud (issue 4).

Reads ``<run>/latents.npy`` (n points x N components) and writes, in ``<run>/stats/``,
``stats.json`` (every number) and ``arrays.npz`` (every array), then
``<run>/stats.manifest.json`` last. Same latents and same ``[stats]``/``[run]`` config
give byte-identical files; the step is skipped when its manifest matches.

Conventions
-----------
- ``mean`` is the centre of the cloud; ``cov`` the empirical covariance with divisor n
  (maximum likelihood, as ``sklearn.covariance.empirical_covariance``); per-component
  ``std`` uses divisor n - 1; the standard error of a mean is std / sqrt(n).
- Radii: ``|z|`` (distance from the origin) and ``|z - mean|`` (from the centre).
- Artificial points have iid components uniform in [-b, b]; their radii concentrate at
  b*sqrt(N/3) with spread b/sqrt(15) (closed form, shown beside the measurement).
  For them ``|u - mean|`` uses the artificial sample's own mean.
- Random draws use ``np.random.default_rng([run.seed, stream])`` with one fixed stream
  per purpose (:data:`STREAMS`), so adding a draw never shifts another.
- The sample of real points (projections, slices, explorers) is
  ``min(stats.sample_size, n)`` rows drawn without replacement, sorted; asking for more
  than n points is not an error: the sample is clipped to n and ``notes`` says so.
- Slices and the slice membership rule: see :mod:`analysis.slices`.
- JSON has no NaN/inf: an undefined or infinite number is ``null``.
- Degenerate clouds: latents that are all the same point (zero variance in every
  component) are refused (:func:`analysis.steps.load_latents`, exit 2). A cloud that spans
  fewer than N dimensions (rank-deficient covariance, ``pca.rank`` < N) is measured:
  the empirical Mahalanobis distance is then null (singular covariance), the
  Ledoit-Wolf and PCA-subspace distances stay defined, and ``notes`` says so.

Keys and their meaning: :mod:`analysis.schemas.stats` (JSON Schema: ``schemas/stats.stats.schema.json``,
``schemas/stats.arrays.schema.json``).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
from scipy import stats as sps

from analysis import calibration as cal
from analysis import geometry, published, slices, steps
from analysis.config import Config, StatsConfig, _check_range
from analysis.errors import UserError, eprint
from analysis.provenance import read_manifest
from analysis.storage import load_json, save_json, save_npz
from analysis.schemas.stats import Stats

SCHEMA_VERSION = 3
QUANTILE_LEVELS = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
SHARE_K = (1, 2, 3, 5, 10, 20, 50, 100)
SHARE_LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)
OVERLAP_Q = 0.05             # b.overlap compares the central 1 - 2q ranges
ATLAS_SHARES = (0.0005, 0.005, 0.02, 0.05, 0.1, 0.3)  # median-pair slice shares picking atlas b values
MAX_CONDITION = 1e12
STREAMS = {"sample": 1, "radii": 2, "artificial": 3, "slice_artificial": 4, "nn": 5, "bscan": 6}
FINE_LEVEL = 0.95  # only the flat range uses the bootstrap here; the claims step's interval uses claims.level
#: The cut-offs behind the yes/no findings the article words (stored in ``thresholds``).
THRESHOLDS = {
    "majority_share": 0.5,  # components.off_centre_majority: share_off_centre >= this
    "spread_ratio": 1.5,    # components.spreads_differ: std_max / std_min > this
    "border_share": 0.5,    # origin.at_border: Ledoit-Wolf share_farther < this
    "half_share": 0.5,      # slices.b_half_emptiest: the emptiest slice holds this share
}
HEADLINE_K = 10     # pca.headline_k: this many axes (N // 2 when N < 10)
CENTRE_K = 5        # centre.headline_k: the k of variance_share_first_k nearest to this
CENTRAL = (0.01, 0.99)  # components' central 98 % range (1st to 99th percentile)

PUBLISHED = published.reference()  # the study's figures, for comparison only


# ------------------------------------------------------------------------ helpers

def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream]])


def _count_dtype(a: np.ndarray) -> np.ndarray:
    return a.astype(np.uint16 if a.max(initial=0) < 65536 else np.uint32)


def _hist(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.histogram(x, edges)[0].astype(np.int64)


def validate(sc: StatsConfig, n: int, N: int) -> list[str]:
    """Check the [stats] config against latents of shape (n, N); return notes.

    Raises
    ------
    UserError
        Naming the key: out-of-range values, b <= 0 in the grid, a pair index >= N,
        fewer than N + 1 points (covariance) or fewer than 2 components (pairs).
    """
    for f in dataclasses.fields(sc):
        value = getattr(sc, f.name)
        if isinstance(value, (int, float)):
            _check_range(f"stats.{f.name}", value, f.metadata)
    if N < 2:
        raise UserError(f"the latents have N = {N} component; slices and projections need pairs",
                        "train with model.latent_dim >= 2 and re-run encode")
    if n < N + 1:
        raise UserError(f"the latents have n = {n} points for N = {N} components; the covariance "
                        f"needs at least N + 1 = {N + 1} points",
                        "encode more images (data.limit = 0 uses all) or use a smaller model.latent_dim")
    for i, b in enumerate(sc.b_grid):
        if not (isinstance(b, (int, float)) and math.isfinite(b) and b > 0):
            raise UserError(f"config key 'stats.b_grid[{i}]' = {b} must be > 0", "use positive b values")
    if not math.isfinite(sc.b):
        raise UserError(f"config key 'stats.b' = {sc.b} must be finite", "set stats.b >= 0 (0 = best b)")
    for i, pair in enumerate(sc.pairs):
        if (len(pair) != 2 or pair[0] == pair[1] or min(pair) < 0 or max(pair) >= N):
            raise UserError(f"config key 'stats.pairs[{i}]' = {pair} is not a pair of two different "
                            f"components in 0..{N - 1} (the latents have N = {N})",
                            "give pairs as [[j1, j2], ...] with 0 <= j < N, or [] to choose them")
    notes = []
    if sc.sample_size > n:
        notes.append(f"stats.sample_size = {sc.sample_size} is more than the n = {n} points; "
                     f"the sample is all {n} points")
    return notes


# ------------------------------------------------------------------------ sections of stats.json

def component_summary(z: np.ndarray, m: dict, sc: StatsConfig) -> tuple[dict, dict]:
    """Item 1, per-component summaries: (``components`` of stats.json, its arrays)."""
    n = z.shape[0]
    mean, var = m["mean"], np.clip(np.diag(m["cov"]), 0.0, None)
    std = np.sqrt(var * n / (n - 1))
    se = std / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_over_se = np.where(se > 0, mean / se, np.where(mean == 0, 0.0, np.sign(mean) * np.inf))
    comp = geometry.component_distributions(z, m["min"], m["max"], sc.bins, QUANTILE_LEVELS)
    off = np.abs(mean_over_se) > sc.k_sigma
    q = comp["quantiles"]
    q_lo, q_hi = q[:, QUANTILE_LEVELS.index(CENTRAL[0])], q[:, QUANTILE_LEVELS.index(CENTRAL[1])]
    excl = int(np.sum((q_lo > 0) | (q_hi < 0)))
    width = q_hi - q_lo
    std_ratio = float(std.max() / std.min()) if std.min() > 0 else math.inf
    arrays = dict(component_mean=mean, component_std=std, component_min=m["min"], component_max=m["max"],
                  component_mean_over_se=mean_over_se,
                  component_quantile_levels=np.array(QUANTILE_LEVELS), component_quantiles=comp["quantiles"],
                  component_hist_counts=comp["hist_counts"], component_hist_edges=comp["hist_edges"])
    return {
        "k_sigma": sc.k_sigma, "n_off_centre": int(off.sum()), "share_off_centre": float(off.mean()),
        "n_constant": int(np.sum(var == 0)), "mean_abs_mean": float(np.mean(np.abs(mean))),
        "max_abs_mean": float(np.max(np.abs(mean))), "argmax_abs_mean": int(np.argmax(np.abs(mean))),
        "std_min": float(std.min()), "std_median": float(np.median(std)), "std_max": float(std.max()),
        "std_ratio": std_ratio,
        "n_central_98_excluding_zero": excl, "share_central_98_excluding_zero": excl / len(mean),
        "central_98_width_min": float(width.min()), "central_98_width_max": float(width.max()),
        "off_centre_majority": bool(off.mean() >= THRESHOLDS["majority_share"]),
        "spreads_differ": bool(std_ratio > THRESHOLDS["spread_ratio"]),
        "characteristic": characteristic_components(mean_over_se, std),
        "quantile_levels": list(QUANTILE_LEVELS), "bins": sc.bins,
    }, arrays


def characteristic_components(mean_over_se: np.ndarray, std: np.ndarray) -> list[dict]:
    """Up to six components worth showing, each once: ``[{"component": j, "why": ...}]``.

    The two most off-centre (largest |mean / standard error|), the one closest to
    centred, the widest, the narrowest and one of median spread.
    """
    order_off = np.argsort(-np.abs(mean_over_se))
    candidates = [(order_off[0], "most off-centre"), (order_off[min(1, len(order_off) - 1)], "2nd most off-centre"),
                  (np.argmin(np.abs(mean_over_se)), "closest to centred"), (np.argmax(std), "widest"),
                  (np.argmin(std), "narrowest"), (np.argsort(std)[len(std) // 2], "median spread")]
    out: list[dict] = []
    for j, why in candidates:
        if int(j) not in [c["component"] for c in out]:
            out.append({"component": int(j), "why": why})
    return out


def correlation_summary(cov: np.ndarray) -> tuple[dict, dict]:
    """Item 2, off-diagonal correlations: (``correlation`` of stats.json, its arrays)."""
    N = len(cov)
    corr = geometry.correlation(cov)
    cu = slices.upper(corr)
    imax = int(np.argmax(np.abs(cu)))
    iu = np.triu_indices(N, 1)
    return {"mean_abs": float(np.mean(np.abs(cu))), "max_abs": float(np.abs(cu[imax])),
            "max_pair": [int(iu[0][imax]), int(iu[1][imax])], "max_value": float(cu[imax]),
            "n_pairs_above_0_5": int(np.sum(np.abs(cu) > 0.5)), "n_pairs": len(cu),
            "share_pairs_above_0_5": float(np.mean(np.abs(cu) > 0.5)) if len(cu) else 0.0,
            }, {"corr": corr.astype(np.float32)}


def _cumulative(eig: np.ndarray) -> np.ndarray:
    """Share of the variance in the first k principal axes, k = 1..N."""
    total = float(eig.sum())
    return np.cumsum(eig) / total if total > 0 else np.ones(len(eig))


def axes_summary(mean: np.ndarray, eig: np.ndarray, axes: np.ndarray) -> tuple[dict, dict, dict]:
    """Item 2, principal axes and the centre along them: (``pca``, ``centre`` of stats.json, arrays)."""
    N = len(mean)
    total = float(eig.sum())
    cum = _cumulative(eig)
    ks = [k for k in SHARE_K if k <= N]
    k_head = HEADLINE_K if N >= HEADLINE_K else max(1, N // 2)
    cond = float(eig[0] / eig[-1]) if eig[-1] > 0 else math.inf
    pca_ = {"total_variance": total, "eigenvalues_top": eig[:10].tolist(),
            "variance_share_first_k": {str(k): float(cum[k - 1]) for k in ks},
            "axes_for_variance": {str(s): int(np.searchsorted(cum, s - 1e-12) + 1) for s in SHARE_LEVELS},
            "condition_number": cond, "axis_length_ratio": math.sqrt(cond),
            "headline_k": k_head, "variance_share_headline_k": float(cum[k_head - 1]),
            "rank": geometry.numerical_rank(eig)}
    centre_coords = axes @ mean
    offset = float(np.linalg.norm(mean))
    c2 = np.cumsum(centre_coords ** 2) / offset ** 2 if offset > 0 else np.zeros(N)
    rms = math.sqrt(total)
    k_off = min(ks, key=lambda k: abs(k - CENTRE_K))
    centre = {"offset": offset, "rms_radius": rms,
              "offset_over_rms_radius": offset / rms if rms else math.inf,
              "offset_share_first_k": {str(k): float(c2[k - 1]) for k in ks},
              "headline_k": k_off, "offset_share_headline_k": float(c2[k_off - 1]),
              "variance_share_headline_k": float(cum[k_off - 1])}
    arrays = dict(pca_eigenvalues=eig, pca_axes=axes.astype(np.float32), pca_variance_cumulative=cum,
                  pca_centre=centre_coords)
    return pca_, centre, arrays


def b_scan_summary(m: dict, quantiles: np.ndarray, sc: StatsConfig, seed: int) -> tuple[dict, dict, dict]:
    """Item 4, radii of real and uniform points and the b-scan: (``radii``, ``b`` of stats.json, arrays).

    ``quantiles``: the per-component quantiles at :data:`QUANTILE_LEVELS` (they set the
    automatic b grid). The arrays hold ``b_grid``.
    """
    N = len(m["mean"])
    unit = slices.uniform_cube(_rng(seed, "radii"), sc.radius_artificial, N)
    unit_r = np.linalg.norm(unit, axis=1)
    unit_rc = np.linalg.norm(unit - unit.mean(axis=0), axis=1)
    del unit
    grid = (np.array(sc.b_grid, dtype=float) if sc.b_grid
            else geometry.auto_b_grid(quantiles[:, QUANTILE_LEVELS.index(0.01)],
                                      quantiles[:, QUANTILE_LEVELS.index(0.99)]))
    r, rc = m["radius"], m["radius_centred"]
    w, wc = geometry.b_scan(r, unit_r, grid), geometry.b_scan(rc, unit_r, grid)
    ib = int(np.argmin(w))
    best = float(grid[ib])
    lo, hi = geometry.overlap_range(r, unit_r, OVERLAP_Q)
    fine, a_fine = fine_b(r, unit_r, N, sc, seed)
    b_used = float(sc.b) if sc.b > 0 else fine["best"]
    rq = np.quantile(r, [OVERLAP_Q, 1 - OVERLAP_Q])
    in_range = np.array([np.mean((b * unit_r >= rq[0]) & (b * unit_r <= rq[1])) for b in grid])
    pub = published.FACTS
    b_ = {"grid": grid.tolist(), "grid_source": "config" if sc.b_grid else "auto", "best": best,
          "wasserstein_best": float(w[ib]), "best_centred": float(grid[int(np.argmin(wc))]),
          "best_at_grid_edge": bool(ib in (0, len(grid) - 1) and len(grid) > 1),
          "overlap": [lo, hi],
          "overlap_definition": "b for which the 5th-95th percentile ranges of real |z| and uniform |u| "
                                "(iid components in [-b, b]) intersect: [q05(|z|)/q95(|u_1|), "
                                "q95(|z|)/q05(|u_1|)]",
          "used": b_used, "used_source": "config" if sc.b > 0 else "fine b-scan", "fine": fine,
          "grid_min": float(grid.min()), "grid_max": float(grid.max()),
          "published_range_in_grid": bool(pub["b_match_range"][0] <= grid.max()),
          "published_best_in_grid": bool(pub["b_best"] <= grid.max())}
    ur, urc = b_used * unit_r, b_used * unit_rc
    radii = radius_summaries(r, rc, ur, urc, N, b_used, sc.radius_artificial)
    allr = np.concatenate([r, rc, ur, urc])
    edges = np.linspace(allr.min(), allr.max(), sc.bins + 1)
    arrays = dict(radius_edges=edges, radius_hist_real=_hist(r, edges), radius_hist_real_centred=_hist(rc, edges),
                  radius_hist_uniform=_hist(ur, edges), radius_hist_uniform_centred=_hist(urc, edges),
                  radius_uniform_unit=unit_r.astype(np.float32),
                  b_grid=grid, b_wasserstein=w, b_wasserstein_centred=wc, b_uniform_in_real_range=in_range,
                  **a_fine)
    return radii, b_, arrays


def fine_b(r: np.ndarray, unit_r: np.ndarray, N: int, sc: StatsConfig, seed: int) -> tuple[dict, dict]:
    """The fine b-scan (:func:`analysis.calibration.fine_b_scan`) around the radius-matching b:
    (``b.fine`` of stats.json, its arrays). Its best b is the b of the build unless stats.b is set."""
    b0 = geometry.radius_matching_b(r, N)
    grid = cal.b_grid(b0, sc.b_step, sc.b_span)
    fb = cal.fine_b_scan(r, unit_r, grid, sc.b_bootstrap, sc.flat_sd, FINE_LEVEL, _rng(seed, "bscan"), OVERLAP_Q)
    doc = {"b0": b0, "best": fb["best"], "w1_best": fb["w1_best"], "w1_sd": fb["w1_sd"], "flat": fb["flat"],
           "best_at_edge": fb["best_at_edge"], "grid_step": float(grid[1] / grid[0] - 1.0),
           "grid_min": float(grid[0]), "grid_max": float(grid[-1]), "grid_size": len(grid),
           "bootstrap": sc.b_bootstrap}
    return doc, {"b_fine_grid": grid, "b_fine_w1": fb["w1"], "b_boot_best": fb["boot_best"],
                 "b_boot_overlap": fb["boot_overlap"]}


def radius_summaries(r: np.ndarray, rc: np.ndarray, ur: np.ndarray, urc: np.ndarray, N: int, b: float,
                     n_uniform: int) -> dict:
    """``radii`` of stats.json: real radii from the origin and the centre, uniform ones at ``b``, closed forms."""
    pub = published.FACTS
    mu_cf, sd_cf = geometry.uniform_radius_closed_form(N, b)
    uniform = geometry.radius_summary(ur)
    pub_mu, pub_sd = geometry.uniform_radius_closed_form(pub["N"], pub["b_best"])
    return {"real": geometry.radius_summary(r), "real_centred": geometry.radius_summary(rc),
            "uniform": {"b": b, "n": n_uniform, **uniform,
                        "closed_form_mean": mu_cf, "closed_form_std": sd_cf,
                        "relative_spread": uniform["std"] / uniform["mean"] if uniform["mean"] > 0 else None},
            "uniform_centred": geometry.radius_summary(urc),
            "published_closed_form": {"N": pub["N"], "b": pub["b_best"], "mean": pub_mu, "std": pub_sd}}


def origin_summary(z: np.ndarray, m: dict, eig: np.ndarray, axes: np.ndarray, sc: StatsConfig,
                   seed: int) -> tuple[dict, dict]:
    """Item 3, the origin seen from the cloud (Euclidean, Mahalanobis, nearest neighbours): (``origin``, arrays)."""
    n, N = z.shape
    mean = m["mean"]
    total = float(eig.sum())
    cum = _cumulative(eig)
    cond = float(eig[0] / eig[-1]) if eig[-1] > 0 else math.inf
    # Ledoit-Wolf: (1 - s) cov + s mu I has cov's axes and variances (1 - s) eig + s mu.
    shrink = geometry.ledoit_wolf_shrinkage(m["cov"], m["sum_r4"], n)
    eig_lw = (1.0 - shrink) * eig + shrink * total / N
    n_axes = min(int(np.searchsorted(cum, sc.pca_variance - 1e-12) + 1), N)
    weights = np.stack([geometry.inverse(eig_lw), geometry.inverse(eig, np.arange(N) < n_axes),
                        geometry.inverse(eig)])
    d_lw, d_pca = geometry.mahalanobis(z, mean, axes, weights[:2]).T
    o_lw, o_pca, o_emp = (float(d) for d in geometry.mahalanobis(np.zeros((1, N)), mean, axes, weights)[0])
    n_pca = int(np.count_nonzero(weights[1]))
    nearest, nn_dist = geometry.nearest_neighbours(z, _rng(seed, "nn"))
    offset = float(np.linalg.norm(mean))
    edges = np.linspace(0.0, max(float(d_lw.max()), o_lw), sc.bins + 1)
    arrays = dict(mahalanobis_edges=edges, mahalanobis_hist=_hist(d_lw, edges),
                  nn_distances=nn_dist.astype(np.float32))
    return {
        "euclidean": {"distance": offset, "share_farther": float(np.mean(m["radius_centred"] > offset))},
        "mahalanobis": {
            "primary": "ledoit_wolf",
            "empirical": {"distance": o_emp if cond < MAX_CONDITION and geometry.numerical_rank(eig) == N else None,
                          "condition_number": cond},
            "ledoit_wolf": {"distance": o_lw, "shrinkage": shrink,
                            "condition_number": float(eig_lw[0] / eig_lw[-1]) if eig_lw[-1] > 0 else math.inf,
                            "share_farther": float(np.mean(d_lw > o_lw)),
                            "gaussian_share_farther": float(sps.chi2.sf(o_lw ** 2, N)), "dof": N},
            "at_border": bool(np.mean(d_lw > o_lw) < THRESHOLDS["border_share"]),
            "pca_subspace": {"distance": o_pca, "n_axes": n_pca, "variance_share": float(cum[n_pca - 1]),
                             "share_farther": float(np.mean(d_pca > o_pca)),
                             "gaussian_share_farther": float(sps.chi2.sf(o_pca ** 2, n_pca))}},
        "nearest": {"origin_to_nearest_all": float(m["radius"].min()), **nearest},
    }, arrays


# ------------------------------------------------------------------------ items 5-7: the coordinate planes

def sample_points(z: np.ndarray, m: dict, top: tuple[np.ndarray, np.ndarray], sc: StatsConfig, seed: int,
                  b: float) -> tuple[dict, dict, np.ndarray]:
    """The sample of real points and the artificial ones the charts draw.

    Returns ``projections`` of stats.json, the arrays, and the artificial points in
    float64 (the arrays hold them as float32).
    """
    n, N = z.shape
    n_s = min(sc.sample_size, n)
    sample = np.sort(_rng(seed, "sample").choice(n, n_s, replace=False))
    zs = np.asarray(z[sample])
    ts_i, ts_v = top[0][sample], top[1][sample]
    art = slices.uniform_cube(_rng(seed, "artificial"), sc.n_artificial, N, b)
    slice_art = slices.uniform_cube(_rng(seed, "slice_artificial"), sc.slice_artificial, N, b)
    sample_dtype = np.float16 if zs.size == 0 or np.max(np.abs(zs)) < 6.0e4 else np.float32
    arrays = dict(sample_index=sample.astype(np.int64), sample_z=zs.astype(sample_dtype),
                  sample_top_index=ts_i[:, :3], sample_top_abs=ts_v[:, :3].astype(np.float32),
                  sample_fourth_abs=ts_v[:, 3].astype(np.float32),
                  radius_real_sample=m["radius"][sample].astype(np.float32),
                  radius_real_centred_sample=m["radius_centred"][sample].astype(np.float32),
                  artificial_z=art.astype(np.float32), slice_artificial_z=slice_art.astype(np.float32))
    projections = {"sample_size": n_s, "sample_size_requested": sc.sample_size,
                   "sample_dtype": np.dtype(sample_dtype).name, "n_artificial": sc.n_artificial,
                   "b": b, "zoom_share": sc.zoom_share, "n_hidden_components": N - 2}
    return projections, arrays, art


def atlas_b_values(occupancy: np.ndarray, grid: np.ndarray, b: float) -> np.ndarray:
    """The b values of the slice atlas: where the voids open up, plus ``b``, ascending.

    The grid values at which the median pair's slice first holds each share of
    :data:`ATLAS_SHARES`; evenly spread grid values when fewer than three are reached.
    """
    pick = [int(np.argmax(occupancy[:, 1] >= t)) for t in ATLAS_SHARES if np.any(occupancy[:, 1] >= t)]
    if len(set(pick)) < 3:
        pick += np.round(np.linspace(0, len(grid) - 1, min(len(grid), len(ATLAS_SHARES)))).astype(int).tolist()
    return np.unique(np.append(grid[np.unique(pick)], b))


def slice_summary(z: np.ndarray, top: tuple[np.ndarray, np.ndarray], sample: np.ndarray, grid: np.ndarray,
                  b: float, sc: StatsConfig) -> tuple[dict, dict, dict]:
    """Slice counts of every pair at ``b`` and at the atlas' b values: (``slices`` of stats.json, arrays, counts).

    ``counts`` holds the (N, N) matrices the pairs are chosen from: ``all`` and
    ``sample`` (slice counts at b), ``overlap`` (projection overlap) and ``origin_2d``.
    """
    n, N = z.shape
    top_i, top_v = top
    ts_i, ts_v = top_i[sample], top_v[sample]
    counts_all = slices.pair_counts_from_top(top_i, top_v, b, N)
    counts_smp = slices.pair_counts_from_top(ts_i, ts_v, b, N)
    occ = slices.occupancy(top_i, top_v, grid, N)
    atlas_b = atlas_b_values(occ, grid, b)
    atlas_all = _count_dtype(np.stack([slices.pair_counts_from_top(top_i, top_v, g, N) for g in atlas_b]))
    atlas_smp = _count_dtype(np.stack([slices.pair_counts_from_top(ts_i, ts_v, g, N) for g in atlas_b]))
    b_half = grid[occ[:, 0] >= THRESHOLDS["half_share"]]
    ua, us = slices.upper(counts_all), slices.upper(counts_smp)
    n_out = (top_v[:, :3] > b).sum(axis=1)
    summary = {"b": b, "n_pairs": len(ua),
               "count_all": {"min": int(ua.min()), "median": float(np.median(ua)), "max": int(ua.max())},
               "count_sample": {"min": int(us.min()), "median": float(np.median(us)), "max": int(us.max())},
               "empty_pairs_all": int(np.sum(ua == 0)), "empty_pairs_sample": int(np.sum(us == 0)),
               "share_in_every_slice": float(np.mean(n_out == 0)),
               "share_in_no_slice": float(np.mean(n_out >= 3)),
               "share_all_min": int(ua.min()) / n, "share_all_max": int(ua.max()) / n,
               "b_half_emptiest": float(b_half.min()) if len(b_half) else None,
               "artificial_per_slice": sc.slice_artificial,
               "artificial_rule": "slice_artificial_z: all N components (j1 and j2 included) iid uniform "
                                  "in [-b, b]; such points lie in every slice of threshold b",
               "atlas_b": atlas_b.tolist(), "atlas_empty_pairs": [int(np.sum(slices.upper(c) == 0)) for c in atlas_all],
               "atlas_index_b": int(np.flatnonzero(atlas_b == b)[0])}
    overlap = slices.projection_overlap(z, b)
    arrays = dict(occupancy=occ, occupancy_every=np.array([np.mean(top_v[:, 0] <= g) for g in grid]),
                  pair_projection_overlap=_count_dtype(overlap), atlas_b=atlas_b,
                  atlas_counts_all=atlas_all, atlas_counts_sample=atlas_smp)
    return summary, arrays, {"all": counts_all, "sample": counts_smp, "overlap": overlap}


def shown_pairs(z: np.ndarray, counts: dict, sample: np.ndarray, artificial: np.ndarray, b: float,
                sc: StatsConfig) -> tuple[list[dict], dict]:
    """The pairs the article shows, each with its numbers and zoom window: (``pairs`` of stats.json, arrays).

    ``counts``: the matrices of :func:`slice_summary` and ``origin_2d``.
    """
    n = z.shape[0]
    counts_all, counts_smp, overlap, origin_2d = counts["all"], counts["sample"], counts["overlap"], counts["origin_2d"]
    if sc.pairs:
        chosen = []
        for p in sc.pairs:  # a pair listed twice is shown once
            if [int(p[0]), int(p[1])] not in [c["pair"] for c in chosen]:
                chosen.append({"pair": [int(p[0]), int(p[1])], "reason": "config"})
    else:
        chosen = slices.choose_pairs(counts_all, counts_smp, overlap, origin_2d, sc.n_pairs)
    n_pairs = len(slices.upper(counts_all))
    zoom_w = []
    for rec in chosen:
        j1, j2 = rec["pair"]
        cheb = slices.pair_chebyshev(z, (j1, j2))
        half = float(np.quantile(cheb, sc.zoom_share))
        zoom_w.append(half)
        rec.update(slice_all=int(counts_all[j1, j2]), slice_sample=int(counts_smp[j1, j2]),
                   projection_overlap_all=int(overlap[j1, j2]),
                   origin_mahalanobis_2d=float(origin_2d[j1, j2]),
                   zoom={"half_width": half, "all": int(np.sum(cheb <= half)),
                         "sample": int(np.sum(cheb[sample] <= half)),
                         "artificial": int(np.sum(slices.pair_chebyshev(artificial, (j1, j2)) <= half))})
        rec["why"] = _why(rec, n, len(sample), b, n_pairs)
    arrays = dict(pairs=np.array([r["pair"] for r in chosen], dtype=np.int32).reshape(-1, 2),
                  zoom_half_width=np.array(zoom_w))
    return chosen, arrays


def _why(rec: dict, n: int, n_s: int, b: float, n_pairs: int) -> str:
    """One sentence explaining a pair choice, with its numbers."""
    j1, j2 = rec["pair"]
    head = (f"slice ({j1}, {j2}) at b = {b:.4g} holds {rec['slice_all']} of {n} points "
            f"({rec['slice_sample']} of the {n_s}-point sample)")
    return {
        "config": f"set in stats.pairs; {head}",
        "emptiest": f"fewest points of all {n_pairs} pairs: {head}",
        "fullest": f"most points of all {n_pairs} pairs: {head}",
        "origin_at_border": (f"origin farthest out of the projected cloud: 2-D Mahalanobis distance "
                             f"{rec['origin_mahalanobis_2d']:.3g}; {head}"),
        "overlap_but_empty": (f"largest ratio of projected to sliced points: "
                              f"{rec['projection_overlap_all']} of {n} points project into "
                              f"[-b, b]^2, but {head}"),
    }[rec["reason"]]


# ------------------------------------------------------------------------ all of it

def measure(z: np.ndarray, sc: StatsConfig, seed: int) -> tuple[dict, dict]:
    """All numbers and arrays of the step for latents z (keys: :mod:`analysis.schemas.stats`).

    Parameters
    ----------
    z : (n, N) float array
    sc : StatsConfig (checked with :func:`validate`)
    seed : int

    Returns
    -------
    numbers : dict (stats.json without ``source``)
    arrays : dict of str to array (arrays.npz)
    """
    n, N = z.shape
    notes = validate(sc, n, N)
    m = geometry.moments(z)
    eig, axes = geometry.pca(m["cov"])
    components, a_comp = component_summary(z, m, sc)
    correlation, a_corr = correlation_summary(m["cov"])
    pca_, centre, a_pca = axes_summary(m["mean"], eig, axes)
    if pca_["rank"] < N:
        notes.append(f"the latent points span only {pca_['rank']} of the N = {N} dimensions (rank-deficient "
                     "covariance: the encoder uses fewer directions than model.latent_dim); the empirical "
                     "Mahalanobis distance is undefined, the Ledoit-Wolf and PCA-subspace distances are used")
    radii, b_, a_radii = b_scan_summary(m, a_comp["component_quantiles"], sc, seed)
    origin, a_origin = origin_summary(z, m, eig, axes, sc, seed)
    b, grid = b_["used"], a_radii["b_grid"]
    top = slices.top_abs(z, 4)
    projections, a_sample, artificial = sample_points(z, m, top, sc, seed, b)
    slices_, a_slices, counts = slice_summary(z, top, a_sample["sample_index"], grid, b, sc)
    counts["origin_2d"] = slices.origin_mahalanobis_2d(m["mean"], m["cov"])
    pairs, a_pairs = shown_pairs(z, counts, a_sample["sample_index"], artificial, b, sc)
    numbers = {"schema_version": SCHEMA_VERSION, "n": n, "N": N, "seed": seed, "notes": notes,
               "thresholds": dict(THRESHOLDS), "components": components, "correlation": correlation,
               "pca": pca_, "centre": centre, "origin": origin, "radii": radii, "b": b_,
               "projections": projections, "slices": slices_, "pairs": pairs, "published_reference": PUBLISHED}
    arrays = {**a_comp, **a_corr, **a_pca, **a_radii, **a_origin, **a_sample, **a_slices, **a_pairs,
              "pair_origin_mahalanobis_2d": counts["origin_2d"].astype(np.float32)}
    return numbers, arrays


# ------------------------------------------------------------------------ the step

def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """The stats step on ``run_dir/latents.npy`` unless it is up to date (:func:`analysis.steps.run`).

    Returns
    -------
    dict
        The content of stats.json.

    Raises
    ------
    UserError
        Bad latents (missing, NaN/inf, wrong shape) or a [stats] value that does not fit
        them; nothing is written then.
    """
    steps.run("stats", cfg, run_dir, force)
    return load_json(Path(run_dir) / "stats" / "stats.json")


def prepare(cfg: Config, run_dir: Path, inputs: dict) -> dict:
    """Check the latents and the [stats] config against them before anything is decided."""
    z = steps.load_latents(run_dir / "latents.npy")
    validate(cfg.stats, *z.shape)
    return {}


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    """Measure the latents (checked by :func:`prepare`); write ``stats/stats.json`` and ``stats/arrays.npz``."""
    z = steps.open_latents(run_dir / "latents.npy")
    numbers, arrays = measure(z, cfg.stats, cfg.run.seed)
    encode = read_manifest(run_dir, "encode")
    numbers["source"] = {"latents_sha256": inputs["latents.npy"], "encode_key": encode.get("key") if encode else None}
    out_dir = run_dir / "stats"
    save_npz(out_dir / "arrays.npz", **arrays)
    save_json(out_dir / "stats.json", numbers, Stats)
    mh = numbers["origin"]["mahalanobis"]["ledoit_wolf"]
    eprint(f"stats: {z.shape[0]} x {z.shape[1]} latents; b best {numbers['b']['best']:.4g}, used "
           f"{numbers['b']['used']:.4g}; origin Mahalanobis {mh['distance']:.3g} "
           f"({mh['share_farther']:.1%} of points farther) -> {out_dir}")
    return steps.Written()
