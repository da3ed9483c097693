"""The decode step's ``decode/decode.json``, ``decode/planes.npz`` and ``decode/paths.npz``."""

from __future__ import annotations

from typing import Literal

import numpy as np

from pydantic import Field

from analysis.schemas.base import Arrays, ArtifactError, Schema, array, fix
from analysis.schemas.files import DECODE
from analysis.schemas.stats import Mahalanobis, PairReason
from analysis.schemas.faces import Agreement, FaceRule


class DecodeSettings(Schema):
    grid: int
    path_steps: int
    extent: float
    boundary_quantile: float
    folds: int
    reference_points: int
    k: int
    anchors: int
    stop_band: tuple[float, float]
    batch_size: int
    image_shape: tuple[int, int, int]


class DecodeReference(Schema):
    """The real points distances are measured against (see :mod:`analysis.decode`)."""

    n: int
    subsampled: bool
    quantile: float = Field(description="share of real points within each boundary")
    nn_boundary: float = Field(description="B: the quantile of the real points' nearest-neighbour distances")
    nn_median: float = Field(description="their median nearest-neighbour distance, in units of B")
    mahalanobis_boundary: float = Field(description="D: the quantile of their cross-fitted Mahalanobis distances")
    mahalanobis_median: float = Field(description="their median cross-fitted Mahalanobis distance, in units of D")
    spread: float = Field(description="RMS distance of the real points from their centre")
    gap_median: float = Field(description="their re-encoding gaps relative to spread")
    gap_q95: float


class PlaneCount(Schema):
    tiles: int
    inside: int
    faces_inside: int
    outside: int
    faces_outside: int
    distance_min: float
    distance_max: float
    mahalanobis_min: float
    mahalanobis_max: float


class DecodedPlane(Schema):
    pair: tuple[int, int]
    reason: PairReason
    window_x: tuple[float, float]
    window_y: tuple[float, float]
    centre_xy: tuple[float, float]
    centre: PlaneCount = Field(description="the plane through the cloud's centre")
    origin: PlaneCount = Field(description="the plane through the origin")


class AnchorSummary(Schema):
    """Faces inside and outside the boundary over the planes of one anchor (never pooled with the other)."""

    anchor: Literal["centre", "origin"]
    planes: int
    tiles_inside: int
    faces_inside: int
    share_faces_inside: float | None = Field(description="None without tiles inside the boundary")
    inside_low: float | None = Field(description="its binomial interval")
    inside_high: float | None
    tiles_outside: int
    faces_outside: int
    share_faces_outside: float | None
    outside_low: float | None
    outside_high: float | None
    ratio: float | None = Field(description="share inside over share outside, with its interval (None: undefined)")
    ratio_low: float | None
    ratio_high: float | None
    contrast: str | None = Field(description="\"more often inside than outside\", ... (None: no faces at all)")


class AnchorPair(Schema):
    centre: AnchorSummary
    origin: AnchorSummary


class AnchorSentences(Schema):
    centre: str
    origin: str


class PlanesSummary(Schema):
    """The decoded planes' faces inside and outside the data, per anchor, with the sentences chosen from them."""

    testable: bool = Field(description="False without a usable face test")
    reason: str | None
    anchors: AnchorPair
    sentences: AnchorSentences
    sentence: str = Field(description="the two anchors' sentences (or why not testable)")


class DecodeFaces(Schema):
    """The face tests in the decode step: the rule and the two tests' agreement on every decoded tile and path step."""

    available: bool
    usable: bool
    rule: FaceRule | None
    rule_text: str | None
    agreement: Agreement | None


class FaceStop(Schema):
    start_face: bool
    stop_index: int | None
    last_face: float | None
    first_nonface: float | None
    stop: float | None = Field(description="None when every step is a face, or the first is not (units of B)")
    mahalanobis: float | None = Field(description="the Mahalanobis distance at the stop (units of D)")


class DecodedPath(Schema):
    name: str
    label: str
    kind: Literal["segment", "ray"]
    length: float
    distance_start: float
    distance_end: float
    distance_max: float
    mahalanobis_start: float
    mahalanobis_end: float
    faces: int
    gap_max: float
    stop: FaceStop | None = Field(description="rays only")


class Stops(Schema):
    """Where the images stop being faces along the rays, judged against the data's boundary."""

    band: Literal["at the boundary", "inside the data", "beyond the data", "not testable"]
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"]
    median: float | None
    rays: int
    censored: int
    sentence: str
    criterion: str


class LiveDecoder(Schema):
    available: bool
    file: str | None = Field(description="in decode/, the weights script (None without a live decoder)")
    weights_bytes: int
    limit_bytes: int
    parameters: int
    reason: str | None = Field(description="why there is no live decoder (None with one)")


class Anchor(Schema):
    kind: Literal["centre", "origin", "real"]
    label: str
    row: int | None
    id: str | None


class Decode(Schema):
    """``decode/decode.json``: the decoder across the planes and along the paths (see :mod:`analysis.decode`)."""

    n: int
    N: int
    seed: int
    settings: DecodeSettings
    reference: DecodeReference
    planes: tuple[DecodedPlane, ...]
    planes_summary: PlanesSummary
    paths: tuple[DecodedPath, ...]
    stops: Stops
    faces: DecodeFaces
    live: LiveDecoder
    anchors: tuple[Anchor, ...]
    notes: tuple[str, ...]

    def path(self, name: str) -> DecodedPath:
        """The path called ``name``; an ArtifactError names the file if there is none."""
        for p in self.paths:
            if p.name == name:
                return p
        raise ArtifactError(DECODE, f"has no path named '{name}'; {fix(DECODE)}")

    @property
    def rays(self) -> tuple[DecodedPath, ...]:
        """The paths that leave the cloud from its centre."""
        return tuple(p for p in self.paths if p.kind == "ray")


class DecodedPlanes(Arrays):
    """``decode/planes.npz``: ``[p, k, iy, ix]`` is pair p's plane k (0 centre, 1 origin) at
    z[j1] = xs[p, ix], z[j2] = ys[p, iy]."""

    pairs: np.ndarray = array("P", 2, kinds="iu")
    xs: np.ndarray = array("P", "G")
    ys: np.ndarray = array("P", "G")
    images: np.ndarray = array("P", 2, "G", "G", "C", "S", "S", kinds="u")
    distance: np.ndarray = array("P", 2, "G", "G")
    mahalanobis: np.ndarray = array("P", 2, "G", "G")
    gap: np.ndarray = array("P", 2, "G", "G")
    face: np.ndarray = array("P", 2, "G", "G", kinds="b")
    face_detector: np.ndarray = array("P", 2, "G", "G", kinds="b")
    face_classifier: np.ndarray = array("P", 2, "G", "G", kinds="b")
    anchor_z: np.ndarray = array("A", "N")


class DecodedPaths(Arrays):
    """``decode/paths.npz``: each path's steps, in the order of ``decode.json``'s ``paths``."""

    t: np.ndarray = array("T")
    z: np.ndarray = array("Q", "T", "N")
    images: np.ndarray = array("Q", "T", "C", "S", "S", kinds="u")
    distance: np.ndarray = array("Q", "T")
    mahalanobis: np.ndarray = array("Q", "T")
    gap: np.ndarray = array("Q", "T")
    face: np.ndarray = array("Q", "T", kinds="b")
    face_detector: np.ndarray = array("Q", "T", kinds="b")
    face_classifier: np.ndarray = array("Q", "T", kinds="b")
