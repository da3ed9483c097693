"""Encoding every image to its latent point: the ``encode`` step.

Reads the uint8 image cache batch by batch (``encode.batch_size`` images at a time,
so memory holds one batch of pixels whatever the data size), runs the encoder in
eval mode under ``torch.inference_mode``, and writes the points straight into a
``latents.npy`` (float32, n x N) block by block, renamed into place when complete.
Also writes ``ids.txt`` (one image identifier per row of latents.npy), the examples
the article shows (in ``encode/``, below) and the manifest with the hashes of the
data, config and checkpoint and the package versions.

``encode/summary.json`` (the network as measured, the examples' sizes and reconstruction error),
``encode/reconstructions.npz`` (the first :data:`RECONSTRUCTIONS` held-out images and their reconstructions) and
``encode/gallery.npz`` (:data:`GALLERY` images drawn at random with ``run.seed``). Keys and their meaning:
:mod:`analysis.schemas.encode` (JSON Schema: ``schemas/encode.summary.schema.json``,
``schemas/encode.reconstructions.schema.json``, ``schemas/encode.gallery.schema.json``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from analysis.pipeline import steps
from analysis.pipeline.config import Config
from analysis.errors import UserError, eprint
from analysis.pipeline.steps import load_images
from analysis.pipeline.storage import NpyWriter, atomic_path, read_lines, save_json, save_npz
from analysis.pipeline.model import encode_batches, load_trained, pixels_on
from analysis.steps.train import split_indices
from analysis.schemas.encode import EncodeSummary

RECONSTRUCTIONS = 12  # held-out images reconstructed for the article
GALLERY = 24          # images drawn at random to show the data


@torch.inference_mode()
def describe_network(model: torch.nn.Module, image_shape: tuple[int, ...]) -> dict:
    """The autoencoder's size and its encoder's layers, measured on one blank image.

    Parameters
    ----------
    model : ConvAE
        In eval mode.
    image_shape : (C, S, S)

    Returns
    -------
    dict
        ``parameters``, ``latent_dim``, ``flat_features`` and ``encoder``: a list of
        {``layer``, ``input``, ``output``}, one per stride-2 convolution (with the batch
        norm and activation that follow it) and one for the latent linear map.
    """
    device = next(model.parameters()).device
    x = torch.zeros((1, *image_shape), device=device)
    layers: list[dict] = []
    flat = 0
    for module in model.encoder:
        shape_in = list(x.shape[1:])
        x = module(x)
        if isinstance(module, torch.nn.Conv2d):
            k, s = module.kernel_size, module.stride
            layers.append({"layer": f"conv {k[0]}×{k[1]}, stride {s[0]}", "input": shape_in, "output": None})
        elif isinstance(module, torch.nn.BatchNorm2d):
            layers[-1]["layer"] += " + batch norm"
        elif isinstance(module, torch.nn.ReLU):
            layers[-1]["layer"] += " + ReLU"
        elif isinstance(module, torch.nn.Flatten):
            flat = int(x.shape[1])
            continue
        elif isinstance(module, torch.nn.Linear):
            what = ("flatten + linear to a mean and a log-variance per component (no activation)"
                    if getattr(model, "kind", "ae") == "vae" else "flatten + linear (no activation)")
            layers.append({"layer": what, "input": [flat], "output": None})
        elif not isinstance(module, torch.nn.Identity):
            raise ValueError(f"describe_network: unexpected encoder layer {type(module).__name__}")
        if layers:
            layers[-1]["output"] = list(x.shape[1:])
    return {"parameters": sum(p.numel() for p in model.parameters()), "latent_dim": int(model.latent_dim),
            "flat_features": flat, "encoder": layers, "kind": getattr(model, "kind", "ae")}


#: A VAE's component is active when the variance of its posterior means across the data exceeds
#: this (Burda et al., 2016); an inactive one carries no information about the image.
ACTIVE_THRESHOLD = 0.01


def active_units(means_variance: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Which components are active: (N,) variance across the data of each posterior mean -> (N,) bool."""
    v = np.asarray(means_variance, dtype=np.float64)
    if v.ndim != 1 or not np.isfinite(v).all() or (v < 0).any():
        raise ValueError("active_units: the variances must be a finite, non-negative vector (N,)")
    return v > threshold


