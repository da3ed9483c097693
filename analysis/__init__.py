"""Latent-space geometry of a convolutional face autoencoder.

The package is a pipeline of small steps (see :mod:`analysis.cli`): fetch data,
train the autoencoder, encode every image to a latent point, measure the geometry
of the point cloud, fit generators, and write artifacts with their provenance.
Nothing happens at import time.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("face-latent-geometry")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"
