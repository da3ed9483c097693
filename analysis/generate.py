"""Generating faces from statistics: the ``generate`` step.

Fits every generator of ``[generate] generators`` (see :mod:`analysis.generators`) to
the real latent points, draws new points, decodes them with the trained decoder and
measures how close they come to real faces (:mod:`analysis.metrics`).

Procedure
---------
1. Split the n real points at random (seed ``run.seed``) into a *fit part* and a
   *held-out part* (``generate.holdout_fraction``). Generators see only the fit part.
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
5. Sweeps (for the report's chart): the latent k-NN metrics of ``gmm`` for each
   component count in ``sweep_components`` and of ``pca-ellipsoid`` for each level in
   ``sweep_confidence``.
6. Contact sheets of the first ``n_images`` decoded points per generator, and of
   the same number of held-out real images and their reconstructions.

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
    ``settings``
        ``n_points``, ``latent_dim`` (N), ``n_fit``, ``n_holdout``: the split;
        ``n_real``: held-out points in the real set; ``n_fake``: points per row;
        ``n_image``, ``n_image_real``: decoded points per row and held-out
        reconstructions in the pixel metrics; ``n_images``: images per contact sheet; ``image_shape``
        [C, S, S]; ``k``; ``copy_quantile`` and ``copy_share_limit`` (see ``copies``);
        ``holdout_fraction``; ``seed``;
        ``b``: {``value``, ``source``: ``"config"`` | ``"stats.json"`` | ``"measured"``};
        ``spread``: RMS distance of the fit-part points from their centroid (the scale
        of ``reencode_gap_rel``); ``real_radius_mean``: mean |z| of the real set;
        ``latents_vs_encoder``: max |E(x) - z| over the sheet's real images divided by
        ``spread`` (≈ 0 when latents.npy was encoded by this model);
        ``generators``: the names in config order.
    ``table``
        List of rows, the reference row first, then generators by rank. Each row:
        ``name``; ``kind`` (``"reference"`` | ``"generator"``); ``rank`` (1 = best,
        null for the reference); ``score`` = harmonic mean of ``precision`` and
        ``coverage`` (fidelity and diversity both needed; the ranking key, ties by name);
        latent metrics ``in_support`` (share of points inside the real k-NN support,
        equal to ``precision`` by definition), ``precision``, ``recall``,
        ``density``, ``coverage``, ``nn_real_mean`` (mean distance to the nearest
        real point), ``radius_w1`` (Wasserstein distance between the |z|
        distributions), ``radius_mean`` (mean |z|); image metrics
        ``pixel_precision``, ``pixel_recall``, ``pixel_density``, ``pixel_coverage``,
        ``pixel_nn_real_mean``; ``reencode_gap`` (mean |E(D(z)) - z|) and
        ``reencode_gap_rel`` (divided by ``settings.spread``); copying
        (:func:`analysis.metrics.copy_metrics`): ``copy_share`` (share of points closer
        to the fit part than the ``settings.copy_quantile`` quantile of the held-out
        points' nearest-fit distances) and ``nn_fit_ratio`` (median nearest-fit
        distance over the held-out one), with the even rows of the real set as the
        held-out reference; for the reference row the odd rows of the real set play
        the generated points (its own points are fit-part points, trivially copies),
        so it shows the values of genuinely new data (about 0.05 and 1); ``copies``:
        ``copy_share`` > ``settings.copy_share_limit`` (twice what new data give).
    ``image_reference``
        Pixel metrics against the raw held-out images (not reconstructions):
        ``raw`` for raw fit-part images (real vs real, no decoder involved) and
        ``reconstructed`` for the reconstructions of the same fit-part points (the
        cost of the decoder's blur).
    ``generators``
        Per name: ``class``, ``params`` (hyper-parameters as fitted) and ``fitted``
        (fitted scalars: ``b`` for uniform; ``kept_fraction``, ``threshold``,
        ``tail_probability`` for mvn-core; ``chi2_threshold`` for pca-ellipsoid;
        ``converged``, ``n_iter``, ``n_fit_points`` for gmm).
    ``sweeps``
        ``gmm_components`` and ``pca_confidence``, each {``parameter``, ``values``,
        ``precision``, ``recall``, ``density``, ``coverage``}: lists aligned with
        ``values``; a null entry is a setting that could not be fitted (see notes).
    ``files``
        ``samples``: ``"samples.npz"``; ``sheets``: {``real``, ``reconstructed``,
        and one per generator name}: PNG file names in the same directory.
    ``notes``
        Sentences on anything clipped, skipped, measured instead of read, or not
        converged.
``samples.npz``
    ``z_<name>`` (n_images, N) float32 and ``images_<name>`` (n_images, C, S, S)
    uint8 for every generator; ``z_real``, ``images_real`` and
    ``images_reconstructed`` for the real sheet.
``sheet-real.png``, ``sheet-reconstructed.png``, ``sheet-<name>.png``
    Contact sheets (grids, nearest-neighbour upscaled to >= 64 px tiles).

Every file is written atomically and deterministically (same inputs and config,
same bytes); ``generate.manifest.json`` is written last.
"""

