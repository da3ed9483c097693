"""The convolutional autoencoder at work: its device, a run's trained network, batched runs over arrays.

The network itself is in :mod:`analysis.pipeline.network`, its checkpoints (loading one safely,
:func:`load_checkpoint`) in :mod:`analysis.pipeline.checkpoint`; both are re-exported here. This module
picks the device (:func:`pick_device`), loads a run's trained network (:func:`load_trained`) and
runs it over arrays of any size in batches (:func:`encode_batches`, :func:`encode_array`,
:func:`decode_array`), with page-locked, asynchronous copies to a CUDA GPU (:func:`to_device`)
and float32 on every device.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from analysis.pipeline.checkpoint import (CHECKPOINT_EXTRA_BYTES, CHECKPOINT_FORMAT,  # noqa: F401
                                          CHECKPOINT_PICKLE_BYTES, KIND_NAMES, architecture, check_checkpoint_file,
                                          checkpoint_limit, load_checkpoint, non_finite_tensors, plain,
                                          read_checkpoint, state_bytes)
from analysis.pipeline.config import Config
from analysis.errors import UserError
from analysis.pipeline.network import MODELS, ConvAE, ConvVAE, build_model, kl_divergence, vae_objective  # noqa: F401


def pick_device(spec: str = "auto") -> torch.device:
    """The torch device ``spec`` names, checked to be usable on this machine.

    ``auto`` picks CUDA, then Apple MPS, then CPU. Otherwise ``cpu``, ``cuda``,
    ``cuda:N`` or ``mps``.

    Raises
    ------
    ValueError
        Not a device name, a device type this project does not run on, or a device
        this machine does not have (with the reason).
    """
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise ValueError(f"'{spec}' is not a device name (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("CUDA is not available on this machine (no GPU, driver or CUDA build of torch)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"there is no CUDA device {device.index}: this machine has {count} "
                             f"(cuda:0 .. cuda:{count - 1})")
        return device
    if device.type == "mps":
        if not _mps_available():
            raise ValueError("Apple MPS is not available on this machine")
        return device
    raise ValueError(f"device type '{device.type}' is not supported (use auto, cpu, cuda, cuda:N or mps)")


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def config_device(cfg: Config) -> torch.device:
    """``run.device`` as a usable device; a UserError naming the key otherwise."""
    try:
        return pick_device(cfg.run.device)
    except ValueError as e:
        raise UserError(f"config key 'run.device' = {cfg.run.device!r}: {e}",
                        'set run.device = "auto" (the best available) or "cpu"') from None


def load_trained(cfg: Config, run_dir) -> tuple[ConvAE, torch.device]:
    """The trained model of a run (``train/model.pt``) on ``run.device``, with ``run.threads`` applied.

    For the steps that run the trained network (``encode``, ``generate``).
    """
    from pathlib import Path

    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    device = config_device(cfg)
    model, _ = load_checkpoint(Path(run_dir) / "train" / "model.pt", cfg, device)
    return model, device


# ---------------------------------------------------------------- running the network over arrays

def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU tensor to ``device``; to a CUDA GPU from page-locked memory, asynchronously.

    Encoding stays in float32 on every device (no autocast): the latents are the measured object.
    """
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def pixels_on(block: np.ndarray, device: torch.device) -> torch.Tensor:
    """A block of images on ``device`` as float32 in [0, 1]: uint8 pixels are divided by 255."""
    x = to_device(torch.from_numpy(np.ascontiguousarray(block)), device)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


@torch.inference_mode()
def encode_batches(model: torch.nn.Module, images, batch_size: int, device: torch.device,
                   progress: bool = True, variance: bool = False):
    """Yield the latents (k, N) of images (n, C, S, S), one batch at a time.

    ``variance`` (a VAE): yield (posterior means (k, N), posterior variances (k, N)) instead.

    Parameters
    ----------
    model : ConvAE
    images : array or :class:`~analysis.pipeline.storage.NpyRows`
        uint8 pixels, or float pixels in [0, 1] (decoded images); a reader is read
        batch by batch, so memory holds one batch whatever ``n``.
    batch_size : int
    device : torch.device
    progress : bool
        Show a progress bar on stderr.

    Raises
    ------
    UserError
        The encoder produced NaN/inf (a broken checkpoint).
    """
    model.eval()
    n = len(images)
    read = images.read if hasattr(images, "read") else (lambda a, b: np.array(images[a:b]))
    with tqdm(total=n, desc="encode", unit="img", disable=None if progress else True, file=sys.stderr) as bar:
        for i in range(0, n, batch_size):
            x = pixels_on(read(i, i + batch_size), device)
            if variance:
                mean, logvar = model.posterior(x)
                z, var = mean.float().cpu().numpy(), logvar.float().exp().cpu().numpy()
            else:
                z = var = model.encode(x).float().cpu().numpy()
            if not (np.isfinite(z).all() and np.isfinite(var).all()):
                raise UserError(f"the encoder produced NaN/inf latents (images {i}..{i + len(x) - 1})",
                                "retrain: the checkpoint is broken (try a lower train.lr)")
            bar.update(len(x))
            yield (z, var) if variance else z


def encode_array(model: torch.nn.Module, images, batch_size: int, device: torch.device,
                 progress: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """The latents (n, N) float32 of images (n, C, S, S), encoded in batches (:func:`encode_batches`).

    ``out``: an (n, N) array to fill instead of a new one.
    """
    if out is None:
        out = np.empty((len(images), model.latent_dim), np.float32)
    i = 0
    for z in encode_batches(model, images, batch_size, device, progress):
        out[i:i + len(z)] = z
        i += len(z)
    return out


@torch.inference_mode()
def decode_array(model: torch.nn.Module, z: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Decode latent points (m, N) in batches: images (m, C, S, S), float32 in [0, 1]."""
    model.eval()
    out = [model.decode(to_device(torch.from_numpy(np.ascontiguousarray(z[i:i + batch_size], dtype=np.float32)),
                                  device)).float().cpu().numpy() for i in range(0, len(z), batch_size)]
    return np.concatenate(out)
