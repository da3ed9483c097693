"""Every step's ``<step>.manifest.json``."""

from __future__ import annotations

from pydantic import Field

from analysis.schemas.base import Schema, TableOf


class ComputedOn(Schema):
    """Where the train step computed the weights: CPU results are bit-identical per thread count (the
    article's sentence on it: :func:`analysis.prose.computed_on_text`)."""

    device: str = Field(description="torch device type: \"cpu\", \"cuda\", \"mps\"")
    threads: int | None = Field(description="CPU intra-op threads (None on a GPU)")


class Manifest(Schema):
    """``<step>.manifest.json``: what a step read and wrote, with hashes and versions (:mod:`analysis.pipeline.provenance`).
    Also written: ``config``, the resolved config the step ran with, and a step's extras (train: ``checkpoint``)."""

    step: str = Field(description="the step's name")
    key: str = Field(description="the key of everything the outputs depend on (config entries, input hashes, code; "
                                 ":func:`analysis.pipeline.provenance.hash_key`)")
    inputs: TableOf[str] = Field(description="input file (run-relative) -> sha256")
    outputs: TableOf[str] = Field(description="output file -> sha256")
    versions: TableOf[str] = Field(description="package -> version")
    code: TableOf[str] | None = Field(None, description="the step's code: module (dotted below analysis, "
                                                        "``steps.stats``) -> sha256 of its source (16 hex), as its key "
                                                        "covers it (:func:`analysis.pipeline.steps.status` names the "
                                                        "files that changed); None: a manifest of an older version, "
                                                        "whose key alone stands for its code")
    volatile: tuple[str, ...] | None = Field(None, description="outputs not hashed because they differ from run to "
                                                               "run (train/timing.json); None if none")
    computed_on: ComputedOn | None = Field(None, description="train: the device and CPU thread count the weights were "
                                                             "computed with (None: an adopted checkpoint, or another "
                                                             "step)")
