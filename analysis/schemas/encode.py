"""The encode step's ``encode/summary.json``, ``encode/reconstructions.npz`` and ``encode/gallery.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pydantic import Field

from analysis.schemas.base import Arrays, Schema, array


class Layer(Schema):
    """One encoder layer as measured."""

    layer: str = Field(description="in words, e.g. \"conv 4×4, stride 2 + batch norm + ReLU\"")
    input: tuple[int, ...] = Field(description="shape without the batch axis")
    output: tuple[int, ...] = Field(description="shape without the batch axis")


class Network(Schema):
    """``encode/summary.json`` ``network``: the autoencoder as loaded, measured by passing one image through it
    (:func:`analysis.steps.encode.describe_network`)."""

    parameters: int = Field(description="weights of encoder and decoder")
    latent_dim: int = Field(description="N")
    flat_features: int = Field(description="inputs of the latent linear map")
    encoder: tuple[Layer, ...] = Field(description="one entry per layer")
    kind: Literal["ae", "vae"] = Field(description="model.kind: an autoencoder, or a VAE (the control)")


class ReconstructionInfo(Schema):
    n: int = Field(description="images reconstructed (encode/reconstructions.npz)")
    split: Literal["held-out", "training"] = Field(description="\"held-out\": images of the held-out split "
                                                               "(:func:`analysis.steps.train.split_indices`), never trained "
                                                               "on; \"training\" only when data.val_fraction = 0 "
                                                               "leaves none")
    mse: float = Field(description="mean squared error per pixel over these images, pixels in [0, 1]")


class GalleryInfo(Schema):
    n: int = Field(description="images drawn at random to show the data (encode/gallery.npz)")
    seed: int = Field(description="run.seed, the draw's seed")


class Posterior(Schema):
    """``encode/summary.json`` ``posterior``: a VAE's posteriors over the data (the control)."""

    kind: Literal["vae"] = Field(description="the network's kind")
    beta: float = Field(description="model.beta, the weight of the KL term it was trained with")
    threshold: float = Field(description="a component is active when the variance of its posterior means across "
                                         "the data exceeds this (:data:`analysis.steps.encode.ACTIVE_THRESHOLD`)")
    active: int = Field(description="active components")
    N: int = Field(description="latent dimension")
    active_components: tuple[int, ...] = Field(description="the active components' indices")
    means_variance: tuple[float, ...] = Field(description="(N,) the variance across the data of each posterior mean")
    mean_variance: tuple[float, ...] = Field(description="(N,) each component's mean posterior variance")


class EncodeSummary(Schema):
    """``encode/summary.json``: the network as encoded with, and the examples the article shows."""

    network: Network = Field(description="the autoencoder")
    reconstructions: ReconstructionInfo = Field(description="the reconstructed examples")
    gallery: GalleryInfo = Field(description="the gallery of data images")
    posterior: Posterior | None = Field(description="a VAE's posteriors (its latent points are the posterior means); "
                                                    "None for an AE")


class Reconstructions(Arrays):
    """``encode/reconstructions.npz`` with its summary: the first images of the held-out split (k =
    ``reconstructions.n`` of summary.json) and decoder(encoder(image))."""

    split: str = Field(description="\"held-out\" (never trained on) or \"training\" (data.val_fraction = 0)")
    mse: float = Field(description="mean squared error per pixel over these images, pixels in [0, 1]")
    index: np.ndarray = array("k", kinds="i", description="rows of data/images.npy, int64")
    ids: np.ndarray = array("k", kinds="U", description="their image identifiers")
    originals: np.ndarray = array("k", "C", "S", "S", kinds="u", description="the images, uint8")
    reconstructions: np.ndarray = array("k", "C", "S", "S", kinds="f",
                                        description="decoder(encoder(image)), float32 in [0, 1]")


class Gallery(Arrays):
    """``encode/gallery.npz``: images drawn at random (seed ``seed``) to show the data."""

    seed: int = Field(description="run.seed")
    index: np.ndarray = array("g", kinds="i", description="rows of data/images.npy, ascending, int64")
    ids: np.ndarray = array("g", kinds="U", description="their image identifiers")
    images: np.ndarray = array("g", "C", "S", "S", kinds="u", description="the images, uint8")


@dataclass(frozen=True)
class Latents:
    """``latents.npy``: n points of N components (read with :meth:`Run.latents_array`)."""

    n: int
    N: int
