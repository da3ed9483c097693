"""The smoke pipeline end to end through the real CLI: outputs, skipping, resuming."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.pipeline.config import load_config
from analysis.pipeline.provenance import read_manifest
from conftest import ROOT, SMOKE, built_once, run_cli


def test_smoke_outputs(smoke_run):
    cfg = load_config(SMOKE)
    z = np.load(smoke_run / "latents.npy")
    assert z.shape == (cfg.data.synthetic_count, cfg.model.latent_dim) and z.dtype == np.float32
    assert np.isfinite(z).all() and z.std() > 0
    ids = (smoke_run / "ids.txt").read_text().splitlines()
    assert len(ids) == len(z) and ids[0] == "synthetic/000000"
    m = read_manifest(smoke_run, "encode")
    assert set(m["inputs"]) == {"data/images.npy", "data/ids.txt", "train/model.pt"}
    assert m["versions"]["torch"] and m["shape"] == list(z.shape)
    hist = json.loads((smoke_run / "train" / "history.json").read_text())
    assert [e["epoch"] for e in hist["epochs"]] == list(range(1, cfg.train.epochs + 1))
    assert all(e["val_loss"] > 0 for e in hist["epochs"] if e["val_loss"] is not None)
    # validated after the first, every train.val_every-th and the last epoch only
    assert [e["epoch"] for e in hist["epochs"] if e["val_loss"] is not None] == [1, 3]
    timing = json.loads((smoke_run / "train" / "timing.json").read_text())
    assert all(e["images_per_s"] > 0 for e in timing["epochs"]) and timing["device"] == "cpu"
    assert hist["epochs"][-1]["train_loss"] < hist["epochs"][0]["train_loss"]
    assert load_config(smoke_run / "config.toml").to_dict() == cfg.to_dict()
    assert not (smoke_run / "train" / "resume.pt").exists()
    ckpt = torch.load(smoke_run / "train" / "model.pt", weights_only=True)
    assert ckpt["architecture"]["latent_dim"] == cfg.model.latent_dim
    assert ckpt["data_sha256"] == read_manifest(smoke_run, "fetch")["outputs"]["data/images.npy"]


def test_up_to_date_steps_are_skipped(smoke_run, tmp_path):
    run = Path(shutil.copytree(smoke_run, tmp_path / "run", symlinks=True))  # the shared run's times stay as they are
    before = (run / "latents.npy").stat().st_mtime_ns
    p = run_cli("encode", "--config", str(SMOKE), "--out", str(run))
    assert p.returncode == 0 and "up to date" in p.stderr
    assert (run / "latents.npy").stat().st_mtime_ns == before
    p = run_cli("train", "--config", str(SMOKE), "--out", str(run))
    assert "up to date" in p.stderr


def test_encoding_is_deterministic_and_matches_model(smoke_run, tmp_path):
    from analysis.pipeline.model import encode_array, load_checkpoint

    cfg = load_config(SMOKE)
    model, _ = load_checkpoint(smoke_run / "train" / "model.pt", cfg)
    images = np.load(smoke_run / "data" / "images.npy")
    out = np.empty((len(images), cfg.model.latent_dim), np.float32)
    encode_array(model, images, batch_size=7, device=torch.device("cpu"), out=out)
    np.testing.assert_allclose(out, np.load(smoke_run / "latents.npy"), rtol=1e-5, atol=1e-5)


def test_user_checkpoint_is_adopted(smoke_run, tmp_path):
    out = tmp_path / "adopt"
    assert run_cli("fetch", "--config", str(SMOKE), "--out", str(out)).returncode == 0
    p = run_cli("train", "--config", str(SMOKE), "--out", str(out), "--checkpoint", str(smoke_run / "train" / "model.pt"))
    assert p.returncode == 0, p.stderr
    assert "not training" in p.stderr
    assert run_cli("encode", "--config", str(SMOKE), "--out", str(out)).returncode == 0
    np.testing.assert_array_equal(np.load(out / "latents.npy"), np.load(smoke_run / "latents.npy"))
    # the reader says that no training was timed, instead of claiming one
    from analysis.artifacts import Absent, Run
    run = Run(out)
    assert isinstance(run.timing, Absent) and "adopted" in run.timing.reason
    assert run.history.adopted_from == str(smoke_run / "train" / "model.pt")
    assert run.network.parameters == Run(smoke_run).network.parameters


def test_encode_writes_the_examples_the_article_shows(smoke_run, tmp_path):
    from analysis.artifacts import Run
    from analysis.steps.encode import write_examples
    from analysis.pipeline.storage import NpyRows
    from analysis.pipeline.model import load_checkpoint
    from analysis.steps.train import split_indices

    cfg = load_config(SMOKE)
    run = Run(smoke_run)
    images = np.load(smoke_run / "data" / "images.npy")
    ids = (smoke_run / "data" / "ids.txt").read_text().splitlines()
    model, _ = load_checkpoint(smoke_run / "train" / "model.pt", cfg)
    # reconstructions: the first held-out images of the training split, decoded by this model
    _, val_idx = split_indices(len(images), cfg.data.val_fraction, cfg.run.seed)
    rec = run.reconstructions
    assert rec.split == "held-out" and rec.index.tolist() == val_idx[:12].tolist()
    assert rec.ids.tolist() == [ids[i] for i in rec.index]
    np.testing.assert_array_equal(rec.originals, images[rec.index])
    with torch.inference_mode():
        want = model(torch.from_numpy(images[rec.index].astype(np.float32) / 255.0)).numpy()
    np.testing.assert_allclose(rec.reconstructions, want, atol=1e-6)
    assert rec.mse == pytest.approx(float(np.mean((want - images[rec.index] / 255.0) ** 2)), rel=1e-5)
    # gallery: distinct images in ascending order, as cached
    gal = run.gallery
    assert len(gal.index) == 24 and gal.index.tolist() == sorted(set(gal.index.tolist()))
    np.testing.assert_array_equal(gal.images, images[gal.index])
    # the network as measured, not as a formula would have it
    net = run.network
    hist = json.loads((smoke_run / "train" / "history.json").read_text())
    assert net.parameters == hist["parameters"] == sum(p.numel() for p in model.parameters())
    assert [(layer.input, layer.output) for layer in net.encoder] == [((1, 16, 16), (8, 8, 8)),
                                                                     ((8, 8, 8), (16, 4, 4)), ((256,), (16,))]
    assert net.encoder[0].layer == "conv 4×4, stride 2 + batch norm + ReLU" and net.flat_features == 256
    assert {"encode/summary.json", "encode/reconstructions.npz", "encode/gallery.npz"} <= \
        set(read_manifest(smoke_run, "encode")["outputs"])
    # with no held-out images, training images are shown, and said to be
    (tmp_path / "data").mkdir()
    for name in ("images.npy", "ids.txt", "info.json"):
        (tmp_path / "data" / name).write_bytes((smoke_run / "data" / name).read_bytes())
    cfg.data.val_fraction = 0.0
    write_examples(cfg, tmp_path, model, NpyRows(tmp_path / "data" / "images.npy"), torch.device("cpu"))
    summary = json.loads((tmp_path / "encode" / "summary.json").read_text())
    assert summary["reconstructions"]["split"] == "training"
    with np.load(tmp_path / "encode" / "reconstructions.npz") as z:
        assert z["index"].tolist() == list(range(12))


def _state(path):
    return torch.load(path, weights_only=True)["state_dict"]


RESUME_ARGS = ("--config", str(SMOKE), "--set", "data.synthetic_count=1200", "--set", "train.epochs=4",
               "--set", "train.batch_size=16")


def _uninterrupted(tmp_path_factory, args: list[str], threads) -> Path:
    """The uninterrupted run (fetch, train) the resumed ones are compared with: one per thread count, built
    once per session (the interruptions of one thread count compare with the same run; read only)."""
    def build(directory: Path) -> dict:
        ref = directory / "ref"
        for step in ("fetch", "train"):
            p = run_cli(step, *args, "--out", str(ref), fresh=True)  # shared: no test's patches
            assert p.returncode == 0, p.stderr[-3000:]
        return {"run": str(ref)}
    return Path(built_once(tmp_path_factory, f"resume-reference-{threads or 1}", build)["run"])


def _fetched_copy(ref: Path, run: Path) -> None:
    """``run`` as after its fetch: the reference's image cache and fetch manifest (the same fetch)."""
    shutil.copytree(ref, run, ignore=shutil.ignore_patterns("train", "train.manifest.json", "*.lock"))
    assert read_manifest(run, "fetch") is not None and read_manifest(run, "train") is None


