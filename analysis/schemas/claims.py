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

    value: float | None = Field(description="the figure that tests the finding on our data")
    low: float | None = Field(description="lower end of its interval at claims.level (how it was obtained: the row's "
                                          "``interval``)")
    high: float | None = Field(description="upper end")


class LedgerTest(Schema):
    """A row's test against its null model, Holm-adjusted over the ledger's tests (:mod:`analysis.science.ledger`)."""

    p: float = Field(description="the test's p-value")
    p_holm: float = Field(description="Holm-adjusted over the ledger's tests")
    method: Literal["bootstrap-z", "monte-carlo"] = Field(description="\"bootstrap-z\" or \"monte-carlo\"")
    direction: Literal["greater", "less", "two-sided"] = Field(description="the alternative hypothesis' side")
    family: str = Field(description="the family the Holm adjustment runs over, in words")
    alpha: float = Field(description="the family-wise level (claims.ledger_alpha)")
    significant: bool = Field(description="p_holm < alpha")


class Pooled(Schema):
    """The runs a row's headline figure was pooled over (hierarchical bootstrap)."""

    runs: tuple[str, ...] = Field(description="the runs' names")
    n: int = Field(description="how many")


class Claim(Schema):
    """One row of the claims ledger (``claims/claims.json``, a JSON list of rows in the study's order; see
    :mod:`analysis.steps.claims`): a published finding measured on our data with an interval, beside a null model, judged
    by a stated rule."""

    id: str = Field(description="the finding's id (:data:`analysis.published.FINDINGS`)")
    kind: Literal["finding", "check"] = Field(description="\"finding\": counted in the ledger; \"check\": an identity "
                                                          "shown under it, not counted")
    part: str = Field(description="the part of the study's series (or \"RAE\")")
    claim: str = Field(description="the finding in our words")
    published: str = Field(description="what the study reported")
    statistic: str = Field(description="what ``ours`` measures")
    unit: Literal["share", "ratio", "difference", "b", "score"] = Field(
        description="the unit of ``ours``, ``null`` and ``reference``")
    ours: Ours = Field(description="our figure and its interval")
    null: float | None = Field(description="what the null model named in null_label gives (None where none applies)")
    null_label: str = Field(description="the null model")
    reference: float | None = Field(description="a comparison value named in reference_label (None if none)")
    reference_label: str = Field(description="what reference is")
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] = Field(
        description="by the rule in criterion")
    criterion: str = Field(description="the rule that gave the verdict, with its bands")
    sentence: str = Field(description="what the article says about the finding, chosen by verdict and band, with the "
                                      "numbers")
    reason: str | None = Field(description="why no interval or verdict applies (None otherwise)")
    interval: str = Field(description="how the interval was obtained")
    notes: tuple[str, ...] = Field(description="caveats")
    chapter: str = Field(description="where the article discusses it")
    b: float | None = Field(description="the b the figure is measured at (None where none)")
    null_passes: bool | None = Field(description="whether the null model passes the same rule (the sentence then says "
                                                 "so; None where no null applies)")
    test: LedgerTest | None = Field(description="the test against the null model (None if none)")
    pooled: Pooled | None = Field(description="the runs the figure was pooled over (None in a run's claims.json; the "
                                              "across step's pooled rows)")


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
    """How many points the claims step's figures rest on."""

    n_used: int = Field(description="points the cross-fitting, bootstraps and normality tests use (claims.max_points "
                                    "at most)")
    subsampled: bool = Field(description="n_used < n")
    n_over_N: float = Field(description="points per component")
    unstable: bool = Field(description="n < claims.unstable_ratio N: covariance-based figures are unstable")
    estimator: str = Field(description="the covariance estimator of the null models and the principal axes, in words")
    sentence: str = Field(description="the sample in words")


class OriginMetric(Schema):
    """The origin under one metric: its distance and the share of held-out points farther out (or,
    for local density, more isolated), with the interval and the Gaussian of the same shape."""

    metric: Literal["euclidean", "subspace_90", "subspace_99", "ledoit_wolf", "nearest_real"] = Field(
        description="the metric's id")
    label: str = Field(description="the metric in words")
    n_axes: int | None = Field(description="principal axes of a subspace metric (None for the others)")
    distance: float = Field(description="the origin's distance from the centre, median over the folds' fits")
    unit: Literal["Euclidean", "Mahalanobis"] = Field(description="the distance's metric")
    share: float = Field(description="held-out points farther out than the origin (for nearest_real: more isolated)")
    low: float = Field(description="lower end of its interval at claims.level")
    high: float = Field(description="upper end")
    gaussian: float = Field(description="the same share for held-out points of a Gaussian with the data's mean and "
                                        "covariance, cross-fitted the same way")
    band: Literal["beyond the data", "at the border", "in the outer part", "inside the bulk"] = Field(
        description="where the origin lies by this share")


