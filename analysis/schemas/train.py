"""The train step's ``train/history.json`` and ``train/timing.json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from analysis.schemas.base import Schema


class Epoch(Schema):
    epoch: int
    train_loss: float
    val_loss: float | None = Field(description="None when not validated (see ``train.val_every``) or nothing held out")


@dataclass(frozen=True)
class History:
    """``train/history.json``: the per-epoch reconstruction error.

    For weights adopted with ``--checkpoint`` (not trained in this run) ``n_train`` and
    ``n_val`` are None and ``adopted_from`` names the checkpoint.
    """

    epochs: tuple[Epoch, ...]
    n_train: int | None
    n_val: int | None
    adopted_from: str | None


class TrainedHistory(Schema):
    epochs: tuple[Epoch, ...]
    n_train: int
    n_val: int
    loss: str


class AdoptedHistory(Schema):
    """``train/history.json`` of weights adopted with ``--checkpoint``."""

    source: Literal["user checkpoint"]
    epochs: tuple[Epoch, ...]
    checkpoint: str


class EpochTime(Schema):
    epoch: int
    seconds: float
    images_per_s: float


class Timing(Schema):
    """``train/timing.json``: wall-clock time per epoch, the device and the CPU threads."""

    epochs: tuple[EpochTime, ...]
    device: str = Field(description="torch device type: \"cpu\", \"cuda\", \"mps\"")
    threads: int = Field(description="torch intra-op threads")

    @property
    def total_seconds(self) -> float:
        """Training time summed over the epochs."""
        return float(sum(e.seconds for e in self.epochs))
