import pytest
import torch

from analysis.pipeline.config import load_config
from analysis.pipeline.model import ConvAE, architecture, build_model, pick_device


@pytest.mark.parametrize("channels, kernel, size, in_ch, latent", [
    ([8, 16], 4, 16, 1, 5),
    ([8, 16, 32], 3, 24, 3, 64),
    ([4, 8, 16, 32], 5, 64, 3, 256),
    ([8], 4, 8, 1, 2),
])
def test_shapes(channels, kernel, size, in_ch, latent):
    m = ConvAE(in_ch, size, latent, channels, kernel, batch_norm=True).eval()
    x = torch.rand(3, in_ch, size, size)
    with torch.no_grad():
        z = m.encode(x)
        assert z.shape == (3, latent)
        y = m.decode(z)
        assert y.shape == x.shape
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
        assert m(x).shape == x.shape


def test_build_from_config_and_architecture():
    cfg = load_config("configs/default.toml")
    m = build_model(cfg)
    assert m.encode(torch.rand(2, 1, 24, 24)).shape == (2, 256)
    arch = architecture(cfg)
    assert arch["latent_dim"] == 256 and arch["channels"] == [32, 64, 128]


def test_latent_layer_is_linear_and_unbounded():
    m = ConvAE(1, 16, 4, [8, 16]).eval()
    assert isinstance(m.encoder[-1], torch.nn.Linear)
    with torch.no_grad():
        m.encoder[-1].bias.fill_(-50.0)
    with torch.no_grad():
        assert float(m.encode(torch.rand(1, 1, 16, 16)).max()) < 0  # no ReLU/tanh clamps the latent


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    auto = pick_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
