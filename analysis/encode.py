"""Encoding every image to its latent point: the ``encode`` step.

Reads the uint8 image cache batch by batch (``encode.batch_size`` images at a time,
so memory holds one batch of pixels whatever the data size), runs the encoder in
eval mode under ``torch.inference_mode``, and writes the points straight into a
``latents.npy`` (float32, n x N) block by block, renamed into place when complete. Also writes ``ids.txt`` (one image identifier per row of latents.npy) and
the manifest with the hashes of the data, config and checkpoint and the package
versions.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from analysis.config import Config
from analysis.data import load_images
from analysis.errors import UserError
from analysis.io import (NpyWriter, atomic_path, code_hash, eprint, hash_key, is_complete, read_manifest, step_output,
                         write_manifest)
from analysis.model import config_device, load_checkpoint


@torch.inference_mode()
def encode_batches(model: torch.nn.Module, images, batch_size: int, device: torch.device,
                   progress: bool = True):
    """Yield the latents (k, N) of uint8 images (n, C, S, S), one batch at a time.

    ``images`` is an array or an :class:`~analysis.io.NpyRows` reader (read batch by batch).
    """
    model.eval()
    n = len(images)
    read = images.read if hasattr(images, "read") else (lambda a, b: np.array(images[a:b]))
    with tqdm(total=n, desc="encode", unit="img", disable=None if progress else True, file=sys.stderr) as bar:
        for i in range(0, n, batch_size):
            x = torch.from_numpy(read(i, i + batch_size)).to(device).float().div_(255.0)
            z = model.encode(x).float().cpu().numpy()
            if not np.isfinite(z).all():
                raise UserError(f"the encoder produced NaN/inf latents (images {i}..{i + len(x) - 1})",
                                "retrain: the checkpoint is broken (try a lower train.lr)")
            bar.update(len(x))
            yield z


def encode_array(model: torch.nn.Module, images, out: np.ndarray, batch_size: int,
                 device: torch.device, progress: bool = True) -> None:
    """Encode uint8 images (n, C, S, S) into ``out`` (n, N)."""
    i = 0
    for z in encode_batches(model, images, batch_size, device, progress):
        out[i:i + len(z)] = z
        i += len(z)


def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """Write ``latents.npy``, ``ids.txt`` and ``encode.manifest.json`` into ``run_dir``."""
    fetch, train = read_manifest(run_dir, "fetch"), read_manifest(run_dir, "train")
    if fetch is None or train is None:
        raise UserError(f"no finished {'fetch' if fetch is None else 'train'} step in {run_dir}",
                        "run the earlier steps first: python -m analysis all --config ...")
    data_sha = step_output(run_dir, "fetch", "data/images.npy")
    ckpt_sha = step_output(run_dir, "train", "train/model.pt")
    key = hash_key(cfg.section("model", "encode"), data_sha, ckpt_sha, code_hash("encode", "model"))
    if not force and is_complete(run_dir, "encode", key):
        eprint("encode: up to date")
        return read_manifest(run_dir, "encode")
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    device = config_device(cfg)
    model, _ = load_checkpoint(run_dir / "train" / "model.pt", cfg, device)
    images = load_images(run_dir)
    n, N = len(images), cfg.model.latent_dim
    latents = run_dir / "latents.npy"
    with NpyWriter(latents, np.float32, (N,)) as out:
        for z in encode_batches(model, images, cfg.encode.batch_size, device):
            out.write(z)
    ids = run_dir / "ids.txt"
    with atomic_path(ids) as tmp:
        shutil.copyfile(run_dir / "data" / "ids.txt", tmp)
    eprint(f"encode: {n} images -> {latents} ({n} x {N} float32)")
    return write_manifest(run_dir, "encode", key,
                          {"data/images.npy": data_sha, "train/model.pt": ckpt_sha},
                          [latents, ids], config=cfg.to_dict(), extra={"shape": [n, N]})
