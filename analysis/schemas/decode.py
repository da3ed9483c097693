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
    """The [decode] values used."""

    grid: int = Field(description="tiles per side of each decoded plane (decode.grid)")
    path_steps: int = Field(description="points per path")
    extent: float = Field(description="how far a ray runs, in units of B (decode.extent)")
    boundary_quantile: float = Field(description="the quantile of the real points' distances that defines B and D")
    folds: int = Field(description="cross-fitting folds of the Mahalanobis distances (decode.folds)")
    reference_points: int = Field(description="real points that define the distances (decode.reference_points)")
    k: int = Field(description="neighbours of the reference's k-NN checks (decode.k)")
    anchors: int = Field(description="real anchor points for the page's cursor panels (decode.anchors)")
    stop_band: tuple[float, float] = Field(description="[lo, hi], times B: where faces stopping counts as at the "
                                                       "boundary")
    batch_size: int = Field(description="images decoded at a time")
    image_shape: tuple[int, int, int] = Field(description="[C, S, S]")


class DecodeReference(Schema):
    """The real points distances are measured against (see :mod:`analysis.steps.decode`)."""

    n: int = Field(description="real points (min(decode.reference_points, n))")
    subsampled: bool = Field(description="whether they are a seeded random subset")
    quantile: float = Field(description="share of real points within each boundary")
    nn_boundary: float = Field(description="B: the quantile of the real points' nearest-neighbour distances")
    nn_median: float = Field(description="their median nearest-neighbour distance, in units of B")
    mahalanobis_boundary: float = Field(description="D: the quantile of their cross-fitted Mahalanobis distances")
    mahalanobis_median: float = Field(description="their median cross-fitted Mahalanobis distance, in units of D")
    spread: float = Field(description="RMS distance of the real points from their centre")
    gap_median: float = Field(description="their re-encoding gaps relative to spread")
    gap_q95: float = Field(description="their 95th percentile, relative to spread")


class PlaneCount(Schema):
    """The tiles of one decoded plane inside and outside the data."""

    tiles: int = Field(description="grid x grid")
    inside: int = Field(description="tiles within the boundary (distance <= 1 B)")
    faces_inside: int = Field(description="faces among them (by the verdict rule)")
    outside: int = Field(description="tiles outside the boundary")
    faces_outside: int = Field(description="faces among them")
    distance_min: float = Field(description="least distance to the data of a tile (units of B)")
    distance_max: float = Field(description="greatest (units of B)")
    mahalanobis_min: float = Field(description="least Mahalanobis distance (units of D)")
    mahalanobis_max: float = Field(description="greatest (units of D)")


class DecodedPlane(Schema):
    """The decoder over one shown pair's window, in the plane through the centre (the other components at the
    centre's values) and through the origin (the other components 0)."""

    pair: tuple[int, int] = Field(description="[j1, j2]: a pair the stats step shows")
    reason: PairReason = Field(description="why the stats step shows it")
    window_x: tuple[float, float] = Field(description="the plotted window of z[j1]: its data range extended to "
                                                      "include 0")
    window_y: tuple[float, float] = Field(description="the same of z[j2]")
    centre_xy: tuple[float, float] = Field(description="the centre's j1, j2 coordinates")
    centre: PlaneCount = Field(description="the plane through the cloud's centre")
    origin: PlaneCount = Field(description="the plane through the origin")


class AnchorSummary(Schema):
    """Faces inside and outside the boundary over the planes of one anchor (never pooled with the other)."""

    anchor: Literal["centre", "origin"] = Field(description="the plane anchor")
    planes: int = Field(description="planes summed")
    tiles_inside: int = Field(description="tiles within the boundary")
    faces_inside: int = Field(description="faces among them")
    share_faces_inside: float | None = Field(description="None without tiles inside the boundary")
    inside_low: float | None = Field(description="its binomial interval")
    inside_high: float | None = Field(description="upper end")
    tiles_outside: int = Field(description="tiles outside")
    faces_outside: int = Field(description="faces among them")
    share_faces_outside: float | None = Field(description="faces_outside / tiles_outside (None without tiles outside)")
    outside_low: float | None = Field(description="its binomial interval")
    outside_high: float | None = Field(description="upper end")
    ratio: float | None = Field(description="share inside over share outside, with its interval (None: undefined)")
    ratio_low: float | None = Field(description="its interval's lower end")
    ratio_high: float | None = Field(description="upper end")
    contrast: str | None = Field(description="\"more often inside than outside\", ... (None: no faces at all)")


