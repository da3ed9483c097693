"""The shape of the latent cloud in ``stats/stats.json`` (:class:`analysis.schemas.stats.Stats`): the
components' spreads and shapes, their correlations and principal axes, the centre and where the origin
lies under every metric."""

from __future__ import annotations

from pydantic import Field

from analysis.schemas.base import Schema, TableOf


class Characteristic(Schema):
    """A component worth showing (:func:`analysis.steps.stats.characteristic_components`)."""

    component: int = Field(description="its index, 0..N-1")
    why: str = Field(description="\"most off-centre\", \"2nd most off-centre\", \"closest to centred\", \"widest\", "
                                 "\"narrowest\" or \"median spread\"")


class Components(Schema):
    """Per-component summaries. A component's std uses divisor n - 1; the standard error of its mean is
    std / sqrt(n)."""

    k_sigma: float = Field(description="stats.k_sigma: the cut-off, in standard errors, of an off-centre mean")
    n_off_centre: int = Field(description="components whose mean lies more than k_sigma standard errors from 0")
    share_off_centre: float = Field(description="n_off_centre / N")
    n_constant: int = Field(description="components of zero variance")
    mean_abs_mean: float = Field(description="mean over the components of |mean|")
    max_abs_mean: float = Field(description="largest |mean| of a component")
    argmax_abs_mean: int = Field(description="the component with that mean")
    std_min: float = Field(description="smallest standard deviation of a component")
    std_median: float = Field(description="median standard deviation of the components")
    std_max: float = Field(description="largest standard deviation of a component")
    std_ratio: float | None = Field(description="std_max / std_min (None if a component is constant)")
    n_central_98_excluding_zero: int = Field(description="components whose central 98 % range (1st to 99th "
                                                         "percentile) does not contain 0")
    share_central_98_excluding_zero: float = Field(description="n_central_98_excluding_zero / N")
    central_98_width_min: float = Field(description="width of the narrowest central 98 % range")
    central_98_width_max: float = Field(description="width of the widest central 98 % range")
    off_centre_majority: bool = Field(description="share_off_centre >= thresholds.majority_share")
    spreads_differ: bool = Field(description="std_ratio > thresholds.spread_ratio")
    characteristic: tuple[Characteristic, ...] = Field(description="up to six components worth showing, each once")
    quantile_levels: tuple[float, ...] = Field(description="levels of arrays.npz component_quantiles")
    bins: int = Field(description="stats.bins: histogram bins of every histogram in arrays.npz")


class Correlation(Schema):
    """Off-diagonal Pearson correlations of the components."""

    mean_abs: float = Field(description="mean |r| over the pairs")
    max_abs: float = Field(description="largest |r|")
    max_pair: tuple[int, int] = Field(description="the pair [i, j] with that |r|")
    max_value: float = Field(description="its r, signed")
    n_pairs_above_0_5: int = Field(description="pairs with |r| > 0.5")
    n_pairs: int = Field(description="N (N - 1) / 2")
    share_pairs_above_0_5: float = Field(description="n_pairs_above_0_5 / n_pairs")


class PCA(Schema):
    """The principal axes of the empirical covariance (divisor n, as
    ``sklearn.covariance.empirical_covariance``). Also written: ``rank``, the numerical rank of the covariance
    (:func:`analysis.science.geometry.numerical_rank`)."""

    total_variance: float = Field(description="trace of the covariance")
    eigenvalues_top: tuple[float, ...] = Field(description="the largest eigenvalues (up to 10), descending")
    variance_share_first_k: TableOf[float] = Field(description="\"k\" -> share of the variance in the first k axes")
    axes_for_variance: TableOf[int] = Field(description="\"0.9\" -> the fewest axes holding that share of the "
                                                        "variance")
    condition_number: float | None = Field(description="largest over smallest eigenvalue (None if singular)")
    axis_length_ratio: float | None = Field(description="sqrt(condition_number): the longest axis over the "
                                                        "shortest")
    headline_k: int = Field(description="the k the article states: 10, or N // 2 for N < 10")
    variance_share_headline_k: float = Field(description="share of the variance in the first headline_k axes")


