"""Generating faces from statistics: the ``generate`` step.

Fits every generator of ``[generate] generators`` (see :mod:`analysis.generators`) to
the real latent points, draws new points, decodes them with the trained decoder and
measures how close they come to real faces (:mod:`analysis.metrics`).

Procedure
---------
The whole comparison (steps 1-4) is repeated ``generate.repeats`` times (at least 2,
default 5). Repetition r draws a new split and new generator seeds, both derived from
``run.seed`` (``settings.repeat_seeds``: [split seed, generator seed] per repetition),
so every generator is refitted and every metric measured again; the table reports each
metric's mean over the repetitions with its Student t interval at ``generate.level``
(:func:`analysis.calibration.mean_interval`: mean ± t · sd / sqrt(R), clipped to the
metric's range; ``settings.interval`` = ``"student-t"``). The intervals thus include
the choice of split, the gmm's model selection, the refit and the sampling of the
evaluated points.

0. The gmm's component count and covariance type are chosen in every repetition, on
   that repetition's fit part and with its generator seed
   (:class:`analysis.generators.GMMSelector`): every candidate of ``gmm_components`` x
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
   lies wholly above its own (:func:`analysis.calibration.separated_ranks`), so
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

import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from analysis import calibration as cal
from analysis import facecheck, geometry, instrument, steps
from analysis import faces as FT
from analysis import metrics as M
from analysis.config import Config, GenerateConfig
from analysis.errors import UserError, eprint
from analysis.generators import GENERATORS, GMMGenerator, GMMSelector, LatentGenerator, make_generator
from analysis.model import decode_array, encode_array, load_trained
from analysis.provenance import read_manifest
from analysis.steps import load_images, open_latents
from analysis.storage import atomic_write, load_json, save_json, save_npz
from analysis.schemas.generate import Generate

REFERENCE = "real (held-out)"
COPY_QUANTILE = 0.05  # held-out quantile of nearest-fit distances below which a point is a copy
COPY_SHARE_LIMIT = 2 * COPY_QUANTILE  # a row whose copy share exceeds this copies its fit points
FITTED_ATTRIBUTES = ("b_", "kept_fraction_", "threshold_", "tail_probability_", "chi2_threshold_",
                     "converged_", "n_iter_", "lower_bound_", "reg_covar_", "n_fit_points_")
#: Every metric of a table row, with its range (lower, upper; None = unbounded), to which
#: its interval is clipped.
METRICS = {"score": (0.0, 1.0), "in_support": (0.0, 1.0), "precision": (0.0, 1.0), "recall": (0.0, 1.0),
           "density": (0.0, None), "coverage": (0.0, 1.0), "nn_real_mean": (0.0, None), "radius_w1": (0.0, None),
           "radius_mean": (0.0, None), "pixel_precision": (0.0, 1.0), "pixel_recall": (0.0, 1.0),
           "pixel_density": (0.0, None), "pixel_coverage": (0.0, 1.0), "pixel_nn_real_mean": (0.0, None),
           "reencode_gap": (0.0, None), "reencode_gap_rel": (0.0, None), "copy_share": (0.0, 1.0),
           "nn_fit_ratio": (0.0, None), "face_share": (0.0, 1.0), "face_share_detector": (0.0, 1.0),
           "face_share_classifier": (0.0, 1.0), "face_coverage": (0.0, 1.0), "face_diversity": (0.0, 1.0),
           "face_score": (0.0, 1.0)}
#: The metrics of the face tests (None in every row when the faces step has not run).
FACE_METRICS = ("face_share", "face_share_detector", "face_share_classifier", "face_coverage", "face_diversity",
                "face_score")
INTERVAL = "student-t"  # settings.interval: mean over the repetitions with its Student t interval
SWEEP_METRICS = ("precision", "recall", "density", "coverage")
#: What to change when a generator cannot be fitted to these points (the generator says why).
FIT_FIX = {
    "uniform": "set generate.b > 0, or 0 to use the b-scan's value",
    "mvn-core": "raise generate.core_sigma, or encode more images",
    "pca-ellipsoid": "set generate.confidence in (0, 1], e.g. 0.95",
    "gmm": "use fewer components (generate.gmm_components), raise generate.gmm_reg, raise "
           "generate.gmm_max_points (0 = all points) or encode more images",
}
FIT_FIX_OTHER = "encode more images, lower generate.holdout_fraction, or drop it from generate.generators"


# ---------------------------------------------------------------- contact sheets

def to_uint8(x: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] -> uint8 (rounded)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def contact_sheet(images: np.ndarray, min_tile: int = 64, pad: int = 2) -> bytes:
    """A grid of images as PNG bytes (deterministic: no timestamps or metadata).

    Parameters
    ----------
    images : uint8 array of shape (n, C, S, S), C = 1 or 3
    min_tile : int
        Tiles are upscaled (nearest neighbour) by an integer factor to at least this size.
    pad : int
        White gap between tiles, in pixels.

    Returns
    -------
    bytes
    """
    n, C, S, _ = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    scale = max(1, math.ceil(min_tile / S))
    t = S * scale
    canvas = np.full((rows * (t + pad) + pad, cols * (t + pad) + pad, C), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (t + pad), pad + c * (t + pad)
        canvas[y:y + t, x:x + t] = im.transpose(1, 2, 0).repeat(scale, axis=0).repeat(scale, axis=1)
    img = Image.fromarray(canvas[:, :, 0] if C == 1 else canvas)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


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


def check_config(cfg: Config) -> None:
    """Check the [generate] settings on their own; a UserError naming the key otherwise."""
    g = cfg.generate
    if not g.generators:
        raise UserError("config key 'generate.generators' is empty",
                        f"list at least one of: {', '.join(GENERATORS)}")
    for name in g.generators:
        try:
            make_generator(name)
        except ValueError as e:
            raise UserError(f"config key 'generate.generators': {e}", "fix the name in generate.generators") from None
    dup = sorted({x for x in g.generators if g.generators.count(x) > 1})
    if dup:
        raise UserError(f"config key 'generate.generators' lists {', '.join(dup)} more than once",
                        "list each generator once")
    if "gmm" in g.generators:
        _check_gmm_config(g)
    for i, q in enumerate(g.sweep_confidence):
        if not 0.0 < q <= 1.0:
            raise UserError(f"config key 'generate.sweep_confidence[{i}]' = {q} is not in (0, 1]",
                            "use confidence levels such as [0.5, 0.9, 0.99]")
    if g.image_points <= g.k:
        raise UserError(f"generate.image_points = {g.image_points} must exceed generate.k = {g.k}",
                        "raise generate.image_points or lower generate.k")


def _check_gmm_config(g: GenerateConfig) -> None:
    """The gmm's candidate lists: not empty, no repeats, valid values."""
    for key, values, example in (("gmm_components", g.gmm_components, "[1, 2, 5, 10, 20]"),
                                 ("gmm_covariance", g.gmm_covariance, '["full", "diag"]')):
        if not values:
            raise UserError(f"config key 'generate.{key}' is empty", f"list at least one candidate, e.g. {example}")
        if len(set(values)) < len(values):
            raise UserError(f"config key 'generate.{key}' lists a candidate more than once",
                            "list each candidate once")
    for i, c in enumerate(g.gmm_components):
        if c < 1:
            raise UserError(f"config key 'generate.gmm_components[{i}]' = {c} must be >= 1",
                            "use positive component counts, e.g. [1, 2, 5, 10, 20]")
    for i, c in enumerate(g.gmm_covariance):
        if c not in GMMGenerator.COVARIANCE_TYPES:
            opts = ", ".join(repr(x) for x in GMMGenerator.COVARIANCE_TYPES)
            raise UserError(f"config key 'generate.gmm_covariance[{i}]' = {c!r} is not one of {opts}",
                            f"use covariance types from {opts}")


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


