"""The stats step's ``stats/stats.json`` and ``stats/arrays.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pydantic import Field

from analysis.schemas.base import Arrays, Schema, array
# (the cloud's models, also read as analysis.schemas.stats.<name>)
from analysis.schemas.statscloud import (PCA, Centre, Characteristic, Components, Correlation,  # noqa: F401
                                         EmpiricalMahalanobis, Euclidean, LedoitWolf, Mahalanobis, Nearest, Origin,
                                         PcaSubspace)


class Thresholds(Schema):
    """The cut-offs of the yes/no findings (:data:`analysis.steps.stats.THRESHOLDS`)."""

    majority_share: float = Field(description="``components.off_centre_majority``: share_off_centre >= this")
    spread_ratio: float = Field(description="``components.spreads_differ``: std_ratio > this")
    border_share: float = Field(description="``origin.mahalanobis.at_border``: Ledoit-Wolf share_farther < this")
    half_share: float = Field(description="``slices.b_half_emptiest``: the share of the points the emptiest slice "
                                          "must hold")


class RadiusSummary(Schema):
    """A summary of radii (Euclidean norms; :func:`analysis.science.geometry.radius_summary`)."""

    mean: float
    std: float = Field(description="standard deviation (divisor n)")
    min: float
    q05: float = Field(description="5th percentile")
    median: float
    q95: float = Field(description="95th percentile")
    max: float


class UniformRadii(RadiusSummary):
    """Radii |u| of stats.radius_artificial points with iid components uniform in [-b, b]."""

    b: float = Field(description="b.used")
    n: int = Field(description="the points (stats.radius_artificial)")
    closed_form_mean: float = Field(description="b sqrt(N/3): the mean radius of such points for large N")
    closed_form_std: float = Field(description="b / sqrt(15): their spread for large N")
    relative_spread: float | None = Field(description="std / mean (None if mean is 0)")


class ClosedForm(Schema):
    """The uniform radii's closed form for the published study's N and best b."""

    N: int
    b: float
    mean: float = Field(description="b sqrt(N/3)")
    std: float = Field(description="b / sqrt(15)")


class Radii(Schema):
    """Radii of real and uniform points."""

    real: RadiusSummary = Field(description="|z|: distances of the real points from the origin")
    real_centred: RadiusSummary = Field(description="|z - mean|: from the centre")
    uniform: UniformRadii = Field(description="|u| of uniform points at b = b.used")
    uniform_centred: RadiusSummary = Field(description="|u - mean of u| of the same points")
    published_closed_form: ClosedForm


class FineScan(Schema):
    """The fine b-scan of the stats step (:func:`analysis.science.calibration.fine_b_scan`) on a geometric grid around
    ``b0``; its best b is the b of the build unless stats.b is set."""

    b0: float = Field(description="the radius-matching b: median |z| / sqrt(N/3)")
    best: float = Field(description="the grid value minimising the Wasserstein distance between real |z| and "
                                    "uniform |u| radii")
    w1_best: float = Field(description="that minimal distance")
    w1_sd: float = Field(description="bootstrap standard deviation of the minimal distance")
    flat: tuple[float, float] = Field(description="[lo, hi]: the b whose distance lies within stats.flat_sd "
                                                  "w1_sd of the minimum")
    best_at_edge: bool = Field(description="whether best is the grid's first or last value")
    grid_step: float = Field(description="relative step between consecutive grid values (stats.b_step)")
    grid_min: float
    grid_max: float
    grid_size: int
    bootstrap: int = Field(description="bootstrap repetitions (stats.b_bootstrap)")


class BScan(Schema):
    """The b-scan: the half-width b of the uniform cube [-b, b]^N whose radii match the real ones
    (:func:`analysis.science.geometry.b_scan`). Also written: ``overlap_definition``, the definition of ``overlap`` in words."""

    grid: tuple[float, ...] = Field(description="the coarse scan's b values")
    grid_source: Literal["config", "auto"] = Field(description="\"config\" (stats.b_grid) or \"auto\": 60 values "
                                                               "evenly spaced over 0.05..1.5 x the largest |1st or "
                                                               "99th percentile| of any component")
    grid_min: float
    grid_max: float
    best: float = Field(description="the grid value minimising the Wasserstein distance between real |z| and "
                                    "uniform |u| radii")
    wasserstein_best: float = Field(description="that minimal distance")
    best_centred: float = Field(description="the same for the radii from the centre, |z - mean|")
    best_at_grid_edge: bool = Field(description="whether best is the grid's first or last value")
    overlap: tuple[float, float] = Field(description="[lo, hi]: the b for which the central 90 % ranges (5th-95th "
                                                     "percentiles) of real |z| and uniform |u| intersect: "
                                                     "q05(|z|)/q95(|u_1|), q95(|z|)/q05(|u_1|), u_1 uniform in "
                                                     "[-1, 1]^N")
    used: float = Field(description="the one b of the build (slices, projections, artificial points, the uniform "
                                    "generator, every ledger row): stats.b if > 0, else fine.best")
    used_source: Literal["config", "fine b-scan"] = Field(description="where used comes from")
    fine: FineScan
    published_range_in_grid: bool = Field(description="whether the published match range's lower end is <= "
                                                      "grid_max")
    published_best_in_grid: bool = Field(description="whether the published best b is <= grid_max")


class Projections(Schema):
    """The sample of real points and the artificial points the projection charts draw."""

    sample_size: int = Field(description="points in the sample: min(stats.sample_size, n)")
    sample_size_requested: int = Field(description="stats.sample_size")
    sample_dtype: str = Field(description="dtype of arrays.npz sample_z: \"float16\", or \"float32\" when a value "
                                          "exceeds float16's range")
    n_artificial: int = Field(description="uniform points drawn in the projections (stats.n_artificial)")
    b: float = Field(description="b.used")
    zoom_share: float = Field(description="share of all points in each pair's zoom window (stats.zoom_share)")
    n_hidden_components: int = Field(description="N - 2: the components a projection hides")


class Count(Schema):
    """Points in a slice, over the pairs of components."""

    min: int
    median: float
    max: int


class Slices(Schema):
    """Flat-cuboid slices at b = b.used over all pairs (j1, j2): the points with |z_j| <= b for every component
    j other than j1 and j2 (:mod:`analysis.science.slices`). Also written: ``artificial_rule``, how the artificial
    points of a slice are drawn, in words."""

    b: float = Field(description="b.used")
    n_pairs: int = Field(description="N (N - 1) / 2")
    count_all: Count = Field(description="slice counts of all points")
    count_sample: Count = Field(description="slice counts of the sample")
    empty_pairs_all: int = Field(description="pairs whose slice holds no point")
    empty_pairs_sample: int = Field(description="pairs whose slice holds no sample point")
    share_in_every_slice: float = Field(description="share of points with no |z_j| > b (in every slice)")
    share_in_no_slice: float = Field(description="share of points with three or more |z_j| > b (in no slice)")
    share_all_min: float = Field(description="count_all.min / n: the emptiest slice")
    share_all_max: float = Field(description="count_all.max / n: the fullest slice")
    b_half_emptiest: float | None = Field(description="the smallest grid b at which the emptiest slice holds "
                                                      "thresholds.half_share of the points (None if none)")
    artificial_per_slice: int = Field(description="uniform points drawn per slice (stats.slice_artificial)")
    atlas_b: tuple[float, ...] = Field(description="b values of the stored count matrices (arrays.npz atlas_*)")
    atlas_empty_pairs: tuple[int, ...] = Field(description="empty slices at each atlas b")
    atlas_index_b: int = Field(description="the position of b in atlas_b")


#: Why a pair of components is shown (analysis/steps/stats.py chooses them): stats' shown pairs and
#: the planes the decode step draws through them.
PairReason = Literal["config", "emptiest", "fullest", "origin_at_border", "overlap_but_empty"]


class Zoom(Schema):
    """The window [-w, w]^2 around the origin holding zoom_share of all points, and the points inside."""

    half_width: float = Field(description="w")
    all: int = Field(description="real points inside")
    sample: int = Field(description="sample points inside")
    artificial: int = Field(description="artificial points inside")


class Pair(Schema):
    """A pair of components the article shows (:func:`analysis.science.slices.choose_pairs`)."""

    pair: tuple[int, int] = Field(description="[j1, j2]")
    reason: PairReason = Field(description="why it is shown")
    why: str = Field(description="that in one sentence, with the numbers")
    slice_all: int = Field(description="points in its slice at b.used")
    slice_sample: int = Field(description="sample points in its slice")
    projection_overlap_all: int = Field(description="points with both |z_j1|, |z_j2| <= b.used")
    origin_mahalanobis_2d: float | None = Field(description="the origin's Mahalanobis distance from the centre in "
                                                            "the projection on (j1, j2)")
    zoom: Zoom


class Published(Schema):
    """The published study's figures (``stats.json`` ``published_reference``; CelebA, N = 256), for comparison
    only: nothing in it is computed from our data. The keys are :data:`analysis.published.FACTS`; also
    written: ``slices``, the study's slice counts (:func:`analysis.published.reference`)."""

    label: str = Field(description="says whose figures these are")
    N: int = Field(description="the study's latent dimension")
    celeba_images: int = Field(description="images in CelebA")
    celeba_channels: int = Field(description="3: colour photographs")
    rae_image_size: int = Field(description="CelebA's image size in Ghosh et al. (2020), pixels")
    encoded: str = Field(description="how many images the study encoded, in words")
    b_best: float = Field(description="the study's best b")
    b_match_range: tuple[float, float] = Field(description="the study's b range of matching radii")
    uniform_radius_mean_closed_form: float = Field(description="b sqrt(N/3)")
    uniform_radius_std_closed_form: float = Field(description="b / sqrt(15)")
    projection_sample: int = Field(description="points in the study's projections")
    n_artificial: int = Field(description="uniform points in the study's projections")
    slice_artificial: int = Field(description="uniform points in the study's slices")
    zoom_points: int = Field(description="points in the study's zoomed projection")
    slice_sample: int = Field(description="sample points in the study's slice")
    slice_sample_of: int = Field(description="the study's sample size")
    slice_all: int = Field(description="points of all in the study's slice")
    slice_all_of: int = Field(description="points the study sliced")
    slice_177_242_sample: int = Field(description="sample points in its slice (177, 242)")
    slice_177_242_all: int = Field(description="points of all in its slice (177, 242)")
    slice_30_118_all: int = Field(description="about this many in its slice (30, 118)")
    rae_fid_ae_gmm: int = Field(description="FID of an AE with a GMM (Ghosh et al. 2020)")
    rae_fid_vae: int = Field(description="FID of the VAE (Ghosh et al. 2020)")
    rae_fid_rae: str = Field(description="FID of the RAE variants, in words")
    rae_latent: int = Field(description="latent dimension in Ghosh et al. (2020)")
    rae_gmm: int = Field(description="GMM components in Ghosh et al. (2020)")


