"""The fetch step's ``data/info.json``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from analysis.schemas.base import Schema


class DataInfo(Schema):
    """``data/info.json``: what the fetch step cached (``data/images.npy``, uint8 (n, C, S, S), and
    ``data/ids.txt``)."""

    source: Literal["cbcl-faces", "folder", "synthetic"] = Field(
        description="data.source: the MIT CBCL faces, a folder of images, or synthetic test images")
    image_size: int = Field(description="S: images are S x S pixels after preprocessing")
    channels: int = Field(description="C: 1 (gray) or 3 (RGB)")
    n_images: int = Field(description="images cached in data/images.npy")
    n_skipped: int = Field(description="unreadable, truncated, too-small or too-large files skipped (folder)")
    citation: str = Field(description="empty for a folder of the user's images")