# ---------------------------------------------------------------- 1. the split

@dataclass(frozen=True)
class Split:
    """How the n latent points are used (see the module docstring, Procedure 1-4).

    ``fit`` and ``hold`` are row indices in the seeded permutation's order; the other
    fields are the set sizes every row of the table shares.
    """

    fit: np.ndarray
    hold: np.ndarray
    n_real: int
    n_fake: int
    n_image: int
    n_image_real: int
    n_sheet: int

    @property
    def real_idx(self) -> np.ndarray:
        """Rows of the real set: the first ``n_real`` held-out points."""
        return self.hold[:self.n_real]

    @property
    def ref_idx(self) -> np.ndarray:
        """Rows of the reference row's points: the first ``n_fake`` fit-part points."""
        return self.fit[:self.n_fake]


def split_points(n: int, N: int, g: GenerateConfig, seed: int) -> Split:
    """Split n points into a fit and a held-out part and fix the set sizes (a UserError if too few)."""
    n_hold = min(max(int(round(g.holdout_fraction * n)), 1), n - 1) if n > 1 else 0
    n_fit = n - n_hold
    n_real, n_fake = min(n_hold, g.n_samples), min(g.n_samples, n_fit)
    if min(n_real, n_fake) <= g.k:
        raise UserError(f"{n} latent points give {n_fit} fit and {n_hold} held-out points, but the k-NN "
                        f"metrics need more than k = {g.k} points in each set (and n_samples = {g.n_samples})",
                        "encode more images, lower generate.k, or adjust generate.holdout_fraction")
    full = [x for x in g.generators if GENERATORS[x].needs_full_cov]
    if full and n_fit < N + 1:
        raise UserError(f"generators {', '.join(full)} fit a full {N}x{N} covariance and need at least "
                        f"N + 1 = {N + 1} fit points, got {n_fit}",
                        "encode more images, lower generate.holdout_fraction, or drop those generators")
    perm = np.random.default_rng(seed).permutation(n)
    n_image = min(g.image_points, n_fake)
    return Split(fit=perm[n_hold:], hold=perm[:n_hold], n_real=n_real, n_fake=n_fake, n_image=n_image,
                 n_image_real=min(n_image, n_real), n_sheet=min(g.n_images, n_fake, n_real))


