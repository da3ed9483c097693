"""The fetch step's ``data/info.json``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from analysis.schemas.base import Schema


class DataInfo(Schema):
    """``data/info.json``: what the fetch step cached."""

    source: Literal["cbcl-faces", "folder", "synthetic"]
    image_size: int
    channels: int
    n_images: int
    n_skipped: int
    citation: str = Field(description="empty for a folder of the user's images")
