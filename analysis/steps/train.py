"""Training the autoencoder: the ``train`` step.

Adam on the mean squared reconstruction error (a VAE, ``model.kind = "vae"``: plus beta x its
KL term, :func:`analysis.pipeline.model.vae_objective`), with a held-out split (``data.val_fraction``,
chosen by the seed) whose reconstruction error is recorded every epoch.

Reproducible and resumable:

* the weights are initialised from ``run.seed``; the order of the training images
  in epoch e comes from a :class:`~torch.utils.data.DistributedSampler` seeded with
  ``run.seed`` and ``set_epoch(e)``; no other randomness is used;
* after every epoch ``train/resume.pt`` (weights, optimizer state, history) is
  written atomically. A run stopped by Ctrl-C, SIGTERM or ``kill -9`` resumes from it, and
  on the CPU ends with exactly the weights an uninterrupted run gives (it resumes with the
  thread count it started with: CPU sums depend on it, so the manifest records it);
* a loss or weights that become NaN/inf stop the run with a UserError (exit 2):
  nothing final is written;
* at the end ``train/model.pt`` (weights + resolved config + architecture + data
  fingerprint + per-epoch history + package version), ``train/history.json``
  (per-epoch train and held-out error), ``train/timing.json`` (seconds and images/s
  per epoch: the only output that differs between identical runs, so the manifest
  does not hash it) and the step's manifest are written, and ``resume.pt`` is removed
  (keys: :mod:`analysis.schemas.train`; JSON Schema: ``schemas/train.history.schema.json``,
  ``schemas/train.timing.schema.json``; the writing: :mod:`analysis.steps.trainsave`).

``--checkpoint`` adopts a user's checkpoint instead (:func:`adopt_checkpoint`): it must
fit the config and hold finite weights; its own data fingerprint and history are kept.

Distributed: started under ``torchrun --nproc-per-node K``, the step trains with
DistributedDataParallel (NCCL on GPUs, gloo on CPU). The global batch stays
``train.batch_size`` (each of the K processes takes 1/K of every batch), so the loss
curve matches a single-process run up to batch-norm statistics; rank 0 alone writes
checkpoints.

Small data sets are held in memory as float32; large ones are read batch by batch
from the uint8 cache file by DataLoader workers (``data.workers``).

The loop's parts (data, split, one epoch, the held-out error) are in :mod:`analysis.steps.trainparts`.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from analysis.pipeline import steps
from analysis.pipeline.config import Config
from analysis.errors import UserError, eprint
from analysis.pipeline.provenance import sha256_file
from analysis.pipeline.steps import load_images
from analysis.pipeline.model import (build_model, check_checkpoint_file, checkpoint_limit, config_device,
                                     non_finite_tensors, read_checkpoint)
from analysis.steps.trainparts import (VAL_BATCH, Pixels, _dist_info, _diverged, _epoch, _keep_threads, _loader,
                                 autocast_context, evaluate, make_optimizer, seed_noise, split_indices, validates)
from analysis.steps.trainsave import Checkpointer, _finish, adopt_checkpoint


def run(cfg: Config, run_dir: Path, force: bool = False, checkpoint: Path | None = None) -> dict:
    """The ``train`` step (or adopt ``checkpoint``) unless it is up to date (:func:`analysis.pipeline.steps.run`).

    Returns the manifest of the step.
    """
    return steps.run("train", cfg, run_dir, force, checkpoint=checkpoint)


def prepare(cfg: Config, run_dir: Path, inputs: dict, checkpoint: Path | None = None) -> dict[str, str]:
    """An adopted checkpoint's sha256 identifies it (``train --checkpoint``); training needs nothing more."""
    if checkpoint is None:
        return {}
    if not Path(checkpoint).is_file():
        raise UserError(f"checkpoint {checkpoint} does not exist", "pass the path of a .pt file")
    try:  # its declared sizes, before it is hashed or read
        check_checkpoint_file(checkpoint, checkpoint_limit(cfg))
    except ValueError as e:
        raise UserError(f"checkpoint {checkpoint} {e}",
                        "pass a checkpoint written by 'python -m analysis train' with the same [model] and "
                        "[data] settings") from None
    return {"checkpoint": sha256_file(checkpoint)}


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str,
            checkpoint: Path | None = None) -> steps.Written | None:
    """Train (or resume, or adopt ``checkpoint``) and write ``train/model.pt``, history and timing.

    Under ``torchrun`` every process trains its share of each batch; only rank 0 writes
    (the others return None: nothing to record).
    """
    if checkpoint is not None:
        return adopt_checkpoint(cfg, run_dir, Path(checkpoint), inputs)
    rank, world = _dist_info()
    if world > 1:
        import torch.distributed as dist
        if cfg.train.batch_size % world:
            raise UserError(f"train.batch_size = {cfg.train.batch_size} is not divisible by the {world} processes",
                            f"use a multiple of {world}")
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if backend == "nccl" else torch.device("cpu")
        if backend == "nccl":
            torch.cuda.set_device(device)
    else:
        device = config_device(cfg)
    try:
        return _train(cfg, run_dir, key, inputs["data/images.npy"], device, rank, world)
    finally:
        if world > 1:
            import torch.distributed as dist
            dist.destroy_process_group()


