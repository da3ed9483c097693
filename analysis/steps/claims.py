"""The ``claims`` step: the ledger of the published findings, measured, calibrated, judged.

For each finding of the published study (:data:`analysis.published.FINDINGS`) the step
states the figure that tests it on our data, with an interval, beside what a null
model gives, and a verdict by a rule written down with it. The article's first table
is this ledger, and the sentences its chapters use about the data are chosen here from
the verdicts, so the text never says more than the numbers. The geometry rows are
judged from plain figures by :mod:`analysis.steps.findings` (the ``across`` step judges the
same figures pooled over runs); the shared machinery (rows, tests, Holm, pooling) is
:mod:`analysis.science.ledger`.

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

import os
from pathlib import Path

import numpy as np

from analysis.steps import findings
from analysis.science import ledger
from analysis.pipeline import steps
from analysis.artifacts import ArtifactError, Run
from analysis.steps.claimfigures import geometry_figures
from analysis.pipeline.config import ClaimsConfig, Config
from analysis.errors import UserError, eprint
from analysis.science.ledger import VERDICTS
from analysis.pipeline.provenance import read_manifest
from analysis.pipeline.storage import load_json, save_json, save_npz
from analysis.schemas.claims import Claim, ClaimsDetails
from analysis.steps.genclaims import claim_faces, claim_gmm, claim_per_component, generator_checks  # noqa: F401

SCHEMA_VERSION = 2


# --------------------------------------------------------------------------- checks

def validate(cc: ClaimsConfig, n: int, N: int) -> None:
    """Check the [claims] config against latents of shape (n, N) (UserError naming the key; the keys on
    their own and their order are the config's checks, run by :func:`analysis.pipeline.steps.run`)."""
    if min(n, cc.max_points) < 2 * cc.folds:
        raise UserError(f"claims.folds = {cc.folds} needs at least {2 * cc.folds} points, the latents have {n}",
                        "lower claims.folds or encode more images")
    fit_part = min(n, cc.max_points, cc.support_points) // cc.folds * (cc.folds - 1)
    if fit_part <= cc.support_k:
        raise UserError(f"claims.support_k = {cc.support_k} needs more points in each fit part than the latents "
                        f"give ({fit_part})", "lower claims.support_k or encode more images")


# --------------------------------------------------------------------------- the step

def _cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)



#: The geometry rows in the study's order (their rules: :data:`analysis.steps.findings.JUDGES`).
ORDER = ("off_centre", "own_spread", "ellipsoid", "centre_subspace", "origin_border", "projection_overlap",
         "slices_empty", "uniform_void", "thin_shell", "b_range", "uniform_nonfaces", "per_component_better",
         "core_normal", "pca_faces", "gmm_beats_simple")


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
    """The claims step on ``run_dir`` unless it is up to date (:func:`analysis.pipeline.steps.run`);
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
