"""Training the autoencoder: the ``train`` step.

Adam on the mean squared reconstruction error (a VAE, ``model.kind = "vae"``: plus beta x its
KL term, :func:`analysis.model.vae_objective`), with a held-out split (``data.val_fraction``,
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
  ``schemas/train.timing.schema.json``).

``--checkpoint`` adopts a user's checkpoint instead (:func:`adopt_checkpoint`): it must
fit the config and hold finite weights; its own data fingerprint and history are kept.

Distributed: started under ``torchrun --nproc-per-node K``, the step trains with
DistributedDataParallel (NCCL on GPUs, gloo on CPU). The global batch stays
``train.batch_size`` (each of the K processes takes 1/K of every batch), so the loss
curve matches a single-process run up to batch-norm statistics; rank 0 alone writes
checkpoints.

Small data sets are held in memory as float32; large ones are read batch by batch
from the uint8 cache file by DataLoader workers (``data.workers``).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from analysis import __version__, steps
from analysis.config import Config
from analysis.errors import UserError, eprint
from analysis.provenance import sha256_file
from analysis.steps import load_images
from analysis.storage import NpyRows, atomic_write, dumps_json, save_json
from analysis.model import (architecture, build_model, check_checkpoint_file, checkpoint_limit, config_device,
                            load_checkpoint, non_finite_tensors, read_checkpoint, vae_objective)
from analysis.schemas.base import validate_json
from analysis.schemas.train import AdoptedHistory, Timing, TrainedHistory

IN_MEMORY_BYTES = 1 << 30  # data sets whose float32 pixels fit in 1 GiB are kept in RAM
LOSS = "mean squared error per pixel, pixels in [0, 1]"
#: A VAE's training loss (:func:`analysis.model.vae_objective`); its held-out error is the AE's (LOSS).
VAE_LOSS = ("mean squared error per pixel, pixels in [0, 1], plus beta x KL(posterior || N(0, I)) per image "
            "divided by half the pixels per image")


def loss_text(cfg: Config) -> str:
    """What the training loss of ``cfg``'s network is, in words (history.json's ``loss``)."""
    return LOSS if cfg.model.kind == "ae" else f"{VAE_LOSS} (beta = {cfg.model.beta:g})"


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


def run(cfg: Config, run_dir: Path, force: bool = False, checkpoint: Path | None = None) -> dict:
    """The ``train`` step (or adopt ``checkpoint``) unless it is up to date (:func:`analysis.steps.run`).

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

    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg).to(device)
    fmt = torch.channels_last if t.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = make_optimizer(model, t, device)
    history: list[dict] = []  # deterministic: losses only
    timing: list[dict] = []   # wall-clock figures, kept apart so artifacts stay reproducible
    start = 0
    resume_path = run_dir / "train" / "resume.pt"
    state = _read_resume(resume_path, cfg)
    if state is not None:
        if state.get("key") == key:
            model.load_state_dict(state["state_dict"])
            opt.load_state_dict(state["optimizer"])
            history, timing, start = state["history"], state["timing"], state["epoch"]
            if rank == 0:
                eprint(f"train: resuming after epoch {start} from {resume_path}")
            _keep_threads(state.get("threads"), device, rank)
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    step_net = torch.compile(net) if t.compile else net
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
            if world > 1:
                import torch.distributed as dist
                buf = torch.tensor([train_loss], dtype=torch.float64, device=device)
                dist.all_reduce(buf)
                train_loss = buf.item() / world
            if not math.isfinite(train_loss):  # the same value on every rank: all stop together
                raise _diverged(f"the loss became {train_loss}", epoch, t)
            if non_finite_tensors(model.state_dict()):
                raise _diverged("the weights became NaN/inf", epoch, t)
            if rank == 0:
                val_loss = (evaluate(model, pixels, val_idx, max(per_rank, VAL_BATCH), device)
                            if validates(epoch + 1, t.val_every, t.epochs) else None)
                history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss})
                seen = steps * t.batch_size
                timing.append({"epoch": epoch + 1, "seconds": round(seconds, 3),
                               "images_per_s": round(seen / seconds, 1)})
                saver.epoch_done({"epoch": epoch + 1, "history": history, "timing": timing,
                                  "threads": torch.get_num_threads()},
                                 model, opt, last=epoch + 1 == t.epochs)
                val = f"  val mse {val_loss:.5f}" if val_loss is not None else ""
                what = "mse" if cfg.model.kind == "ae" else "loss"
                eprint(f"train: epoch {epoch + 1}/{t.epochs}  train {what} {train_loss:.5f}{val}  "
                       f"{seen / seconds:.0f} img/s")
            if world > 1:
                torch.distributed.barrier()
    except BaseException:  # Ctrl-C, SIGTERM, errors: keep the last finished epoch for the re-run
        saver.flush()
        raise
    if rank != 0:
        return None
    return _finish(cfg, run_dir, data_sha, model, history, timing, len(train_idx), len(val_idx), device)


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

    The loss is :func:`analysis.model.vae_objective`: the mean squared error per pixel for an AE, plus
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


