"""The claims step's ``claims/claims.json``, ``claims/details.json`` and ``claims/arrays.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pydantic import Field

from analysis.schemas.base import Arrays, ArtifactError, Schema, TableOf, array, fix
from analysis.schemas.files import CLAIMS, CLAIMS_DETAILS
from analysis.schemas.stats import Euclidean, Mahalanobis


#: The verdicts of a finding, in the ledger's order.
REPRODUCED, PARTLY, NOT, UNTESTABLE = "reproduced", "partly", "not reproduced", "not testable"
VERDICTS = (REPRODUCED, PARTLY, NOT, UNTESTABLE)


class Ours(Schema):
    """A figure of ours with its interval (all None when the finding is not testable)."""

    value: float | None
    low: float | None
    high: float | None


class LedgerTest(Schema):
    """A row's test against its null model, Holm-adjusted over the ledger's tests (:mod:`analysis.ledger`)."""

    p: float
    p_holm: float
    method: Literal["bootstrap-z", "monte-carlo"]
    direction: Literal["greater", "less", "two-sided"]
    family: str
    alpha: float
    significant: bool


class Pooled(Schema):
    """The runs a row's headline figure was pooled over (hierarchical bootstrap)."""

    runs: tuple[str, ...]
    n: int


class Claim(Schema):
    """One row of the claims ledger (``claims/claims.json``; see :mod:`analysis.claims`)."""

    id: str
    kind: Literal["finding", "check"]
    part: str
    claim: str
    published: str
    statistic: str
    unit: Literal["share", "ratio", "difference", "b", "score"]
    ours: Ours
    null: float | None
    null_label: str
    reference: float | None
    reference_label: str
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"]
    criterion: str
    sentence: str
    reason: str | None
    interval: str
    notes: tuple[str, ...]
    chapter: str
    b: float | None
    null_passes: bool | None
    test: LedgerTest | None
    pooled: Pooled | None


@dataclass(frozen=True)
class Ledger:
    """The published findings, each measured, calibrated and judged (``claims/claims.json`` of one
    run, or the headline rows of ``across/ledger.json``: :attr:`Run.ledger`)."""

    rows: tuple[Claim, ...]

    @property
    def findings(self) -> tuple[Claim, ...]:
        """The rows counted in the ledger."""
        return tuple(r for r in self.rows if r.kind == "finding")

    @property
    def checks(self) -> tuple[Claim, ...]:
        """Identities shown under the ledger, not counted (the thin shell)."""
        return tuple(r for r in self.rows if r.kind == "check")

    @property
    def b_values(self) -> dict[str, float]:
        """The b of every row that uses one (id -> b)."""
        return {r.id: r.b for r in self.rows if r.b is not None}

    def row(self, fid: str) -> Claim:
        """The finding ``fid``; an ArtifactError names the file if the ledger lacks it."""
        for r in self.rows:
            if r.id == fid:
                return r
        raise ArtifactError(CLAIMS, f"has no finding with id '{fid}'; {fix(CLAIMS)}")

    def sentence(self, fid: str) -> str:
        """What the article says about finding ``fid`` (chosen by its verdict)."""
        return self.row(fid).sentence

    def verdict(self, fid: str) -> str:
        return self.row(fid).verdict

    @property
    def counts(self) -> dict[str, int]:
        """Findings per verdict, in the order of :data:`VERDICTS` (checks not counted)."""
        return {v: sum(r.verdict == v for r in self.findings) for v in VERDICTS}


class ClaimsSample(Schema):
    n_used: int
    subsampled: bool
    n_over_N: float
    unstable: bool
    estimator: str
    sentence: str


class OriginMetric(Schema):
    """The origin under one metric: its distance and the share of held-out points farther out (or,
    for local density, more isolated), with the interval and the Gaussian of the same shape."""

    metric: Literal["euclidean", "subspace_90", "subspace_99", "ledoit_wolf", "nearest_real"]
    label: str
    n_axes: int | None
    distance: float
    unit: Literal["Euclidean", "Mahalanobis"]
    share: float
    low: float
    high: float
    gaussian: float
    band: Literal["beyond the data", "at the border", "in the outer part", "inside the bulk"]


