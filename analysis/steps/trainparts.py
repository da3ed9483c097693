"""The parts of the training loop (:mod:`analysis.steps.train`): the data, the split, one epoch, the checks.

The pixels in RAM or read from the cache file (:class:`Pixels`), the seeded train/validation split,
the optimizer, mixed precision, one epoch of steps and the held-out error; :mod:`analysis.steps.train`
runs them epoch after epoch and re-exports the names other modules use.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from analysis.errors import UserError, eprint
from analysis.pipeline.model import vae_objective
from analysis.pipeline.storage import NpyRows

IN_MEMORY_BYTES = 1 << 30  # data sets whose float32 pixels fit in 1 GiB are kept in RAM


def seed_noise(model: nn.Module, seed: int, epoch: int, rank: int, device: torch.device) -> None:
    """A VAE's reparameterisation noise for one epoch: a generator seeded by (seed, epoch, rank), so that
    a run resumed at an epoch boundary draws exactly what an uninterrupted one draws. An AE has none."""
    if getattr(model, "kind", "ae") != "vae":
        return
    key = int(np.random.SeedSequence([seed, epoch, rank, 25]).generate_state(1, np.uint64)[0] >> 1)
    model.noise = torch.Generator(device=device).manual_seed(key)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation split of ``range(n)``; both sorted. Shapes (n_train,), (n_val,)."""
    perm = np.random.default_rng([seed, 1]).permutation(n)
    n_val = int(round(val_fraction * n)) if n > 1 else 0
    n_val = min(n_val, n - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


class Pixels:
    """Batches of images as float32 tensors in [0, 1], from RAM or read from the cache file."""

    def __init__(self, images: NpyRows, in_memory: bool | None = None):
        self.images = images
        self.shape = images.shape
        self.ram = None
        if in_memory is None:  # small data sets: all pixels in RAM as float32
            in_memory = int(np.prod(images.shape)) * 4 <= IN_MEMORY_BYTES
        if in_memory:
            self.ram = torch.from_numpy(images.read(0, len(images))).float().div_(255.0)

    def __len__(self) -> int:
        return len(self.images)

    def pin(self) -> None:
        """Page-lock the in-memory pixels so that copies to a CUDA device run asynchronously."""
        if self.ram is not None:
            self.ram = self.ram.pin_memory()

    def __getitem__(self, idx: np.ndarray) -> torch.Tensor:
        if self.ram is not None:
            return self.ram[torch.from_numpy(np.asarray(idx))]
        return torch.from_numpy(self.images.take(idx)).float().div_(255.0)


def _dist_info() -> tuple[int, int]:
    """(rank, world size) when launched by torchrun, else (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else (0, 1)


@torch.inference_mode()
def evaluate(model: nn.Module, pixels: Pixels, idx: np.ndarray, batch_size: int, device: torch.device) -> float:
    """Mean squared reconstruction error over the images ``idx``."""
    if len(idx) == 0:
        return float("nan")
    model.eval()
    total = 0.0
    for i in range(0, len(idx), batch_size):
        x = pixels[idx[i:i + batch_size]].to(device, non_blocking=True)
        total += nn.functional.mse_loss(model(x), x, reduction="sum").item()
    return total / (len(idx) * int(np.prod(pixels.shape[1:])))


def _keep_threads(threads: int | None, device: torch.device, rank: int) -> None:
    """Resume on the CPU with the intra-op thread count the run started with.

    CPU kernels split their sums by thread, so 1 and 2 threads give weights that differ
    (by up to 0.02 after two default epochs); the resumed run keeps the count of the
    interrupted one, whatever ``run.threads`` says now, and ends bit-identical.
    """
    if device.type != "cpu" or not threads or threads == torch.get_num_threads():
        return
    if rank == 0:
        eprint(f"train: resuming with {threads} thread(s), as the run started (run.threads asks for "
               f"{torch.get_num_threads()}), so that the weights equal an uninterrupted run's")
    torch.set_num_threads(threads)


def _diverged(what: str, epoch: int, t) -> UserError:
    """The error that stops a diverging training run (nothing final has been written)."""
    return UserError(f"training diverged: {what} in epoch {epoch + 1} (train.lr = {t.lr:g}, "
                     f"train.weight_decay = {t.weight_decay:g}); no model was written",
                     "lower train.lr (e.g. 10 times) or train.weight_decay and run the train step again")


def validates(epoch: int, every: int, epochs: int) -> bool:
    """Whether the 1-based ``epoch`` ends with a validation pass: the first, every ``every``-th, the last."""
    return epoch == 1 or epoch % every == 0 or epoch == epochs


VAL_BATCH = 1024  # held-out images per forward pass of the validation (inference only, cheap)


def make_optimizer(model: nn.Module, t, device: torch.device) -> torch.optim.Optimizer:
    """Adam, with its fused kernel when ``train.fused_adam`` asks and the device has one (CUDA, CPU)."""
    fused = t.fused_adam and device.type in ("cuda", "cpu")
    return torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay,
                            **({"fused": True} if fused else {}))


def autocast_context(precision: str, device: torch.device):
    """The autocast context of the training forward pass (see ``train.precision``)."""
    import contextlib

    if precision == "auto":
        use = device.type == "cuda" and torch.cuda.is_bf16_supported()
    else:
        use = precision == "bf16" and device.type in ("cuda", "cpu")
    if not use:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _epoch(net: nn.Module, opt: torch.optim.Optimizer, loader, steps: int, device: torch.device, fmt,
           autocast, desc: str, quiet: bool, beta: float = 1.0) -> float:
    """One pass over ``loader``; returns the mean training loss (one device sync per epoch).

    The loss is :func:`analysis.pipeline.model.vae_objective`: the mean squared error per pixel for an AE, plus
    ``beta`` x the scaled KL term for a VAE."""
    net.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    seen = 0
    bar = tqdm(loader, total=steps, desc=desc, unit="batch", disable=True if quiet else None,
               file=sys.stderr, leave=False, mininterval=0.5)
    for x in bar:
        x = x.to(device, non_blocking=True).contiguous(memory_format=fmt)
        with autocast():
            out, kl = net(x, kl=True)
        loss = vae_objective(out, x, kl, beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * len(x)
        seen += len(x)
        if bar.n % 50 == 49 and not quiet:  # one device sync per 50 steps for the progress bar
            bar.set_postfix(loss=f"{loss.item():.4f}")
    bar.close()
    return loss_sum.item() / seen


def _loader(pixels: Pixels, batches: list[np.ndarray], workers: int):
    """Iterate over batches; read by worker processes when asked."""
    if pixels.ram is not None or workers == 0:
        return (pixels[b] for b in batches)
    return torch.utils.data.DataLoader(batches, batch_size=None, num_workers=workers,
                                       collate_fn=lambda b: pixels[b], persistent_workers=False)