class PosteriorMoments:
    """Running moments of a VAE's posteriors over the data, fed one batch at a time.

    :meth:`add` takes posterior means and variances (k, N); :meth:`summary` gives, per component,
    the variance across the data of the posterior means and the mean posterior variance, with
    the active units (float64 sums, shifted by the first batch's mean against cancellation).
    """

    def __init__(self):
        self.n, self.shift, self.s1, self.s2, self.v = 0, None, None, None, None

    def add(self, mean: np.ndarray, var: np.ndarray) -> None:
        m = np.asarray(mean, dtype=np.float64)
        if self.shift is None:
            self.shift = m.mean(axis=0)
            self.s1, self.s2, self.v = (np.zeros_like(self.shift) for _ in range(3))
        d = m - self.shift
        self.n += len(m)
        self.s1 += d.sum(axis=0)
        self.s2 += (d * d).sum(axis=0)
        self.v += np.asarray(var, dtype=np.float64).sum(axis=0)

    def summary(self, beta: float) -> dict:
        """``encode/summary.json``'s ``posterior`` entry (see the module docstring)."""
        mu = self.s1 / self.n
        means_var = np.maximum(self.s2 / self.n - mu * mu, 0.0)
        active = active_units(means_var)
        return {"kind": "vae", "beta": beta, "threshold": ACTIVE_THRESHOLD, "active": int(active.sum()),
                "N": int(len(active)), "active_components": np.flatnonzero(active).tolist(),
                "means_variance": means_var.tolist(), "mean_variance": (self.v / self.n).tolist()}


@torch.inference_mode()
def reconstruct(model: torch.nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """decoder(encoder(x)) of uint8 images (k, C, S, S): float32 (k, C, S, S) in [0, 1]."""
    return model(pixels_on(images, device)).float().cpu().numpy()


def write_examples(cfg: Config, run_dir: Path, model: torch.nn.Module, images, device: torch.device,
                   posterior: dict | None = None) -> None:
    """Write ``encode/summary.json``, ``reconstructions.npz`` and ``gallery.npz``."""
    n = len(images)
    ids = read_lines(run_dir / "data" / "ids.txt")
    if len(ids) != n:
        raise UserError(f"{run_dir / 'data' / 'ids.txt'} names {len(ids)} images, the image cache holds {n}",
                        "re-run the fetch step (python -m analysis fetch --config ... --force)")
    train_idx, val_idx = split_indices(n, cfg.data.val_fraction, cfg.run.seed)
    split = "held-out" if len(val_idx) else "training"
    pick = (val_idx if len(val_idx) else train_idx)[:RECONSTRUCTIONS]
    originals = images.take(pick)
    rec = reconstruct(model, originals, device)
    mse = float(np.mean((rec - originals.astype(np.float32) / 255.0) ** 2))
    show = np.sort(np.random.default_rng(cfg.run.seed).choice(n, size=min(GALLERY, n), replace=False))
    out = run_dir / "encode"
    paths = [out / "summary.json", out / "reconstructions.npz", out / "gallery.npz"]
    save_npz(paths[1], index=pick.astype(np.int64), ids=np.array([ids[i] for i in pick]), originals=originals,
             reconstructions=rec)
    save_npz(paths[2], index=show.astype(np.int64), ids=np.array([ids[i] for i in show]), images=images.take(show))
    save_json(paths[0], {"network": describe_network(model, tuple(images.shape[1:])),
                         "reconstructions": {"n": len(pick), "split": split, "mse": mse},
                         "gallery": {"n": len(show), "seed": cfg.run.seed}, "posterior": posterior}, EncodeSummary)


def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """The ``encode`` step unless it is up to date (:func:`analysis.pipeline.steps.run`); returns its manifest."""
    return steps.run("encode", cfg, run_dir, force)


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    """Write ``latents.npy``, ``ids.txt`` and ``encode/`` into ``run_dir``."""
    model, device = load_trained(cfg, run_dir)
    images = load_images(run_dir)
    n, N = len(images), cfg.model.latent_dim
    latents = run_dir / "latents.npy"
    vae = cfg.model.kind == "vae"
    moments = PosteriorMoments() if vae else None
    with NpyWriter(latents, np.float32, (N,)) as out:
        for z in encode_batches(model, images, cfg.encode.batch_size, device, variance=vae):
            if vae:
                z, var = z
                moments.add(z, var)
            out.write(z)
    with atomic_path(run_dir / "ids.txt") as tmp:
        shutil.copyfile(run_dir / "data" / "ids.txt", tmp)
    posterior = moments.summary(cfg.model.beta) if vae else None
    write_examples(cfg, run_dir, model, images, device, posterior)
    units = f"; posterior means, {posterior['active']} of {N} components active" if vae else ""
    eprint(f"encode: {n} images -> {latents} ({n} x {N} float32{units})")
    return steps.Written(extra={"shape": [n, N]})
