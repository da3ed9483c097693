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

    count: int = Field(description="images called faces")
    rate: float = Field(description="count / n")
    low: float = Field(description="lower end of the Clopper-Pearson interval at faces.level")
    high: float = Field(description="upper end")


class FaceSet(Schema):
    """One calibration set (see :mod:`analysis.steps.facetest`) and each test's rate on it."""

    name: str = Field(description="the set's name")
    kind: Literal["positive", "negative", "diagnostic"] = Field(
        description="\"positive\" (faces), \"negative\" (never faces) or \"diagnostic\" (reported, not scored)")
    description: str = Field(description="the set in words")
    n: int = Field(description="images")
    detector: FaceRate = Field(description="the detector's rate")
    classifier: FaceRate = Field(description="the classifier's rate")
    both: FaceRate = Field(description="the rule \"both tests call it a face\"")

    def of(self, test: str) -> FaceRate:
        """The rate of ``test`` ("detector", "classifier" or "both")."""
        if test not in ("detector", "classifier", "both"):
            raise KeyError(f"no face test {test!r}")
        return getattr(self, test)


class FaceTestJudgement(Schema):
    """One test (or the rule "both") judged on the calibration sets."""

    usable: bool = Field(description="true-positive rate >= faces.min_tpr on every positive set and false-positive "
                                     "rate <= faces.max_fpr on the CBCL non-faces and every hard-negative set (point "
                                     "figures)")
    tpr_min: float = Field(description="its lowest rate on a positive set")
    fpr_max: float = Field(description="its highest rate on a negative set")
    worst: float = Field(description="its share right on its worst scored set")
    reasons: tuple[str, ...] = Field(description="the bars it misses, in words")


class FaceTests(Schema):
    detector: FaceTestJudgement = Field(description="the detector")
    classifier: FaceTestJudgement = Field(description="the classifier")
    both: FaceTestJudgement = Field(description="the rule \"both tests call it a face\"")


class FaceDetectorInfo(Schema):
    """The published face detector, used as it is (:class:`analysis.science.faces.HaarDetector`)."""

    name: str = Field(description="the detector")
    package: str = Field(description="the package it ships in")
    version: str = Field(description="that package's version")
    params: TableOf[Any] = Field(description="its parameters")


class FaceClassifierInfo(Schema):
    """The face/non-face classifier (:class:`analysis.science.faces.PixelFaceClassifier`), fitted on every labelled image."""

    name: str = Field(description="the classifier")
    params: TableOf[Any] = Field(description="its parameters")
    faces: int = Field(description="faces the final model was trained on")
    cbcl_nonfaces: int = Field(description="CBCL non-faces it was trained on")
    synthetic_negatives: int = Field(description="synthetic hard negatives it was trained on")
    negatives: Literal["cbcl", "cbcl+synthetic", "synthetic"] = Field(description="which non-faces it was trained on")
    sentence: str = Field(description="the classifier in words")


class Agreement(Schema):
    """Cohen's kappa of the two tests' labels on a set of images, with its bootstrap interval
    (None when undefined: both tests gave every image the same label)."""

    n: int = Field(description="images scored by both tests")
    agreement: float | None = Field(description="share of images given the same label")
    both: int = Field(description="images both tests call faces")
    only_a: int = Field(description="the detector alone")
    only_b: int = Field(description="the classifier alone")
    neither: int = Field(description="images neither calls a face")
    kappa: float | None = Field(description="Cohen's kappa")
    low: float | None = Field(description="lower end of its bootstrap interval")
    high: float | None = Field(description="upper end")


class FaceSettings(Schema):
    """The [faces] values this step depends on, and the images' shape."""

    calibration_images: int = Field(description="images per calibration set (faces.calibration_images)")
    folds: int = Field(description="cross-fitting folds (faces.folds)")
    min_tpr: float = Field(description="faces.min_tpr")
    max_fpr: float = Field(description="faces.max_fpr")
    level: float = Field(description="level of the intervals (faces.level)")
    seed: int = Field(description="faces.seed")
    image_shape: tuple[int, int, int] = Field(description="[C, S, S]")


class FaceCalibration(Schema):
    """``faces/calibration.json``: the face tests and their measured error rates on labelled images made
    from the data alone (:mod:`analysis.steps.facetest`); ``tests`` to ``rule_text`` judge these sets only
    (each run's judgement adds its reconstructions: :attr:`Run.face_judgement`). Also written:
    ``schema_version`` (2)."""

    settings: FaceSettings = Field(description="the [faces] values used")
    detector: FaceDetectorInfo = Field(description="the detector")
    classifier: FaceClassifierInfo = Field(description="the classifier")
    sets: tuple[FaceSet, ...] = Field(description="one per calibration set")
    tests: FaceTests = Field(description="each test and the rule \"both\" judged")
    rule: FaceRule | None = Field(description="the verdict rule on these sets; None: no usable test")
    usable: bool = Field(description="whether a test is usable")
    reason: str | None = Field(description="why not (None when usable)")
    rule_text: str = Field(description="the instrument in words, with its rates")
    agreement: Agreement = Field(description="on every calibration image")
    notes: tuple[str, ...] = Field(description="remarks on this step")

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
    """``faces/examples.npz``: the first images of each calibration set (in ``sets`` order) and their labels.
    Sizes: K sets, E = 8 images per set."""

    images: np.ndarray = array("K", "E", "S", "S", kinds="u", description="the images, gray, uint8")
    detector: np.ndarray = array("K", "E", kinds="b", description="the detector's labels")
    classifier: np.ndarray = array("K", "E", kinds="b", description="the classifier's labels")