def _ctrl_c_as_in_a_terminal() -> None:
    """SIGINT back to its default action in the child, as a shell's foreground command has it: a suite
    started as a background job (``make test &``, nohup, some CI runners) runs with SIGINT ignored, which
    its children inherit, and Python then installs no KeyboardInterrupt (the training ran on to the end)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig,interval,threads", [(signal.SIGKILL, 0, None), (signal.SIGINT, 0, None),
                                                  (signal.SIGTERM, 0, None), (signal.SIGINT, 3600, None),
                                                  (signal.SIGTERM, 3600, 2)])
@pytest.mark.case("kill -9, Ctrl-C or SIGTERM during training", "exit 130 on Ctrl-C, 143 on SIGTERM; the re-run resumes after the last finished epoch and ends with bit-identical weights and loss history; Ctrl-C and SIGTERM save the last finished epoch even between timed checkpoints (train.checkpoint_interval); a CPU run resumes with the thread count it started with (CPU sums depend on it), which the manifest records")
def test_interrupted_training_resumes_to_identical_weights(tmp_path_factory, tmp_path, sig, interval, threads):
    args = list(RESUME_ARGS)
    if threads:  # started with 2 threads, resumed asking for 1: the run keeps its 2
        args += ["--set", f"run.threads={threads}"]
    ref = _uninterrupted(tmp_path_factory, args, threads)
    run = tmp_path / "run"
    args += ["--set", f"train.checkpoint_interval={interval}"]  # not part of the step's key
    _fetched_copy(ref, run)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "analysis", "train", *args, "--out", str(run)],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    resume = run / "train" / "resume.pt"
    deadline = time.time() + 120

    def epoch_finished() -> bool:  # with a long interval nothing is written until the interruption
        return resume.exists() if interval == 0 else any("train: epoch 1/4" in ln for ln in lines)
    while not epoch_finished() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert epoch_finished() and proc.poll() is None, "training finished before it could be interrupted"
    if interval:
        assert not resume.exists(), "a timed checkpoint was written before its interval had passed"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(lines)
    if sig in (signal.SIGINT, signal.SIGTERM):
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], err
        assert "re-run the same command to resume" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not (run / "train.manifest.json").exists() and not (run / "train" / "model.pt").exists()
    done = torch.load(resume, weights_only=True)["epoch"]
    assert 1 <= done < 4
    p = run_cli("train", *args, *(["--set", "run.threads=1"] if threads else []), "--out", str(run))
    assert p.returncode == 0 and f"resuming after epoch {done}" in p.stderr
    a, b = _state(ref / "train" / "model.pt"), _state(run / "train" / "model.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    h1 = json.loads((ref / "train" / "history.json").read_text())["epochs"]
    h2 = json.loads((run / "train" / "history.json").read_text())["epochs"]
    assert [e["train_loss"] for e in h1] == [e["train_loss"] for e in h2]
    if threads:
        assert f"resuming with {threads} thread(s)" in p.stderr
    assert read_manifest(run, "train")["computed_on"] == {"device": "cpu", "threads": threads or 1}


def test_a_changed_seed_changes_the_weights(tmp_path, smoke_run):
    out = tmp_path / "seed1"
    for step in ("fetch", "train"):
        assert run_cli(step, "--config", str(SMOKE), "--out", str(out), "--set", "run.seed=1").returncode == 0
    a, b = _state(smoke_run / "train" / "model.pt"), _state(out / "train" / "model.pt")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_pixels_from_disk_equal_pixels_in_memory(smoke_run):
    from analysis.pipeline.steps import load_images
    from analysis.steps.train import Pixels

    rows = load_images(smoke_run)
    idx = np.array([5, 0, 17, 5, 159])
    ram, disk = Pixels(rows, in_memory=True), Pixels(rows, in_memory=False)
    assert ram.ram is not None and disk.ram is None
    assert torch.equal(ram[idx], disk[idx])
    assert float(disk[idx].max()) <= 1.0