class OriginNearest(Schema):
    origin: float = Field(description="the origin's distance to its nearest real point")
    median: float = Field(description="median nearest-real-point distance of the held-out points")
    q99: float = Field(description="their 99th percentile")
    origin_over_median: float = Field(description="origin / median")
    origin_over_q99: float = Field(description="origin / q99")


class ClaimsOrigin(Schema):
    """The origin seen from the cloud, cross-fitted: where it lies under every metric."""

    euclidean_sentence: str = Field(description="why the Euclidean share misleads in many dimensions (empty when it "
                                                "does not)")
    table: tuple[OriginMetric, ...] = Field(description="the origin under every metric")
    verdict_metric: Literal["ledoit_wolf"] = Field(description="the metric the verdict uses")
    metric_text: str = Field(description="that metric in words")
    reason: str = Field(description="why that metric")
    band: Literal["beyond the data", "at the border", "in the outer part", "inside the bulk"] = Field(
        description="the verdict metric's band")
    in_sample_share: float = Field(description="the stats step's in-sample Ledoit-Wolf share_farther, for comparison")
    folds: int = Field(description="cross-fitting folds (claims.folds)")
    nn: OriginNearest = Field(description="the origin's nearest-real-point distance against the held-out points'")

    def metric(self, name: str) -> OriginMetric:
        for m in self.table:
            if m.metric == name:
                return m
        raise ArtifactError(CLAIMS_DETAILS, f"has no origin metric '{name}'; {fix(CLAIMS_DETAILS)}")


class LedgerB(Schema):
    """The one b of every row and chart, and the interval of the fine scan's best b."""

    value: float = Field(description="the b of the build (stats' b.used)")
    source: Literal["fine b-scan", "config"] = Field(description="where value comes from")
    best: float = Field(description="the fine b-scan's best b")
    low: float = Field(description="lower end of the percentile interval of the best b over the scan's bootstrap "
                                   "draws, at claims.level")
    high: float = Field(description="upper end")
    flat: tuple[float, float] = Field(description="the fine scan's flat range [lo, hi] (stats' b.fine.flat)")
    b0: float = Field(description="the radius-matching b, median |z| / sqrt(N/3)")
    w1_best: float = Field(description="the minimal Wasserstein distance")
    w1_sd: float = Field(description="its bootstrap standard deviation")
    best_at_edge: bool = Field(description="whether best is the fine grid's first or last value")
    grid_step: float = Field(description="relative step of the fine grid")
    grid_min: float = Field(description="the fine grid's least b")
    grid_max: float = Field(description="its greatest b")
    grid_size: int = Field(description="its size")
    coarse_best: float = Field(description="the coarse scan's grid minimum (shown nowhere as a b)")
    checks: tuple[float, float, float] = Field(description="the b values counted: the b, the interval's ends")
    check_names: tuple[str, str, str] = Field(description="their names")


class NullCounts(Schema):
    """Cube and slice counts at one b of the data or of a null (:func:`analysis.science.nulls.counts_at`)."""

    n: int = Field(description="points counted")
    cube: int = Field(description="points inside the cube [-b, b]^N (no |x_j| > b)")
    median: float = Field(description="median slice count over all pairs")
    min: int = Field(description="least slice count of a pair")
    max: int = Field(description="greatest slice count of a pair")
    cube_share: float = Field(description="cube / n")
    median_share: float = Field(description="median / n")
    pairs: tuple[int, ...] = Field(description="slice count of each shown pair")


class NullRatios(Schema):
    """The data against one null model at one b."""

    cube: tuple[float | None, float | None, float | None] = Field(
        description="data cube share over the null's: [ratio, low, high] at claims.level")
    median_slice: tuple[float | None, float | None, float | None] = Field(description="the same for the median slice")
    cube_void: bool = Field(description="the cube ratio's upper end < 1")
    slice_void: bool = Field(description="the median slice ratio's upper end < 1")


