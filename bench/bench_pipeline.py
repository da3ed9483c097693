"""Issue 3 figures: training throughput vs a bare PyTorch loop, encoding throughput vs a
bare encoder loop, and wall time of the default training to a useful reconstruction.

Baselines run in the same process on the same network, data and batch size, alternately
with the measured code, and each figure is the median of the rounds.
"""

from __future__ import annotations

import json
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

from analysis.steps import data, train  # noqa: E402
from analysis.pipeline.config import load_config  # noqa: E402
from analysis.pipeline.model import build_model, encode_array  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from record import record, within_rounds  # noqa: E402

ROUNDS = 7  # short trainings on a machine whose speed drifts by seconds: many rounds


def bare_train(cfg, images: np.ndarray, steps: int) -> float:
    """images/s of the plain eager loop: zero_grad, forward, backward, step."""
    torch.manual_seed(0)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    x_all = torch.from_numpy(np.array(images)).float().div_(255.0)
    b = cfg.train.batch_size
    perm = torch.randperm(len(x_all))
    model.train()
    t0 = time.perf_counter()
    for i in range(steps):
        x = x_all[perm[(i * b) % (len(x_all) - b):][:b]]
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), x)
        loss.backward()
        opt.step()
    return steps * b / (time.perf_counter() - t0)


def our_train(cfg, run_dir: Path, epochs: int) -> tuple[float, float, int]:
    """(images/s inside the training loop, images/s of the whole step, steps)."""
    shutil.rmtree(run_dir / "train", ignore_errors=True)
    (run_dir / "train.manifest.json").unlink(missing_ok=True)
    cfg.train.epochs = epochs
    t0 = time.perf_counter()
    train.run(cfg, run_dir, force=True)
    wall = time.perf_counter() - t0
    hist = json.loads((run_dir / "train" / "timing.json").read_text())
    imgs = sum(e["images_per_s"] * e["seconds"] for e in hist["epochs"])
    loop = imgs / sum(e["seconds"] for e in hist["epochs"])
    return loop, imgs / wall, int(imgs) // cfg.train.batch_size


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = load_config(ROOT / "configs" / "default.toml")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        data.run(cfg, run_dir)
        images = np.load(run_dir / "data" / "images.npy")

        # -- training throughput, alternating with the bare loop
        loops, walls, bares = [], [], []
        steps = our_train(cfg, run_dir, epochs=1)[2] * 2  # a warm-up, and the number of steps of 2 epochs
        for r in range(ROUNDS):  # the one that goes first alternates
            if r % 2:
                bares.append(bare_train(cfg, images, steps))
            loop, wall, _ = our_train(cfg, run_dir, epochs=2)
            loops.append(loop)
            walls.append(wall)
            if not r % 2:
                bares.append(bare_train(cfg, images, steps))
        loop, wall, bare = (statistics.median(v) for v in (loops, walls, bares))
        record("train_loop_vs_bare", loop, "img/s", baseline=bare, target=1.0,
               text=f"train throughput (default data, batch {cfg.train.batch_size}): {loop:.0f} img/s in the "
                    f"loop ({wall:.0f} img/s for the whole 2-epoch step); bare eager loop {bare:.0f} img/s; "
                    f"{within_rounds(loops, bares)}")

        # -- encoding throughput vs a bare model.encoder loop over the same tensors
        from analysis.pipeline.model import load_checkpoint
        model, _ = load_checkpoint(run_dir / "train" / "model.pt", cfg)
        bs = cfg.encode.batch_size
        tensors = [torch.from_numpy(np.array(images[i:i + bs])).float().div_(255.0) for i in range(0, len(images), bs)]
        reps = 5
        ours, bare_enc = [], []
        out = np.empty((len(images), cfg.model.latent_dim), np.float32)
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for _ in range(reps):
                encode_array(model, images, bs, torch.device("cpu"), out=out)
            ours.append(reps * len(images) / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            with torch.inference_mode():
                for _ in range(reps):
                    for x in tensors:
                        model.encoder(x)
            bare_enc.append(reps * len(images) / (time.perf_counter() - t0))
        o, b = statistics.median(ours), statistics.median(bare_enc)
        record("encode_vs_bare", o, "img/s", baseline=b, target=0.9,
               text=f"encode throughput: {o:.0f} img/s (uint8 cache -> latents); bare model.encoder loop over "
                    f"prepared tensors {b:.0f} img/s")

        # -- the default training, start to finish
        cfg = load_config(ROOT / "configs" / "default.toml")
        shutil.rmtree(run_dir / "train", ignore_errors=True)
        t0 = time.perf_counter()
        train.run(cfg, run_dir, force=True)
        wall = time.perf_counter() - t0
        hist = json.loads((run_dir / "train" / "history.json").read_text())["epochs"]
        var = float(np.var(images / 255.0))
        record("default_training_s", wall, "s", target=120, higher_is_better=False,
               text=f"default training: {cfg.train.epochs} epochs in {wall:.1f} s; held-out mse "
                    f"{hist[-1]['val_loss']:.5f} = {hist[-1]['val_loss'] / var:.3f} of the pixel variance "
                    f"(first epoch {hist[0]['val_loss'] / var:.3f})")


if __name__ == "__main__":
    main()