@dataclass(frozen=True)
class DataVsPublished:
    """This build's images beside the published study's CelebA (``data/info.json`` and
    ``stats.json`` ``published_reference``): how they compare, in words the article uses."""

    n_images: int
    published_images: int
    image_size: int
    published_size: int  #: CelebA at the size of Ghosh et al. (2020)
    channels: int
    published_channels: int

    @property
    def share(self) -> float:
        """This build's number of images relative to CelebA's."""
        return self.n_images / self.published_images

    @property
    def images(self) -> Literal["fewer", "about as many", "more"]:
        """Fewer (less than half), about as many, or more (over twice) images than CelebA."""
        return "fewer" if self.share < 0.5 else "more" if self.share > 2.0 else "about as many"

    @property
    def size(self) -> Literal["smaller", "the same", "larger"]:
        return ("smaller" if self.image_size < self.published_size else
                "larger" if self.image_size > self.published_size else "the same")

    @property
    def same_colour(self) -> bool:
        """Whether the images have CelebA's number of channels (colour)."""
        return self.channels == self.published_channels

    @property
    def comparable(self) -> bool:
        """About as many images, of the same size and colour as CelebA."""
        return self.images == "about as many" and self.size == "the same" and self.same_colour


class Stats(Schema):
    """``stats/stats.json``: every figure of the geometry of the latent cloud the article states, the yes/no
    findings it words included (with their cut-offs in ``thresholds``); the report only narrates them.
    JSON has no NaN or infinity: an undefined or infinite number is null.

    Also written: ``schema_version`` (3, :data:`analysis.schemas.files.STATS_SCHEMA`; 1 lacked the derived
    figures, 2 the fine b-scan) and ``source`` {``latents_sha256``, ``encode_key`` (the key of the encode
    manifest, or null)}."""

    n: int = Field(description="points")
    N: int = Field(description="components")
    seed: int = Field(description="run.seed, used for all sampling")
    notes: tuple[str, ...] = Field(description="clipping (a sample larger than n), a rank-deficient covariance "
                                               "and other remarks on this run")
    thresholds: Thresholds
    components: Components
    correlation: Correlation
    pca: PCA
    centre: Centre
    origin: Origin
    radii: Radii
    b: BScan
    projections: Projections
    slices: Slices
    pairs: tuple[Pair, ...] = Field(description="the pairs shown, in order, each once")
    published_reference: Published