class Checkpointer:
    """Keeps ``train/resume.pt`` at most ``interval`` seconds behind, and saves on interruption.

    After every epoch the state (weights, optimizer, history) is either written atomically
    (when ``interval`` seconds have passed since the last write, or ``interval`` is 0) or
    kept as an in-memory copy that :meth:`flush` writes when the run is interrupted
    (Ctrl-C, SIGTERM). A ``kill -9`` therefore loses at most ``interval`` seconds; any
    resume continues from an epoch boundary and ends with the same weights.
    """

    def __init__(self, path: Path, key: str, interval: float, enabled: bool = True):
        self.path, self.key, self.interval, self.enabled = path, key, interval, enabled
        self.last = time.monotonic()
        self.pending: dict | None = None

    def epoch_done(self, progress: dict, model: nn.Module, opt: torch.optim.Optimizer, last: bool = False) -> None:
        if not self.enabled:
            return
        if last:  # the final model follows at once; a resume file would be removed anyway
            self.pending = None
            return
        if time.monotonic() - self.last >= self.interval:
            _save(self.path, {"key": self.key, **progress, "state_dict": _cpu_state(model),
                              "optimizer": opt.state_dict()})
            self.last, self.pending = time.monotonic(), None
        else:
            import copy
            self.pending = {"key": self.key, **copy.deepcopy(progress), "state_dict": _cpu_state(model, copy=True),
                            "optimizer": copy.deepcopy(opt.state_dict())}

    def flush(self) -> None:
        if self.enabled and self.pending is not None:
            _save(self.path, self.pending)
            self.pending = None


def _loader(pixels: Pixels, batches: list[np.ndarray], workers: int):
    """Iterate over batches; read by worker processes when asked."""
    if pixels.ram is not None or workers == 0:
        return (pixels[b] for b in batches)
    return torch.utils.data.DataLoader(batches, batch_size=None, num_workers=workers,
                                       collate_fn=lambda b: pixels[b], persistent_workers=False)


def _cpu_state(model: nn.Module, copy: bool = False) -> dict:
    """The weights on the CPU (``copy``: never sharing memory with the live model)."""
    return {k: (v.detach().cpu().clone() if copy else v.detach().cpu().contiguous())
            for k, v in model.state_dict().items()}


