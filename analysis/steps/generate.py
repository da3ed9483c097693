"""Generating faces from statistics: the ``generate`` step.

Fits every generator of ``[generate] generators`` (see :mod:`analysis.science.generators`) to
the real latent points, draws new points, decodes them with the trained decoder and
measures how close they come to real faces (:mod:`analysis.science.metrics`).

Procedure
---------
The whole comparison (steps 1-4) is repeated ``generate.repeats`` times (at least 2,
default 5). Repetition r draws a new split and new generator seeds, both derived from
``run.seed`` (``settings.repeat_seeds``: [split seed, generator seed] per repetition),
so every generator is refitted and every metric measured again; the table reports each
metric's mean over the repetitions with its Student t interval at ``generate.level``
(:func:`analysis.science.calibration.mean_interval`: mean ± t · sd / sqrt(R), clipped to the
metric's range; ``settings.interval`` = ``"student-t"``). The intervals thus include
the choice of split, the gmm's model selection, the refit and the sampling of the
evaluated points.

0. The gmm's component count and covariance type are chosen in every repetition, on
   that repetition's fit part and with its generator seed
   (:class:`analysis.science.generators.GMMSelector`): every candidate of ``gmm_components`` x
   ``gmm_covariance`` is fitted on a share 1 - ``holdout_fraction`` of the fit part and
   scored by its mean log-likelihood on the rest (or by BIC, ``gmm_selection``); the
   repetition then fits its own choice to its whole fit part. As in nested
   cross-validation, the selection is part of the procedure the repetitions evaluate,
   so the intervals carry the uncertainty of the model choice too. (Cost: the
   selection fits every candidate in every repetition, ``repeats`` x
   ``len(gmm_components)`` x ``len(gmm_covariance)`` mixtures.)
1. Split the n real points at random into a *fit part* and a *held-out part*
   (``generate.holdout_fraction``). Generators see only the fit part.
2. The *real set* is up to ``n_samples`` held-out points. Every row of the table
   compares ``n_fake = min(n_samples, fit part)`` points with it: for a generator,
   its samples; for the reference row ``real (held-out)``, ``n_fake`` random fit-part
   real points (a "generator" that returns real latents: the score a perfect
   generator would get with these sample sizes).
3. Latent metrics: the k-NN metrics, radius distance and nearest-real distance of
   those points against the real set.
4. Image metrics: the first ``n_image = min(image_points, n_fake)`` points of each
   row are decoded; their pixels are compared with the *reconstructions* of
   ``min(n_image, real set)`` held-out real points (their latents decoded). Both
   sides then pass through the same decoder, so its blur cancels and the pixel
   scores judge the latent points, not the autoencoder: raw images sit far from
   every decoded image of a small AE (everything would score 0). How far the
   reconstructions are from the raw images is reported once, in
   ``image_reference``. The re-encoding gap |E(D(z)) - z| is measured on the same
   decoded points.
5. Ranks: a generator's rank is 1 + the number of generators whose score interval
   lies wholly above its own (:func:`analysis.science.calibration.separated_ranks`), so
   generators whose intervals overlap are not ranked apart.
6. Sweeps (for the report's chart), on the first repetition: the latent k-NN metrics of
   the first repetition's gmm selection candidates of its chosen covariance type, by
   component count,
   and of ``pca-ellipsoid`` for each level in ``sweep_confidence``.
7. Contact sheets of the first ``n_images`` decoded points per generator (first
   repetition), and of the same number of held-out real images and their reconstructions.

The uniform generator's half-width b is ``generate.b`` if set (> 0), else the
b-scan's value ``b.used`` from ``stats/stats.json``, else (no stats.json) measured
on the fit part by radius matching: b = median |z| / sqrt(N/3) (the b whose uniform
radii, ≈ b·sqrt(N/3), equal the real median radius). ``settings.b.source`` says which.
In a pipeline run (the latents come from the encode step) the stats step must have
finished on the same latents: an interrupted or stale stats step is a UserError, so
the fallback only serves latents placed by hand.

Outputs in ``<run>/generate/``
------------------------------
``metrics.json``
    Every figure of the comparison. Keys and their meaning: :mod:`analysis.schemas.generate` (JSON Schema:
    ``schemas/generate.metrics.schema.json``).
``samples.npz`` (first repetition)
    ``z_<name>`` (n_images, N) float32 and ``images_<name>`` (n_images, C, S, S)
    uint8 for every generator; ``z_real``, ``images_real`` and
    ``images_reconstructed`` for the real sheet; with face tests, ``face_<name>`` (n_images,)
    bool for each of them (the verdict rule's label of each image).
``sheet-real.png``, ``sheet-reconstructed.png``, ``sheet-<name>.png``
    Contact sheets (grids, nearest-neighbour upscaled to >= 64 px tiles).

Every file is written atomically and deterministically (same inputs and config,
same bytes); ``generate.manifest.json`` is written last.
"""


