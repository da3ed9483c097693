"""The decoder in the browser (analysis/science/export.py + report/_static/flg-decoder.js) against PyTorch.

Small random autoencoders of every layer kind and option analysis/pipeline/model.py builds (kernel
3, 4 and 5; gray and RGB; one to three layers; with batch normalisation holding non-trivial
running statistics, and without) are exported and decoded by ``window.flgDecode`` in
headless Chromium (the browser the site is tested in); the images must agree with
``model.decode`` to 1e-5. The site's own decoder is checked in test_report_browser.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.science import export
from analysis.pipeline.model import ConvAE

ROOT = Path(__file__).resolve().parents[1]
DECODER_JS = ROOT / "report" / "_static" / "flg-decoder.js"
CHROMIUM = Path("/usr/bin/chromium")

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None


def _model(C: int, S: int, N: int, channels: list[int], k: int, bn: bool, seed: int) -> ConvAE:
    torch.manual_seed(seed)
    m = ConvAE(C, S, N, channels, k, bn)
    g = torch.Generator().manual_seed(seed + 1)
    for mod in m.decoder:
        if isinstance(mod, torch.nn.BatchNorm2d):  # statistics as after training, not the identity
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.3)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(mod.num_features, generator=g) * 0.2)
    return m.eval()


ARCHS = {
    "gray-k4-bn": (1, 16, 8, [4, 8], 4, True),
    "rgb-k3-bn-3layers": (3, 24, 5, [6, 10, 12], 3, True),
    "gray-k5-nobn": (1, 20, 7, [5, 9], 5, False),
    "rgb-k4-1layer": (3, 8, 3, [4], 4, True),
}


@pytest.fixture(scope="module")
def page():
    if sync_playwright is None or not (CHROMIUM.exists() or shutil.which("chromium")):
        pytest.skip("Chromium (/usr/bin/chromium) or the playwright package is missing; run `make setup`")
    with sync_playwright() as p:
        exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield browser.new_page()
        browser.close()


def browser_decode(page, model: ConvAE, z: np.ndarray) -> np.ndarray:
    """Decode the rows of z with the exported weights and flg-decoder.js in a fresh document."""
    page.goto("about:blank")  # a new window: no globals of the previous model
    page.set_content("<!DOCTYPE html><title>decoder</title>")
    page.add_script_tag(content=export.weights_script(model.decoder).decode("ascii"))
    page.add_script_tag(path=str(DECODER_JS))
    out = page.evaluate("zs => zs.map(z => Array.from(flgDecode(Float32Array.from(z))))", z.tolist())
    return np.array(out)


@pytest.mark.parametrize("arch", list(ARCHS), ids=list(ARCHS))
def test_browser_forward_pass_equals_torch(page, arch):
    C, S, N, channels, k, bn = ARCHS[arch]
    model = _model(C, S, N, channels, k, bn, seed=len(arch))
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(size=(20, N)), 8 * rng.normal(size=(3, N)), np.zeros((1, N))]).astype(np.float32)
    with torch.no_grad():
        want = model.decode(torch.from_numpy(z)).numpy().reshape(len(z), -1)
    got = browser_decode(page, model, z)
    assert got.shape == want.shape == (len(z), C * S * S)
    assert np.all((got >= 0) & (got <= 1))
    assert np.abs(got - want).max() <= 1e-5, np.abs(got - want).max()
    info = page.evaluate("flgDecode.info()")
    assert info == {"latentDim": N, "channels": C, "imageSize": S, "parameters": export.weights_bytes(model.decoder) // 4}


def test_browser_forward_pass_equals_torch_for_a_vae(page):
    """A VAE's decoder (model.kind = "vae", the control) is the AE's: the page decodes its points too."""
    from analysis.pipeline.model import ConvVAE
    torch.manual_seed(11)
    vae = ConvVAE(1, 16, 8, [4, 8], 4, True).eval()
    z = np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32)
    with torch.no_grad():
        want = vae.decode(torch.from_numpy(z)).numpy().reshape(len(z), -1)
    got = browser_decode(page, vae, z)
    assert np.abs(got - want).max() <= 1e-5, np.abs(got - want).max()
    assert page.evaluate("flgDecode.info()")["latentDim"] == 8


def test_browser_decoder_refuses_bad_input(page):
    model = _model(1, 16, 8, [4, 8], 4, True, seed=3)
    browser_decode(page, model, np.zeros((1, 8), np.float32))
    for z, needle in (("new Float32Array(7)", "expected a latent point of 8 numbers"),
                      ("[1, 2, 3, 4, 5, 6, 7, NaN]", "component 7 is not a finite number")):
        msg = page.evaluate(f"() => {{ try {{ flgDecode({z}); return 'no error'; }} catch (e) {{ return e.message; }} }}")
        assert needle in msg, msg
    page.goto("about:blank")
    page.set_content("<!DOCTYPE html><title>no weights</title>")
    page.add_script_tag(path=str(DECODER_JS))
    msg = page.evaluate("() => { try { flgDecode([0]); return 'no error'; } catch (e) { return e.message; } }")
    assert "has no live decoder" in msg


def test_export_folds_batch_norm_and_orders_weights():
    model = _model(1, 16, 8, [4, 8], 4, True, seed=5)
    layers = export.decoder_layers(model.decoder)
    assert [layer["kind"] for layer in layers] == ["linear", "convT", "convT"]
    assert [layer["act"] for layer in layers] == [None, "relu", "sigmoid"]
    assert layers[1]["w"].shape == (4, 4, 8, 4) and layers[1]["out_side"] == 8 and layers[2]["out_side"] == 16
    script = export.weights_script(model.decoder).decode("ascii")
    doc = json.loads(script[script.index("{"):script.rindex(";")])
    assert doc["format"] == export.FORMAT and doc["latent_dim"] == 8 and doc["image_size"] == 16
    # Linear 8 -> 8*4*4, ConvT 8 -> 4 (k 4), ConvT 4 -> 1: weights and (folded) biases, no BN parameters
    assert doc["parameters"] == export.weights_bytes(model.decoder) // 4 == 8 * 128 + 128 + 8 * 4 * 16 + 4 + 4 * 16 + 1
    # batch norm is gone: the folded weights differ from the raw ones exactly by the BN scale
    bn = model.decoder[3]
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    raw = model.decoder[2].weight.detach().numpy().transpose(2, 3, 0, 1)
    np.testing.assert_allclose(layers[1]["w"], raw * scale, rtol=1e-6)


def test_export_refuses_a_decoder_it_does_not_implement():
    model = _model(1, 16, 8, [4, 8], 4, True, seed=5)
    with pytest.raises(ValueError, match="does not implement Tanh"):
        export.decoder_layers(torch.nn.Sequential(*list(model.decoder)[:-1], torch.nn.Tanh()))
    with pytest.raises(ValueError, match="must end with a ConvTranspose2d and a Sigmoid"):
        export.decoder_layers(torch.nn.Sequential(*list(model.decoder)[:-1]))
