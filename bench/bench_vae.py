"""Issue 25 figures: our VAE checked against pythae 0.1.2's, loss and train step.

- ``vae_loss_vs_pythae``: the loss of the default network as a VAE (``model.kind = "vae"``) on a
  fixed batch of default images, with fixed weights (seeded initialisation) and fixed
  reparameterisation noise, against pythae's ``VAE`` (beta = 1) and ``BetaVAE`` (beta = 0.5, 4)
  wrapping the same network (``BaseEncoder`` giving its posterior mean and log-variance,
  ``BaseDecoder`` its decoder) with the same noise. The reductions differ by a constant factor:
  pythae's loss is, per image, 0.5 x the sum of squared errors over the P pixels + beta x KL,
  averaged over the batch; ours (:func:`analysis.pipeline.model.vae_objective`) is that divided by P / 2
  (the mean squared error per pixel + beta x KL / (P / 2)), so that it stays on the AE's scale.
  The figure is the largest relative difference of ours x P / 2 from pythae's over the betas
  (target <= 1e-5); the KL terms are compared on their own too.
- ``vae_train_step_vs_pythae``: our whole ``train`` step of the VAE (validation after every
  epoch, as pythae does) against pythae 0.1.2's ``BaseTrainer`` training its ``VAE`` on the same
  network, images, split, epochs, batch size and threads; alternating rounds, median (target:
  at least 0.95 x pythae's images/s).

pythae is a bench-only extra (``pip install '.[bench]'``, which ``make bench`` installs); its
dependencies do not conflict with the pins of pyproject.toml. Without it, the lines say so.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from analysis.steps import data, train  # noqa: E402
from analysis.pipeline.config import load_config  # noqa: E402
from analysis.pipeline.model import build_model, vae_objective  # noqa: E402
from bench_peer import our_step, pythae_trainer  # noqa: E402  (the AE's figures: the same two contenders)
from record import record, within_rounds  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
EPOCHS = int(os.environ.get("BENCH_EPOCHS", "5"))
THREADS = 2
BETAS = (0.5, 1.0, 4.0)
TARGET_REL, TARGET_PEER = 1e-5, 0.95
HAVE_PYTHAE = importlib.util.find_spec("pythae") is not None
NOISE_SEED = 7


def _pythae_parts(net):
    """pythae's encoder and decoder wrapping our VAE ``net``."""
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            mean, logvar = self.net.posterior(x)
            return ModelOutput(embedding=mean, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, z):
            return ModelOutput(reconstruction=self.net.decode(z))

    return Encoder(), Decoder()


def _pythae_model(cfg, net, shape):
    from pythae.models import VAE, VAEConfig, BetaVAE, BetaVAEConfig

    enc, dec = _pythae_parts(net)
    if cfg.model.beta == 1.0:
        return VAE(VAEConfig(input_dim=shape, latent_dim=cfg.model.latent_dim, reconstruction_loss="mse"),
                   encoder=enc, decoder=dec)
    return BetaVAE(BetaVAEConfig(input_dim=shape, latent_dim=cfg.model.latent_dim, reconstruction_loss="mse",
                                 beta=cfg.model.beta), encoder=enc, decoder=dec)


def loss_check(x: torch.Tensor) -> None:
    """Our loss and pythae's on one batch, same weights and noise, for every beta in :data:`BETAS`."""
    if not HAVE_PYTHAE:
        print("vae loss vs pythae: pythae is not installed (pip install '.[bench]'); not checked", flush=True)
        return
    pixels = int(np.prod(x.shape[1:]))
    worst, kl_worst, lines = 0.0, 0.0, []
    for beta in BETAS:
        cfg = load_config(ROOT / "configs" / "default.toml", ["model.kind=vae", f"model.beta={beta}"])
        torch.manual_seed(0)
        net = build_model(cfg).train()
        net.noise = torch.Generator().manual_seed(NOISE_SEED)
        with torch.no_grad():
            out, kl = net(x, kl=True)
            ours = float(vae_objective(out, x, kl, beta))
            model = _pythae_model(cfg, net, tuple(x.shape[1:])).train()
            gen = torch.Generator().manual_seed(NOISE_SEED)
            model._sample_gauss = lambda mu, std: (mu + torch.randn(mu.shape, generator=gen) * std, None)
            from pythae.data.datasets import DatasetOutput
            res = model(DatasetOutput(data=x))
        theirs = float(res.loss)
        rel = abs(ours * pixels / 2 - theirs) / abs(theirs)
        kl_rel = abs(float(kl.mean()) - float(res.reg_loss)) / abs(float(res.reg_loss))
        worst, kl_worst = max(worst, rel), max(kl_worst, kl_rel)
        lines.append(f"beta {beta:g}: ours {ours:.6g} x {pixels / 2:g} = {ours * pixels / 2:.6g}, pythae {theirs:.6g}")
    record("vae_loss_vs_pythae", worst, "relative difference", target=TARGET_REL, higher_is_better=False,
           text=f"VAE loss on a fixed batch of {len(x)} default images, fixed weights and noise, against pythae 0.1.2 "
                f"(VAE, BetaVAE; MSE reconstruction): ours x P/2 (P = {pixels} pixels; pythae sums 0.5 x the squared "
                f"errors over the pixels, we average them) equals pythae's to {worst:.2g} relative "
                f"(KL terms to {kl_worst:.2g}); {'; '.join(lines)}")


def main() -> None:
    torch.set_num_threads(THREADS)
    sets = [f"train.epochs={EPOCHS}", f"run.threads={THREADS}", "train.val_every=1", "model.kind=vae"]
    cfg = load_config(ROOT / "configs" / "default.toml", sets)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        data.run(cfg, run_dir)
        images = np.load(run_dir / "data" / "images.npy")
        x = torch.from_numpy(images).float().div_(255.0)
        loss_check(x[:cfg.train.batch_size])
        if not HAVE_PYTHAE:
            print("vae train step vs pythae: pythae is not installed; not measured", flush=True)
            return
        train_idx, val_idx = train.split_indices(len(images), cfg.data.val_fraction, cfg.run.seed)
        n_ours = EPOCHS * (len(train_idx) // cfg.train.batch_size) * cfg.train.batch_size
        ours, peers = [], []
        for r in range(ROUNDS):
            go = [lambda: ours.append(n_ours / our_step(cfg, run_dir)),
                  lambda: peers.append(len(train_idx) * EPOCHS /  # pythae keeps the last partial batch
                                       pythae_trainer(cfg, x[train_idx], x[val_idx], Path(tmp) / "pythae",
                                                      _pythae_model))]
            for f in (go if r % 2 == 0 else go[::-1]):
                f()
            print(f"round {r + 1}: ours {ours[-1]:.0f}, pythae {peers[-1]:.0f} img/s", flush=True)
    o, p = statistics.median(ours), statistics.median(peers)
    record("vae_train_step_vs_pythae", o, "img/s", baseline=p, target=TARGET_PEER,
           text=f"VAE train step vs pythae 0.1.2 BaseTrainer + VAE (same network, split, {EPOCHS} epochs, batch "
                f"{cfg.train.batch_size}, {THREADS} threads, validation after every epoch; median of {ROUNDS} "
                f"alternating rounds): {o:.0f} vs {p:.0f} img/s; {within_rounds(ours, peers)}")


if __name__ == "__main__":
    main()