class AnchorPair(Schema):
    centre: AnchorSummary = Field(description="planes through the centre")
    origin: AnchorSummary = Field(description="planes through the origin")


class AnchorSentences(Schema):
    centre: str = Field(description="the centre planes in words")
    origin: str = Field(description="the origin planes in words")


class PlanesSummary(Schema):
    """The decoded planes' faces inside and outside the data, per anchor, with the sentences chosen from them."""

    testable: bool = Field(description="False without a usable face test")
    reason: str | None = Field(description="why not testable (None when testable)")
    anchors: AnchorPair = Field(description="per anchor, never pooled")
    sentences: AnchorSentences = Field(description="per anchor")
    sentence: str = Field(description="the two anchors' sentences (or why not testable)")


class DecodeFaces(Schema):
    """The face tests in the decode step: the rule and the two tests' agreement on every decoded tile and path step."""

    available: bool = Field(description="whether the faces step had run")
    usable: bool = Field(description="whether the run's verdict rule is usable")
    rule: FaceRule | None = Field(description="the run's verdict rule (None: no usable test)")
    rule_text: str | None = Field(description="the rule in words with its error rates (None without the faces step)")
    agreement: Agreement | None = Field(description="Cohen's kappa of the two tests over every tile and path step "
                                                    "(:func:`analysis.science.faces.kappa`; None without the faces step)")


class FaceStop(Schema):
    """Where a ray's images stop being faces: the midpoint between the last face and the first non-face
    (:func:`analysis.science.probes.face_stop`)."""

    start_face: bool = Field(description="whether the first step is a face")
    stop_index: int | None = Field(description="the first non-face step after a face (None if none)")
    last_face: float | None = Field(description="distance of the last face (units of B)")
    first_nonface: float | None = Field(description="distance of the first non-face (units of B)")
    stop: float | None = Field(description="None when every step is a face, or the first is not (units of B)")
    mahalanobis: float | None = Field(description="the Mahalanobis distance at the stop (units of D)")


class DecodedPath(Schema):
    """One path through latent space, decoded step by step."""

    name: str = Field(description="the path's id")
    label: str = Field(description="the path in words")
    kind: Literal["segment", "ray"] = Field(description="\"segment\" between two points or \"ray\" from the centre")
    length: float = Field(description="Euclidean length")
    distance_start: float = Field(description="distance to the data at the start (units of B)")
    distance_end: float = Field(description="at the end (units of B)")
    distance_max: float = Field(description="greatest along the path (units of B)")
    mahalanobis_start: float = Field(description="Mahalanobis distance at the start (units of D)")
    mahalanobis_end: float = Field(description="at the end (units of D)")
    faces: int = Field(description="steps whose image is a face")
    gap_max: float = Field(description="greatest re-encoding gap along the path, relative to the reference's spread")
    stop: FaceStop | None = Field(description="rays only")


class Stops(Schema):
    """Where the images stop being faces along the rays, judged against the data's boundary."""

    band: Literal["at the boundary", "inside the data", "beyond the data", "not testable"] = Field(
        description="where the median stop lies: at the boundary (within decode.stop_band), inside or beyond the data")
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] = Field(
        description="reproduced (at the boundary), partly (inside), not reproduced (beyond), or not testable (the "
                    "centre does not decode to a face)")
    median: float | None = Field(description="median stop over the rays, times B (None when not testable)")
    rays: int = Field(description="rays")
    censored: int = Field(description="rays with faces up to their end (counted as stopping at decode.extent B)")
    sentence: str = Field(description="the verdict in words")
    criterion: str = Field(description="the rule in words")