def _canonical(obj):
    """``obj`` rebuilt so that equal values pickle to equal bytes: tensors as fresh contiguous copies,
    everything else through JSON (a resumed run's history, read back from resume.pt, shares no
    object that a live run's shares, and pickle writes shared objects once)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone(memory_format=torch.contiguous_format)
    if isinstance(obj, dict) and _has_tensor(obj):
        return {k: _canonical(v) for k, v in obj.items()}
    return json.loads(json.dumps(obj, allow_nan=True))


def _has_tensor(obj) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, dict):
        return any(_has_tensor(v) for v in obj.values())
    return isinstance(obj, (list, tuple)) and any(_has_tensor(v) for v in obj)


def _serialise(obj: dict) -> bytes:
    """torch.save of :func:`_canonical` ``obj`` in memory: the same values give the same bytes, however
    the run got to them (uninterrupted, or resumed after a kill -9)."""
    buf = io.BytesIO()
    torch.save(_canonical(obj), buf)
    return buf.getvalue()


def _save(path: Path, obj: dict) -> None:
    """torch.save atomically (serialised in memory first, so write errors are plain OSErrors)."""
    atomic_write(path, _serialise(obj))


def _finish(cfg: Config, run_dir: Path, data_sha: str, model: nn.Module, history: list[dict],
            timing: list[dict], n_train: int, n_val: int, device: torch.device) -> steps.Written:
    hist = {"epochs": history, "n_train": n_train, "n_val": n_val, "loss": loss_text(cfg),
            "parameters": sum(p.numel() for p in model.parameters())}
    _save(run_dir / "train" / "model.pt", {
        "format": "face-latent-geometry/checkpoint-v1", "state_dict": _cpu_state(model),
        "architecture": architecture(cfg), "config": cfg.to_dict(), "data_sha256": data_sha,
        "version": __version__, "epochs": len(history), "history": hist})
    save_json(run_dir / "train" / "history.json", hist, TrainedHistory)
    # Wall-clock figures differ from run to run: a separate file, not hashed in the manifest.
    save_json(run_dir / "train" / "timing.json", {"epochs": timing, "device": device.type,
                                                  "threads": torch.get_num_threads()}, Timing)
    # CPU weights are bit-identical for the same thread count only: the manifest says which.
    computed_on = {"device": device.type, "threads": torch.get_num_threads() if device.type == "cpu" else None}
    return steps.Written(remove=(run_dir / "train" / "resume.pt",), extra={"computed_on": computed_on})


def adopt_checkpoint(cfg: Config, run_dir: Path, path: Path, inputs: dict) -> steps.Written:
    """Use a user's checkpoint instead of training: check it, then store it as model.pt.

    The checkpoint must fit the config and hold finite weights (else a UserError, and
    the current model.pt stays). Its provenance is kept, not rewritten: ``data_sha256``
    is the fingerprint of the data it was trained on (None if it does not say; a
    warning if it differs from the current images), and its training history goes into
    history.json (which says so when the checkpoint has none).
    """
    model, meta = load_checkpoint(path, cfg)
    data_sha, src_sha = inputs["data/images.npy"], inputs["checkpoint"]
    found = meta.get("data_sha256")
    trained_on = found if isinstance(found, str) and re.fullmatch(r"[0-9a-f]{64}", found) else None
    if trained_on is not None and trained_on != data_sha:
        eprint(f"train: warning: the checkpoint {path} was trained on other images (sha256 {trained_on[:12]}...) "
               f"than data/images.npy (sha256 {data_sha[:12]}...); its provenance is kept as it is")
    hist = _checkpoint_history(meta, path, src_sha)
    # everything is checked and serialised before anything is written: a refused checkpoint
    # leaves model.pt and history.json as they were
    model_bytes = _serialise({
        "format": "face-latent-geometry/checkpoint-v1", "state_dict": _cpu_state(model),
        "architecture": architecture(cfg), "config": cfg.to_dict(), "data_sha256": trained_on,
        "version": __version__, "source": str(path), "source_sha256": src_sha,
        "epochs": len(hist["epochs"]), "history": hist})
    hist_bytes = dumps_json(hist)
    validate_json(AdoptedHistory, hist_bytes, "train/history.json")  # what the reader will read
    atomic_write(run_dir / "train" / "model.pt", model_bytes)
    atomic_write(run_dir / "train" / "history.json", hist_bytes)
    eprint(f"train: using the checkpoint {path} (not training)")
    return steps.Written(extra={"checkpoint": {"source": str(path), "sha256": src_sha,
                                               "trained_on_data_sha256": trained_on,
                                               "same_data": trained_on == data_sha if trained_on else None}})


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _checkpoint_history(meta: dict, path: Path, src_sha: str) -> dict:
    """history.json for an adopted checkpoint: its own training history, or a note that it has none.

    Only plain values are kept (the checkpoint is foreign input: a history may hold tensors or
    bytes): each epoch's number and finite losses, and n_train, n_val, parameters (integers) and
    loss (text) when they are such."""
    hist = meta.get("history")
    if isinstance(hist, list):  # a bare list of epochs (older or foreign checkpoints)
        hist = {"epochs": hist}
    epochs = hist.get("epochs") if isinstance(hist, dict) else None
    ok = isinstance(epochs, list) and all(
        isinstance(e, dict) and isinstance(e.get("epoch"), int) and not isinstance(e.get("epoch"), bool) and
        _number(e.get("train_loss")) and (e.get("val_loss") is None or _number(e.get("val_loss")))
        for e in epochs)
    src = {"source": "user checkpoint", "checkpoint": str(path), "checkpoint_sha256": src_sha}
    if ok and epochs:
        types = {"n_train": int, "n_val": int, "parameters": int, "loss": str}
        keep = {k: hist[k] for k, t in types.items()
                if isinstance(hist.get(k), t) and not isinstance(hist.get(k), bool)}
        if isinstance(keep.get("loss"), str):
            keep["loss"] = " ".join(keep["loss"].split())[:200]
        epochs = [{"epoch": int(e["epoch"]), "train_loss": float(e["train_loss"]),
                   "val_loss": None if e.get("val_loss") is None else float(e["val_loss"])} for e in epochs]
        return {**keep, "epochs": epochs, **src, "history_recorded": True}
    eprint(f"train: note: the checkpoint {path} records no training history; history.json says so")
    return {"epochs": [], **src, "history_recorded": False,
            "note": "the checkpoint does not record its training history (per-epoch losses unknown)"}
