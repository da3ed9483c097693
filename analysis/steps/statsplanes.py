"""The stats step's coordinate planes (items 5-7): the sample of points, the slices, the pairs shown.

Functions of the latents, the top components and the b in use; :mod:`analysis.steps.stats`
calls them after the figures of :mod:`analysis.steps.statsfigures`. Slices and the slice
membership rule: :mod:`analysis.science.slices`.
"""

from __future__ import annotations

import numpy as np

from analysis.science import slices
from analysis.pipeline.config import StatsConfig
from analysis.steps.statsfigures import THRESHOLDS, _count_dtype, _rng

ATLAS_SHARES = (0.0005, 0.005, 0.02, 0.05, 0.1, 0.3)  # median-pair slice shares picking atlas b values


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