class Centre(Schema):
    """Where the centre (mean) of the cloud lies."""

    offset: float = Field(description="|mean|: the Euclidean distance of the centre from the origin")
    rms_radius: float = Field(description="sqrt(trace cov): the RMS distance of the points from the centre")
    offset_over_rms_radius: float | None = Field(description="offset / rms_radius")
    offset_share_first_k: TableOf[float] = Field(description="\"k\" -> share of |mean|^2 in the span of the first "
                                                             "k principal axes")
    headline_k: int = Field(description="the k of offset_share_first_k nearest to 5")
    offset_share_headline_k: float = Field(description="share of |mean|^2 in the first headline_k axes")
    variance_share_headline_k: float = Field(description="share of the variance in those headline_k axes")


class Euclidean(Schema):
    """The origin in the Euclidean metric."""

    distance: float = Field(description="|mean|: the origin's distance from the centre")
    share_farther: float = Field(description="share of real points with |z - mean| > |mean| (small: the origin "
                                             "is at the border of the cloud)")


class EmpiricalMahalanobis(Schema):
    """The origin's Mahalanobis distance from the centre in the empirical covariance."""

    distance: float | None = Field(description="None if the covariance is singular, has condition number > 1e12 "
                                               "or a rank below N")
    condition_number: float | None = Field(description="of the empirical covariance")


class LedoitWolf(Schema):
    """The origin's Mahalanobis distance from the centre in the Ledoit-Wolf shrunk covariance (the headline
    metric)."""

    distance: float = Field(description="the origin's Mahalanobis distance from the centre")
    shrinkage: float = Field(description="the Ledoit-Wolf shrinkage coefficient (as scikit-learn's)")
    condition_number: float | None = Field(description="of the shrunk covariance")
    share_farther: float = Field(description="share of real points farther from the centre than the origin, "
                                             "in this metric")
    gaussian_share_farther: float = Field(description="the same for a Gaussian cloud: the chi-square tail with dof "
                                                      "degrees of freedom")
    dof: int = Field(description="N")


class PcaSubspace(Schema):
    """The origin's Mahalanobis distance within the first principal axes that hold stats.pca_variance of the
    variance."""

    distance: float = Field(description="the origin's Mahalanobis distance from the centre within those axes")
    n_axes: int = Field(description="the axes used")
    variance_share: float = Field(description="their share of the variance (>= stats.pca_variance)")
    share_farther: float = Field(description="share of real points farther from the centre than the origin, "
                                             "in this metric")
    gaussian_share_farther: float = Field(description="the chi-square tail with n_axes degrees of freedom")


class Mahalanobis(Schema):
    """The origin in Mahalanobis metrics."""

    primary: str = Field(description="the metric of the headline figure (\"ledoit_wolf\")")
    empirical: EmpiricalMahalanobis
    ledoit_wolf: LedoitWolf
    pca_subspace: PcaSubspace
    at_border: bool = Field(description="Ledoit-Wolf share_farther < thresholds.border_share")


class Nearest(Schema):
    """The origin's nearest real point beside typical nearest-neighbour distances
    (:func:`analysis.science.geometry.nearest_neighbours`)."""

    origin_to_nearest_all: float = Field(description="min |z| over all points")
    reference_size: int = Field(description="reference points: all, or a random subset of 50,000 if n is larger")
    query_size: int = Field(description="reference points whose nearest-neighbour distance is measured "
                                        "(1,000 at most)")
    origin_to_nearest_reference: float = Field(description="the origin's distance to its nearest reference point")
    nn_q05: float = Field(description="5th percentile of the queries' nearest-neighbour distances within the "
                                      "reference")
    nn_median: float = Field(description="their median")
    nn_q95: float = Field(description="their 95th percentile")
    origin_over_median_nn: float | None = Field(description="origin_to_nearest_reference / nn_median")
    share_nn_above_origin: float = Field(description="share of queries whose nearest-neighbour distance exceeds "
                                                     "the origin's")


class Origin(Schema):
    """The origin seen from the cloud."""

    euclidean: Euclidean
    mahalanobis: Mahalanobis
    nearest: Nearest
