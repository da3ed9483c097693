"""The convolutional autoencoder's network: :class:`ConvAE`, :class:`ConvVAE` and their objective.

Architecture (sizes from ``[model]`` and ``[data]`` in the config; C = data.channels,
S = data.image_size, c_1..c_L = model.channels, N = model.latent_dim)::

    encoder                                   decoder (mirror image)
    x: (B, C, S, S) in [0, 1]                 z: (B, N)
    Conv(C -> c_1, k, stride 2) + BN + ReLU   Linear(N -> c_L * s * s), reshape
    Conv(c_1 -> c_2, k, stride 2) + BN + ReLU ConvT(c_L -> c_{L-1}, k, stride 2) + BN + ReLU
    ...                                       ...
    Conv(c_{L-1} -> c_L, k, stride 2)+BN+ReLU ConvT(c_1 -> C, k, stride 2)
    flatten: (B, c_L * s * s), s = S / 2^L    sigmoid: (B, C, S, S) in [0, 1]
    Linear(c_L * s * s -> N)
    z: (B, N)

Each stride-2 layer halves (encoder) or doubles (decoder) the side exactly, so S
must be a multiple of 2^L. The latent layer is linear with no activation: the
latent points are free to sit anywhere in R^N, which is what the study measures.
Same design as the deterministic AEs of Ghosh et al. (RAE, ICLR 2020), smaller.

With ``model.kind = "vae"`` the same network is a variational autoencoder (:class:`ConvVAE`):
the latent linear map gives a mean and a log-variance per component, and the latent point
of an image is its posterior mean.

:mod:`analysis.pipeline.model` re-exports everything here; checkpoints are in :mod:`analysis.pipeline.checkpoint`.
"""

from __future__ import annotations

import torch
from torch import nn

from analysis.pipeline.config import Config


def _padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) so that a stride-2 conv halves and its transpose doubles."""
    # out = (S + 2p - k) // 2 + 1 == S / 2  and  (S/2 - 1) * 2 - 2p + k + op == S
    return {3: (1, 1), 4: (1, 0), 5: (2, 1)}[kernel_size]


class ConvAE(nn.Module):
    """Convolutional autoencoder with a linear latent layer.

    Parameters
    ----------
    in_channels : int
        1 (gray) or 3 (RGB).
    image_size : int
        Side S of the square input; a multiple of 2 ** len(channels).
    latent_dim : int
        Latent dimension N.
    channels : sequence of int
        Output channels of the encoder's conv layers.
    kernel_size : int
        3, 4 or 5.
    batch_norm : bool
        Batch normalisation after each hidden conv layer.
    """

    def __init__(self, in_channels: int, image_size: int, latent_dim: int,
                 channels: list[int], kernel_size: int = 4, batch_norm: bool = True):
        super().__init__()
        pad, out_pad = _padding(kernel_size)
        self.side = image_size // 2 ** len(channels)
        self.top = channels[-1]

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        enc: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            enc += [nn.Conv2d(c_in, c, kernel_size, 2, pad, bias=not batch_norm), norm(c), nn.ReLU(inplace=True)]
            c_in = c
        enc += [nn.Flatten(), nn.Linear(self.top * self.side ** 2, latent_dim)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Linear(latent_dim, self.top * self.side ** 2),
                                nn.Unflatten(1, (self.top, self.side, self.side))]
        rev = list(reversed(channels)) + [in_channels]
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            last = i == len(rev) - 2
            dec.append(nn.ConvTranspose2d(a, b, kernel_size, 2, pad, out_pad, bias=last or not batch_norm))
            if not last:
                dec += [norm(b), nn.ReLU(inplace=True)]
        dec.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)

    kind = "ae"

    @property
    def latent_dim(self) -> int:
        """N, the dimension of the latent points."""
        return self.encoder[-1].out_features

    def forward(self, x: torch.Tensor, kl: bool = False):
        """Reconstruct ``x``: (B, C, S, S) -> (B, C, S, S); with ``kl``, (reconstruction, None)
        (the training objective's form, shared with :class:`ConvVAE`)."""
        out = self.decoder(self.encoder(x))
        return (out, None) if kl else out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) in [0, 1] -> latent points (B, N)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent points (B, N) -> images (B, C, S, S) in [0, 1]."""
        return self.decoder(z)


class ConvVAE(ConvAE):
    """The same network as a variational autoencoder (Kingma & Welling, 2014): the control.

    The encoder's latent linear map gives 2N numbers per image, the mean and the log-variance
    of a diagonal Gaussian posterior q(z | x); the decoder is the AE's. Training draws
    z = mean + exp(logvar / 2) * eps with eps ~ N(0, I) from :attr:`noise` (a generator the
    trainer seeds per epoch and rank, so that a resumed run draws what an uninterrupted one
    does) and adds KL(q(z | x) || N(0, I)) (:func:`kl_divergence`). In eval mode, and in
    :meth:`encode`, the latent point of an image is its posterior mean.
    """

    kind = "vae"

    def __init__(self, in_channels: int, image_size: int, latent_dim: int,
                 channels: list[int], kernel_size: int = 4, batch_norm: bool = True):
        super().__init__(in_channels, image_size, latent_dim, channels, kernel_size, batch_norm)
        self.encoder[-1] = nn.Linear(self.top * self.side ** 2, 2 * latent_dim)
        self.noise: torch.Generator | None = None

    @property
    def latent_dim(self) -> int:
        return self.encoder[-1].out_features // 2

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, S, S) -> (mean, log-variance), each (B, N)."""
        h = self.encoder(x)
        n = self.latent_dim
        return h[:, :n], h[:, n:]

    def forward(self, x: torch.Tensor, kl: bool = False):
        """Reconstruct ``x`` from a posterior sample (training) or the posterior mean (eval); with
        ``kl``, (reconstruction, KL per image (B,))."""
        mean, logvar = self.posterior(x)
        z = mean
        if self.training:
            eps = torch.randn(mean.shape, generator=self.noise, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
        out = self.decoder(z)
        return (out, kl_divergence(mean, logvar)) if kl else out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) -> posterior means (B, N): the latent points."""
        return self.posterior(x)[0]


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag(exp(logvar))) || N(0, I)) per row, in nats: (B, N), (B, N) -> (B,)."""
    return -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=-1)


def vae_objective(out: torch.Tensor, x: torch.Tensor, kl: torch.Tensor | None, beta: float) -> torch.Tensor:
    """The training loss: the mean squared error per pixel, plus for a VAE beta x KL scaled the same way.

    For a VAE this is (0.5 x sum of squared errors + beta x KL) per image, averaged over the
    batch, divided by P / 2 (P = C x S x S pixels per image): pythae's VAE loss (MSE
    reconstruction, beta = 1) divided by P / 2, so that it stays on the AE's per-pixel scale and
    the same learning rate suits both (``make bench``: vae_loss_matches_pythae).
    """
    mse = nn.functional.mse_loss(out.float(), x)
    if kl is None:
        return mse
    pixels = x[0].numel()
    return mse + beta * kl.float().mean() * 2.0 / pixels


MODELS = {"ae": ConvAE, "vae": ConvVAE}


def build_model(cfg: Config) -> ConvAE:
    """The network described by ``cfg.model`` (its kind, AE or VAE) and ``cfg.data``."""
    m = cfg.model
    return MODELS[m.kind](cfg.data.channels, cfg.data.image_size, m.latent_dim, m.channels, m.kernel_size,
                          m.batch_norm)

