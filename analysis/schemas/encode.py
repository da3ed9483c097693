"""The encode step's ``encode/summary.json``, ``encode/reconstructions.npz`` and ``encode/gallery.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pydantic import Field

from analysis.schemas.base import Arrays, Schema, array


class Layer(Schema):
    layer: str = Field(description="in words, e.g. \"conv 4×4, stride 2 + batch norm + ReLU\"")
    input: tuple[int, ...] = Field(description="shape without the batch axis")
    output: tuple[int, ...]


class Network(Schema):
    """``encode/summary.json`` ``network``: the autoencoder as measured by the encode step."""

    parameters: int
    latent_dim: int
    flat_features: int
    encoder: tuple[Layer, ...]


class ReconstructionInfo(Schema):
    n: int
    split: Literal["held-out", "training"]
    mse: float


class GalleryInfo(Schema):
    n: int
    seed: int


class EncodeSummary(Schema):
    network: Network
    reconstructions: ReconstructionInfo
    gallery: GalleryInfo


class Reconstructions(Arrays):
    """``encode/reconstructions.npz`` with its summary: images and decoder(encoder(image))."""

    split: str = Field(description="\"held-out\" (never trained on) or \"training\" (data.val_fraction = 0)")
    mse: float = Field(description="mean squared error per pixel over these images, pixels in [0, 1]")
    index: np.ndarray = array("k", kinds="i")
    ids: np.ndarray = array("k", kinds="U")
    originals: np.ndarray = array("k", "C", "S", "S", kinds="u")
    reconstructions: np.ndarray = array("k", "C", "S", "S", kinds="f")


class Gallery(Arrays):
    """``encode/gallery.npz``: images drawn at random (seed ``seed``) to show the data."""

    seed: int
    index: np.ndarray = array("g", kinds="i")
    ids: np.ndarray = array("g", kinds="U")
    images: np.ndarray = array("g", "C", "S", "S", kinds="u")


@dataclass(frozen=True)
class Latents:
    """``latents.npy``: n points of N components (read with :meth:`Run.latents_array`)."""

    n: int
    N: int