def split_notes(sp: Split, g: GenerateConfig) -> list[str]:
    """Sentences on the sizes that were clipped."""
    notes = []
    if sp.n_fake < g.n_samples:
        notes.append(f"n_samples clipped from {g.n_samples} to the {len(sp.fit)} fit-part points so that every row, "
                     "the reference included, compares the same number of points")
    if sp.n_real < g.n_samples:
        notes.append(f"the real set has only {sp.n_real} held-out points (n_samples = {g.n_samples})")
    if sp.n_image < g.image_points:
        notes.append(f"image_points clipped from {g.image_points} to {sp.n_image}")
    if sp.n_sheet < g.n_images:
        notes.append(f"contact sheets show {sp.n_sheet} images (n_images = {g.n_images})")
    if sp.n_image_real < sp.n_image:
        notes.append(f"pixel metrics compare {sp.n_image} decoded points with {sp.n_image_real} held-out "
                     "reconstructions")
    return notes


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


# ---------------------------------------------------------------- 3. evaluating a row

@dataclass(frozen=True)
class Judge:
    """What every row of the table is measured against, and how points are decoded."""

    model: torch.nn.Module
    device: torch.device
    batch_size: int
    k: int
    z_fit: np.ndarray      # the fit part (what the generators see)
    z_real: np.ndarray     # the real set
    real_pix: np.ndarray   # reconstructions of the first n_image_real points of the real set
    spread: float          # RMS distance of the fit part from its centroid
    n_image: int
    n_sheet: int
    faces: instrument.Instrument | None = None  # the calibrated face tests (None: no faces step)
    n_face: int = 0        # decoded images per row the face tests score
    labels: list | None = None  # (detector, classifier) labels of every scored image, for the agreement

    def decode(self, z: np.ndarray) -> np.ndarray:
        return decode_array(self.model, z, self.batch_size, self.device)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return encode_array(self.model, x, self.batch_size, self.device)