from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis.steps import facecheck, instrument
from analysis.pipeline import steps
from analysis.science import faces as FT
from analysis.pipeline.config import Config, GenerateConfig
from analysis.errors import UserError, eprint
from analysis.steps.genfit import all_sweeps, evaluate_repeat, generators_info, repeat_seeds, selection_doc, table_of
from analysis.steps.genjudge import (COPY_QUANTILE, COPY_SHARE_LIMIT, Judge, Split, make_judge, real_examples,
                                     split_notes, split_points)
from analysis.pipeline.model import load_trained
from analysis.pipeline.provenance import read_manifest
from analysis.pipeline.steps import load_images, open_latents
from analysis.pipeline.storage import atomic_write, load_json, save_json, save_npz
from analysis.schemas.generate import Generate

INTERVAL = "student-t"  # settings.interval: mean over the repetitions with its Student t interval


# ---------------------------------------------------------------- checks (the step layer: config keys)

def _stats_b(path: Path) -> float | None:
    """``b.used`` from stats.json, or None when the file is absent."""
    if not path.is_file():
        return None
    fix = "re-run the stats step (python -m analysis stats --config ... --force)"
    try:
        b = load_json(path)["b"]["used"]
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is not readable JSON ({e})", fix) from None
    except (KeyError, TypeError):
        raise UserError(f"{path} has no b.used value", fix) from None
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not (math.isfinite(b) and b > 0):
        raise UserError(f"{path}: b.used = {b!r} is not a positive number", fix)
    return float(b)


def _check_stats(run_dir: Path, inputs: dict) -> None:
    """In a pipeline run, refuse a stats step that is unfinished or older than the latents.

    A pipeline run is one whose latents come from the encode step (an encode manifest
    exists) or that has a stats manifest. Only outside the pipeline (latents placed by
    hand) may stats.json be missing, and then b is measured instead.
    """
    stats = read_manifest(run_dir, "stats")
    if stats is None and read_manifest(run_dir, "encode") is None:
        return
    fix = "run the stats step first: python -m analysis stats --config ..."
    if stats is None:
        raise UserError(f"the stats step has not finished in {run_dir} (no stats.manifest.json)", fix)
    if stats.get("outputs", {}).get("stats/stats.json") != inputs["stats/stats.json"]:
        raise UserError(f"{run_dir / 'stats' / 'stats.json'} is missing or differs from what the stats step "
                        "recorded (an interrupted or foreign stats run)", fix.replace("first", "again"))
    if stats.get("inputs", {}).get("latents.npy", inputs["latents.npy"]) != inputs["latents.npy"]:
        raise UserError(f"the stats in {run_dir / 'stats'} were measured on other latents than latents.npy",
                        fix.replace("first", "again"))


def check_inputs(cfg: Config, run_dir: Path, z: np.ndarray, images) -> None:
    """The latents, the image cache and the config must describe the same points."""
    n, N = z.shape
    C, S = cfg.data.channels, cfg.data.image_size
    if N != cfg.model.latent_dim:
        raise UserError(f"{run_dir / 'latents.npy'} has N = {N} components but model.latent_dim = "
                        f"{cfg.model.latent_dim}", "re-run the encode step with this config")
    if images.dtype != np.uint8 or images.shape != (n, C, S, S):
        raise UserError(f"{run_dir / 'data' / 'images.npy'} has shape {images.shape} and dtype {images.dtype}, "
                        f"expected uint8 {(n, C, S, S)} (one image per latent point)",
                        "re-run the fetch and encode steps with this config")