class OriginNearest(Schema):
    origin: float
    median: float
    q99: float
    origin_over_median: float
    origin_over_q99: float


class ClaimsOrigin(Schema):
    euclidean_sentence: str
    table: tuple[OriginMetric, ...]
    verdict_metric: Literal["ledoit_wolf"]
    metric_text: str
    reason: str
    band: Literal["beyond the data", "at the border", "in the outer part", "inside the bulk"]
    in_sample_share: float
    folds: int
    nn: OriginNearest

    def metric(self, name: str) -> OriginMetric:
        for m in self.table:
            if m.metric == name:
                return m
        raise ArtifactError(CLAIMS_DETAILS, f"has no origin metric '{name}'; {fix(CLAIMS_DETAILS)}")


class LedgerB(Schema):
    """The one b of every row and chart, and the interval of the fine scan's best b."""

    value: float
    source: Literal["fine b-scan", "config"]
    best: float
    low: float
    high: float
    flat: tuple[float, float]
    b0: float
    w1_best: float
    w1_sd: float
    best_at_edge: bool
    grid_step: float
    grid_min: float
    grid_max: float
    grid_size: int
    coarse_best: float
    checks: tuple[float, float, float]
    check_names: tuple[str, str, str]


class NullCounts(Schema):
    n: int
    cube: int
    median: float
    min: int
    max: int
    cube_share: float
    median_share: float
    pairs: tuple[int, ...]


class NullRatios(Schema):
    cube: tuple[float | None, float | None, float | None]
    median_slice: tuple[float | None, float | None, float | None]
    cube_void: bool
    slice_void: bool


class PairNull(Schema):
    share: float
    ratio: tuple[float | None, float | None, float | None]
    void: bool


class PairCheck(Schema):
    pair: tuple[int, int]
    count: int
    share: float
    null: TableOf[PairNull]


class NullCheck(Schema):
    name: str
    b: float
    counts: TableOf[NullCounts]
    ratios: TableOf[NullRatios]
    pairs: tuple[PairCheck, ...]


class ProjectionCount(Schema):
    points: int
    median_projected: float
    cube: int
    kept: float | None


class ProjectionAtB(Schema):
    b: float
    median_projected: float
    cube: int
    kept: float | None


class ClaimsNulls(Schema):
    kinds: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    atlas_b: tuple[float, ...]
    checks: tuple[NullCheck, ...]
    projection: TableOf[ProjectionCount]
    projection_across_b: tuple[ProjectionAtB, ProjectionAtB]


class VoidKind(Schema):
    inside: int
    total: int
    share: float
    ratio: float | None
    nn_median: float
    nn_min: float


class VoidNearest(Schema):
    real_median: float
    real_q99: float
    uniform_median_ratio: float
    uniform_min_ratio: float
    normal_median_ratio: float
    normal_at_origin_median_ratio: float


class Void(Schema):
    """Where uniform points lie: the data's cross-fitted k-NN support and the nearest real point."""

    k: int
    folds: int
    b: float
    points: int = Field(description="real points the support is built from (claims.support_points at most)")
    kinds: TableOf[VoidKind] = Field(description="\"real\" (held-out: the calibration), \"uniform\", \"normal\", \"normal_at_origin\"")
    nn: VoidNearest


class Contrast(Schema):
    measure: str
    inside_median: float | None
    all_median: float
    inside_rank_median: float | None
    spearman_radius: float | None


class CubeObservation(Schema):
    """The real points inside the cube [-b, b]^N: what they are (an observation, not the void test)."""

    b: float
    count: int
    n: int
    share: float
    radius_min: float | None
    radius_median: float | None
    radius_max: float | None
    radius_all_median: float
    uniform_radius_mean: float
    uniform_radius_sd: float
    contrast: Contrast | None
    contrast_reason: str | None
    sentence: str