from __future__ import annotations

import io as _io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from analysis import io
from analysis import metrics as M
from analysis.config import Config
from analysis.errors import UserError
from analysis.generators import GENERATORS, make_generator
from analysis.model import config_device, load_checkpoint

REFERENCE = "real (held-out)"
COPY_QUANTILE = 0.05  # held-out quantile of nearest-fit distances below which a point is a copy
COPY_SHARE_LIMIT = 2 * COPY_QUANTILE  # a row whose copy share exceeds this copies its fit points
FITTED_ATTRIBUTES = ("b_", "kept_fraction_", "threshold_", "tail_probability_", "chi2_threshold_",
                     "converged_", "n_iter_", "n_fit_points_")
SWEEP_METRICS = ("precision", "recall", "density", "coverage")


# ---------------------------------------------------------------- decoding and sheets

@torch.inference_mode()
def decode(model: torch.nn.Module, z: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Decode latent points in batches.

    Parameters
    ----------
    model : ConvAE
        In eval mode.
    z : array of shape (m, N)

    Returns
    -------
    ndarray of shape (m, C, S, S), float32 in [0, 1]
    """
    out = [model.decode(torch.from_numpy(np.ascontiguousarray(z[i:i + batch_size], dtype=np.float32))
                        .to(device)).float().cpu().numpy() for i in range(0, len(z), batch_size)]
    return np.concatenate(out)


@torch.inference_mode()
def encode(model: torch.nn.Module, x: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Encode images (m, C, S, S) in [0, 1] in batches; returns (m, N) float32."""
    out = [model.encode(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32))
                        .to(device)).float().cpu().numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


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
    buf = _io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- inputs

def _load_images(path: Path) -> np.ndarray:
    fix = "re-run the fetch step (python -m analysis fetch --config ...)"
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"image cache {path} does not exist", fix) from None
    except (OSError, ValueError) as e:
        raise UserError(f"image cache {path} is not a readable .npy array ({e})", fix) from None


def _stats_b(path: Path) -> float | None:
    """``b.used`` from stats.json, or None when the file is absent."""
    if not path.is_file():
        return None
    fix = "re-run the stats step (python -m analysis stats --config ... --force)"
    try:
        b = io.load_json(path)["b"]["used"]
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
    stats = io.read_manifest(run_dir, "stats")
    if stats is None and io.read_manifest(run_dir, "encode") is None:
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


def _check_config(cfg: Config) -> None:
    g = cfg.generate
    if not g.generators:
        raise UserError("config key 'generate.generators' is empty",
                        f"list at least one of: {', '.join(GENERATORS)}")
    for name in g.generators:
        make_generator(name)  # unknown names -> UserError naming the closest
    dup = sorted({x for x in g.generators if g.generators.count(x) > 1})
    if dup:
        raise UserError(f"config key 'generate.generators' lists {', '.join(dup)} more than once",
                        "list each generator once")
    for i, c in enumerate(g.sweep_components):
        if c < 1:
            raise UserError(f"config key 'generate.sweep_components[{i}]' = {c} must be >= 1",
                            "use positive component counts, e.g. [1, 2, 5, 10, 20]")
    for i, q in enumerate(g.sweep_confidence):
        if not 0.0 < q <= 1.0:
            raise UserError(f"config key 'generate.sweep_confidence[{i}]' = {q} is not in (0, 1]",
                            "use confidence levels such as [0.5, 0.9, 0.99]")
    if g.image_points <= g.k:
        raise UserError(f"generate.image_points = {g.image_points} must exceed generate.k = {g.k}",
                        "raise generate.image_points or lower generate.k")