# ---------------------------------------------------------------- 2. b

def resolve_b(g: GenerateConfig, stats_path: Path) -> tuple[float | None, str, list[str]]:
    """The uniform generator's b: (value or None = measured when fitted, source, notes)."""
    if g.b > 0:
        return g.b, "config", []
    b = _stats_b(stats_path)
    if b is not None:
        return b, "stats.json", []
    notes = []
    if "uniform" in g.generators:
        notes.append("stats/stats.json is absent: the uniform generator's b was measured on the fit part "
                     "as median |z| / sqrt(N/3) (radius matching) instead of taken from the b-scan")
    return None, "measured", notes


# ---------------------------------------------------------------- the step

def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """Fit, sample, decode and compare every generator unless up to date (:func:`analysis.pipeline.steps.run`).

    Returns
    -------
    dict
        The content of metrics.json (keys: :mod:`analysis.schemas.generate`).

    Raises
    ------
    UserError
        Bad config, missing or inconsistent inputs, or a generator that cannot be
        fitted to these points; nothing is written then.
    """
    steps.run("generate", cfg, run_dir, force)
    return load_json(Path(run_dir) / "generate" / "metrics.json")


def prepare(cfg: Config, run_dir: Path, inputs: dict) -> dict:
    """Check the latents and (in a pipeline run) the stats step before anything is decided."""
    steps.load_latents(run_dir / "latents.npy")
    _check_stats(run_dir, inputs)
    return {}


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    """Repeat the comparison on new splits, summarise and rank, sweep; write ``generate/``."""
    g = cfg.generate
    z, images = open_latents(run_dir / "latents.npy"), load_images(run_dir)
    check_inputs(cfg, run_dir, z, images)
    seeds = repeat_seeds(cfg.run.seed, g.repeats)
    splits = [split_points(*z.shape, g, split_seed) for split_seed, _ in seeds]
    b, b_source, b_notes = resolve_b(g, run_dir / "stats" / "stats.json")
    model, device = load_trained(cfg, run_dir)
    sp, seed = splits[0], seeds[0][1]
    faces, check, labels = instrument.load_instrument(run_dir), None, []
    if faces is not None:  # the face tests on this run's own reconstructions decide its verdict rule
        faces, check = facecheck.check_run(cfg, faces, z, model, device)
    per_row = cfg.faces.images_per_row
    judge = make_judge(model, device, g, z, sp, faces, per_row, labels)
    samples, sheets, encoder_gap, image_reference = real_examples(judge, images, z, sp)
    repeats = [evaluate_repeat(judge, cfg, z, sp, b, seed, keep=(samples, sheets))]
    for r in range(1, g.repeats):
        repeats.append(evaluate_repeat(make_judge(model, device, g, z, splits[r], faces, per_row, labels), cfg, z,
                                       splits[r], b, seeds[r][1]))
        eprint(f"generate: repetition {r + 1} of {g.repeats} done")
    sel = repeats[0].selector
    selection = selection_doc(g, [rep.selector for rep in repeats]) if sel is not None else None
    table = table_of(repeats, g.level)
    info, gen_notes = generators_info(repeats, cfg, len(sp.fit), z.shape[1])
    sweeps, sweep_notes = all_sweeps(cfg, b, judge, sp.n_fake, seed, sel)
    b_value = info["uniform"]["fitted"]["b"] if "uniform" in info else b
    doc = {"settings": settings_of(cfg, sp, judge, z.shape, {"value": b_value, "source": b_source}, encoder_gap,
                                   seeds),
           "table": table, "image_reference": image_reference, "generators": info, "gmm_selection": selection,
           "sweeps": sweeps, "faces": faces_doc(faces, check, judge.n_face, labels, cfg),
           "files": {"samples": "samples.npz", "sheets": {k: f"sheet-{k}.png" for k in sheets}},
           "notes": split_notes(sp, g) + b_notes + gen_notes + sweep_notes}
    written = write_outputs(run_dir / "generate", doc, samples, sheets)
    for row in table[1:]:
        iv = row["intervals"]
        eprint(f"generate: {row['rank']:>2} {row['name']:22s} score {row['score']:.3f} "
               f"[{iv['score']['low']:.3f}, {iv['score']['high']:.3f}]  pixel precision {row['pixel_precision']:.3f}"
               + (f"  tied with {', '.join(row['tied_with'])}" if row["tied_with"] else ""))
    chosen = (f"; gmm: {selection['modal']['n_components']} {selection['modal']['covariance_type']} components "
              f"chosen in {selection['agreement']} of {selection['repeats']} repetitions" if selection else "")
    eprint(f"generate: {len(table) - 1} generators over {g.repeats} repetitions{chosen}; real precision "
           f"{table[0]['precision']:.3f} -> {run_dir / 'generate'}")
    return steps.Written(outputs=tuple(written))