class StatsArrays(Arrays):
    """``stats/arrays.npz``: the arrays of the geometry. Sizes: N components, n_s sample points
    (projections.sample_size), Q quantile levels, B = components.bins, R = radii.uniform.n, G coarse and Gf fine
    b-scan values, Bf bootstrap repetitions, nn = origin.nearest.query_size, A = projections.n_artificial,
    SA = slices.artificial_per_slice, P shown pairs, K atlas b values.

    A sample point lies in the slice of any (j1, j2, b) when
    ``top_abs[2] <= b and all(top_abs[t] <= b or top_index[t] in (j1, j2) for t in 0, 1)``
    (``sample_top_index`` and ``sample_top_abs``): the report's slice slider needs no other array.

    Count arrays marked (N, N) or (K, N, N) are uint16 when every value fits, else uint32. For N = 256 the file
    is about 5 MB for n = 2,429 (CBCL) and 7 MB for n = 200,000 (sample_z and the atlas dominate: n_s N 2 and
    2 K N^2 (2..4) bytes)."""

    component_mean: np.ndarray = array("N", description="each component's mean, float64")
    component_std: np.ndarray = array("N", description="each component's standard deviation (divisor n - 1), float64")
    component_min: np.ndarray = array("N", description="each component's minimum")
    component_max: np.ndarray = array("N", description="each component's maximum")
    component_mean_over_se: np.ndarray = array(
        "N", description="mean / standard error (std / sqrt(n)); ±inf for a constant non-zero one")
    component_quantile_levels: np.ndarray = array("Q", description="the quantile levels")
    component_quantiles: np.ndarray = array("N", "Q", description="each component's quantiles at those levels")
    component_hist_counts: np.ndarray = array(
        "N", "B", kinds="iu", description="each component's histogram over its own [min, max], int64")
    component_hist_edges: np.ndarray = array("N", "B+1", description="the bin edges of those histograms")
    corr: np.ndarray = array(
        "N", "N", description="correlation matrix, float32 (rows and columns of constant components 0, diagonal 1)")
    pca_eigenvalues: np.ndarray = array("N", description="eigenvalues of the covariance, descending")
    pca_axes: np.ndarray = array(
        "N", "N", description="row k is principal axis k (sign: largest-magnitude entry positive), float32")
    pca_variance_cumulative: np.ndarray = array("N", description="share of the variance in the first k axes, k = 1..N")
    pca_centre: np.ndarray = array("N", description="the centre's coordinate along each axis")
    radius_edges: np.ndarray = array("B+1", description="bin edges shared by the four radius histograms")
    radius_hist_real: np.ndarray = array("B", kinds="iu", description="histogram of |z| (all real points)")
    radius_hist_real_centred: np.ndarray = array("B", kinds="iu", description="histogram of |z - mean|")
    radius_hist_uniform: np.ndarray = array("B", kinds="iu", description="histogram of |u| of uniform points at b.used")
    radius_hist_uniform_centred: np.ndarray = array("B", kinds="iu", description="histogram of their |u - mean of u|")
    radius_real_sample: np.ndarray = array("n_s", description="|z| of the sample, float32")
    radius_real_centred_sample: np.ndarray = array("n_s", description="|z - mean| of the sample, float32")
    radius_uniform_unit: np.ndarray = array(
        "R", description="|u| for b = 1 (times b for any b: the report's b slider), float32")
    b_grid: np.ndarray = array("G", description="the coarse b-scan's grid")
    b_wasserstein: np.ndarray = array(
        "G", description="Wasserstein distance between real |z| and uniform |u| radii at each b")
    b_wasserstein_centred: np.ndarray = array("G", description="the same for |z - mean|")
    b_uniform_in_real_range: np.ndarray = array(
        "G", description="share of uniform radii inside the central 90 % range of the real ones")
    b_fine_grid: np.ndarray = array("Gf", description="the fine b-scan's grid")
    b_fine_w1: np.ndarray = array("Gf", description="its Wasserstein distances")
    b_boot_best: np.ndarray = array("Bf", description="the best b of each bootstrap repetition")
    b_boot_overlap: np.ndarray = array("Bf", 2, description="each repetition's overlap range [lo, hi]")
    occupancy: np.ndarray = array(
        "G", 3, description="share of all points in the emptiest, median and fullest pair's slice at each grid b")
    occupancy_every: np.ndarray = array("G", description="share of all points in every slice at each grid b")
    mahalanobis_edges: np.ndarray = array("B+1", description="bin edges of mahalanobis_hist")
    mahalanobis_hist: np.ndarray = array(
        "B", kinds="iu", description="Ledoit-Wolf Mahalanobis distances of the real points from the centre, int64")
    nn_distances: np.ndarray = array("nn", description="the queries' nearest-neighbour distances, sorted, float32")
    sample_index: np.ndarray = array(
        "n_s", kinds="iu", description="rows of latents.npy in the sample, ascending, int64")
    sample_z: np.ndarray = array(
        "n_s", "N", description="the sample's coordinates, float16 (float32 if a value exceeds float16's range)")
    sample_top_index: np.ndarray = array(
        "n_s", 3, kinds="iu", description="indices j of each sample point's three largest |z_j|, descending, uint16")
    sample_top_abs: np.ndarray = array("n_s", 3, description="those |z_j| (from the full-precision latents), float32")
    sample_fourth_abs: np.ndarray = array("n_s", description="each sample point's 4th largest |z_j|, float32")
    artificial_z: np.ndarray = array("A", "N", description="uniform in [-b, b]^N, b = b.used (projections), float32")
    slice_artificial_z: np.ndarray = array(
        "SA", "N", description="uniform in [-b, b]^N, b = b.used: they lie in every slice of threshold b, float32")
    pairs: np.ndarray = array("P", 2, kinds="iu", description="the shown pairs, as stats.json pairs, int32")
    zoom_half_width: np.ndarray = array("P", description="each shown pair's zoom half-width")
    pair_projection_overlap: np.ndarray = array(
        "N", "N", kinds="iu", description="points with |z_j1|, |z_j2| <= b.used (diagonal: |z_j| <= b.used)")
    pair_origin_mahalanobis_2d: np.ndarray = array(
        "N", "N", description="the origin's 2-D Mahalanobis distance per pair, float32 (NaN where undefined)")
    atlas_b: np.ndarray = array("K", description="the atlas' b values (slices.atlas_b)")
    atlas_counts_all: np.ndarray = array(
        "K", "N", "N", kinds="iu", description="slice counts of every pair at each atlas b (symmetric, diagonal 0)")
    atlas_counts_sample: np.ndarray = array("K", "N", "N", kinds="iu", description="the same for the sample")