class PairNull(Schema):
    share: float = Field(description="the null's share of points in the pair's slice")
    ratio: tuple[float | None, float | None, float | None] = Field(
        description="data share over the null's: [ratio, low, high]")
    void: bool = Field(description="ratio's upper end < 1")


class PairCheck(Schema):
    pair: tuple[int, int] = Field(description="[j1, j2]")
    count: int = Field(description="data points in its slice")
    share: float = Field(description="count / n")
    null: TableOf[PairNull] = Field(description="null kind -> its share and the ratio")


class NullCheck(Schema):
    name: str = Field(description="which check b")
    b: float = Field(description="the b")
    counts: TableOf[NullCounts] = Field(description="kind (data or a null) -> counts")
    ratios: TableOf[NullRatios] = Field(description="null kind -> the data against it")
    pairs: tuple[PairCheck, ...] = Field(description="per shown pair")


class ProjectionCount(Schema):
    points: int = Field(description="points used")
    median_projected: float = Field(description="median over pairs of the points projecting into [-b, b]^2")
    cube: int = Field(description="points inside the cube [-b, b]^N")
    kept: float | None = Field(description="cube / median_projected (None if nothing projects)")


class ProjectionAtB(Schema):
    b: float = Field(description="an end of the b interval")
    median_projected: float = Field(description="median over pairs of the data points projecting into [-b, b]^2")
    cube: int = Field(description="data points inside the cube")
    kept: float | None = Field(description="cube / median_projected (None if nothing projects)")


class ClaimsNulls(Schema):
    """The data's cube, slice and projection counts beside the null models'."""

    kinds: tuple[str, ...] = Field(description="\"data\" and the null models (normal, normal_at_origin, permuted)")
    pairs: tuple[tuple[int, int], ...] = Field(description="the shown pairs")
    atlas_b: tuple[float, ...] = Field(description="the atlas' b values (arrays.npz atlas_median_share)")
    checks: tuple[NullCheck, ...] = Field(description="per check b: data and null counts, ratios with intervals, voids")
    projection: TableOf[ProjectionCount] = Field(description="kind -> points projecting into [-b, b]^2 against points "
                                                             "in the cube, at the b")
    projection_across_b: tuple[ProjectionAtB, ProjectionAtB] = Field(
        description="the data's projection counts at the ends of the b interval")


class VoidKind(Schema):
    inside: int = Field(description="points inside the data's k-NN support")
    total: int = Field(description="points tested")
    share: float = Field(description="inside / total")
    ratio: float | None = Field(description="share over the real (calibration) share (None if that is 0)")
    nn_median: float = Field(description="median distance to the nearest real point")
    nn_min: float = Field(description="least distance to the nearest real point")


class VoidNearest(Schema):
    real_median: float = Field(description="median nearest-real-point distance of held-out real points")
    real_q99: float = Field(description="its 99th percentile")
    uniform_median_ratio: float = Field(description="uniform points' median over real_median")
    uniform_min_ratio: float = Field(description="uniform points' least over real_q99")
    normal_median_ratio: float = Field(description="normal points' median over real_median")
    normal_at_origin_median_ratio: float = Field(description="normal-at-origin points' median over real_median")


class Void(Schema):
    """Where uniform points lie: the data's cross-fitted k-NN support and the nearest real point."""

    k: int = Field(description="the k of the k-NN support (claims.support_k)")
    folds: int = Field(description="cross-fitting folds")
    b: float = Field(description="the b of the uniform points")
    points: int = Field(description="real points the support is built from (claims.support_points at most)")
    kinds: TableOf[VoidKind] = Field(description="\"real\" (held-out: the calibration), \"uniform\", \"normal\", "
                                                 "\"normal_at_origin\"")
    nn: VoidNearest = Field(description="nearest-real-point distances")


class Contrast(Schema):
    """The pixel contrast of the images whose latent points lie inside the cube."""

    measure: str = Field(description="the contrast measure in words")
    inside_median: float | None = Field(description="median contrast of the points inside the cube (None if none)")
    all_median: float = Field(description="median contrast of all images")
    inside_rank_median: float | None = Field(description="the inside points' median contrast rank among all, 0..1")
    spearman_radius: float | None = Field(description="Spearman correlation of radius and contrast (None if undefined)")