def faces_doc(faces: instrument.Instrument | None, check: dict | None, n_face: int, labels: list,
              cfg: Config) -> dict:
    """The ``faces`` entry of metrics.json: the face tests on this run's reconstructions and the run's verdict
    rule (:func:`analysis.steps.facecheck.check_run`), and the two tests' agreement on every decoded image they
    scored here (Cohen's kappa with a bootstrap interval)."""
    if faces is None:
        return {"available": False, "rule": None, "usable": False,
                "reason": "the faces step has not run for this build", "rule_text": None, "n_scored": 0,
                "agreement": None, "reconstructions": None, "tests": None, "notes": []}
    det = np.concatenate([a for a, _ in labels])
    clf = np.concatenate([b for _, b in labels])
    return {"available": True, "rule": faces.rule, "usable": faces.usable, "reason": faces.reason,
            "rule_text": faces.text, "n_scored": n_face,
            "agreement": FT.kappa(det, clf, cfg.faces.level, np.random.default_rng([cfg.run.seed, 46])),
            "reconstructions": check["reconstructions"], "tests": check["tests"], "notes": check["notes"]}


def settings_of(cfg: Config, sp: Split, judge: Judge, shape: tuple[int, int], b: dict, encoder_gap: float,
                seeds: list[tuple[int, int]]) -> dict:
    """The ``settings`` of metrics.json: sizes, parameters and scales of this comparison."""
    g = cfg.generate
    n, N = shape
    return {
        "n_points": n, "latent_dim": N, "n_fit": len(sp.fit), "n_holdout": len(sp.hold), "n_real": sp.n_real,
        "n_fake": sp.n_fake, "n_image": sp.n_image, "n_image_real": sp.n_image_real, "n_images": sp.n_sheet,
        "image_shape": [cfg.data.channels, cfg.data.image_size, cfg.data.image_size], "k": g.k,
        "copy_quantile": COPY_QUANTILE, "copy_share_limit": COPY_SHARE_LIMIT,
        "holdout_fraction": g.holdout_fraction, "seed": cfg.run.seed, "repeats": g.repeats, "level": g.level,
        "interval": INTERVAL, "repeat_seeds": [list(s) for s in seeds], "b": b, "spread": judge.spread,
        "real_radius_mean": float(np.linalg.norm(judge.z_real.astype(np.float64), axis=1).mean()),
        "latents_vs_encoder": encoder_gap / judge.spread if judge.spread > 0 else None,
        "generators": list(g.generators),
    }


def write_outputs(out_dir: Path, doc: dict, samples: dict, sheets: dict) -> list[Path]:
    """Write metrics.json, samples.npz and the contact sheets, and remove the sheets of generators no
    longer configured. Returns the sheets' paths (metrics.json and samples.npz are declared outputs)."""
    save_json(out_dir / "metrics.json", doc, Generate)
    save_npz(out_dir / "samples.npz", **samples)
    paths = []
    for name, png in sheets.items():
        path = out_dir / doc["files"]["sheets"][name]
        atomic_write(path, png)
        paths.append(path)
    remove_stale_sheets(out_dir, paths)
    return paths


def remove_stale_sheets(out_dir: Path, kept: list[Path]) -> None:
    """Remove the contact sheets the step's last manifest records that are not in ``kept`` (only
    those: a user's own file beside them is never removed)."""
    recorded = {out_dir.parent / rel for rel in ((read_manifest(out_dir.parent, "generate") or {}).get("outputs") or {})
                if isinstance(rel, str) and rel.startswith("generate/sheet-")}
    for stale in sorted(recorded - set(kept)):
        stale.unlink(missing_ok=True)