class LiveDecoder(Schema):
    """The decoder's weights for the page's JavaScript forward pass (:func:`analysis.science.export.weights_script`)."""

    available: bool = Field(description="whether the page gets a live decoder")
    file: str | None = Field(description="in decode/, the weights script (None without a live decoder)")
    weights_bytes: int = Field(description="size of the weights")
    limit_bytes: int = Field(description="the largest size allowed (:data:`analysis.science.export.LIVE_MAX_BYTES`)")
    parameters: int = Field(description="the decoder's weights")
    reason: str | None = Field(description="why there is no live decoder (None with one)")


class Anchor(Schema):
    """A point the page's cursor panels take the other components from."""

    kind: Literal["centre", "origin", "real"] = Field(description="\"centre\", \"origin\" or a \"real\" point")
    label: str = Field(description="the anchor in words")
    row: int | None = Field(description="its row of latents.npy (None but for real points)")
    id: str | None = Field(description="its image identifier (None but for real points)")


class Decode(Schema):
    """``decode/decode.json``: the decoder across the planes and along the paths (see :mod:`analysis.steps.decode`).
    Distances to the data are in units of B, Mahalanobis distances in units of D (see ``reference``). Also written:
    ``schema_version`` (2)."""

    n: int = Field(description="real points")
    N: int = Field(description="components")
    seed: int = Field(description="run.seed")
    settings: DecodeSettings = Field(description="the [decode] values used")
    reference: DecodeReference
    planes: tuple[DecodedPlane, ...] = Field(description="one per shown pair")
    planes_summary: PlanesSummary = Field(description="faces inside and outside the data, per anchor")
    paths: tuple[DecodedPath, ...] = Field(description="every path")
    stops: Stops = Field(description="where faces stop along the rays")
    faces: DecodeFaces = Field(description="the face tests used")
    live: LiveDecoder = Field(description="the live decoder")
    anchors: tuple[Anchor, ...] = Field(description="the cursor panels' anchors (arrays: planes.npz anchor_z)")
    notes: tuple[str, ...] = Field(description="remarks on this run")

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
    z[j1] = xs[p, ix], z[j2] = ys[p, iy]. Sizes: P pairs, G = settings.grid, A anchors."""

    pairs: np.ndarray = array("P", 2, kinds="iu", description="the shown pairs, int32")
    xs: np.ndarray = array("P", "G", description="the grid's z[j1] values")
    ys: np.ndarray = array("P", "G", description="the grid's z[j2] values")
    images: np.ndarray = array("P", 2, "G", "G", "C", "S", "S", kinds="u", description="the decoded images, uint8")
    distance: np.ndarray = array("P", 2, "G", "G", description="distance to the data (units of B), float32")
    mahalanobis: np.ndarray = array("P", 2, "G", "G", description="Mahalanobis distance (units of D), float32")
    gap: np.ndarray = array("P", 2, "G", "G", description="re-encoding gap relative to the reference's spread, float32")
    face: np.ndarray = array("P", 2, "G", "G", kinds="b", description="face by the verdict rule")
    face_detector: np.ndarray = array("P", 2, "G", "G", kinds="b", description="face by the detector")
    face_classifier: np.ndarray = array("P", 2, "G", "G", kinds="b", description="face by the classifier")
    anchor_z: np.ndarray = array("A", "N", description="the anchors' coordinates (decode.json anchors), float32")


class DecodedPaths(Arrays):
    """``decode/paths.npz``: each path's steps, in the order of ``decode.json``'s ``paths``. Sizes: Q paths,
    T = settings.path_steps."""

    t: np.ndarray = array("T", description="position along the path in [0, 1]")
    z: np.ndarray = array("Q", "T", "N", description="the steps' latent points, float32")
    images: np.ndarray = array("Q", "T", "C", "S", "S", kinds="u", description="decoded, uint8")
    distance: np.ndarray = array("Q", "T", description="distance to the data (units of B), float32")
    mahalanobis: np.ndarray = array("Q", "T", description="Mahalanobis distance (units of D), float32")
    gap: np.ndarray = array("Q", "T", description="re-encoding gap relative to the reference's spread, float32")
    face: np.ndarray = array("Q", "T", kinds="b", description="face by the verdict rule")
    face_detector: np.ndarray = array("Q", "T", kinds="b", description="face by the detector")
    face_classifier: np.ndarray = array("Q", "T", kinds="b", description="face by the classifier")