def make_judge(model, device, g: GenerateConfig, z: np.ndarray, sp: Split,
               faces: instrument.Instrument | None = None, images_per_row: int = 0,
               labels: list | None = None) -> Judge:
    z_fit = np.asarray(z[np.sort(sp.fit)], dtype=np.float32)
    z_real = np.asarray(z[sp.real_idx], dtype=np.float32)
    real_pix = decode_array(model, z_real[:sp.n_image_real], g.batch_size, device)
    n_face = min(max(images_per_row, sp.n_sheet), max(sp.n_image, sp.n_sheet)) if faces is not None else 0
    return Judge(model=model, device=device, batch_size=g.batch_size, k=g.k, z_fit=z_fit, z_real=z_real,
                 real_pix=real_pix, spread=geometry.spread(z_fit), n_image=sp.n_image, n_sheet=sp.n_sheet,
                 faces=faces, n_face=n_face, labels=labels)


def evaluate(judge: Judge, name: str, kind: str, pts: np.ndarray,
             copy_probe: np.ndarray | None = None) -> tuple[dict, np.ndarray, np.ndarray | None]:
    """One row of the table for the points ``pts``, the uint8 images of its contact sheet and their
    face labels by the verdict rule (None without face tests).

    Copying is judged against the real set's even rows (the novelty reference); for the
    reference row, whose own points are fit-part points (trivially copies), its odd rows
    (``copy_probe``) stand in for the generated points.
    """
    row = {"name": name, "kind": kind, **M.latent_metrics(judge.z_real, pts, judge.k)}
    row.update(M.copy_metrics(judge.z_fit, judge.z_real[0::2], pts if copy_probe is None else copy_probe,
                              COPY_QUANTILE))
    dec = judge.decode(pts[:max(judge.n_image, judge.n_sheet)])
    row.update(M.image_metrics(judge.real_pix, dec[:judge.n_image], judge.k))
    row.update(M.reencoding_gap(pts[:judge.n_image], judge.encode(dec[:judge.n_image]), judge.spread))
    row["score"] = _score(row)
    row.update(face_metrics(judge, dec[:judge.n_face]))
    sheet_faces = row.pop("_face_labels")
    return row, to_uint8(dec[:judge.n_sheet]), None if sheet_faces is None else sheet_faces[:judge.n_sheet]


def face_metrics(judge: Judge, dec: np.ndarray) -> dict:
    """The face tests on decoded images ``dec``: the rule's share and each test's, and the collapse-proof
    face score (:func:`analysis.metrics.face_quality` against the held-out reconstructions); all None
    without a faces step. ``_face_labels``: the rule's labels (for the contact sheets)."""
    if judge.faces is None:
        return {**{m: None for m in FACE_METRICS}, "_face_labels": None}
    lab = judge.faces.label(dec)
    if judge.labels is not None:
        judge.labels.append((lab["detector"], lab["classifier"]))
    q = M.face_quality(judge.real_pix, dec, lab["face"], judge.k)
    return {**q, "face_share_detector": float(lab["detector"].mean()),
            "face_share_classifier": float(lab["classifier"].mean()), "_face_labels": lab["face"]}


def _score(row: dict) -> float:
    p, c = row["precision"], row["coverage"]
    return 2 * p * c / (p + c) if p + c > 0 else 0.0


