"""The stats step's ``stats/stats.json`` and ``stats/arrays.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from analysis.schemas.base import Arrays, Schema, TableOf, array


class Thresholds(Schema):
    majority_share: float
    spread_ratio: float
    border_share: float
    half_share: float


class Characteristic(Schema):
    component: int
    why: str


class Components(Schema):
    k_sigma: float
    n_off_centre: int
    share_off_centre: float
    n_constant: int
    mean_abs_mean: float
    max_abs_mean: float
    argmax_abs_mean: int
    std_min: float
    std_median: float
    std_max: float
    std_ratio: float | None
    n_central_98_excluding_zero: int
    share_central_98_excluding_zero: float
    central_98_width_min: float
    central_98_width_max: float
    off_centre_majority: bool
    spreads_differ: bool
    characteristic: tuple[Characteristic, ...]
    quantile_levels: tuple[float, ...]
    bins: int


class Correlation(Schema):
    mean_abs: float
    max_abs: float
    max_pair: tuple[int, int]
    max_value: float
    n_pairs_above_0_5: int
    n_pairs: int
    share_pairs_above_0_5: float


class PCA(Schema):
    total_variance: float
    eigenvalues_top: tuple[float, ...]
    variance_share_first_k: TableOf[float]
    axes_for_variance: TableOf[int]
    condition_number: float | None
    axis_length_ratio: float | None
    headline_k: int
    variance_share_headline_k: float


class Centre(Schema):
    offset: float
    rms_radius: float
    offset_over_rms_radius: float | None
    offset_share_first_k: TableOf[float]
    headline_k: int
    offset_share_headline_k: float
    variance_share_headline_k: float


class Euclidean(Schema):
    distance: float
    share_farther: float


class EmpiricalMahalanobis(Schema):
    distance: float | None
    condition_number: float | None


class LedoitWolf(Schema):
    distance: float
    shrinkage: float
    condition_number: float | None
    share_farther: float
    gaussian_share_farther: float
    dof: int


class PcaSubspace(Schema):
    distance: float
    n_axes: int
    variance_share: float
    share_farther: float
    gaussian_share_farther: float


class Mahalanobis(Schema):
    primary: str
    empirical: EmpiricalMahalanobis
    ledoit_wolf: LedoitWolf
    pca_subspace: PcaSubspace
    at_border: bool


class Nearest(Schema):
    origin_to_nearest_all: float
    reference_size: int
    query_size: int
    origin_to_nearest_reference: float
    nn_q05: float
    nn_median: float
    nn_q95: float
    origin_over_median_nn: float | None
    share_nn_above_origin: float


class Origin(Schema):
    euclidean: Euclidean
    mahalanobis: Mahalanobis
    nearest: Nearest


class RadiusSummary(Schema):
    mean: float
    std: float
    min: float
    q05: float
    median: float
    q95: float
    max: float


class UniformRadii(RadiusSummary):
    b: float
    n: int
    closed_form_mean: float
    closed_form_std: float
    relative_spread: float | None


class ClosedForm(Schema):
    N: int
    b: float
    mean: float
    std: float


class Radii(Schema):
    real: RadiusSummary
    real_centred: RadiusSummary
    uniform: UniformRadii
    uniform_centred: RadiusSummary
    published_closed_form: ClosedForm


class FineScan(Schema):
    """The fine b-scan of the stats step; its best b is the b of the build unless stats.b is set."""

    b0: float
    best: float
    w1_best: float
    w1_sd: float
    flat: tuple[float, float]
    best_at_edge: bool
    grid_step: float
    grid_min: float
    grid_max: float
    grid_size: int
    bootstrap: int


class BScan(Schema):
    grid: tuple[float, ...]
    grid_source: Literal["config", "auto"]
    grid_min: float
    grid_max: float
    best: float
    wasserstein_best: float
    best_centred: float
    best_at_grid_edge: bool
    overlap: tuple[float, float]
    used: float
    used_source: Literal["config", "fine b-scan"]
    fine: FineScan
    published_range_in_grid: bool
    published_best_in_grid: bool


class Projections(Schema):
    sample_size: int
    sample_size_requested: int
    sample_dtype: str
    n_artificial: int
    b: float
    zoom_share: float
    n_hidden_components: int


class Count(Schema):
    min: int
    median: float
    max: int


class Slices(Schema):
    b: float
    n_pairs: int
    count_all: Count
    count_sample: Count
    empty_pairs_all: int
    empty_pairs_sample: int
    share_in_every_slice: float
    share_in_no_slice: float
    share_all_min: float
    share_all_max: float
    b_half_emptiest: float | None
    artificial_per_slice: int
    atlas_b: tuple[float, ...]
    atlas_empty_pairs: tuple[int, ...]
    atlas_index_b: int


#: Why a pair of components is shown (analysis/stats.py chooses them): stats' shown pairs and
#: the planes the decode step draws through them.
PairReason = Literal["config", "emptiest", "fullest", "origin_at_border", "overlap_but_empty"]


class Zoom(Schema):
    half_width: float
    all: int
    sample: int
    artificial: int


class Pair(Schema):
    pair: tuple[int, int]
    reason: PairReason
    why: str
    slice_all: int
    slice_sample: int
    projection_overlap_all: int
    origin_mahalanobis_2d: float | None
    zoom: Zoom


class Published(Schema):
    """The published study's figures (``stats.json`` ``published_reference``), never ours."""

    label: str
    N: int
    celeba_images: int
    celeba_channels: int
    rae_image_size: int
    encoded: str
    b_best: float
    b_match_range: tuple[float, float]
    uniform_radius_mean_closed_form: float
    uniform_radius_std_closed_form: float
    projection_sample: int
    n_artificial: int
    slice_artificial: int
    zoom_points: int
    slice_sample: int
    slice_sample_of: int
    slice_all: int
    slice_all_of: int
    slice_177_242_sample: int
    slice_177_242_all: int
    slice_30_118_all: int
    rae_fid_ae_gmm: int
    rae_fid_vae: int
    rae_fid_rae: str
    rae_latent: int
    rae_gmm: int


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
    """``stats/stats.json`` (schema 2): every figure of the geometry (see :mod:`analysis.stats`)."""

    n: int
    N: int
    seed: int
    notes: tuple[str, ...]
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
    pairs: tuple[Pair, ...]
    published_reference: Published


