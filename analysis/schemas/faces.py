"""The faces step's ``faces/calibration.json`` and ``faces/examples.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pydantic import Field

from analysis.schemas.base import Arrays, ArtifactError, Schema, TableOf, array
from analysis.schemas.files import FACES


FaceRule = Literal["both", "detector", "classifier"]


class FaceRate(Schema):
    """How many images of a set a test called faces, with the exact binomial interval of the share."""

    count: int
    rate: float
    low: float
    high: float


class FaceSet(Schema):
    """One calibration set (see :mod:`analysis.facetest`) and each test's rate on it."""

    name: str
    kind: Literal["positive", "negative", "diagnostic"]
    description: str
    n: int
    detector: FaceRate
    classifier: FaceRate
    both: FaceRate

    def of(self, test: str) -> FaceRate:
        """The rate of ``test`` ("detector", "classifier" or "both")."""
        if test not in ("detector", "classifier", "both"):
            raise KeyError(f"no face test {test!r}")
        return getattr(self, test)


class FaceTestJudgement(Schema):
    usable: bool
    tpr_min: float
    fpr_max: float
    worst: float
    reasons: tuple[str, ...]


class FaceTests(Schema):
    detector: FaceTestJudgement
    classifier: FaceTestJudgement
    both: FaceTestJudgement


class FaceDetectorInfo(Schema):
    name: str
    package: str
    version: str
    params: TableOf[Any]


class FaceClassifierInfo(Schema):
    name: str
    params: TableOf[Any]
    faces: int
    cbcl_nonfaces: int
    synthetic_negatives: int
    negatives: Literal["cbcl", "cbcl+synthetic", "synthetic"]
    sentence: str


class Agreement(Schema):
    """Cohen's kappa of the two tests' labels on a set of images, with its bootstrap interval
    (None when undefined: both tests gave every image the same label)."""

    n: int
    agreement: float | None
    both: int
    only_a: int = Field(description="the detector alone")
    only_b: int = Field(description="the classifier alone")
    neither: int
    kappa: float | None
    low: float | None
    high: float | None


class FaceSettings(Schema):
    calibration_images: int
    folds: int
    min_tpr: float
    max_fpr: float
    level: float
    seed: int
    image_shape: tuple[int, int, int]


class FaceCalibration(Schema):
    """``faces/calibration.json``: the face tests and their measured error rates on labelled images made
    from the data alone (:mod:`analysis.facetest`); ``tests`` to ``rule_text`` judge these sets only
    (each run's judgement adds its reconstructions: :attr:`Run.face_judgement`)."""

    settings: FaceSettings
    detector: FaceDetectorInfo
    classifier: FaceClassifierInfo
    sets: tuple[FaceSet, ...]
    tests: FaceTests
    rule: FaceRule | None = Field(description="the verdict rule on these sets; None: no usable test")
    usable: bool
    reason: str | None = Field(description="why not (None when usable)")
    rule_text: str
    agreement: Agreement = Field(description="on every calibration image")
    notes: tuple[str, ...]

    def set(self, name: str) -> FaceSet:
        for s in self.sets:
            if s.name == name:
                return s
        raise ArtifactError(FACES, f"has no calibration set named '{name}'")


@dataclass(frozen=True)
class FaceJudgement:
    """The face tests as one run uses them: the faces step's sets with the run's reconstructions (after
    the real faces), the judgement of every set and the run's verdict rule (:attr:`Run.face_judgement`)."""

    sets: tuple[FaceSet, ...]
    tests: FaceTests
    rule: FaceRule | None
    usable: bool
    reason: str | None
    rule_text: str
    checked: bool           #: False: the run's reconstructions were not checked (no generate step yet)
    notes: tuple[str, ...]


class FaceExamples(Arrays):
    """``faces/examples.npz``: the first images of each calibration set (in ``sets`` order) and their labels."""

    images: np.ndarray = array("K", "E", "S", "S", kinds="u")
    detector: np.ndarray = array("K", "E", kinds="b")
    classifier: np.ndarray = array("K", "E", kinds="b")
