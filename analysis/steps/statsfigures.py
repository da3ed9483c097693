"""The stats step's figures of the cloud: components, correlation, principal axes, radii and b, the origin.

The sections of ``stats.json`` items 1-4 (and the origin's), each a function of the latents
and their moments returning (numbers, arrays); :mod:`analysis.steps.stats` assembles them with the
coordinate planes (:mod:`analysis.steps.statsplanes`) and writes the files. The constants here fix
the quantiles, shares and random streams of the step (see :mod:`analysis.steps.stats` for the
conventions).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from analysis.science import calibration as cal
from analysis.science import geometry, slices
from analysis import published
from analysis.pipeline.config import StatsConfig

QUANTILE_LEVELS = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
SHARE_K = (1, 2, 3, 5, 10, 20, 50, 100)
SHARE_LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)
OVERLAP_Q = 0.05             # b.overlap compares the central 1 - 2q ranges
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


# ------------------------------------------------------------------------ helpers

def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream]])


def _count_dtype(a: np.ndarray) -> np.ndarray:
    return a.astype(np.uint16 if a.max(initial=0) < 65536 else np.uint32)


def _hist(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.histogram(x, edges)[0].astype(np.int64)



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
    """The fine b-scan (:func:`analysis.science.calibration.fine_b_scan`) around the radius-matching b:
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

