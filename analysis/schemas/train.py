"""The train step's ``train/history.json`` and ``train/timing.json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from analysis.schemas.base import Schema


class Epoch(Schema):
    """One epoch's reconstruction errors, pixels in [0, 1]."""

    epoch: int = Field(description="the epoch, from 1")
    train_loss: float = Field(description="mean squared reconstruction error per pixel on the training images")
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
    """``train/history.json`` of weights trained in this run: the per-epoch train and held-out error."""

    epochs: tuple[Epoch, ...] = Field(description="one per epoch")
    n_train: int = Field(description="training images")
    n_val: int = Field(description="held-out images (data.val_fraction)")
    loss: str = Field(description="the loss in words")


class AdoptedHistory(Schema):
    """``train/history.json`` of weights adopted with ``--checkpoint``. Also written: ``checkpoint_sha256``,
    ``history_recorded``, what the checkpoint records of ``n_train``, ``n_val``, ``parameters`` and ``loss``, and a
    ``note`` when it records no history."""

    source: Literal["user checkpoint"] = Field(description="\"user checkpoint\"")
    epochs: tuple[Epoch, ...] = Field(description="the checkpoint's own history (empty when it records none)")
    checkpoint: str = Field(description="the adopted checkpoint's path")


class EpochTime(Schema):
    epoch: int = Field(description="the epoch, from 1")
    seconds: float = Field(description="wall-clock seconds")
    images_per_s: float = Field(description="training images per second")


class Timing(Schema):
    """``train/timing.json``: wall-clock time per epoch, the device and the CPU threads."""

    epochs: tuple[EpochTime, ...] = Field(description="one per epoch")
    device: str = Field(description="torch device type: \"cpu\", \"cuda\", \"mps\"")
    threads: int = Field(description="torch intra-op threads")

    @property
    def total_seconds(self) -> float:
        """Training time summed over the epochs."""
        return float(sum(e.seconds for e in self.epochs))
