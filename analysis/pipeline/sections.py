"""The configuration's sections: one dataclass per table of a config file (``[run]``, ``[data]``, ...),
each key with its default, a comment saying what it does, and its valid range (:func:`_f`).

Loading, overrides and the checks of every value are in :mod:`analysis.pipeline.config`, which re-exports
these classes (``from analysis.pipeline.config import Config`` is the usual import).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Limits every value must respect, whatever its key: what numpy/torch integers and the
# file system can hold. Float keys also reject NaN and +-inf.
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1  # int64
PATH_MAX, NAME_MAX = 4096, 255               # bytes, Linux (os.pathconf refines them where known)
RUN_NAME_MAX = 100                           # bytes of run.name (a directory name, also used in site paths)
TEXT_MAX = 1000                              # characters of a text value without its own max_len
LIST_MAX = 10_000                            # items of a list value without its own max_items
CONFIG_MAX_BYTES = 1 << 20                   # a config file is read only up to this size (1 MiB)
MAX_NESTING = 10                             # tables and lists inside each other, in a file or a --set value


def _f(default: Any, help: str = "", *, min: float | None = None, max: float | None = None,
       choices: tuple | None = None, gt: float | None = None, kind: str | None = None,
       item: dict | None = None, max_len: int | None = None, max_items: int | None = None):
    """A dataclass field with its valid range kept in metadata.

    ``kind`` marks strings that the file system sees: ``"path"`` (a file or directory
    path) or ``"name"`` (one path component, e.g. a directory name under build/).
    ``item``: the range of each item of a list (the keywords min, max, gt, choices,
    max_len; items of nested lists too). ``max_len``: characters of a text value (default
    :data:`TEXT_MAX`); ``max_items``: items of a list (default :data:`LIST_MAX`).
    """
    meta = {"help": help, "min": min, "max": max, "choices": choices, "gt": gt, "kind": kind,
            "item": item, "max_len": max_len, "max_items": max_items}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    # Name of the run; outputs go to build/<name>/. Empty: the config file's stem. One directory
    # name: no "/" or "\\", not "." or "..", at most 100 bytes.
    name: str = _f("", kind="name")
    # Master seed: data split, weight init, shuffling, samples. Same seed, same artifacts.
    seed: int = _f(0, min=0)
    # "auto" picks CUDA, then Apple MPS, then CPU. Or "cpu", "cuda", "cuda:1", "mps".
    device: str = _f("auto")
    # Torch intra-op threads; 0 keeps PyTorch's default (one per core).
    threads: int = _f(0, min=0, max=1024)


@dataclass
class DataConfig:
    # cbcl-faces: MIT CBCL face crops (fetched once from the package index);
    # folder: any directory of images (e.g. CelebA's img_align_celeba/); synthetic: for tests.
    source: str = _f("cbcl-faces", choices=("cbcl-faces", "folder", "synthetic"))
    # Directory of images for source = "folder" (searched recursively).
    path: str = _f("", kind="path")
    # Download cache for cbcl-faces. Empty: $XDG_CACHE_HOME/face-latent-geometry (~/.cache/...).
    cache_dir: str = _f("", kind="path")
    # Images are centre-cropped to a square and resized to image_size x image_size.
    image_size: int = _f(24, min=8, max=1024)
    # 1 = grayscale, 3 = RGB.
    channels: int = _f(1, choices=(1, 3))
    # Use at most this many images (sorted by identifier); 0 = all.
    limit: int = _f(0, min=0)
    # Images with a side shorter than this many pixels are skipped with a warning.
    min_side: int = _f(8, min=1)
    # Number of generated images for source = "synthetic".
    synthetic_count: int = _f(256, min=1, max=1_000_000)
    # Worker processes decoding image files (0 = in the main process).
    workers: int = _f(0, min=0, max=256)
    # Share of images held out from training for the reconstruction error curve.
    val_fraction: float = _f(0.1, min=0.0, max=0.5)


@dataclass
class ModelConfig:
    # Dimension N of the latent space.
    latent_dim: int = _f(256, min=1, max=65536)
    # Output channels of each stride-2 conv layer of the encoder (decoder mirrors them).
    channels: list[int] = _f([32, 64, 128], item=dict(min=1, max=8192), max_items=16)
    # Convolution kernel size (stride 2, "same"-style padding).
    kernel_size: int = _f(4, choices=(3, 4, 5))
    # Batch normalisation after each hidden conv (as in the RAE paper).
    batch_norm: bool = _f(True)
    # "ae": the deterministic autoencoder the study measures. "vae": the same network as a
    # variational autoencoder (the control): the encoder gives a mean and a log-variance per
    # component, training adds beta x KL(posterior || N(0, I)) with the reparameterisation trick,
    # and the encode step stores the posterior means as the latent points.
    kind: str = _f("ae", choices=("ae", "vae"))
    # Weight of the KL term of a VAE (model.kind = "vae"); unused by an AE.
    beta: float = _f(1.0, min=0.0, max=1e6)


@dataclass
class TrainConfig:
    # Passes over the training split.
    epochs: int = _f(40, min=1, max=100_000)
    batch_size: int = _f(64, min=1, max=65536)
    # Adam learning rate and weight decay (at most 1e38: the optimizer works in float32).
    # Training stops with an error if the loss or the weights become NaN/inf.
    lr: float = _f(1e-3, gt=0.0, max=10.0)
    weight_decay: float = _f(0.0, min=0.0, max=1e38)
    # Measure the held-out error after the first epoch, every `val_every`-th epoch and the last
    # one (the validation error is recorded, not used to pick a model). A pass costs about 4 % of
    # a default epoch on 2 CPU cores; 5 keeps 9 points of the 40-epoch curve for under 1 %.
    val_every: int = _f(5, min=1, max=100_000)
    # Store activations channels-last (can be faster on some CPUs/GPUs).
    channels_last: bool = _f(False)
    # Wrap the model in torch.compile (slow start, sometimes faster steps).
    compile: bool = _f(False)
    # Write the resume checkpoint (train/resume.pt) after an epoch once this many seconds have
    # passed since the last one; 0 = after every epoch. Ctrl-C and SIGTERM always save the last
    # finished epoch, so only kill -9 can lose up to this much work.
    checkpoint_interval: float = _f(60.0, min=0.0, max=86400.0)
    # Arithmetic of the training forward pass: "auto" = bfloat16 autocast on CUDA GPUs that
    # support it, float32 elsewhere; "fp32" always float32; "bf16" autocast on CUDA or CPU.
    precision: str = _f("auto", choices=("auto", "fp32", "bf16"))
    # Adam's fused kernel (one kernel for all parameters) on CUDA GPUs and on the CPU. On 2 CPU
    # cores it takes 0.65 ms per step against 3.2 ms for PyTorch's default per-tensor loop and
    # 3.0 ms for its foreach kernel: about 8 % of a default training step (make bench).
    fused_adam: bool = _f(True)


@dataclass
class EncodeConfig:
    # Images per encoder forward pass; bounds the pixels held in memory.
    batch_size: int = _f(512, min=1, max=1_000_000)


@dataclass
class StatsConfig:
    # Random sample of real points shown in projections and slices (clipped to n, with a note).
    sample_size: int = _f(5000, min=1)
    # Uniform artificial points drawn in each projection.
    n_artificial: int = _f(10, min=0, max=100_000)
    # Artificial points sampled directly inside each flat-cuboid slice.
    slice_artificial: int = _f(200, min=0, max=100_000)
    # Uniform artificial points whose radii are compared with the real radii (b-scan).
    radius_artificial: int = _f(20_000, min=100, max=1_000_000)
    # b grid for the radius scan and slice occupancy. Empty: 60 values evenly spaced over the
    # data's own scale: 0.05 .. 1.5 x the largest |1st or 99th percentile| of any component.
    b_grid: list[float] = _f([], item=dict(gt=0.0, max=1e9))
    # The one b of the build: the threshold of slices, projections and artificial points, the
    # uniform generator's half-width and the b of every ledger row; 0 = the best b of the fine
    # b-scan below. At most 1e9 (beyond that, float32 coordinates and squared distances overflow).
    b: float = _f(0.0, min=0.0, max=1e9)
    # Fine b-scan (the b used): geometric grid from b0 / b_span to b0 * b_span around b0 =
    # median |z| / sqrt(N/3), consecutive values b_step apart relative to b (at most 2 %).
    b_step: float = _f(0.01, gt=0.0, max=0.02)
    b_span: float = _f(2.0, gt=1.0, max=100.0)
    # Bootstrap repetitions of the fine b-scan (real and uniform radii resampled): the interval
    # of the best b (at claims.level) and the flat range.
    b_bootstrap: int = _f(200, min=20, max=100_000)
    # The flat range of the fine b-scan: b whose Wasserstein distance is within this many
    # bootstrap standard deviations of the minimum.
    flat_sd: float = _f(2.0, gt=0.0, max=10.0)
    # Component pairs to show, e.g. [[177, 242], [30, 118]]; empty = chosen automatically.
    pairs: list[list[int]] = _f([], item=dict(min=0, max=65535), max_items=1000)
    # How many pairs to choose automatically (per reason).
    n_pairs: int = _f(2, min=1, max=64)
    # Zoom window around the origin in each projection: the square that holds this share
    # of all points (the study's zoom showed about 7 %).
    zoom_share: float = _f(0.1, gt=0.0, max=1.0)
    # Bins of the per-component and radius histograms.
    bins: int = _f(60, min=2, max=10_000)
    # A mean counts as off-centre if it is more than this many standard errors from 0.
    k_sigma: float = _f(3.0, gt=0.0)
    # Share of variance kept by the PCA subspace used for the origin's Mahalanobis distance.
    pca_variance: float = _f(0.99, gt=0.0, max=1.0)


@dataclass
class GenerateConfig:
    # Generators to fit and compare (names from analysis.science.generators.GENERATORS).
    generators: list[str] = _f(["uniform", "standard-normal", "independent-normal", "independent-empirical",
                                "mvn", "mvn-core", "pca-ellipsoid", "gmm"], max_items=100)
    # Points drawn per generator for the latent metrics (clipped to the fit part, with a note);
    # also the most held-out real points compared against.
    n_samples: int = _f(2000, min=1, max=10_000_000)
    # Decoded images per generator on the contact sheets.
    n_images: int = _f(64, min=1, max=4096)
    # Generated points per generator decoded for the pixel-space metrics and the
    # re-encoding gap (clipped to n_samples); bounds the decoder work.
    image_points: int = _f(2000, min=1, max=1_000_000)
    # Images per decoder/encoder forward pass.
    batch_size: int = _f(256, min=1, max=1_000_000)
    # Neighbours k of the k-NN support and precision/recall/density/coverage metrics.
    k: int = _f(5, min=1, max=1000)
    # Share of real points held out as the "real vs real" reference.
    holdout_fraction: float = _f(0.2, gt=0.0, max=0.9)
    # Half-width b of the uniform generator; 0 = the b-scan's value (stats/stats.json b.used),
    # or, without stats.json, b = median |z| / sqrt(N/3) measured on the fit part. At most 1e9.
    b: float = _f(0.0, min=0.0, max=1e9)
    # Repetitions of the whole comparison (>= 2): each draws a new fit/held-out split and new
    # generator seeds (both derived from run.seed), refits every generator and measures every
    # metric again; metrics.json reports each metric's mean over the repetitions with its
    # Student t interval, and ranks generators only where their score intervals separate.
    repeats: int = _f(5, min=2, max=1000)
    # Confidence level of those intervals.
    level: float = _f(0.95, gt=0.5, max=0.999)
    # Candidate component counts of the gmm generator; with gmm_covariance, the candidates
    # among which gmm_selection chooses, in every repetition on its own fit part (each
    # repetition fits every candidate). Also the report's gmm sweep.
    gmm_components: list[int] = _f([1, 2, 5, 10, 20], item=dict(min=1, max=100_000), max_items=100)
    # Candidate covariance types of the gmm generator: "full" and/or "diag".
    gmm_covariance: list[str] = _f(["full", "diag"], item=dict(choices=("full", "diag")))
    # How the gmm's component count and covariance type are chosen: "heldout" (highest mean
    # log-likelihood of a held-out share, generate.holdout_fraction, of the fit part, the
    # candidates fitted on the rest) or "bic" (lowest BIC on the same training part).
    gmm_selection: str = _f("heldout", choices=("heldout", "bic"))
    # Regularisation added to every gmm covariance's diagonal, relative to the mean
    # per-component variance of the fit points (scikit-learn's reg_covar is this times that
    # variance). Full covariances of fewer than N + 1 points per component are singular
    # without it.
    gmm_reg: float = _f(0.01, min=0.0, max=100.0)
    # Outlier cut of mvn-core in Mahalanobis "sigmas": the radius a Gaussian exceeds with
    # the probability of a 1-D k-sigma event (k = 3: 0.27 %).
    core_sigma: float = _f(3.0, gt=0.0)
    # Fit the gmm on at most this many random fit-part points (EM costs ~ n K N^2 per
    # iteration); 0 = all.
    gmm_max_points: int = _f(20000, min=0)
    # Confidence level of the pca-ellipsoid generator.
    confidence: float = _f(0.95, gt=0.0, max=1.0)
    # Sweep for the report's chart (latent precision/recall/density/coverage per value):
    # pca-ellipsoid confidence levels in (0, 1]. Empty = no sweep. (The gmm's sweep is its
    # selection over gmm_components.)
    sweep_confidence: list[float] = _f([0.5, 0.8, 0.9, 0.95, 0.99, 0.999], item=dict(gt=0.0, max=1.0),
                                       max_items=100)


@dataclass
class ClaimsConfig:
    # The claims ledger (analysis/steps/claims.py): each finding of the published study measured with
    # an interval, beside a null model, and given a verdict by the bands below.
    # Folds k of the cross-fitted origin test: centre and covariance from k - 1 folds, the
    # origin compared with the held-out fold.
    folds: int = _f(5, min=2, max=100)
    # Bootstrap repetitions behind every interval (each repetition resamples the points and,
    # for the origin, refits every fold).
    bootstrap: int = _f(200, min=20, max=100_000)
    # Confidence level of the intervals.
    level: float = _f(0.95, gt=0.5, max=0.999)
    # Cross-fitting, bootstraps and normality tests use at most this many random points
    # (all if n is smaller); the ledger says when it subsampled.
    max_points: int = _f(20_000, min=100, max=10_000_000)
    # Points drawn from each null model (fitted normal, the same normal at the origin, the
    # data with each component permuted); rare events such as the whole cube need many.
    null_points: int = _f(100_000, min=1000, max=10_000_000)
    # Origin bands, on the share s of held-out points farther from the centre than the origin:
    # beyond the data (s < border_band[0]), at the border (within border_band), outer part
    # (border_band[1] <= s < bulk_share), inside the bulk (s >= bulk_share).
    border_band: list[float] = _f([0.01, 0.1], item=dict(gt=0.0, max=1.0), max_items=2)
    bulk_share: float = _f(0.5, gt=0.0, max=1.0)
    # A slice is "nearly empty" when the median pair's slice holds less than this share of
    # the points; a "void" needs the data to be emptier than the fitted normal as well.
    empty_share: float = _f(0.05, gt=0.0, max=1.0)
    # Projections "suggest an overlap that slices remove" when fewer than this share of the
    # points projecting into [-b, b]^2 (median pair) lie in the whole cube [-b, b]^N.
    overlap_kept: float = _f(0.1, gt=0.0, max=1.0)
    # "A few long axes": the axes holding 90 % of the variance are at most this share of N.
    few_axes_share: float = _f(0.25, gt=0.0, max=1.0)
    # "Near a low-dimensional subspace": at least this share of |centre|^2 lies in the first
    # few principal axes (stats centre.headline_k).
    centre_share: float = _f(0.5, gt=0.0, max=1.0)
    # Dense core: the outlier cut in Mahalanobis "sigmas" (as generate.core_sigma) and the
    # tolerance on the core's multivariate kurtosis relative to a Gaussian cut the same way:
    # "close to normal" within 1 +- kurtosis_close, "not normal" beyond 1 +- kurtosis_far.
    core_sigma: float = _f(3.0, gt=0.0)
    kurtosis_close: float = _f(0.1, gt=0.0, max=10.0)
    kurtosis_far: float = _f(0.25, gt=0.0, max=10.0)
    # Gaussian samples simulated to calibrate the multivariate normality statistics, and the
    # most points they use (the statistics cost n^2 N; Shapiro-Wilk p-values hold up to 5,000).
    normality_null: int = _f(10, min=3, max=1000)
    normality_max_points: int = _f(2500, min=50, max=5000)
    # Significance level of the per-axis normality tests (Benjamini-Hochberg over the axes).
    alpha: float = _f(0.01, gt=0.0, max=0.5)
    # Decoded images "are faces" when the share the calibrated face tests call faces is at least
    # face_ratio times that of the real held-out reference's reconstructions, and "are not faces"
    # below nonface_ratio times it (the ledger's face rows, and where latent and face metrics agree).
    face_ratio: float = _f(0.8, gt=0.0, max=1.0)
    nonface_ratio: float = _f(0.2, gt=0.0, max=1.0)
    # A generator metric that rests on fewer held-out real points than this is "not testable".
    min_heldout: int = _f(100, min=1)
    # Covariance-based figures are flagged as unstable when n < unstable_ratio * N.
    unstable_ratio: float = _f(5.0, gt=0.0, max=1000.0)
    # Off-centre components: a mean counts when it lies more than effect_size of the component's
    # own standard deviation from 0 (an effect size) and differs from 0 significantly (Holm over
    # the N components at ledger_alpha); "centred" when fewer than minor_share of them do.
    effect_size: float = _f(0.5, gt=0.0, max=100.0)
    minor_share: float = _f(0.1, gt=0.0, max=1.0)
    # Significance level of the ledger's tests against null models, Holm-adjusted over all of them.
    ledger_alpha: float = _f(0.05, gt=0.0, max=0.5)
    # Simulations of the monte-carlo nulls (one common spread; centre directions drawn from the
    # covariance); also the draws of a pooled hierarchical interval.
    null_draws: int = _f(10_000, min=100, max=10_000_000)
    # Where uniform points lie: neighbours k of the data's cross-fitted k-NN support, points drawn
    # from each of uniform, the fitted normal and the normal at the origin, and the bands of the
    # ratio (share of uniform points inside the support over that of held-out real points): a void
    # below void_ratio, filled at or above filled_ratio.
    support_k: int = _f(5, min=1, max=1000)
    void_points: int = _f(2000, min=50, max=1_000_000)
    # The k-NN support and the nearest-real-point distances (where uniform points lie; the origin's
    # local density) use at most this many random points of the (sub)sample: their cost grows as n^2 N.
    support_points: int = _f(5000, min=100, max=1_000_000)
    void_ratio: float = _f(0.1, gt=0.0, max=1.0)
    filled_ratio: float = _f(0.5, gt=0.0, max=10.0)


@dataclass
class DecodeConfig:
    # The decode step (analysis/steps/decode.py): what the decoder draws across the shown planes and
    # along straight paths out of the cloud, measured against the distance to the data.
    # Tiles per side of each decoded plane (grid x grid points over the plotted window).
    grid: int = _f(11, min=3, max=41)
    # Points along each straight path (at least 16).
    path_steps: int = _f(21, min=16, max=257)
    # Rays from the centre (longest and shortest principal axis, one coordinate axis) run out
    # until their distance to the data is this many times the data's boundary distance B.
    extent: float = _f(3.0, gt=1.0, max=100.0)
    # The data's boundaries: B, this quantile of the real points' distances to their nearest
    # other real point (a point's distance to the data is its distance to the nearest real
    # point over B); and D, the same quantile of their cross-fitted Mahalanobis distances
    # (Ledoit-Wolf covariance; each point measured with centre and covariance fitted on the
    # other folds), the second measure.
    boundary_quantile: float = _f(0.99, gt=0.5, max=1.0)
    # Folds of that cross-fitting.
    folds: int = _f(5, min=2, max=100)
    # Real points (a seeded random subset when n is larger) that define the distances and
    # whose decoded images are the pixel-space reference of "face" images.
    reference_points: int = _f(2500, min=20, max=100_000)
    # Neighbours k of the reference's k-NN checks. (Whether a decoded image is a face is decided
    # by the calibrated face tests of [faces], no longer by a k-NN support in pixel space.)
    k: int = _f(5, min=1, max=1000)
    # Real points whose exact coordinates the page offers as the "other components" of the
    # live decoder's cursor panels (besides the centre and the origin).
    anchors: int = _f(6, min=0, max=64)
    # Verdict band: images stop being faces "at the data's boundary" when the median stop
    # distance of the rays lies within [lo, hi] times B.
    stop_band: list[float] = _f([0.5, 2.0], item=dict(gt=0.0, max=100.0), max_items=2)
    # Images per decoder/encoder forward pass.
    batch_size: int = _f(256, min=1, max=1_000_000)


@dataclass
class FacesConfig:
    # The face tests (analysis/science/faces.py, the faces step analysis/steps/facetest.py): a published detector
    # (OpenCV's Haar cascade) and a face/non-face classifier trained on the data's faces against
    # the MIT CBCL non-faces (fetched once from the package index with the default data; for a
    # folder of images resized to its size, plus synthetic hard negatives; synthetic data: the
    # synthetic hard negatives only). Each is measured on held-out labelled sets; a test is used
    # for a verdict only when it passes the bars below.
    # Images per calibration set (held-out real faces, their reconstructions, CBCL non-faces, each
    # hard-negative and diagnostic set).
    calibration_images: int = _f(200, min=20, max=100_000)
    # Folds of the classifier's cross-fitting: every labelled image is scored by the model fitted
    # on the other folds.
    folds: int = _f(3, min=2, max=20)
    # At most this many faces and this many non-faces train the classifier (random subsets).
    max_train: int = _f(2500, min=50, max=1_000_000)
    # Side of the gray images the classifier sees (every image is resized to it).
    classifier_size: int = _f(16, min=8, max=64)
    # The classifier: standardised pixels, PCA to this many components, an RBF SVM with this C.
    classifier_components: int = _f(40, min=2, max=4096)
    classifier_c: float = _f(3.0, gt=0.0, max=1e6)
    # A test is used for verdicts only if its true-positive rate on held-out real faces and on
    # their reconstructions is at least min_tpr and its false-positive rate on the CBCL non-faces
    # and on every hard-negative set is at most max_fpr.
    min_tpr: float = _f(0.9, gt=0.0, max=1.0)
    max_fpr: float = _f(0.1, min=0.0, max=1.0)
    # Decoded images per generator row and repetition that the face tests score in the generate
    # step (at least the contact sheet's generate.n_images are scored).
    images_per_row: int = _f(64, min=8, max=1_000_000)
    # Confidence level of the binomial (Clopper-Pearson) and kappa intervals.
    level: float = _f(0.95, gt=0.5, max=0.999)
    # Seed of the face tests' random choices (calibration subsets, folds, hard negatives). Not
    # run.seed: the tests depend on the data alone, so the training seeds of one config share them
    # (each run still checks them on its own autoencoder's reconstructions).
    seed: int = _f(0, min=0)


@dataclass
class ReportConfig:
    # Article title and authors as printed on the site and the PDF title page.
    # (plain text: no control characters but newline and tab; at most 300 characters, 100
    # authors of at most 200 characters each)
    title: str = _f("Why random latent vectors do not decode to faces", max_len=300)
    authors: list[str] = _f(["The face-latent-geometry authors"], item=dict(max_len=200), max_items=100)


@dataclass
class RunsConfig:
    # Several runs in one build, compared side by side (analysis/pipeline/runs.py): runs = variants x seeds.
    # The first run (first variant, first seed) is the primary run: the chapters narrate it and it
    # keeps build/<config>/; the others go to build/<config>/runs/<name>/. No [runs]: one run.
    # Training seeds: one run per seed (of each variant), with run.seed set to it; named seed<s>.
    # Empty: run.seed alone.
    seeds: list[int] = _f([], item=dict(min=0, max=INT_MAX), max_items=1000)
    # A sweep of one config key: one variant per value, named <last part of the key>=<value>, e.g.
    # sweep_key = "model.latent_dim", sweep_values = [256, 64, 16] gives latent_dim=256, ...
    sweep_key: str = _f("")
    sweep_values: list[Any] = _f([], max_items=1000)
    # Named variants after the sweep's, as tables: [[runs.variant]] name = "celeba" and
    # set = { "data.source" = "folder", "data.path" = "/data/img_align_celeba" } (dotted keys).
    variant: list[dict[str, Any]] = _f([], max_items=1000)
    # Controls: named variants trained with one seed (the first of runs.seeds, else run.seed), beside
    # the runs above and never pooled with them, each compared finding by finding with the headline
    # ledger: [[runs.control]] name = "vae" and set = { "model.kind" = "vae" }. Their runs go to
    # build/<config>/runs/<name>/ and go through every step of the other runs.
    control: list[dict[str, Any]] = _f([], max_items=100)
    # The runs other than the primary skip what only the primary's chapters draw: the PCA-ellipsoid
    # sweep of chapter 5 (generate.sweep_confidence is emptied; the GMM selection is kept, since
    # it chooses the generator each run scores).
    # Every ledger figure is still measured in every run. false: every run computes everything.
    lean: bool = _f(True)

    @property
    def several(self) -> bool:
        """Whether these settings name more than one run (``analysis.pipeline.runs.expand`` makes them)."""
        return max(len(self.sweep_values) + len(self.variant), 1) * max(len(self.seeds), 1) + len(self.control) > 1


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    claims: ClaimsConfig = field(default_factory=ClaimsConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    runs: RunsConfig = field(default_factory=RunsConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    def section(self, *names: str) -> dict[str, dict[str, Any]]:
        """The named sections as plain dicts (what a step's outputs depend on)."""
        return {n: dataclasses.asdict(getattr(self, n)) for n in names}


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}


#: Keys that moved to another section (issue 23: the fine b-scan sets the one b of the build,
#: so it belongs to the stats step): old key -> new key.
MOVED = {"claims.b_step": "stats.b_step", "claims.b_span": "stats.b_span", "claims.flat_sd": "stats.flat_sd"}


