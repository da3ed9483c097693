"""The same network as a VAE (issue 25): training, resuming, refusing the other kind, active units,
and the control's comparison with the headline ledger flipping where the geometry says it should."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from analysis.steps import across, encode, train
from analysis.pipeline.config import load_config
from analysis.errors import UserError
from analysis.pipeline.model import ConvVAE, build_model, kl_divergence, vae_objective
from conftest import SMOKE, assert_user_error, run_cli
from test_claims import gaussian, ledger

VAE = ["model.kind=vae", "train.checkpoint_interval=0"]


def _fresh(smoke_run, d):
    """A run directory with the smoke run's fetched images only."""
    d.mkdir(parents=True)
    shutil.copytree(smoke_run / "data", d / "data")
    shutil.copy(smoke_run / "fetch.manifest.json", d / "fetch.manifest.json")
    return d


def test_vae_network_posterior_and_loss():
    cfg = load_config(SMOKE, ["model.kind=vae"])
    net = build_model(cfg)
    assert isinstance(net, ConvVAE) and net.latent_dim == 16 and net.encoder[-1].out_features == 32
    x = torch.rand(4, 1, 16, 16)
    net.eval()
    mean, logvar = net.posterior(x)
    assert torch.equal(net.encode(x), mean) and torch.equal(net(x), net.decode(mean))  # eval: the mean
    out, kl = net(x, kl=True)
    # the KL of N(mean, exp(logvar)) from N(0, I), against torch.distributions
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, p).sum(-1), rtol=1e-5, atol=1e-6)
    loss = vae_objective(out, x, kl, beta=4.0)
    want = ((out - x) ** 2).mean() + 4.0 * kl.mean() / 128  # P / 2 = 16 * 16 / 2
    assert torch.allclose(loss, want, rtol=1e-6)
    assert torch.equal(vae_objective(out, x, None, 4.0), ((out - x) ** 2).mean())  # an AE: the mse alone
    assert float(kl_divergence(torch.zeros(1, 3), torch.zeros(1, 3))) == 0.0


@pytest.mark.case("a VAE (model.kind = \"vae\") interrupted during training, then the same command again",
                  "it resumes after the last finished epoch and writes a model.pt byte-identical to an "
                  "uninterrupted run's (its reparameterisation noise is seeded per epoch)")