def _train(cfg: Config, run_dir: Path, key: str, data_sha: str, device: torch.device,
           rank: int, world: int) -> steps.Written | None:
    """Train epoch after epoch (resuming where a stopped run left off); rank 0 records and writes."""
    t = cfg.train
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    images = load_images(run_dir)
    pixels = Pixels(images)
    train_idx, val_idx = split_indices(len(images), cfg.data.val_fraction, cfg.run.seed)
    per_rank = t.batch_size // world
    if len(train_idx) < t.batch_size:
        raise UserError(f"only {len(train_idx)} training images for train.batch_size = {t.batch_size}",
                        "lower train.batch_size or use more images")
    model, opt, fmt = _build(cfg, device)
    resume_path = run_dir / "train" / "resume.pt"
    history, timing, start = _resume(model, opt, resume_path, cfg, key, device, rank)
    step_net = _step_net(model, t, device, world)
    if device.type == "cuda" and pixels.ram is not None:
        pixels.pin()
    autocast = autocast_context(t.precision, device)

    sampler = torch.utils.data.DistributedSampler(range(len(train_idx)), num_replicas=world, rank=rank,
                                                  shuffle=True, seed=cfg.run.seed, drop_last=True)
    steps = len(sampler) // per_rank
    saver = Checkpointer(resume_path, key, t.checkpoint_interval, enabled=rank == 0)
    try:
        for epoch in range(start, t.epochs):
            sampler.set_epoch(epoch)
            order = train_idx[np.fromiter(iter(sampler), dtype=np.int64)]
            batches = [order[i * per_rank:(i + 1) * per_rank] for i in range(steps)]
            t0 = time.perf_counter()
            seed_noise(model, cfg.run.seed, epoch, rank, device)
            train_loss = _epoch(step_net, opt, _loader(pixels, batches, cfg.data.workers), steps, device, fmt,
                                autocast, f"epoch {epoch + 1}/{t.epochs}", quiet=rank != 0, beta=cfg.model.beta)
            seconds = time.perf_counter() - t0
            train_loss = _mean_loss(train_loss, model, epoch, t, device, world)
            if rank == 0:
                val_loss = (evaluate(model, pixels, val_idx, max(per_rank, VAL_BATCH), device)
                            if validates(epoch + 1, t.val_every, t.epochs) else None)
                _record(cfg, epoch, train_loss, val_loss, seconds, steps * t.batch_size, history, timing,
                        saver, model, opt)
            if world > 1:
                torch.distributed.barrier()
    except BaseException:  # Ctrl-C, SIGTERM, errors: keep the last finished epoch for the re-run
        saver.flush()
        raise
    if rank != 0:
        return None
    return _finish(cfg, run_dir, data_sha, model, history, timing, len(train_idx), len(val_idx), device)