class StatsArrays(Arrays):
    """``stats/arrays.npz``: the arrays of the geometry (see :mod:`analysis.stats`)."""

    component_mean: np.ndarray = array("N")
    component_std: np.ndarray = array("N")
    component_min: np.ndarray = array("N")
    component_max: np.ndarray = array("N")
    component_mean_over_se: np.ndarray = array("N")
    component_quantile_levels: np.ndarray = array("Q")
    component_quantiles: np.ndarray = array("N", "Q")
    component_hist_counts: np.ndarray = array("N", "B", kinds="iu")
    component_hist_edges: np.ndarray = array("N", "B+1")
    corr: np.ndarray = array("N", "N")
    pca_eigenvalues: np.ndarray = array("N")
    pca_axes: np.ndarray = array("N", "N")
    pca_variance_cumulative: np.ndarray = array("N")
    pca_centre: np.ndarray = array("N")
    radius_edges: np.ndarray = array("B+1")
    radius_hist_real: np.ndarray = array("B", kinds="iu")
    radius_hist_real_centred: np.ndarray = array("B", kinds="iu")
    radius_hist_uniform: np.ndarray = array("B", kinds="iu")
    radius_hist_uniform_centred: np.ndarray = array("B", kinds="iu")
    radius_real_sample: np.ndarray = array("n_s")
    radius_real_centred_sample: np.ndarray = array("n_s")
    radius_uniform_unit: np.ndarray = array("R")
    b_grid: np.ndarray = array("G")
    b_wasserstein: np.ndarray = array("G")
    b_wasserstein_centred: np.ndarray = array("G")
    b_uniform_in_real_range: np.ndarray = array("G")
    b_fine_grid: np.ndarray = array("Gf")
    b_fine_w1: np.ndarray = array("Gf")
    b_boot_best: np.ndarray = array("Bf")
    b_boot_overlap: np.ndarray = array("Bf", 2)
    occupancy: np.ndarray = array("G", 3)
    occupancy_every: np.ndarray = array("G")
    mahalanobis_edges: np.ndarray = array("B+1")
    mahalanobis_hist: np.ndarray = array("B", kinds="iu")
    nn_distances: np.ndarray = array("nn")
    sample_index: np.ndarray = array("n_s", kinds="iu")
    sample_z: np.ndarray = array("n_s", "N")
    sample_top_index: np.ndarray = array("n_s", 3, kinds="iu")
    sample_top_abs: np.ndarray = array("n_s", 3)
    sample_fourth_abs: np.ndarray = array("n_s")
    artificial_z: np.ndarray = array("A", "N")
    slice_artificial_z: np.ndarray = array("SA", "N")
    pairs: np.ndarray = array("P", 2, kinds="iu")
    zoom_half_width: np.ndarray = array("P")
    pair_projection_overlap: np.ndarray = array("N", "N", kinds="iu")
    pair_origin_mahalanobis_2d: np.ndarray = array("N", "N")
    atlas_b: np.ndarray = array("K")
    atlas_counts_all: np.ndarray = array("K", "N", "N", kinds="iu")
    atlas_counts_sample: np.ndarray = array("K", "N", "N", kinds="iu")