def real_examples(judge: Judge, images, z: np.ndarray, sp: Split) -> tuple[dict, dict, float, dict]:
    """The real images, their reconstructions and the raw-pixel reference.

    Returns
    -------
    samples : dict
        ``z_real``, ``images_real``, ``images_reconstructed`` (samples.npz).
    sheets : dict
        PNG bytes of the ``real`` and ``reconstructed`` contact sheets.
    encoder_gap : float
        max |E(x) - z| over the sheet's real images (0 when latents.npy came from this model).
    image_reference : dict
        Pixel metrics of raw and reconstructed fit-part images against the raw held-out ones.
    """
    sheet_idx = sp.real_idx[:sp.n_sheet]
    real_u8 = images.take(sheet_idx)
    z_sheet = np.asarray(z[sheet_idx], dtype=np.float32)
    recon_u8 = to_uint8(judge.decode(z_sheet))
    gap = float(np.abs(judge.encode(real_u8) - z_sheet).max())
    n = sp.n_image_real
    raw_real = images.take(sp.real_idx[:n]).astype(np.float32) / 255.0
    raw_fit = images.take(sp.ref_idx[:n]).astype(np.float32) / 255.0
    rec_fit = judge.decode(np.asarray(z[sp.ref_idx[:n]], dtype=np.float32))
    reference = {"raw": M.image_metrics(raw_real, raw_fit, judge.k),
                 "reconstructed": M.image_metrics(raw_real, rec_fit, judge.k)}
    samples = {"z_real": z_sheet, "images_real": real_u8, "images_reconstructed": recon_u8}
    if judge.faces is not None:
        samples["face_real"] = judge.faces.label(real_u8)["face"]
        samples["face_reconstructed"] = judge.faces.label(recon_u8)["face"]
    sheets = {"real": contact_sheet(real_u8), "reconstructed": contact_sheet(recon_u8)}
    return samples, sheets, gap, reference


# ---------------------------------------------------------------- 4. the generators

def repeat_seeds(seed: int, repeats: int) -> list[tuple[int, int]]:
    """(split seed, generator seed) of each repetition, derived from ``run.seed``."""
    return [tuple(int(x) for x in np.random.SeedSequence([seed, r]).generate_state(2)) for r in range(repeats)]


def _params(name: str, cfg: Config, b: float | None, seed: int, gmm: dict | None) -> dict:
    """Hyper-parameters of generator ``name``: from the config, and for gmm the selection's choice."""
    g = cfg.generate
    p: dict = {"random_state": seed}
    if name == "uniform":
        p["b"] = b
    elif name == "mvn-core":
        p["core_sigma"] = g.core_sigma
    elif name == "pca-ellipsoid":
        p["confidence"] = g.confidence
    elif name == "gmm":
        p.update(gmm or {})
        p["reg_relative"] = g.gmm_reg
        p["max_fit_points"] = g.gmm_max_points or None
    return p


def fit_generator(name: str, params: dict, z_fit: np.ndarray) -> LatentGenerator:
    """Generator ``name`` fitted to ``z_fit``; what it cannot fit is a UserError naming the key to change."""
    try:
        return make_generator(name, **params).fit(z_fit)
    except ValueError as e:
        raise UserError(f"generator '{name}' cannot be fitted to these points: {e}",
                        FIT_FIX.get(name, FIT_FIX_OTHER)) from None


def select_gmm(cfg: Config, z_fit: np.ndarray, seed: int) -> GMMSelector | None:
    """The gmm's component count and covariance type, chosen on ``z_fit`` (None without gmm).

    Returns the fitted :class:`GMMSelector` (``best_params_`` is the choice).
    """
    g = cfg.generate
    if "gmm" not in g.generators:
        return None
    sel = GMMSelector(n_components=tuple(g.gmm_components), covariance_types=tuple(g.gmm_covariance),
                      criterion=g.gmm_selection, validation_fraction=g.holdout_fraction, reg_relative=g.gmm_reg,
                      max_fit_points=g.gmm_max_points or None, random_state=seed, n_jobs=torch.get_num_threads())
    try:
        return sel.fit(z_fit)
    except ValueError as e:
        raise UserError(f"generator 'gmm' cannot be fitted to these points: {e}", FIT_FIX["gmm"]) from None


