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
  per purpose (:data:`analysis.steps.statsfigures.STREAMS`), so adding a draw never shifts another.
- The sample of real points (projections, slices, explorers) is
  ``min(stats.sample_size, n)`` rows drawn without replacement, sorted; asking for more
  than n points is not an error: the sample is clipped to n and ``notes`` says so.
- Slices and the slice membership rule: see :mod:`analysis.science.slices`.
- JSON has no NaN/inf: an undefined or infinite number is ``null``.
- Degenerate clouds: latents that are all the same point (zero variance in every
  component) are refused (:func:`analysis.pipeline.steps.load_latents`, exit 2). A cloud that spans
  fewer than N dimensions (rank-deficient covariance, ``pca.rank`` < N) is measured:
  the empirical Mahalanobis distance is then null (singular covariance), the
  Ledoit-Wolf and PCA-subspace distances stay defined, and ``notes`` says so.

Keys and their meaning: :mod:`analysis.schemas.stats` (JSON Schema: ``schemas/stats.stats.schema.json``,
``schemas/stats.arrays.schema.json``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis.science import geometry, slices
from analysis import published
from analysis.pipeline import steps
from analysis.pipeline.config import Config, StatsConfig, checked
from analysis.errors import UserError, eprint
from analysis.pipeline.provenance import read_manifest
from analysis.pipeline.storage import load_json, save_json, save_npz
from analysis.schemas.stats import Stats
from analysis.steps.statsfigures import (THRESHOLDS, axes_summary, b_scan_summary, component_summary,
                                   correlation_summary, origin_summary)
from analysis.steps.statsplanes import sample_points, shown_pairs, slice_summary

SCHEMA_VERSION = 3
PUBLISHED = published.reference()  # the study's figures, for comparison only


def validate(sc: StatsConfig, n: int, N: int) -> list[str]:
    """Check the [stats] config against latents of shape (n, N); return notes.

    Raises
    ------
    UserError
        Naming the key: out-of-range values, b <= 0 in the grid, a pair index >= N,
        fewer than N + 1 points (covariance) or fewer than 2 components (pairs).
    """
    checked(sc, "stats")
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
    """The stats step on ``run_dir/latents.npy`` unless it is up to date (:func:`analysis.pipeline.steps.run`).

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
