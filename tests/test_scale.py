"""Issue 8: distributed training, the image cache at scale, bounded memory."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from analysis.pipeline.config import load_config
from analysis.pipeline.model import architecture, build_model
from conftest import ROOT, SMOKE, run_cli


def test_two_gloo_processes_match_one_process(tmp_path):
    """torchrun with 2 CPU processes (gloo) gives the loss curve of one plain process at the same global
    batch."""
    curves = {}
    for nproc in (1, 2):
        out = tmp_path / f"p{nproc}"
        assert run_cli("fetch", "--config", str(SMOKE), "--out", str(out)).returncode == 0
        if nproc == 1:  # the plain single-process training a user runs
            p = run_cli("train", "--config", str(SMOKE), "--out", str(out), "--set", "train.epochs=4")
        else:
            env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
                   "-m", "analysis", "train", "--config", str(SMOKE), "--out", str(out), "--set", "train.epochs=4"]
            p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        hist = json.loads((out / "train" / "history.json").read_text())["epochs"]
        curves[nproc] = np.array([e["train_loss"] for e in hist])
        assert (out / "train.manifest.json").exists() and not (out / "train" / "resume.pt").exists()
    assert len(curves[1]) == len(curves[2]) == 4
    np.testing.assert_allclose(curves[2], curves[1], rtol=0.05)  # batch-norm statistics differ slightly
    assert curves[2][-1] < curves[2][0]


def _folder(root, n, size=(24, 20)):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)).save(root / f"{i:05d}.png")


def test_cache_is_rebuilt_when_the_folder_changes(tmp_path):
    folder = tmp_path / "imgs"
    _folder(folder, 5)
    args = ["fetch", "--config", str(SMOKE), "--set", "data.source=folder", "--set", f"data.path={folder}",
            "--out", str(tmp_path / "run")]
    assert run_cli(*args).returncode == 0
    assert np.load(tmp_path / "run" / "data" / "images.npy").shape[0] == 5
    p = run_cli(*args)
    assert "up to date" in p.stderr
    Image.new("L", (30, 30), 128).save(folder / "zzz.png")
    p = run_cli(*args)
    assert p.returncode == 0 and "up to date" not in p.stderr
    assert np.load(tmp_path / "run" / "data" / "images.npy").shape[0] == 6
    assert (tmp_path / "run" / "data" / "ids.txt").read_text().splitlines()[-1] == "zzz.png"


def _peak_rss_mb(args) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "analysis", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    assert proc.returncode == 0, err[-2000:]
    return usage.ru_maxrss / 1024  # kB on Linux


@pytest.mark.slow
@pytest.mark.case("encoding 20,000 64x64 RGB images", "peak RSS within 15 % of the pixel size of that of 2,000 images (batches are read from disk)")
def test_encoding_20000_images_needs_bounded_memory(tmp_path):
    """Peak RSS of encoding 20,000 64x64 RGB images stays near that of 2,000 images.

    Holding all pixels as float32 would add ~900 MB; one batch of 256 images is ~12 MB.
    """
    overrides = ["--set", "data.source=synthetic", "--set", "data.image_size=64", "--set", "data.channels=3",
                 "--set", "encode.batch_size=256"]
    cfg = load_config(SMOKE, [o for o in overrides if o != "--set"] + ["data.synthetic_count=20000"])
    torch.manual_seed(0)
    ckpt = tmp_path / "model.pt"
    torch.save({"state_dict": build_model(cfg).state_dict(), "architecture": architecture(cfg)}, ckpt)
    peaks = {}
    for n in (2000, 20000):
        out = tmp_path / f"n{n}"
        args = ["--config", str(SMOKE), "--out", str(out), *overrides, "--set", f"data.synthetic_count={n}"]
        assert run_cli("fetch", *args).returncode == 0
        assert run_cli("train", *args, "--checkpoint", str(ckpt)).returncode == 0
        peaks[n] = _peak_rss_mb(["encode", *args])
        assert np.load(out / "latents.npy", mmap_mode="r").shape == (n, cfg.model.latent_dim)
    pixels_mb = 20000 * 3 * 64 * 64 * 4 / 2**20
    assert peaks[20000] - peaks[2000] < 0.15 * pixels_mb, (peaks, pixels_mb)