def _choice(sel: GMMSelector) -> dict:
    """A selector's choice: ``n_components``, ``covariance_type`` and ``score`` (its criterion's value)."""
    best = sel.results_[sel.best_index_]
    return {**sel.best_params_, "score": best["heldout_loglik" if sel.criterion == "heldout" else "bic"]}


def modal_choice(choices: list[dict]) -> tuple[dict, int]:
    """The configuration chosen most often and in how many repetitions; a tie goes to the one chosen
    first (in repetition order)."""
    counts = Counter((c["n_components"], c["covariance_type"]) for c in choices)
    (k, cov), n = counts.most_common(1)[0]  # equal counts keep the order first encountered
    return {"n_components": k, "covariance_type": cov}, n


def selection_doc(g: GenerateConfig, sels: list[GMMSelector]) -> dict:
    """The ``gmm_selection`` entry of metrics.json from every repetition's selector (the first one's
    split sizes, candidates and choice, then every repetition's choice and their summary)."""
    first, per_repeat = sels[0], [_choice(s) for s in sels]
    modal, agreement = modal_choice(per_repeat)
    return {"criterion": g.gmm_selection, "validation_fraction": g.holdout_fraction, "n_train": first.n_train_,
            "n_validation": first.n_validation_, "reg_relative": g.gmm_reg, "candidates": first.results_,
            "chosen": dict(first.best_params_), "per_repeat": per_repeat, "modal": modal, "agreement": agreement,
            "repeats": len(sels)}


def generator_notes(name: str, gens: list[LatentGenerator], n_fit: int, N: int, g: GenerateConfig) -> list[str]:
    """Sentences on a generator that did not converge in some repetition or saw fewer points."""
    notes, gen = [], gens[0]
    if name == "gmm":
        stalled = sum(not x.converged_ for x in gens)
        if stalled:
            notes.append(f"gmm: EM did not converge within {gen.max_iter} iterations in {stalled} of {len(gens)} "
                         "repetitions")
        thin = [x for x in gens if x.covariance_type == "full" and x.n_fit_points_ / x.n_components < N + 1]
        if thin:
            x = thin[0]
            where = "" if len(thin) == len(gens) else f" (in {len(thin)} of {len(gens)} repetitions)"
            notes.append(f"gmm: about {x.n_fit_points_ // x.n_components} fit points per component{where}, fewer "
                         f"than N + 1 = {N + 1}: the full component covariances are rank-deficient and held up by "
                         f"the regularisation (generate.gmm_reg = {g.gmm_reg:g} of the mean variance, "
                         f"reg_covar = {x.reg_covar_:.3g})")
    if getattr(gen, "n_fit_points_", n_fit) < n_fit:
        notes.append(f"{name} was fitted on {gen.n_fit_points_} random fit-part points "
                     f"(generate.gmm_max_points)")
    return notes


def _fitted(gen: LatentGenerator) -> dict:
    return {a.rstrip("_"): getattr(gen, a) for a in FITTED_ATTRIBUTES if hasattr(gen, a)}


@dataclass
class Repeat:
    """One repetition of the comparison: its table rows (reference first), fitted generators and the
    gmm's selector (None without gmm)."""

    rows: list[dict]
    generators: dict[str, LatentGenerator]
    selector: GMMSelector | None = None