class CubeObservation(Schema):
    """The real points inside the cube [-b, b]^N: what they are (an observation, not the void test)."""

    b: float = Field(description="the cube's half-width")
    count: int = Field(description="real points inside")
    n: int = Field(description="real points")
    share: float = Field(description="count / n")
    radius_min: float | None = Field(description="least |z| inside (None if none)")
    radius_median: float | None = Field(description="median |z| inside")
    radius_max: float | None = Field(description="greatest |z| inside")
    radius_all_median: float = Field(description="median |z| of all real points")
    uniform_radius_mean: float = Field(description="mean radius of uniform points in the cube")
    uniform_radius_sd: float = Field(description="their standard deviation")
    contrast: Contrast | None = Field(description="None without the images")
    contrast_reason: str | None = Field(description="why there is no contrast (None with one)")
    sentence: str = Field(description="the observation in words")


class LedgerTests(Schema):
    ids: tuple[str, ...] = Field(description="rows with a test")
    alpha: float = Field(description="the family-wise level")
    family: str = Field(description="the Holm family in words")


class Calibrated(Schema):
    """A statistic beside its simulated null (:func:`analysis.science.normality.calibrated`)."""

    value: float = Field(description="the statistic")
    null_mean: float = Field(description="its mean under the simulated Gaussian null")
    null_sd: float = Field(description="its null standard deviation")
    z: float | None = Field(description="(value - null_mean) / null_sd")
    p: float = Field(description="two-sided normal p-value of z")


class NormalityPart(Schema):
    """Normality of the whole cloud or of its core (:mod:`analysis.science.normality`)."""

    n: int = Field(description="points tested")
    rank: int = Field(description="dimensions after whitening")
    skewness: Calibrated = Field(description="Mardia's multivariate skewness")
    kurtosis: Calibrated = Field(description="Mardia's multivariate kurtosis")
    relative_kurtosis: float = Field(description="kurtosis over its null mean (1 for a Gaussian)")
    relative_kurtosis_low: float = Field(description="lower end of its bootstrap interval")
    relative_kurtosis_high: float = Field(description="upper end")
    axis_abs_skew_median: float = Field(description="median |skewness| of the whitened axes")
    axis_excess_kurtosis_median: float = Field(description="median excess kurtosis of the whitened axes")
    axis_excess_kurtosis_max: float = Field(description="greatest excess kurtosis of an axis")
    axes_rejected: int = Field(description="axes whose normality test rejects at alpha")
    axes_rejected_share: float = Field(description="axes_rejected / rank")
    alpha: float = Field(description="the per-axis test level")


class ClaimsNormality(Schema):
    """Whether the dense core of the cloud is Gaussian."""

    core_sigma: float = Field(description="the core cut in sigmas (claims.core_sigma)")
    threshold: float = Field(description="the core's Mahalanobis radius")
    tail_probability: float = Field(description="2 (1 - Phi(core_sigma)): a Gaussian's share outside")
    kept: float = Field(description="share of points in the core")
    kept_low: float = Field(description="its binomial interval's lower end")
    kept_high: float = Field(description="upper end")
    gaussian_kept: float = Field(description="a Gaussian's share in the core, 1 - tail_probability")
    published_kept: float = Field(description="the study's share in the core")
    points_tested: int = Field(description="points the tests use")
    whole: NormalityPart = Field(description="the whole cloud")
    core: NormalityPart = Field(description="its core")


class GeneratorCheck(Schema):
    """One generator's latent precision and face share, each relative to the real reference's (per repetition,
    Student t interval), in the ledger's bands."""

    name: str = Field(description="the generator")
    latent: Literal["in support", "partly in support", "off support", "undefined"] = Field(
        description="band of its latent precision relative to the real reference's")
    pixel: Literal["face-like", "between", "not face-like", "undefined"] = Field(
        description="band of its face share relative to the real reference's (\"undefined\" without a usable face "
                    "test)")
    latent_ratio: tuple[float, float, float] | None = Field(description="mean, low, high")
    pixel_ratio: tuple[float, float, float] | None = Field(
        description="face share relative to the reference's: mean, low, high")
    recall: float = Field(description="mean latent k-NN recall")
    coverage: float = Field(description="mean latent k-NN coverage")
    precision: float = Field(description="mean latent k-NN precision")
    recall_inflated: bool = Field(description="off support, yet its recall interval lies wholly above its coverage "
                                              "interval")


class GeneratorChecks(Schema):
    """Where latent and pixel metrics disagree, and where k-NN recall is inflated (:mod:`analysis.steps.claims`)."""

    rows: tuple[GeneratorCheck, ...] = Field(description="one per generator")
    off_support_faces: tuple[str, ...] = Field(description="generators off the support whose images are face-like")
    in_support_nonfaces: tuple[str, ...] = Field(description="generators in the support whose images are not face-like")
    recall_inflated: tuple[str, ...] = Field(description="generators whose recall is inflated")
    sentence: str = Field(description="the disagreements in words")
    recall_sentence: str = Field(description="the inflated recalls in words")