def _build(cfg: Config, device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer, torch.memory_format]:
    """The network seeded by ``run.seed`` on ``device`` in the memory format asked for, its optimizer, the format."""
    t = cfg.train
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg).to(device)
    fmt = torch.channels_last if t.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    return model, make_optimizer(model, t, device), fmt


def _resume(model: nn.Module, opt: torch.optim.Optimizer, path: Path, cfg: Config, key: str,
            device: torch.device, rank: int) -> tuple[list[dict], list[dict], int]:
    """Load the resume state of this key into ``model`` and ``opt``: (history, timing, epochs done).

    ``history`` holds the losses only (deterministic); ``timing`` the wall-clock figures, kept
    apart so that artifacts stay reproducible. Without a usable state of this key: ([], [], 0).
    """
    state = _read_resume(path, cfg)
    if state is None or state.get("key") != key:
        return [], [], 0
    model.load_state_dict(state["state_dict"])
    opt.load_state_dict(state["optimizer"])
    if rank == 0:
        eprint(f"train: resuming after epoch {state['epoch']} from {path}")
    _keep_threads(state.get("threads"), device, rank)
    return state["history"], state["timing"], state["epoch"]


def _step_net(model: nn.Module, t, device: torch.device, world: int) -> nn.Module:
    """What the training steps run: ``model``, under torchrun wrapped in DistributedDataParallel, compiled if asked."""
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(net) if t.compile else net


def _mean_loss(train_loss: float, model: nn.Module, epoch: int, t, device: torch.device, world: int) -> float:
    """The epoch's training loss averaged over the processes; a UserError when it or the weights are NaN/inf."""
    if world > 1:
        import torch.distributed as dist
        buf = torch.tensor([train_loss], dtype=torch.float64, device=device)
        dist.all_reduce(buf)
        train_loss = buf.item() / world
    if not math.isfinite(train_loss):  # the same value on every rank: all stop together
        raise _diverged(f"the loss became {train_loss}", epoch, t)
    if non_finite_tensors(model.state_dict()):
        raise _diverged("the weights became NaN/inf", epoch, t)
    return train_loss


def _record(cfg: Config, epoch: int, train_loss: float, val_loss: float | None, seconds: float, seen: int,
            history: list[dict], timing: list[dict], saver: Checkpointer, model: nn.Module,
            opt: torch.optim.Optimizer) -> None:
    """Rank 0 after an epoch: its losses and timing appended, the resume state kept, one line printed."""
    t = cfg.train
    history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss})
    timing.append({"epoch": epoch + 1, "seconds": round(seconds, 3), "images_per_s": round(seen / seconds, 1)})
    saver.epoch_done({"epoch": epoch + 1, "history": history, "timing": timing, "threads": torch.get_num_threads()},
                     model, opt, last=epoch + 1 == t.epochs)
    val = f"  val mse {val_loss:.5f}" if val_loss is not None else ""
    what = "mse" if cfg.model.kind == "ae" else "loss"
    eprint(f"train: epoch {epoch + 1}/{t.epochs}  train {what} {train_loss:.5f}{val}  {seen / seconds:.0f} img/s")


def _read_resume(path: Path, cfg: Config) -> dict | None:
    """The resume state in ``path`` (written by :class:`Checkpointer`), or None when there is none or it
    cannot be used (damaged, too large, not ours: a warning, and training starts from the beginning)."""
    if not path.is_file():
        return None
    try:
        state = read_checkpoint(path, checkpoint_limit(cfg, copies=4))
    except Exception as e:  # noqa: BLE001 -- any problem with it: train from the start instead
        eprint(f"train: warning: the resume state {path} cannot be used ({' '.join(str(e).split())[:120]}); "
               "training from the first epoch")
        return None
    needed = {"key": str, "state_dict": dict, "optimizer": dict, "history": list, "timing": list, "epoch": int}
    if not isinstance(state, dict) or not all(isinstance(state.get(k), t) for k, t in needed.items()):
        eprint(f"train: warning: {path} is not a resume state of this tool; training from the first epoch")
        return None
    return state