def evaluate_repeat(judge: Judge, cfg: Config, z: np.ndarray, sp: Split, b: float | None, seed: int,
                    keep: tuple[dict, dict] | None = None) -> Repeat:
    """The reference row and every configured generator (fitted on this split's fit part), in config order.

    The gmm's configuration is selected on this split's fit part with this repetition's
    seed (:func:`select_gmm`), so the selection is part of what the repetitions repeat.
    ``keep`` = (samples, sheets) of the first repetition: each generator's points and
    images are added to ``samples`` and its contact sheet to ``sheets``.
    """
    sel = select_gmm(cfg, judge.z_fit, seed)
    gmm = dict(sel.best_params_) if sel is not None else None
    reference, _, _ = evaluate(judge, REFERENCE, "reference", np.asarray(z[sp.ref_idx], dtype=np.float32),
                               copy_probe=judge.z_real[1::2])
    rows, gens = [reference], {}
    for name in cfg.generate.generators:
        gen = fit_generator(name, _params(name, cfg, b, seed, gmm), judge.z_fit)
        pts = gen.sample(sp.n_fake)
        row, u8, face = evaluate(judge, name, "generator", pts)
        rows.append(row)
        gens[name] = gen
        if keep is not None:
            samples, sheets = keep
            samples[f"z_{name}"], samples[f"images_{name}"] = pts[:sp.n_sheet], u8
            if face is not None:
                samples[f"face_{name}"] = face
            sheets[name] = contact_sheet(u8)
    return Repeat(rows=rows, generators=gens, selector=sel)


# ---------------------------------------------------------------- 5. over the repetitions, ranked

def summarise(reps: list[dict], level: float) -> dict:
    """One row of the table from its repetitions: each metric's mean and interval (see the module docstring)."""
    row = {"name": reps[0]["name"], "kind": reps[0]["kind"]}
    intervals = {}
    for m, (lower, upper) in METRICS.items():
        vals = [r[m] for r in reps]
        finite = [v is not None and math.isfinite(v) for v in vals]
        if all(finite):
            mean, low, high = cal.mean_interval(vals, level, lower, upper)
            row[m], intervals[m] = mean, {"low": low, "high": high, "repeats": [float(v) for v in vals]}
        else:
            row[m] = None
            intervals[m] = {"low": None, "high": None,
                            "repeats": [float(v) if ok else None for v, ok in zip(vals, finite)]}
    row["copies"] = bool(row["copy_share"] > COPY_SHARE_LIMIT)
    row["intervals"] = intervals
    return row


def face_rank(rows: list[dict]) -> None:
    """``face_rank`` and ``face_tied_with`` of the generator rows by their face score intervals (as
    :func:`rank` does with the score); null in every row when a face score is undefined."""
    gens = rows[1:]
    ok = all(r["intervals"]["face_score"]["low"] is not None for r in gens)
    if ok:
        ranks, ties = cal.separated_ranks([r["intervals"]["face_score"]["low"] for r in gens],
                                          [r["intervals"]["face_score"]["high"] for r in gens])
    for i, r in enumerate(gens):
        r["face_rank"], r["face_tied_with"] = (ranks[i], sorted(gens[j]["name"] for j in ties[i])) if ok else (None, [])
    rows[0]["face_rank"], rows[0]["face_tied_with"] = None, []


def rank(rows: list[dict]) -> list[dict]:
    """The table: the reference row first (rank None), then the generators by rank, score and name.

    A generator's rank is 1 + the number of generators whose score interval lies wholly
    above its own (:func:`analysis.calibration.separated_ranks`); ``tied_with`` names the
    generators whose score intervals overlap its own.
    """
    gens = rows[1:]
    ranks, ties = cal.separated_ranks([r["intervals"]["score"]["low"] for r in gens],
                                      [r["intervals"]["score"]["high"] for r in gens])
    for r, k, t in zip(gens, ranks, ties):
        r["rank"], r["tied_with"] = k, sorted(gens[j]["name"] for j in t)
    rows[0]["rank"], rows[0]["tied_with"] = None, []
    return [rows[0]] + sorted(gens, key=lambda r: (r["rank"], -r["score"], r["name"]))


def table_of(repeats: list[Repeat], level: float) -> list[dict]:
    """The ranked table of metrics.json from the repetitions' rows."""
    rows = [summarise([rep.rows[i] for rep in repeats], level) for i in range(len(repeats[0].rows))]
    face_rank(rows)
    return rank(rows)


# ---------------------------------------------------------------- 6. sweeps

