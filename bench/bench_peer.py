"""Issue 16 figure: our whole ``train`` step against pythae's trainer and a bare loop.

Three ways to train the same network (the default ConvAE) on the same images, the same
train/validation split, epochs, batch size and threads:

- **ours**: ``analysis.steps.train.run`` as the CLI calls it (loading the image cache,
  checkpoints for resume, validation, history, the final model and manifest), once as
  configured (validation every ``train.val_every`` epochs; compared with the bare loop) and
  once validating after every epoch as pythae does (compared with pythae);
- **pythae**: pythae 0.1.2's ``BaseTrainer`` with its ``AE`` model wrapping our encoder
  and decoder (``BaseEncoder``/``BaseDecoder`` returning ``ModelOutput``), a
  ``BaseDataset`` over the same float pixels, an eval dataset of the held-out images;
- **bare**: a plain eager loop (zero_grad, forward, backward, step with PyTorch's default
  Adam) over the training images in memory, with no validation, checkpoint or bookkeeping:
  what a user would write by hand. Our step can pass it because its Adam uses the fused
  kernel (``train.fused_adam``; pythae uses the default Adam too).

Each round runs the four alternately, starting one later each round so that no contender
always follows the same one; each figure is the ratio of the medians over ``ROUNDS`` (7),
printed with the within-round ratios (median and range): this 2-core machine's speed
drifts by up to 40 % over seconds, far more than the differences measured.
Images/s counts training images only (epochs x training images / wall seconds).
pythae is a bench-only extra (``pip install .[bench]``); without it its line says so.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from analysis.steps import data, train  # noqa: E402
from analysis.pipeline.config import load_config  # noqa: E402
from analysis.pipeline.model import build_model  # noqa: E402
from record import record, within_rounds  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
EPOCHS = int(os.environ.get("BENCH_EPOCHS", "10"))
THREADS = 2
TARGET_PEER, TARGET_BARE = 1.05, 0.95
HAVE_PYTHAE = importlib.util.find_spec("pythae") is not None


def our_step(cfg, run_dir: Path) -> float:
    """Seconds of the whole train step (forced, from scratch)."""
    shutil.rmtree(run_dir / "train", ignore_errors=True)
    t0 = time.perf_counter()
    train.run(cfg, run_dir, force=True)
    return time.perf_counter() - t0


def bare_loop(cfg, x_train: torch.Tensor) -> float:
    """Seconds of a plain eager loop over the same number of batches as our step."""
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    b = cfg.train.batch_size
    steps = len(x_train) // b
    model.train()
    t0 = time.perf_counter()
    for epoch in range(cfg.train.epochs):
        perm = torch.randperm(len(x_train))
        for i in range(steps):
            x = x_train[perm[i * b:(i + 1) * b]]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), x)
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


def pythae_trainer(cfg, x_train: torch.Tensor, x_val: torch.Tensor, out: Path, make_model=None) -> float | None:
    """Seconds of pythae's BaseTrainer on the same network and data (None without pythae).

    ``make_model(cfg, net, input_shape)``: the pythae model wrapping our network ``net`` (default: its
    ``AE``; ``bench_vae.py`` passes its VAE)."""
    try:
        from pythae.data.datasets import BaseDataset
        from pythae.models import AE, AEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
        from pythae.trainers import BaseTrainer, BaseTrainerConfig
    except ImportError:
        return None

    class Encoder(BaseEncoder):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return ModelOutput(embedding=self.net.encode(x))

    class Decoder(BaseDecoder):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, z):
            return ModelOutput(reconstruction=self.net.decode(z))

    for name in ("pythae", "pythae.trainers.base_trainer.base_trainer", "pythae.models.base.base_model"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.manual_seed(cfg.run.seed)
    net = build_model(cfg)
    if make_model is not None:
        model = make_model(cfg, net, tuple(x_train.shape[1:]))
    else:
        model = AE(AEConfig(input_dim=tuple(x_train.shape[1:]), latent_dim=cfg.model.latent_dim),
                   encoder=Encoder(net), decoder=Decoder(net))
    tc = BaseTrainerConfig(output_dir=str(out), num_epochs=cfg.train.epochs, learning_rate=cfg.train.lr,
                           per_device_train_batch_size=cfg.train.batch_size,
                           per_device_eval_batch_size=max(cfg.train.batch_size, 256),
                           optimizer_cls="Adam", no_cuda=True, seed=cfg.run.seed)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        trainer = BaseTrainer(model=model, train_dataset=BaseDataset(x_train, torch.zeros(len(x_train))),
                              eval_dataset=BaseDataset(x_val, torch.zeros(len(x_val))), training_config=tc)
        trainer.train()
    return time.perf_counter() - t0


def _append(values: list, seconds: float | None, n_images: int) -> None:
    if seconds is not None:
        values.append(n_images / seconds)


def gpu_figures(device: torch.device, steps: int = 50) -> None:
    """Training img/s (our epoch loop: bf16 autocast, pinned non-blocking copies) against a bare
    fp32 loop, and peak memory, for the default and the CelebA-size network on ``device``."""
    from analysis.steps.train import Pixels, _epoch, autocast_context, make_optimizer
    from analysis.pipeline.storage import NpyRows

    for name in ("default", "celeba"):
        cfg = load_config(ROOT / "configs" / f"{name}.toml", ["data.source=synthetic"])
        b, c, s = cfg.train.batch_size, cfg.data.channels, cfg.data.image_size
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.npy"
            np.save(path, np.random.default_rng(0).integers(0, 256, (b * 8, c, s, s), dtype=np.uint8))
            pixels = Pixels(NpyRows(path), in_memory=True)
        if device.type == "cuda":
            pixels.pin()
        batches = [np.random.default_rng(i).choice(len(pixels), b, replace=False) for i in range(steps)]

        def ours() -> float:
            torch.manual_seed(0)
            model = build_model(cfg).to(device)
            opt = make_optimizer(model, cfg.train, device)
            ctx = autocast_context(cfg.train.precision, device)
            _epoch(model, opt, (pixels[i] for i in batches[:5]), 5, device, torch.contiguous_format, ctx, "", True)
            _sync(device)
            t0 = time.perf_counter()
            _epoch(model, opt, (pixels[i] for i in batches), steps, device, torch.contiguous_format, ctx, "", True)
            _sync(device)
            return steps * b / (time.perf_counter() - t0)

        def bare() -> float:
            torch.manual_seed(0)
            model = build_model(cfg).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
            x_all = pixels.ram.to(device)

            def go(idx):
                for i in idx:
                    x = x_all[torch.from_numpy(i).to(device)]
                    opt.zero_grad()
                    loss = torch.nn.functional.mse_loss(model(x), x)
                    loss.backward()
                    opt.step()
            go(batches[:5])
            _sync(device)
            t0 = time.perf_counter()
            go(batches)
            _sync(device)
            return steps * b / (time.perf_counter() - t0)

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        o = statistics.median(ours() for _ in range(3))
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
        bl = statistics.median(bare() for _ in range(3))
        record(f"gpu_train_{name}_vs_bare", o, "img/s", baseline=bl,
               text=f"{device} training, {name} network ({c}x{s}x{s}, batch {b}, precision "
                    f"{cfg.train.precision}): {o:.0f} img/s, peak memory {peak:.0f} MiB; bare fp32 loop {bl:.0f} img/s")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    if torch.cuda.is_available():
        gpu_figures(torch.device("cuda"))
    else:
        print("GPU figures: no CUDA GPU found on this machine (not measured)", flush=True)
    torch.set_num_threads(THREADS)
    cfg = load_config(ROOT / "configs" / "default.toml",
                      [f"train.epochs={EPOCHS}", f"run.threads={THREADS}"])
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        data.run(cfg, run_dir)
        images = np.load(run_dir / "data" / "images.npy")
        train_idx, val_idx = train.split_indices(len(images), cfg.data.val_fraction, cfg.run.seed)
        x = torch.from_numpy(images).float().div_(255.0)
        x_train, x_val = x[train_idx], x[val_idx]
        n_images = cfg.train.epochs * (len(train_idx) // cfg.train.batch_size) * cfg.train.batch_size
        # pythae validates after every epoch, so against it our step does too (train.val_every = 1);
        # against the bare loop it runs as configured (validation every train.val_every epochs).
        cfg_every = load_config(ROOT / "configs" / "default.toml",
                                [f"train.epochs={EPOCHS}", f"run.threads={THREADS}", "train.val_every=1"])
        ours, ours_every, peers, bares = [], [], [], []
        contenders = [
            ("ours", lambda: ours.append(n_images / our_step(cfg, run_dir))),
            ("pythae", lambda: _append(peers, pythae_trainer(cfg, x_train, x_val, Path(tmp) / "pythae"),
                                       len(train_idx) * EPOCHS)),  # pythae keeps the last partial batch
            ("ours_every", lambda: ours_every.append(n_images / our_step(cfg_every, run_dir))),
            ("bare", lambda: bares.append(n_images / bare_loop(cfg, x_train))),
        ]
        for r in range(ROUNDS):
            # the order turns every round, so that no contender always follows the same one
            for name, go in contenders[r % 4:] + contenders[:r % 4]:
                if name == "ours_every" and not HAVE_PYTHAE:
                    continue
                go()
            print(f"round {r + 1}: ours {ours[-1]:.0f}, bare {bares[-1]:.0f}"
                  + (f", ours validating every epoch {ours_every[-1]:.0f}, pythae {peers[-1]:.0f}" if peers else "")
                  + " img/s", flush=True)
    o, b = statistics.median(ours), statistics.median(bares)
    what = (f"default data, {EPOCHS} epochs, batch {cfg.train.batch_size}, {THREADS} threads, "
            f"median of {ROUNDS} alternating rounds")
    record("train_step_vs_bare", o, "img/s", baseline=b, target=TARGET_BARE,
           text=f"train step (whole, as configured: validation every {cfg.train.val_every} epochs; {what}): "
                f"{o:.0f} img/s; bare eager loop (no validation) {b:.0f} img/s; {within_rounds(ours, bares)}")
    if peers:
        oe, p = statistics.median(ours_every), statistics.median(peers)
        record("train_step_vs_pythae", oe, "img/s", baseline=p, target=TARGET_PEER,
               text=f"train step vs pythae 0.1.2 BaseTrainer (same network, split, validation after "
                    f"every epoch): {oe:.0f} vs {p:.0f} img/s; {within_rounds(ours_every, peers)}")
    else:
        print("train step vs pythae: pythae is not installed (pip install '.[bench]'); not measured", flush=True)


if __name__ == "__main__":
    main()