class LedgerTests(Schema):
    ids: tuple[str, ...]
    alpha: float
    family: str


class Calibrated(Schema):
    value: float
    null_mean: float
    null_sd: float
    z: float | None
    p: float


class NormalityPart(Schema):
    n: int
    rank: int
    skewness: Calibrated
    kurtosis: Calibrated
    relative_kurtosis: float
    relative_kurtosis_low: float
    relative_kurtosis_high: float
    axis_abs_skew_median: float
    axis_excess_kurtosis_median: float
    axis_excess_kurtosis_max: float
    axes_rejected: int
    axes_rejected_share: float
    alpha: float


class ClaimsNormality(Schema):
    core_sigma: float
    threshold: float
    tail_probability: float
    kept: float
    kept_low: float
    kept_high: float
    gaussian_kept: float
    published_kept: float
    points_tested: int
    whole: NormalityPart
    core: NormalityPart


class GeneratorCheck(Schema):
    """One generator's latent and pixel precision relative to the real reference, in the ledger's bands."""

    name: str
    latent: Literal["in support", "partly in support", "off support", "undefined"]
    pixel: Literal["face-like", "between", "not face-like", "undefined"]
    latent_ratio: tuple[float, float, float] | None = Field(description="mean, low, high")
    pixel_ratio: tuple[float, float, float] | None
    recall: float
    coverage: float
    precision: float
    recall_inflated: bool


class GeneratorChecks(Schema):
    """Where latent and pixel metrics disagree, and where k-NN recall is inflated (:mod:`analysis.claims`)."""

    rows: tuple[GeneratorCheck, ...]
    off_support_faces: tuple[str, ...]
    in_support_nonfaces: tuple[str, ...]
    recall_inflated: tuple[str, ...]
    sentence: str
    recall_sentence: str


class ClaimsSettings(Schema):
    folds: int
    bootstrap: int
    level: float
    ledger_alpha: float
    null_draws: int
    effect_size: float


class ClaimsDetails(Schema):
    """``claims/details.json``: the figures behind the ledger (see :mod:`analysis.claims`)."""

    n: int
    N: int
    settings: ClaimsSettings
    sample: ClaimsSample
    origin: ClaimsOrigin
    b: LedgerB
    nulls: ClaimsNulls
    void: Void
    cube: CubeObservation
    normality: ClaimsNormality
    generators: GeneratorChecks | None = Field(description="None when the generate step has not run")
    figures: TableOf[Any] = Field(description="id -> the plain figures a geometry row was judged from (analysis.ledger)")
    draw_names: tuple[str, ...]
    null_draw_names: tuple[str, ...]
    tests: LedgerTests
    verdicts: TableOf[int]
    checks: tuple[str, ...]


class ClaimsArrays(Arrays):
    """``claims/arrays.npz``: the arrays behind the ledger (see :mod:`analysis.claims`)."""

    draws: np.ndarray = array("S", "Bt")
    null_draws: np.ndarray = array("T", "M")
    origin_boot_share: np.ndarray = array("Bt", 4)
    origin_edges: np.ndarray = array("H+1")
    origin_hist: np.ndarray = array(2, "H", kinds="iu")
    void_edges: np.ndarray = array("H+1")
    void_hist: np.ndarray = array(4, "H", kinds="iu")
    b_checks: np.ndarray = array(3)
    check_pair_counts: np.ndarray = array(4, 3, "P")
    atlas_median_share: np.ndarray = array(4, "K")
    axis_skew: np.ndarray = array("r")
    axis_kurtosis: np.ndarray = array("r")
    axis_p: np.ndarray = array("r")
    core_axis_skew: np.ndarray = array("rc")
    core_axis_kurtosis: np.ndarray = array("rc")
    core_axis_p: np.ndarray = array("rc")