class ClaimsSettings(Schema):
    """The [claims] values used."""

    folds: int = Field(description="claims.folds")
    bootstrap: int = Field(description="claims.bootstrap")
    level: float = Field(description="claims.level")
    ledger_alpha: float = Field(description="claims.ledger_alpha")
    null_draws: int = Field(description="claims.null_draws")
    effect_size: float = Field(description="claims.effect_size")


class ClaimsDetails(Schema):
    """``claims/details.json``: every figure behind the ledger (see :mod:`analysis.steps.claims`).

    Also written: ``schema_version`` (2), ``seed`` and ``shape`` (per shape figure: ``value``, ``low``, ``high`` and
    ``independent``, its value with every column permuted)."""

    n: int = Field(description="points")
    N: int = Field(description="components")
    settings: ClaimsSettings = Field(description="the [claims] values used")
    sample: ClaimsSample = Field(description="the points used")
    origin: ClaimsOrigin = Field(description="the origin under every metric")
    b: LedgerB = Field(description="the one b and its interval")
    nulls: ClaimsNulls = Field(description="counts of the data and the null models")
    void: Void = Field(description="where uniform points lie")
    cube: CubeObservation = Field(description="the real points inside the cube [-b, b]^N (an observation)")
    normality: ClaimsNormality = Field(description="the core's normality")
    generators: GeneratorChecks | None = Field(description="None when the generate step has not run")
    figures: TableOf[Any] = Field(description="id -> the plain figures a geometry row was judged from "
                                              "(analysis.science.ledger)")
    draw_names: tuple[str, ...] = Field(description="\"id/stat\" of each row of arrays.npz draws")
    null_draw_names: tuple[str, ...] = Field(description="the same of null_draws")
    tests: LedgerTests = Field(description="the ledger's tests")
    verdicts: TableOf[int] = Field(description="findings per verdict")
    checks: tuple[str, ...] = Field(description="ids of the check rows")


class ClaimsArrays(Arrays):
    """``claims/arrays.npz``: the arrays behind the ledger (see :mod:`analysis.steps.claims`). Sizes: S pooled figures,
    Bt bootstrap draws, T tests with simulated nulls, M simulations, H histogram bins, P shown pairs, K atlas b
    values, r and rc whitened dimensions of the whole cloud and of its core."""

    draws: np.ndarray = array(
        "S", "Bt", description="each pooled figure's bootstrap draws (rows named by details.json draw_names)")
    null_draws: np.ndarray = array(
        "T", "M", description="simulated null figures of the monte-carlo tests (rows named by null_draw_names)")
    origin_boot_share: np.ndarray = array(
        "Bt", 4, description="bootstrap draws of the origin's share: full, 90 %, 99 % subspace, Euclidean")
    origin_edges: np.ndarray = array("H+1", description="bin edges of origin_hist")
    origin_hist: np.ndarray = array(
        2, "H", kinds="iu", description="cross-fitted Mahalanobis distances of held-out real and Gaussian points")
    void_edges: np.ndarray = array("H+1", description="bin edges of void_hist")
    void_hist: np.ndarray = array(
        4, "H", kinds="iu", description="nearest-real-point distances of held-out real, uniform, normal and "
                                        "normal-at-origin points")
    b_checks: np.ndarray = array(3, description="the check b values: the b, the interval's ends")
    check_pair_counts: np.ndarray = array(
        4, 3, "P", description="slice counts of data, normal, normal_at_origin, permuted at each check b per shown "
                               "pair (null counts rescaled to n points)")
    atlas_median_share: np.ndarray = array(
        4, "K", description="share in the median pair's slice at each atlas b, of the data and the three nulls")
    axis_skew: np.ndarray = array("r", description="skewness of each whitened axis of the whole cloud")
    axis_kurtosis: np.ndarray = array("r", description="excess kurtosis of each whitened axis")
    axis_p: np.ndarray = array("r", description="p-value of each axis' normality test")
    core_axis_skew: np.ndarray = array("rc", description="the same of the core")
    core_axis_kurtosis: np.ndarray = array("rc", description="the same of the core")
    core_axis_p: np.ndarray = array("rc", description="the same of the core")