def _params(name: str, cfg: Config, b: float | None) -> dict:
    """Hyper-parameters of generator ``name`` from the config."""
    g = cfg.generate
    p: dict = {"random_state": cfg.run.seed}
    if name == "uniform":
        p["b"] = b
    elif name == "mvn-core":
        p["core_sigma"] = g.core_sigma
    elif name == "pca-ellipsoid":
        p["confidence"] = g.confidence
    elif name == "gmm":
        p["n_components"] = g.gmm_components
        p["max_fit_points"] = g.gmm_max_points or None
    return p


def _fitted(gen) -> dict:
    return {a.rstrip("_"): getattr(gen, a) for a in FITTED_ATTRIBUTES if hasattr(gen, a)}


def _score(row: dict) -> float:
    p, c = row["precision"], row["coverage"]
    return 2 * p * c / (p + c) if p + c > 0 else 0.0


# ---------------------------------------------------------------- the step

def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """Fit, sample, decode and compare every generator; write ``<run_dir>/generate/``.

    Skipped (returning the stored metrics.json content) when the manifest shows the
    same inputs and the same ``[generate]``/``[run]`` config, unless ``force``.

    Returns
    -------
    dict
        The content of metrics.json (see the module docstring).

    Raises
    ------
    UserError
        Bad config, missing or inconsistent inputs, or a generator that cannot be
        fitted to these points; nothing is written then.
    """
    run_dir = Path(run_dir)
    g = cfg.generate
    _check_config(cfg)
    lat_path, ckpt_path = run_dir / "latents.npy", run_dir / "train" / "model.pt"
    img_path, stats_path = run_dir / "data" / "images.npy", run_dir / "stats" / "stats.json"
    z = io.load_latents(lat_path)
    if not ckpt_path.is_file():
        raise UserError(f"checkpoint {ckpt_path} does not exist",
                        "run the train step first: python -m analysis train --config ...")
    images = _load_images(img_path)
    inputs = {name: io.sha256_cached(run_dir, path) for name, path in
              (("latents.npy", lat_path), ("train/model.pt", ckpt_path), ("data/images.npy", img_path))}
    inputs["stats/stats.json"] = io.sha256_cached(run_dir, stats_path) if stats_path.is_file() else "absent"
    _check_stats(run_dir, inputs)
    key = io.hash_key(cfg.section("generate", "run"), inputs, io.code_hash("generate", "generators", "metrics"))
    out_dir = run_dir / "generate"
    if not force and io.is_complete(run_dir, "generate", key):
        io.eprint("generate: up to date")
        return io.load_json(out_dir / "metrics.json")

    # ---- validate the inputs against each other and the config
    n, N = z.shape
    C, S = cfg.data.channels, cfg.data.image_size
    if N != cfg.model.latent_dim:
        raise UserError(f"{lat_path} has N = {N} components but model.latent_dim = {cfg.model.latent_dim}",
                        "re-run the encode step with this config")
    if images.dtype != np.uint8 or images.shape != (n, C, S, S):
        raise UserError(f"{img_path} has shape {images.shape} and dtype {images.dtype}, expected uint8 "
                        f"{(n, C, S, S)} (one image per latent point)",
                        "re-run the fetch and encode steps with this config")
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
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    device = config_device(cfg)
    model, _ = load_checkpoint(ckpt_path, cfg, device)

    # ---- split
    notes: list[str] = []
    perm = np.random.default_rng(cfg.run.seed).permutation(n)
    hold, fit = perm[:n_hold], perm[n_hold:]
    z_fit = np.asarray(z[np.sort(fit)], dtype=np.float32)
    real_idx = hold[:n_real]
    z_real = np.asarray(z[real_idx], dtype=np.float32)
    ref_idx = fit[:n_fake]
    n_image = min(g.image_points, n_fake)
    n_image_real = min(n_image, n_real)
    n_sheet = min(g.n_images, n_fake, n_real)
    if n_fake < g.n_samples:
        notes.append(f"n_samples clipped from {g.n_samples} to the {n_fit} fit-part points so that every row, "
                     "the reference included, compares the same number of points")
    if n_real < g.n_samples:
        notes.append(f"the real set has only {n_real} held-out points (n_samples = {g.n_samples})")
    if n_image < g.image_points:
        notes.append(f"image_points clipped from {g.image_points} to {n_image}")
    if n_sheet < g.n_images:
        notes.append(f"contact sheets show {n_sheet} images (n_images = {g.n_images})")
    if n_image_real < n_image:
        notes.append(f"pixel metrics compare {n_image} decoded points with {n_image_real} held-out "
                     "reconstructions")

    b = g.b if g.b > 0 else _stats_b(stats_path)
    b_source = "config" if g.b > 0 else ("stats.json" if b is not None else "measured")
    if b_source == "measured" and "uniform" in g.generators:
        notes.append("stats/stats.json is absent: the uniform generator's b was measured on the fit part "
                     "as median |z| / sqrt(N/3) (radius matching) instead of taken from the b-scan")

    spread = M.spread(z_fit)
    bs = g.batch_size
    real_pix = decode(model, z_real[:n_image_real], bs, device)

    # copying: the held-out real set's even rows are the novelty reference; its odd rows
    # stand in for the reference row's "generated" points (its own points are fit-part
    # points, trivially copies)
    novel_ref, novel_probe = z_real[0::2], z_real[1::2]

    def evaluate(name: str, kind: str, pts: np.ndarray, copy_probe: np.ndarray | None = None
                 ) -> tuple[dict, np.ndarray]:
        row = {"name": name, "kind": kind, **M.latent_metrics(z_real, pts, g.k)}
        row.update(M.copy_metrics(z_fit, novel_ref, pts if copy_probe is None else copy_probe, COPY_QUANTILE))
        row["copies"] = bool(row["copy_share"] > COPY_SHARE_LIMIT)
        n_dec = max(n_image, n_sheet)
        dec = decode(model, pts[:n_dec], bs, device)
        row.update(M.image_metrics(real_pix, dec[:n_image], g.k))
        row.update(M.reencoding_gap(pts[:n_image], encode(model, dec[:n_image], bs, device), spread))
        row["score"] = _score(row)
        return row, to_uint8(dec[:n_sheet])

    # ---- reference row and real sheets
    rows, info, samples, sheets = [], {}, {}, {}
    row, _ = evaluate(REFERENCE, "reference", np.asarray(z[ref_idx], dtype=np.float32), copy_probe=novel_probe)
    rows.append(row)
    sheet_idx = real_idx[:n_sheet]
    real_u8 = np.asarray(images[sheet_idx])
    z_sheet = np.asarray(z[sheet_idx], dtype=np.float32)
    recon_u8 = to_uint8(decode(model, z_sheet, bs, device))
    enc_dev = np.abs(encode(model, real_u8.astype(np.float32) / 255.0, bs, device) - z_sheet).max()
    samples.update(z_real=z_sheet, images_real=real_u8, images_reconstructed=recon_u8)
    sheets["real"], sheets["reconstructed"] = contact_sheet(real_u8), contact_sheet(recon_u8)
    raw_real = np.asarray(images[real_idx[:n_image_real]], dtype=np.float32) / 255.0
    raw_fit = np.asarray(images[ref_idx[:n_image_real]], dtype=np.float32) / 255.0
    rec_fit = decode(model, np.asarray(z[ref_idx[:n_image_real]], dtype=np.float32), bs, device)
    image_reference = {"raw": M.image_metrics(raw_real, raw_fit, g.k),
                       "reconstructed": M.image_metrics(raw_real, rec_fit, g.k)}

    # ---- generators
    b_value = b
    for name in g.generators:
        gen = make_generator(name, **_params(name, cfg, b)).fit(z_fit)
        pts = gen.sample(n_fake)
        row, u8 = evaluate(name, "generator", pts)
        rows.append(row)
        info[name] = {"class": type(gen).__name__, "params": gen.get_params(), "fitted": _fitted(gen)}
        samples[f"z_{name}"], samples[f"images_{name}"] = pts[:n_sheet], u8
        sheets[name] = contact_sheet(u8)
        if name == "uniform":
            b_value = gen.b_
        if name == "gmm" and not gen.converged_:
            notes.append(f"gmm: EM did not converge in {gen.n_iter_} iterations")
        if name == "gmm" and gen.n_fit_points_ / g.gmm_components < N + 1:
            notes.append(f"gmm: about {gen.n_fit_points_ // g.gmm_components} fit points per component, fewer "
                         f"than N + 1 = {N + 1}: the component covariances are rank-deficient (held up by "
                         "reg_covar), so the mixture can reproduce the fit points closely")
        if getattr(gen, "n_fit_points_", n_fit) < n_fit:
            notes.append(f"{name} was fitted on {gen.n_fit_points_} random fit-part points "
                         f"(generate.gmm_max_points)")
        io.eprint(f"generate: {name:22s} precision {row['precision']:.3f} coverage {row['coverage']:.3f} "
                  f"pixel precision {row['pixel_precision']:.3f}")

    # ---- ranking
    ranked = sorted(rows[1:], key=lambda r: (-r["score"], r["name"]))
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    rows[0]["rank"] = None
    table = [rows[0]] + ranked

    # ---- sweeps
    def sweep(name: str, param: str, values: list) -> dict:
        out = {"parameter": param, "values": list(values), **{m: [] for m in SWEEP_METRICS}}
        for v in values:
            try:
                gen = make_generator(name, **{**_params(name, cfg, b), param: v}).fit(z_fit)
                res = M.prdc(z_real, gen.sample(n_fake), g.k)
            except UserError as e:
                notes.append(f"sweep {name} {param} = {v} skipped: {e.problem}")
                res = {m: None for m in SWEEP_METRICS}
            for m in SWEEP_METRICS:
                out[m].append(res[m])
        return out

    sweeps = {"gmm_components": sweep("gmm", "n_components", g.sweep_components),
              "pca_confidence": sweep("pca-ellipsoid", "confidence", g.sweep_confidence)}

    files = {"samples": "samples.npz",
             "sheets": {key_: f"sheet-{key_}.png" for key_ in sheets}}
    doc = {
        "settings": {
            "n_points": n, "latent_dim": N, "n_fit": n_fit, "n_holdout": n_hold, "n_real": n_real,
            "n_fake": n_fake, "n_image": n_image, "n_image_real": n_image_real, "n_images": n_sheet,
            "image_shape": [C, S, S], "k": g.k, "copy_quantile": COPY_QUANTILE,
            "copy_share_limit": COPY_SHARE_LIMIT,
            "holdout_fraction": g.holdout_fraction, "seed": cfg.run.seed,
            "b": {"value": b_value, "source": b_source}, "spread": spread,
            "real_radius_mean": float(np.linalg.norm(z_real.astype(np.float64), axis=1).mean()),
            "latents_vs_encoder": float(enc_dev) / spread if spread > 0 else None,
            "generators": list(g.generators),
        },
        "table": table,
        "image_reference": image_reference,
        "generators": info,
        "sweeps": sweeps,
        "files": files,
        "notes": notes,
    }

    # ---- write (all computed above; the manifest last)
    outputs = [out_dir / "metrics.json", out_dir / "samples.npz"]
    io.save_json(outputs[0], doc)
    io.save_npz(outputs[1], **samples)
    for key_, png in sheets.items():
        path = out_dir / files["sheets"][key_]
        io.atomic_write(path, png)
        outputs.append(path)
    for stale in sorted(set(out_dir.glob("sheet-*.png")) - set(outputs)):  # generators no longer configured
        stale.unlink(missing_ok=True)
    io.write_manifest(run_dir, "generate", key, inputs=inputs, outputs=outputs, config=cfg.to_dict())
    best = ranked[0]["name"] if ranked else "-"
    io.eprint(f"generate: {len(ranked)} generators, best {best}; real precision {rows[0]['precision']:.3f} "
              f"-> {out_dir}")
    return io.load_json(outputs[0])