def sweep(name: str, param: str, values: list, cfg: Config, b: float | None, judge: Judge,
          n_fake: int, seed: int) -> tuple[dict, list[str]]:
    """Latent k-NN metrics of generator ``name`` for each value of ``param``; settings that cannot be
    fitted give nulls and a note."""
    out = {"parameter": param, "values": list(values), **{m: [] for m in SWEEP_METRICS}}
    notes = []
    for v in values:
        try:
            gen = make_generator(name, **{**_params(name, cfg, b, seed, None), param: v}).fit(judge.z_fit)
            res = M.prdc(judge.z_real, gen.sample(n_fake), judge.k)
        except ValueError as e:
            notes.append(f"sweep {name} {param} = {v} skipped: {e}")
            res = {m: None for m in SWEEP_METRICS}
        for m in SWEEP_METRICS:
            out[m].append(res[m])
    return out, notes


def selection_sweep(sel: GMMSelector | None, judge: Judge, n_fake: int) -> tuple[dict, list[str]]:
    """Latent k-NN metrics of the gmm selection's candidates of the chosen covariance type, by
    component count (fitted on the selection's training part); nulls where a candidate failed."""
    out = {"parameter": "n_components", "values": [], **{m: [] for m in SWEEP_METRICS}}
    if sel is None:
        return out, []
    notes, cov = [], sel.best_params_["covariance_type"]
    for res, est in zip(sel.results_, sel.estimators_):
        if res["covariance_type"] != cov:
            continue
        out["values"].append(res["n_components"])
        if est is None:
            notes.append(f"gmm with {res['n_components']} {cov} components could not be fitted: {res['error']}")
            m = {k: None for k in SWEEP_METRICS}
        else:
            m = M.prdc(judge.z_real, est.sample(n_fake), judge.k)
        for k in SWEEP_METRICS:
            out[k].append(m[k])
    failed = [f"{r['n_components']} {r['covariance_type']}" for r in sel.results_
              if r["error"] and r["covariance_type"] != cov]
    if failed:
        notes.append(f"gmm selection: the candidates {', '.join(failed)} could not be fitted")
    return out, notes


# ---------------------------------------------------------------- the step

def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """Fit, sample, decode and compare every generator unless up to date (:func:`analysis.steps.run`).

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
    rule (:func:`analysis.facecheck.check_run`), and the two tests' agreement on every decoded image they
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


def generators_info(repeats: list[Repeat], cfg: Config, n_fit: int, N: int) -> tuple[dict, list[str]]:
    """The ``generators`` entry of metrics.json (class; the hyper-parameters every repetition shares,
    those that vary and their value in each repetition; fitted scalars of the first and of every
    repetition) and notes on the fits."""
    info, notes = {}, []
    for name in cfg.generate.generators:
        gens = [rep.generators[name] for rep in repeats]
        params = [x.get_params() for x in gens]
        varying = sorted(k for k in params[0] if any(p[k] != params[0][k] for p in params[1:]))
        info[name] = {"class": type(gens[0]).__name__,
                      "params": {k: None if k in varying else v for k, v in params[0].items()},
                      "varying": varying, "repeat_params": [{k: p[k] for k in varying} for p in params],
                      "fitted": _fitted(gens[0]), "repeats": [_fitted(x) for x in gens]}
        notes += generator_notes(name, gens, n_fit, N, cfg.generate)
    return info, notes


def all_sweeps(cfg: Config, b: float | None, judge: Judge, n_fake: int, seed: int,
               sel: GMMSelector | None) -> tuple[dict, list[str]]:
    """The ``sweeps`` of metrics.json: the gmm selection's candidates by component count, pca-ellipsoid
    over ``generate.sweep_confidence``; and notes on settings that could not be fitted."""
    gmm, notes_gmm = selection_sweep(sel, judge, n_fake)
    pca, notes_pca = sweep("pca-ellipsoid", "confidence", cfg.generate.sweep_confidence, cfg, b, judge, n_fake, seed)
    return {"gmm_components": gmm, "pca_confidence": pca}, notes_gmm + notes_pca


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
