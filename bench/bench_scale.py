"""Issue 8 figures: cached vs uncached image loading, 1 vs 2 gloo processes, and encoding
200,000 synthetic 64x64 RGB images (throughput and peak RSS).

Every figure is printed with its ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.steps import data  # noqa: E402
from analysis.pipeline.config import load_config  # noqa: E402
from analysis.pipeline.storage import NpyRows  # noqa: E402
from analysis.pipeline.model import architecture, build_model  # noqa: E402
from analysis.steps.train import Pixels  # noqa: E402

SMOKE = ROOT / "configs" / "smoke.toml"
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402


def cli(*args: str, env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB) of ``python -m analysis ARGS`` in a fresh process."""
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "analysis", *args], cwd=ROOT, env=env or ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(p.stderr.read().decode()[-2000:])
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def loading(tmp: Path) -> None:
    n = 2000
    folder = tmp / "jpegs"
    folder.mkdir()
    faces = data.synthetic_images(n, 178, 3, seed=0)  # CelebA-like 178x218 JPEGs
    for i, f in enumerate(faces):
        img = Image.fromarray(np.pad(f.transpose(1, 2, 0), ((20, 20), (0, 0), (0, 0)), mode="edge"))
        img.save(folder / f"{i:06d}.jpg", quality=90)
    over = ["--set", "data.source=folder", "--set", f"data.path={folder}", "--set", "data.image_size=64",
            "--set", "data.channels=3"]
    for workers in (0, 2):
        out = tmp / f"cache{workers}"
        secs, _ = cli("fetch", "--config", str(SMOKE), "--out", str(out), *over, "--set", f"data.workers={workers}")
        uncached = n / secs
        print(f"uncached loading (decode + crop + resize {n} JPEGs 178x218 -> 64x64, {workers} workers): "
              f"{uncached:.0f} img/s (includes process start-up)", flush=True)
    rows = NpyRows(out / "data" / "images.npy")
    pix = Pixels(rows, in_memory=False)  # the large-data path: read each batch from the cache file
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(20):
        for b in np.array_split(rng.permutation(n), n // 100):
            pix[b]
    cached = 20 * n / (time.perf_counter() - t0)
    record("cached_loading_vs_decoding", cached, "img/s", baseline=uncached,
           text=f"cached loading (random batches of 100 from the uint8 cache, as float tensors): {cached:.0f} img/s; "
                f"decoding JPEGs {uncached:.0f} img/s")


def scaling(tmp: Path) -> None:
    rates = {}
    for nproc in (1, 2):
        out = tmp / f"ddp{nproc}"
        args = ["--config", str(SMOKE), "--out", str(out), "--set", "data.synthetic_count=4000",
                "--set", "train.epochs=2", "--set", "train.batch_size=64"]
        cli("fetch", *args)
        env = dict(ENV, OMP_NUM_THREADS=str(max(1, 2 // nproc)))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "-m", "analysis", "train", *args, "--set", "run.device=cpu"]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
        hist = json.loads((out / "train" / "timing.json").read_text())["epochs"]
        rates[nproc] = hist[-1]["images_per_s"]
    record("ddp_cpu_2_vs_1", rates[2], "img/s", baseline=rates[1],
           text=f"distributed training on CPU (gloo, smoke net, global batch 64): 2 processes {rates[2]:.0f} "
                f"samples/s, 1 process {rates[1]:.0f} samples/s (2 cores: little gain expected)")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.device_count()} device(s) present; run torchrun with --nproc-per-node "
              f"{torch.cuda.device_count()} for GPU scaling figures", flush=True)
    else:
        print("GPU scaling: no GPU on this machine (figure not measured)", flush=True)


def encoding(tmp: Path) -> None:
    n = 200_000
    over = ["--set", f"data.synthetic_count={n}", "--set", "data.image_size=64", "--set", "data.channels=3",
            "--set", "model.channels=[32,64,128,256]", "--set", "model.latent_dim=256", "--set", "encode.batch_size=500"]
    out = tmp / "enc"
    args = ["--config", str(SMOKE), "--out", str(out), *over]
    cfg = load_config(SMOKE, [o for o in over if o != "--set"])
    secs_fetch, _ = cli("fetch", *args)
    ckpt = tmp / "model.pt"
    torch.manual_seed(0)
    torch.save({"state_dict": build_model(cfg).state_dict(), "architecture": architecture(cfg)}, ckpt)
    cli("train", *args, "--checkpoint", str(ckpt))
    secs, rss = cli("encode", *args)
    pixels_mb = n * 3 * 64 * 64 / 2**20
    record("encode_200k_rss_vs_pixels", rss, "MB", baseline=pixels_mb, target=1.0, higher_is_better=False,
           text=f"encoding {n} synthetic 64x64 RGB images (latent 256, 4 conv layers): {n / secs:.0f} img/s "
                f"({secs:.0f} s incl. start-up), peak RSS {rss:.0f} MB against {pixels_mb:.0f} MB of uint8 pixels "
                f"(cache built in {secs_fetch:.0f} s)")


def main() -> None:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        loading(tmp)
        scaling(tmp)
        encoding(tmp)


if __name__ == "__main__":
    main()