def test_vae_trains_and_resumes_bit_identically(tmp_path, smoke_run, monkeypatch):
    cfg = load_config(SMOKE, VAE)
    a, b = _fresh(smoke_run, tmp_path / "a"), _fresh(smoke_run, tmp_path / "b")
    train.run(cfg, a)
    hist = json.loads((a / "train" / "history.json").read_text())
    assert "KL" in hist["loss"] and len(hist["epochs"]) == 3
    assert all(np.isfinite(e["train_loss"]) for e in hist["epochs"])
    real_epoch, calls = train._epoch, []

    def interrupted(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kw)

    monkeypatch.setattr(train, "_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train.run(cfg, b)
    monkeypatch.setattr(train, "_epoch", real_epoch)
    assert (b / "train" / "resume.pt").exists() and not (b / "train" / "model.pt").exists()
    train.run(cfg, b)
    for rel in ("train/model.pt", "train/history.json"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    # encode: the posterior means are the points; the moments are written beside them
    encode.run(cfg, a)
    z = np.load(a / "latents.npy")
    post = json.loads((a / "encode" / "summary.json").read_text())["posterior"]
    assert post["kind"] == "vae" and post["N"] == 16 == z.shape[1]
    np.testing.assert_allclose(post["means_variance"], z.astype(np.float64).var(axis=0), rtol=1e-4, atol=1e-9)
    assert post["active"] == int((z.var(axis=0) > 0.01).sum())


@pytest.mark.case("a VAE checkpoint used where model.kind = \"ae\", or an AE checkpoint where model.kind = \"vae\"",
                  "exit 2 with one line naming the checkpoint's kind and the config's, and the fix "
                  "(set model.kind); nothing is written")
def test_a_checkpoint_of_the_other_kind_is_refused(tmp_path, smoke_run):
    vae = _fresh(smoke_run, tmp_path / "vae")
    p = run_cli("train", "--config", str(SMOKE), "--out", str(vae), "--set", "model.kind=vae",
                "--set", "train.epochs=1")
    assert p.returncode == 0, p.stderr
    ckpt = vae / "train" / "model.pt"
    before = ckpt.read_bytes()
    ae = _fresh(smoke_run, tmp_path / "ae")
    p = run_cli("train", "--config", str(SMOKE), "--out", str(ae), "--checkpoint", str(ckpt))
    assert_user_error(p, "variational autoencoder (VAE)", "model.kind = 'ae'", "set model.kind = 'vae'")
    assert not (ae / "train").exists()
    p = run_cli("train", "--config", str(SMOKE), "--out", str(vae), "--set", "model.kind=vae",
                "--checkpoint", str(smoke_run / "train" / "model.pt"))
    assert_user_error(p, "holds an autoencoder (AE)", "model.kind = 'vae'", "set model.kind = 'ae'")
    assert ckpt.read_bytes() == before  # the refused adoption left the VAE's model.pt as it was


def test_active_units_on_synthetic_posteriors():
    rng = np.random.default_rng(0)
    spreads = np.array([0.0, 0.05, 0.09, 0.11, 0.5, 2.0])  # variances 0, .0025, .0081, .0121, .25, 4
    means = rng.standard_normal((20000, 6)) * spreads + 3.0  # an offset does not matter
    var = np.tile(np.array([1.0, 0.9, 0.5, 0.2, 0.1, 0.01]), (20000, 1))
    m = encode.PosteriorMoments()
    for i in range(0, 20000, 777):  # batches of uneven size
        m.add(means[i:i + 777], var[i:i + 777])
    s = m.summary(beta=1.0)
    assert s["active"] == 3 and s["active_components"] == [3, 4, 5]
    np.testing.assert_allclose(s["means_variance"], means.var(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s["mean_variance"], var[0])
    assert encode.active_units(np.array([0.01, 0.0100001, 0.0])).tolist() == [False, True, False]
    with pytest.raises(ValueError):
        encode.active_units(np.array([np.nan, 1.0]))


def test_a_vae_like_cloud_flips_the_origin_and_void_rows(tmp_path):
    """An AE-like cloud (off-centre: its centre 10 sd from the origin) against a VAE-like one (N(0, I)):
    the control comparison says the origin and the void rows differ."""
    ae = ledger(tmp_path / "ae", gaussian(shift=10.0))
    vae = ledger(tmp_path / "vae", gaussian())
    rows = []
    for fid, head in ae.items():
        rows.append({"id": fid, "claim": head["claim"], "headline": head,
                     "controls": [across.control_entry(head, "vae", list(vae.values()))]})
    by = {r["id"]: r["controls"][0] for r in rows}
    assert ae["origin_border"]["verdict"] in ("reproduced", "partly")
    assert by["origin_border"]["verdict"] == "not reproduced" and by["origin_border"]["differs"]
    assert ae["uniform_void"]["verdict"] == "reproduced"
    assert by["uniform_void"]["verdict"] != "reproduced" and by["uniform_void"]["differs"]
    summary = across.control_summary("vae", rows)
    flipped = {f["id"] for f in summary["flipped"]}
    assert {"origin_border", "uniform_void"} <= flipped
    assert "origin border (" in summary["sentence"] and f"of the {len(rows)} verdicts differ" in summary["sentence"]
    same = across.control_summary("ae", [{**r, "controls": [across.control_entry(r["headline"], "ae",
                                                                                  list(ae.values()))]}
                                         for r in rows])
    assert not same["flipped"] and "is the same as the headline's" in same["sentence"]


def test_runs_control_is_one_seed_beside_the_seeds():
    from analysis.pipeline.runs import expand
    cfg = load_config(SMOKE, ["runs.seeds=[3, 4]", 'runs.control=[{name = "vae", set = {"model.kind" = "vae"}}]'])
    specs = expand(cfg)
    assert [(s.name, s.seed, s.control) for s in specs] == [("seed3", 3, False), ("seed4", 4, False),
                                                             ("vae", 3, True)]
    assert specs[-1].config.model.kind == "vae" and specs[0].config.model.kind == "ae"
    assert across.kind(specs) == "seeds"
    with pytest.raises(UserError, match="runs.control"):
        expand(load_config(SMOKE, ['runs.control=[{name = "vae", set = {"model.knd" = "vae"}}]']))
    with pytest.raises(UserError, match="model.kind"):
        load_config(SMOKE, ["model.kind=gan"])


def test_a_vae_trains_with_two_gloo_processes(tmp_path, smoke_run):
    """DDP (torchrun, 2 CPU processes, gloo): the VAE's KL travels through the wrapped forward, each rank
    draws its own noise, and rank 0 writes a VAE checkpoint that the encode step reads."""
    import os
    import subprocess
    import sys

    from conftest import ROOT
    out = _fresh(smoke_run, tmp_path / "ddp")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "analysis", "train", "--config", str(SMOKE), "--out", str(out), "--set", "model.kind=vae"]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    hist = json.loads((out / "train" / "history.json").read_text())
    losses = [e["train_loss"] for e in hist["epochs"]]
    assert len(losses) == 3 and all(np.isfinite(losses)) and losses[-1] < losses[0] and "KL" in hist["loss"]
    p = run_cli("encode", "--config", str(SMOKE), "--out", str(out), "--set", "model.kind=vae")
    assert p.returncode == 0 and "components active" in p.stderr, p.stderr
