"""The one reader of a run directory: typed, checked views of its artifacts.

The steps write a run's artifacts (each step's module docstring documents its files
and keys); this module reads them for the article and anything else that consumes a
run, and it is the only reading code that knows their file names and keys. Every view
is a frozen dataclass built from one file and checked on the way in: a missing file,
a missing key or a value of the wrong type raises :class:`ArtifactError` naming the
file (relative to the run directory) and the key::

    ArtifactError: stats/stats.json: missing key 'origin.mahalanobis'

Nothing is ever filled in with a default. JSON ``null`` reads as ``None`` only where
the writer documents it (an undefined figure, e.g. the condition number of a singular
covariance, shown as "n/a"). An artifact that may legitimately be missing is read as
an :class:`Absent`, which is false and says why: the ``generate`` step has not run, or
no training was timed because the weights were adopted with ``--checkpoint``.

Usage::

    run = Run("build/default")
    run.stats.origin.mahalanobis.ledoit_wolf.distance   # float
    run.arrays.b_grid                                   # ndarray (G,)
    run.timing.total_seconds if run.timing else run.timing.reason

A config of several runs (``[runs]``; :mod:`analysis.runs`) has its primary run in the
config's build directory: ``Run("build/default").across`` reads the ``across`` step's
view of every run side by side (:class:`Across`; an :class:`Absent` for a config of one
run), and ``Run("build/default/runs/seed1")`` reads another run like any run.

Views are read lazily, once per :class:`Run`; :meth:`Run.check` reads them all.
Arrays are checked for presence, dimensions (against the sizes in the JSON files)
and dtype kind.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np

from analysis.config import Config, load_config, read_config_text
from analysis.errors import UserError
from analysis.provenance import manifest_file
from analysis.storage import load_json
from analysis.steps import NAMES as STEPS
from analysis.steps import producer

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- file names

CONFIG = "config.toml"
DATA_INFO = "data/info.json"
HISTORY = "train/history.json"
TIMING = "train/timing.json"
LATENTS = "latents.npy"
ENCODE_SUMMARY = "encode/summary.json"
RECONSTRUCTIONS = "encode/reconstructions.npz"
GALLERY = "encode/gallery.npz"
STATS = "stats/stats.json"
ARRAYS = "stats/arrays.npz"
METRICS = "generate/metrics.json"
CLAIMS = "claims/claims.json"
CLAIMS_DETAILS = "claims/details.json"
CLAIMS_ARRAYS = "claims/arrays.npz"
CLAIMS_SCHEMA = 2
STATS_SCHEMA = 3
FACES = "faces/calibration.json"
FACES_EXAMPLES = "faces/examples.npz"
FACES_SCHEMA = 2
DECODE = "decode/decode.json"
DECODE_PLANES = "decode/planes.npz"
DECODE_PATHS = "decode/paths.npz"
DECODE_SCHEMA = 2
ACROSS_LEDGER = "across/ledger.json"
ACROSS_RUNS = "across/runs.json"
ACROSS_SCHEMA = 1

#: The files the article cannot do without, and those it shows as absent when a run lacks
#: them (no generate step yet; weights adopted with --checkpoint, so nothing was timed).
REQUIRED = (CONFIG, DATA_INFO, HISTORY, ENCODE_SUMMARY, RECONSTRUCTIONS, GALLERY, STATS, ARRAYS, FACES,
            FACES_EXAMPLES, CLAIMS, CLAIMS_DETAILS, CLAIMS_ARRAYS, DECODE, DECODE_PLANES, DECODE_PATHS)
OPTIONAL = (TIMING, METRICS)
#: Every file the article reads (the report's build key and checks use this list).
READS = REQUIRED + OPTIONAL
#: What the article reads besides when the config has several runs ([runs]).
ACROSS_READS = (ACROSS_LEDGER, ACROSS_RUNS)

#: The step that writes each file (for the "how to fix" part of a message); config.toml
#: is written by every CLI run, and the first step remakes it.
WRITER = {f: (STEPS[0] if f == CONFIG else producer(f)) for f in (*READS, *ACROSS_READS, LATENTS)}


# --------------------------------------------------------------------------- errors and absence

class ArtifactError(ValueError):
    """An artifact is missing, unreadable, or lacks a key or has one of the wrong type.

    Parameters
    ----------
    file : str
        The file, relative to the run directory (``stats/stats.json``).
    problem : str
        What is wrong with it, naming the key (``missing key 'b.used'``).
    """

    def __init__(self, file: str, problem: str):
        self.file, self.problem = file, problem
        super().__init__(f"{file}: {problem}")


@dataclass(frozen=True)
class Absent:
    """An optional artifact that this run does not have, and why. False in a boolean test."""

    artifact: str
    reason: str

    def __bool__(self) -> bool:
        return False


class Table(collections.abc.Mapping):
    """A read-only JSON object whose values were checked; a missing key names file and key."""

    def __init__(self, file: str, path: str, items: dict):
        self._file, self._path, self._items = file, path, items

    def __getitem__(self, key: str):
        try:
            return self._items[key]
        except KeyError:
            raise ArtifactError(self._file, f"missing key '{self._path}.{key}'") from None

    def __contains__(self, key) -> bool:
        return key in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Table({self._items!r})"


# --------------------------------------------------------------------------- checked conversion

def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the string {v[:40]!r}"
    return "a list" if isinstance(v, list) else "an object"


def _value(v: Any, tp: Any, file: str, path: str) -> Any:
    """``v`` (parsed JSON) checked against the annotation ``tp``; raise ArtifactError if it does not fit."""
    def wrong(expected: str):
        return ArtifactError(file, f"key '{path}' is {_describe(v)}, expected {expected}")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if v is None:
            raise wrong(_expected(inner[0]))
        return _value(v, inner[0], file, path)
    if dataclasses.is_dataclass(tp):
        if not isinstance(v, dict):
            raise wrong("an object")
        return _read(tp, v, file, path + ".")
    if origin is tuple:
        if not isinstance(v, list):
            raise wrong(_expected(tp))
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(x, args[0], file, f"{path}[{i}]") for i, x in enumerate(v))
        if len(v) != len(args):
            raise wrong(_expected(tp))
        return tuple(_value(x, a, file, f"{path}[{i}]") for i, (x, a) in enumerate(zip(v, args)))
    if origin is Literal:
        if isinstance(v, bool) or v not in args:
            raise wrong(_expected(tp))
        return v
    if origin is collections.abc.Mapping:
        if not isinstance(v, dict):
            raise wrong("an object")
        return Table(file, path, {k: _value(x, args[1], file, f"{path}.{k}") for k, x in v.items()})
    if tp is Any:
        return v
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise wrong("a finite number")
        return float(v)
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise wrong("an integer")
        return v
    if tp is bool:
        if not isinstance(v, bool):
            raise wrong("true or false")
        return v
    if tp is str:
        if not isinstance(v, str):
            raise wrong("a string")
        return v
    raise TypeError(f"artifacts: unsupported annotation {tp!r} for {file}: {path}")


def _expected(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        return "a list" if len(args) == 2 and args[1] is Ellipsis else f"a list of {len(args)}"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    return {float: "a finite number", int: "an integer", bool: "true or false", str: "a string"}.get(tp, "an object")


def and_list(words: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"`` (for sentences chosen from the numbers)."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _read(cls: type, data: dict, file: str, prefix: str = ""):
    """Build dataclass ``cls`` from the JSON object ``data``; every field's key must be there.

    A field with ``metadata={"key": ...}`` reads that key; with ``{"optional": True}`` an
    absent key reads as None (only for keys a writer adds in some cases only).
    """
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("array"):
            continue
        key = f.metadata.get("key", f.name)
        if key not in data:
            if f.metadata.get("optional"):
                values[f.name] = None
                continue
            raise ArtifactError(file, f"missing key '{prefix}{key}'")
        values[f.name] = _value(data[key], hints[f.name], file, prefix + key)
    return cls(**values)


def _array(*shape: str | int, kinds: str = "f") -> Any:
    """A dataclass field holding an array of ``shape`` (sizes or symbols) and dtype kind in ``kinds``."""
    return field(metadata={"array": True, "shape": shape, "kinds": kinds})


def _array_specs(cls: type) -> dict[str, tuple[tuple, str]]:
    """The array fields of dataclass ``cls``: name -> (shape, kinds)."""
    return {f.name: (f.metadata["shape"], f.metadata["kinds"]) for f in dataclasses.fields(cls)
            if f.metadata.get("array")}


def _read_arrays(specs: dict[str, tuple[tuple, str]], arrays: Mapping[str, np.ndarray], file: str,
                 dims: dict[str, int]) -> dict[str, np.ndarray]:
    """The arrays named in ``specs`` (name -> (shape, dtype kinds)), checked; shapes may use ``dims`` symbols."""
    out = {}
    for name, (shape, kinds) in specs.items():
        if name not in arrays:
            raise ArtifactError(file, f"missing array '{name}'")
        a = arrays[name]
        want = tuple(dims[d] if isinstance(d, str) else d for d in shape)
        if a.shape != want:
            spec = " × ".join(f"{d}={dims[d]}" if isinstance(d, str) else str(d) for d in shape)
            raise ArtifactError(file, f"array '{name}' has shape {a.shape}, expected ({spec})")
        if a.dtype.kind not in kinds:
            raise ArtifactError(file, f"array '{name}' has dtype {a.dtype}, expected kind {' or '.join(kinds)}")
        out[name] = a
    return out


# --------------------------------------------------------------------------- views: data, training, encode

@dataclass(frozen=True)
class DataInfo:
    """``data/info.json``: what the fetch step cached."""

    source: Literal["cbcl-faces", "folder", "synthetic"]
    image_size: int
    channels: int
    n_images: int
    n_skipped: int
    citation: str  #: empty for a folder of the user's images


@dataclass(frozen=True)
class Epoch:
    epoch: int
    train_loss: float
    val_loss: float | None  #: None when not validated (see ``train.val_every``) or nothing held out


@dataclass(frozen=True)
class History:
    """``train/history.json``: the per-epoch reconstruction error.

    For weights adopted with ``--checkpoint`` (not trained in this run) ``n_train`` and
    ``n_val`` are None and ``adopted_from`` names the checkpoint.
    """

    epochs: tuple[Epoch, ...]
    n_train: int | None
    n_val: int | None
    adopted_from: str | None


@dataclass(frozen=True)
class _TrainedHistory:
    epochs: tuple[Epoch, ...]
    n_train: int
    n_val: int
    loss: str


@dataclass(frozen=True)
class _AdoptedHistory:
    epochs: tuple[Epoch, ...]
    checkpoint: str


@dataclass(frozen=True)
class EpochTime:
    epoch: int
    seconds: float
    images_per_s: float


@dataclass(frozen=True)
class Timing:
    """``train/timing.json``: wall-clock time per epoch, the device and the CPU threads."""

    epochs: tuple[EpochTime, ...]
    device: str   #: torch device type: "cpu", "cuda", "mps"
    threads: int  #: torch intra-op threads

    @property
    def total_seconds(self) -> float:
        """Training time summed over the epochs."""
        return float(sum(e.seconds for e in self.epochs))


@dataclass(frozen=True)
class Layer:
    layer: str                 #: in words, e.g. "conv 4×4, stride 2 + batch norm + ReLU"
    input: tuple[int, ...]     #: shape without the batch axis
    output: tuple[int, ...]


@dataclass(frozen=True)
class Network:
    """``encode/summary.json`` ``network``: the autoencoder as measured by the encode step."""

    parameters: int
    latent_dim: int
    flat_features: int
    encoder: tuple[Layer, ...]


@dataclass(frozen=True)
class _ReconstructionInfo:
    n: int
    split: Literal["held-out", "training"]
    mse: float


@dataclass(frozen=True)
class _GalleryInfo:
    n: int
    seed: int


@dataclass(frozen=True)
class Posterior:
    """``encode/summary.json`` ``posterior``: a VAE's posteriors over the data (the control)."""

    kind: Literal["vae"]
    beta: float
    threshold: float                         #: a component is active when its means vary by more
    active: int                              #: active components
    N: int
    active_components: tuple[int, ...]
    means_variance: tuple[float, ...]        #: (N,) variance across the data of each posterior mean
    mean_variance: tuple[float, ...]         #: (N,) each component's mean posterior variance


@dataclass(frozen=True)
class _EncodeSummary:
    network: Network
    reconstructions: _ReconstructionInfo
    gallery: _GalleryInfo
    posterior: Posterior | None = field(default=None, metadata={"optional": True})


@dataclass(frozen=True, eq=False)
class Reconstructions:
    """``encode/reconstructions.npz`` with its summary: images and decoder(encoder(image))."""

    split: str    #: "held-out" (never trained on) or "training" (data.val_fraction = 0)
    mse: float    #: mean squared error per pixel over these images, pixels in [0, 1]
    index: np.ndarray = _array("k", kinds="i")
    ids: np.ndarray = _array("k", kinds="U")
    originals: np.ndarray = _array("k", "C", "S", "S", kinds="u")
    reconstructions: np.ndarray = _array("k", "C", "S", "S", kinds="f")


@dataclass(frozen=True, eq=False)
class Gallery:
    """``encode/gallery.npz``: images drawn at random (seed ``seed``) to show the data."""

    seed: int
    index: np.ndarray = _array("g", kinds="i")
    ids: np.ndarray = _array("g", kinds="U")
    images: np.ndarray = _array("g", "C", "S", "S", kinds="u")


@dataclass(frozen=True)
class Latents:
    """``latents.npy``: n points of N components (read with :meth:`Run.latents_array`)."""

    n: int
    N: int


# --------------------------------------------------------------------------- views: stats

@dataclass(frozen=True)
class Thresholds:
    majority_share: float
    spread_ratio: float
    border_share: float
    half_share: float


@dataclass(frozen=True)
class Characteristic:
    component: int
    why: str


@dataclass(frozen=True)
class Components:
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


@dataclass(frozen=True)
class Correlation:
    mean_abs: float
    max_abs: float
    max_pair: tuple[int, int]
    max_value: float
    n_pairs_above_0_5: int
    n_pairs: int
    share_pairs_above_0_5: float


@dataclass(frozen=True)
class PCA:
    total_variance: float
    eigenvalues_top: tuple[float, ...]
    variance_share_first_k: Mapping[str, float]
    axes_for_variance: Mapping[str, int]
    condition_number: float | None
    axis_length_ratio: float | None
    headline_k: int
    variance_share_headline_k: float


@dataclass(frozen=True)
class Centre:
    offset: float
    rms_radius: float
    offset_over_rms_radius: float | None
    offset_share_first_k: Mapping[str, float]
    headline_k: int
    offset_share_headline_k: float
    variance_share_headline_k: float


@dataclass(frozen=True)
class Euclidean:
    distance: float
    share_farther: float


@dataclass(frozen=True)
class EmpiricalMahalanobis:
    distance: float | None
    condition_number: float | None


@dataclass(frozen=True)
class LedoitWolf:
    distance: float
    shrinkage: float
    condition_number: float | None
    share_farther: float
    gaussian_share_farther: float
    dof: int


@dataclass(frozen=True)
class PcaSubspace:
    distance: float
    n_axes: int
    variance_share: float
    share_farther: float
    gaussian_share_farther: float


@dataclass(frozen=True)
class Mahalanobis:
    primary: str
    empirical: EmpiricalMahalanobis
    ledoit_wolf: LedoitWolf
    pca_subspace: PcaSubspace
    at_border: bool


@dataclass(frozen=True)
class Nearest:
    origin_to_nearest_all: float
    reference_size: int
    query_size: int
    origin_to_nearest_reference: float
    nn_q05: float
    nn_median: float
    nn_q95: float
    origin_over_median_nn: float | None
    share_nn_above_origin: float


@dataclass(frozen=True)
class Origin:
    euclidean: Euclidean
    mahalanobis: Mahalanobis
    nearest: Nearest


@dataclass(frozen=True)
class RadiusSummary:
    mean: float
    std: float
    min: float
    q05: float
    median: float
    q95: float
    max: float


@dataclass(frozen=True)
class UniformRadii(RadiusSummary):
    b: float
    n: int
    closed_form_mean: float
    closed_form_std: float
    relative_spread: float | None


@dataclass(frozen=True)
class ClosedForm:
    N: int
    b: float
    mean: float
    std: float


@dataclass(frozen=True)
class Radii:
    real: RadiusSummary
    real_centred: RadiusSummary
    uniform: UniformRadii
    uniform_centred: RadiusSummary
    published_closed_form: ClosedForm


@dataclass(frozen=True)
class FineScan:
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


@dataclass(frozen=True)
class BScan:
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


@dataclass(frozen=True)
class Projections:
    sample_size: int
    sample_size_requested: int
    sample_dtype: str
    n_artificial: int
    b: float
    zoom_share: float
    n_hidden_components: int


@dataclass(frozen=True)
class Count:
    min: int
    median: float
    max: int


@dataclass(frozen=True)
class Slices:
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


@dataclass(frozen=True)
class Zoom:
    half_width: float
    all: int
    sample: int
    artificial: int


@dataclass(frozen=True)
class Pair:
    pair: tuple[int, int]
    reason: PairReason
    why: str
    slice_all: int
    slice_sample: int
    projection_overlap_all: int
    origin_mahalanobis_2d: float | None
    zoom: Zoom


@dataclass(frozen=True)
class Published:
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


@dataclass(frozen=True)
class Stats:
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


@dataclass(frozen=True, eq=False)
class StatsArrays:
    """``stats/arrays.npz``: the arrays of the geometry (see :mod:`analysis.stats`)."""

    component_mean: np.ndarray = _array("N")
    component_std: np.ndarray = _array("N")
    component_min: np.ndarray = _array("N")
    component_max: np.ndarray = _array("N")
    component_mean_over_se: np.ndarray = _array("N")
    component_quantile_levels: np.ndarray = _array("Q")
    component_quantiles: np.ndarray = _array("N", "Q")
    component_hist_counts: np.ndarray = _array("N", "B", kinds="iu")
    component_hist_edges: np.ndarray = _array("N", "B+1")
    corr: np.ndarray = _array("N", "N")
    pca_eigenvalues: np.ndarray = _array("N")
    pca_axes: np.ndarray = _array("N", "N")
    pca_variance_cumulative: np.ndarray = _array("N")
    pca_centre: np.ndarray = _array("N")
    radius_edges: np.ndarray = _array("B+1")
    radius_hist_real: np.ndarray = _array("B", kinds="iu")
    radius_hist_real_centred: np.ndarray = _array("B", kinds="iu")
    radius_hist_uniform: np.ndarray = _array("B", kinds="iu")
    radius_hist_uniform_centred: np.ndarray = _array("B", kinds="iu")
    radius_real_sample: np.ndarray = _array("n_s")
    radius_real_centred_sample: np.ndarray = _array("n_s")
    radius_uniform_unit: np.ndarray = _array("R")
    b_grid: np.ndarray = _array("G")
    b_wasserstein: np.ndarray = _array("G")
    b_wasserstein_centred: np.ndarray = _array("G")
    b_uniform_in_real_range: np.ndarray = _array("G")
    b_fine_grid: np.ndarray = _array("Gf")
    b_fine_w1: np.ndarray = _array("Gf")
    b_boot_best: np.ndarray = _array("Bf")
    b_boot_overlap: np.ndarray = _array("Bf", 2)
    occupancy: np.ndarray = _array("G", 3)
    occupancy_every: np.ndarray = _array("G")
    mahalanobis_edges: np.ndarray = _array("B+1")
    mahalanobis_hist: np.ndarray = _array("B", kinds="iu")
    nn_distances: np.ndarray = _array("nn")
    sample_index: np.ndarray = _array("n_s", kinds="iu")
    sample_z: np.ndarray = _array("n_s", "N")
    sample_top_index: np.ndarray = _array("n_s", 3, kinds="iu")
    sample_top_abs: np.ndarray = _array("n_s", 3)
    sample_fourth_abs: np.ndarray = _array("n_s")
    artificial_z: np.ndarray = _array("A", "N")
    slice_artificial_z: np.ndarray = _array("SA", "N")
    pairs: np.ndarray = _array("P", 2, kinds="iu")
    zoom_half_width: np.ndarray = _array("P")
    pair_projection_overlap: np.ndarray = _array("N", "N", kinds="iu")
    pair_origin_mahalanobis_2d: np.ndarray = _array("N", "N")
    atlas_b: np.ndarray = _array("K")
    atlas_counts_all: np.ndarray = _array("K", "N", "N", kinds="iu")
    atlas_counts_sample: np.ndarray = _array("K", "N", "N", kinds="iu")


# --------------------------------------------------------------------------- views: faces

FaceRule = Literal["both", "detector", "classifier"]


@dataclass(frozen=True)
class FaceRate:
    """How many images of a set a test called faces, with the exact binomial interval of the share."""

    count: int
    rate: float
    low: float
    high: float


@dataclass(frozen=True)
class FaceSet:
    """One calibration set (see :mod:`analysis.facetest`) and each test's rate on it."""

    name: str
    kind: Literal["positive", "negative", "diagnostic"]
    description: str
    n: int
    detector: FaceRate
    classifier: FaceRate
    both: FaceRate

    def of(self, test: str) -> FaceRate:
        """The rate of ``test`` ("detector", "classifier" or "both")."""
        if test not in ("detector", "classifier", "both"):
            raise KeyError(f"no face test {test!r}")
        return getattr(self, test)


@dataclass(frozen=True)
class FaceTestJudgement:
    usable: bool
    tpr_min: float
    fpr_max: float
    worst: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class FaceTests:
    detector: FaceTestJudgement
    classifier: FaceTestJudgement
    both: FaceTestJudgement


@dataclass(frozen=True)
class FaceDetectorInfo:
    name: str
    package: str
    version: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class FaceClassifierInfo:
    name: str
    params: Mapping[str, Any]
    faces: int
    cbcl_nonfaces: int
    synthetic_negatives: int
    negatives: Literal["cbcl", "cbcl+synthetic", "synthetic"]
    sentence: str


@dataclass(frozen=True)
class Agreement:
    """Cohen's kappa of the two tests' labels on a set of images, with its bootstrap interval
    (None when undefined: both tests gave every image the same label)."""

    n: int
    agreement: float | None
    both: int
    only_a: int   #: the detector alone
    only_b: int   #: the classifier alone
    neither: int
    kappa: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class FaceSettings:
    calibration_images: int
    folds: int
    min_tpr: float
    max_fpr: float
    level: float
    seed: int
    image_shape: tuple[int, int, int]


@dataclass(frozen=True)
class FaceCalibration:
    """``faces/calibration.json``: the face tests and their measured error rates on labelled images made
    from the data alone (:mod:`analysis.facetest`); ``tests`` to ``rule_text`` judge these sets only
    (each run's judgement adds its reconstructions: :attr:`Run.face_judgement`)."""

    settings: FaceSettings
    detector: FaceDetectorInfo
    classifier: FaceClassifierInfo
    sets: tuple[FaceSet, ...]
    tests: FaceTests
    rule: FaceRule | None   #: the verdict rule on these sets; None: no usable test
    usable: bool
    reason: str | None      #: why not (None when usable)
    rule_text: str
    agreement: Agreement    #: on every calibration image
    notes: tuple[str, ...]

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


@dataclass(frozen=True, eq=False)
class FaceExamples:
    """``faces/examples.npz``: the first images of each calibration set (in ``sets`` order) and their labels."""

    images: np.ndarray = _array("K", "E", "S", "S", kinds="u")
    detector: np.ndarray = _array("K", "E", kinds="b")
    classifier: np.ndarray = _array("K", "E", kinds="b")


# --------------------------------------------------------------------------- views: generate

@dataclass(frozen=True)
class GenerateB:
    value: float | None
    source: Literal["config", "stats.json", "measured"]


@dataclass(frozen=True)
class GenerateSettings:
    n_points: int
    latent_dim: int
    n_fit: int
    n_holdout: int
    n_real: int
    n_fake: int
    n_image: int
    n_image_real: int
    n_images: int
    image_shape: tuple[int, int, int]
    k: int
    copy_quantile: float
    copy_share_limit: float
    holdout_fraction: float
    seed: int
    repeats: int
    level: float
    interval: Literal["student-t"]
    repeat_seeds: tuple[tuple[int, int], ...]
    b: GenerateB
    spread: float
    real_radius_mean: float
    latents_vs_encoder: float | None
    generators: tuple[str, ...]


@dataclass(frozen=True)
class Interval:
    """A metric over the repetitions: its interval and the value of each repetition (None where undefined)."""

    low: float | None
    high: float | None
    repeats: tuple[float | None, ...]


@dataclass(frozen=True)
class RowIntervals:
    """The interval of every metric of a :class:`Row` (same names)."""

    score: Interval
    in_support: Interval
    precision: Interval
    recall: Interval
    density: Interval
    coverage: Interval
    nn_real_mean: Interval
    radius_w1: Interval
    radius_mean: Interval
    pixel_precision: Interval
    pixel_recall: Interval
    pixel_density: Interval
    pixel_coverage: Interval
    pixel_nn_real_mean: Interval
    reencode_gap: Interval
    reencode_gap_rel: Interval
    copy_share: Interval
    nn_fit_ratio: Interval
    face_share: Interval
    face_share_detector: Interval
    face_share_classifier: Interval
    face_coverage: Interval
    face_diversity: Interval
    face_score: Interval


#: The metrics of a generator table row, each with an :class:`Interval`.
ROW_METRICS = tuple(f.name for f in dataclasses.fields(RowIntervals))


@dataclass(frozen=True)
class Row:
    """One row of the generator table: a generator, or the real held-out reference.

    Metrics are means over the repetitions; ``intervals`` holds their intervals.
    """

    name: str
    kind: Literal["reference", "generator"]
    rank: int | None  #: 1 + generators whose score interval lies wholly above (ties share a rank)
    tied_with: tuple[str, ...]  #: generators whose score intervals overlap this one's
    score: float
    in_support: float
    precision: float
    recall: float
    density: float
    coverage: float
    nn_real_mean: float
    radius_w1: float
    radius_mean: float
    pixel_precision: float
    pixel_recall: float
    pixel_density: float
    pixel_coverage: float
    pixel_nn_real_mean: float
    reencode_gap: float
    reencode_gap_rel: float | None
    copy_share: float
    nn_fit_ratio: float | None
    copies: bool
    #: The face tests (None without a faces step): the share of the scored decoded images called
    #: faces by the verdict rule and by each test, and the face score (:func:`analysis.metrics.face_quality`)
    face_share: float | None
    face_share_detector: float | None
    face_share_classifier: float | None
    face_coverage: float | None
    face_diversity: float | None
    face_score: float | None
    face_rank: int | None  #: as ``rank``, by the face score intervals (None for the reference or without face scores)
    face_tied_with: tuple[str, ...]
    intervals: RowIntervals

    def value(self, metric: str) -> float | None:
        """The mean of ``metric`` (a name of :data:`ROW_METRICS`) over the repetitions."""
        self.interval(metric)  # checks the name
        return getattr(self, metric)

    def interval(self, metric: str) -> Interval:
        """The :class:`Interval` of ``metric`` (a name of :data:`ROW_METRICS`)."""
        if metric not in ROW_METRICS:
            raise KeyError(f"no metric {metric!r} in a generator table row; metrics: {', '.join(ROW_METRICS)}")
        return getattr(self.intervals, metric)

    @property
    def tied(self) -> bool:
        """Whether the score interval overlaps another generator's."""
        return bool(self.tied_with)


@dataclass(frozen=True)
class Sweep:
    parameter: str
    values: tuple[float, ...]
    precision: tuple[float | None, ...]
    recall: tuple[float | None, ...]
    density: tuple[float | None, ...]
    coverage: tuple[float | None, ...]


@dataclass(frozen=True)
class Sweeps:
    gmm_components: Sweep
    pca_confidence: Sweep


@dataclass(frozen=True)
class GenerateFiles:
    samples: str
    sheets: Mapping[str, str]


@dataclass(frozen=True)
class GeneratorInfo:
    class_name: str = field(metadata={"key": "class"})
    params: Mapping[str, Any]  #: shared by every repetition; None for those in ``varying``
    varying: tuple[str, ...]  #: the hyper-parameters that differ between repetitions
    repeat_params: tuple[Mapping[str, Any], ...]  #: their values in every repetition
    fitted: Mapping[str, Any]  #: of the first repetition
    repeats: tuple[Mapping[str, Any], ...]  #: ``fitted`` of every repetition


@dataclass(frozen=True)
class GmmCandidate:
    """One candidate of the gmm selection (all figures None when it could not be fitted)."""

    n_components: int
    covariance_type: Literal["full", "diag"]
    heldout_loglik: float | None
    bic: float | None
    converged: bool | None
    n_iter: int | None
    lower_bound: float | None
    error: str | None


@dataclass(frozen=True)
class GmmChoice:
    n_components: int
    covariance_type: Literal["full", "diag"]

    @property
    def text(self) -> str:
        """``5 full-covariance components``."""
        return f"{self.n_components} {self.covariance_type}-covariance component{'' if self.n_components == 1 else 's'}"


@dataclass(frozen=True)
class GmmRepeatChoice(GmmChoice):
    """One repetition's choice and its criterion's value (held-out log-likelihood per point, or BIC)."""

    score: float


SELECTION_CRITERIA = {"heldout": "the held-out log-likelihood", "bic": "the BIC"}


@dataclass(frozen=True)
class GmmSelection:
    """How the gmm's component count and covariance type were chosen (see :mod:`analysis.generate`):
    the first repetition's candidates and choice, and every repetition's choice."""

    criterion: Literal["heldout", "bic"]
    validation_fraction: float
    n_train: int  #: of the first repetition's selection
    n_validation: int
    reg_relative: float
    candidates: tuple[GmmCandidate, ...]  #: of the first repetition's selection
    chosen: GmmChoice  #: in the first repetition
    per_repeat: tuple[GmmRepeatChoice, ...]  #: every repetition's choice, the first first
    modal: GmmChoice  #: the choice made most often
    agreement: int  #: in how many repetitions ``modal`` was chosen
    repeats: int

    @property
    def best(self) -> GmmCandidate:
        """The first repetition's chosen candidate."""
        c = self.chosen
        return next(x for x in self.candidates
                    if (x.n_components, x.covariance_type) == (c.n_components, c.covariance_type))

    @property
    def varied(self) -> bool:
        """Whether the repetitions chose different configurations."""
        return self.agreement < self.repeats

    @property
    def choice_counts(self) -> tuple[tuple[GmmChoice, int], ...]:
        """Each configuration chosen and in how many repetitions, most often first (ties in the order
        first chosen)."""
        counts: dict[GmmChoice, int] = {}
        for c in self.per_repeat:
            key = GmmChoice(c.n_components, c.covariance_type)
            counts[key] = counts.get(key, 0) + 1
        return tuple(sorted(counts.items(), key=lambda kv: -kv[1]))

    @property
    def choice_text(self) -> str:
        """What the repetitions chose, in words: "the held-out log-likelihood chose 5 full-covariance
        components in all 5 repetitions", or, when they differ, "the choice varied: the held-out
        log-likelihood chose 5 full-covariance components in 3 of the 5 repetitions, 10
        full-covariance components in 2" (most often first)."""
        how, counts = SELECTION_CRITERIA[self.criterion], self.choice_counts
        if len(counts) == 1:
            every = "both repetitions" if self.repeats == 2 else f"all {self.repeats} repetitions"
            return f"{how} chose {counts[0][0].text} in {every}"
        rest = and_list([f"{c.text} in {n}" for c, n in counts[1:]])
        return (f"the choice varied: {how} chose {counts[0][0].text} in {counts[0][1]} of "
                f"the {self.repeats} repetitions, {rest}")


@dataclass(frozen=True)
class EmSummary:
    """The gmm's EM convergence over the repetitions (:attr:`Generate.gmm_em`)."""

    repeats: int
    converged: int  #: repetitions whose EM converged
    n_iter_min: int
    n_iter_max: int
    lower_bound_min: float  #: per-point log-likelihood lower bound on the fit points
    lower_bound_max: float


@dataclass(frozen=True)
class GenerateFaces:
    """The face tests in the generate step: the faces step's verdict rule and the two tests'
    agreement on every decoded image they scored there."""

    available: bool         #: False: the faces step had not run
    rule: FaceRule | None   #: the run's verdict rule (the faces step's sets and this run's reconstructions)
    usable: bool
    reason: str | None
    rule_text: str | None
    n_scored: int           #: decoded images scored per row and repetition
    agreement: Agreement | None
    reconstructions: FaceSet | None  #: this run's reconstructions, scored as a calibration set (None: no faces step)
    tests: FaceTests | None          #: each test judged on the faces step's sets and the reconstructions
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Generate:
    """``generate/metrics.json``: the generators compared (see :mod:`analysis.generate`)."""

    settings: GenerateSettings
    table: tuple[Row, ...]
    generators: Mapping[str, GeneratorInfo]
    gmm_selection: GmmSelection | None  #: None when gmm is not among the generators
    sweeps: Sweeps
    faces: GenerateFaces
    files: GenerateFiles
    notes: tuple[str, ...]

    @property
    def reference(self) -> Row:
        """The real (held-out) reference row."""
        return next(r for r in self.table if r.kind == "reference")

    @property
    def ranked(self) -> tuple[Row, ...]:
        """The generator rows, best first (by rank, then mean score, then name)."""
        return tuple(sorted((r for r in self.table if r.kind == "generator"),
                            key=lambda r: (r.rank, -r.score, r.name)))

    @property
    def face_ranked(self) -> tuple[Row, ...]:
        """The generator rows by face rank, then face score, then name (empty without face scores)."""
        gens = [r for r in self.table if r.kind == "generator"]
        if any(r.face_rank is None for r in gens):
            return ()
        return tuple(sorted(gens, key=lambda r: (r.face_rank, -(r.face_score or 0.0), r.name)))

    def row(self, name: str) -> Row | None:
        """The row of generator ``name``; None if this build did not run it."""
        return next((r for r in self.table if r.name == name), None)

    def rank_of(self, name: str) -> int | None:
        """The rank of generator ``name``; None if this build did not run it."""
        r = self.row(name)
        return None if r is None else r.rank

    @property
    def shared_ranks(self) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """The ranks that several generators share (their score intervals overlap), best first:
        (rank, names in table order)."""
        groups: dict[int, list[str]] = {}
        for r in self.ranked:
            groups.setdefault(r.rank, []).append(r.name)
        return tuple((k, tuple(v)) for k, v in sorted(groups.items()) if len(v) > 1)

    @property
    def gmm_em(self) -> EmSummary | None:
        """The gmm's EM convergence over the repetitions; None when gmm is not among the generators."""
        if "gmm" not in self.generators:
            return None
        fits = self.generators["gmm"].repeats
        try:
            it = [int(f["n_iter"]) for f in fits]
            lb = [float(f["lower_bound"]) for f in fits]
            ok = sum(bool(f["converged"]) for f in fits)
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(METRICS, f"'generators.gmm.repeats' lacks a usable EM figure ({e})") from None
        return EmSummary(repeats=len(fits), converged=ok, n_iter_min=min(it), n_iter_max=max(it),
                         lower_bound_min=min(lb), lower_bound_max=max(lb))


def _check_selection(sel: GmmSelection, repeats: int) -> None:
    """Every repetition's gmm choice is there, the first is ``chosen`` and the summary counts them."""
    key = "'gmm_selection."
    if sel.repeats != repeats or len(sel.per_repeat) != repeats:
        raise ArtifactError(METRICS, f"{key}per_repeat' has {len(sel.per_repeat)} entries and {key}repeats' is "
                                     f"{sel.repeats}, expected settings.repeats = {repeats}")
    first = sel.per_repeat[0]
    if (first.n_components, first.covariance_type) != (sel.chosen.n_components, sel.chosen.covariance_type):
        raise ArtifactError(METRICS, f"{key}per_repeat[0]' is not the first repetition's choice {key}chosen'")
    modal, n = sel.choice_counts[0]
    if n != sel.agreement or sel.agreement != dict(sel.choice_counts).get(sel.modal):
        raise ArtifactError(METRICS, f"{key}modal' and {key}agreement' ({sel.modal.text} in {sel.agreement}) do not "
                                     f"count {key}per_repeat' (most often {modal.text}, in {n})")


# --------------------------------------------------------------------------- views: claims

VERDICTS = ("reproduced", "partly", "not reproduced", "not testable")


@dataclass(frozen=True)
class Ours:
    """A figure of ours with its interval (all None when the finding is not testable)."""

    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class LedgerTest:
    """A row's test against its null model, Holm-adjusted over the ledger's tests (:mod:`analysis.ledger`)."""

    p: float
    p_holm: float
    method: Literal["bootstrap-z", "monte-carlo"]
    direction: Literal["greater", "less", "two-sided"]
    family: str
    alpha: float
    significant: bool


@dataclass(frozen=True)
class Pooled:
    """The runs a row's headline figure was pooled over (hierarchical bootstrap)."""

    runs: tuple[str, ...]
    n: int


@dataclass(frozen=True)
class Claim:
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
        raise ArtifactError(CLAIMS, f"has no finding with id '{fid}'; {_fix(CLAIMS)}")

    def sentence(self, fid: str) -> str:
        """What the article says about finding ``fid`` (chosen by its verdict)."""
        return self.row(fid).sentence

    def verdict(self, fid: str) -> str:
        return self.row(fid).verdict

    @property
    def counts(self) -> dict[str, int]:
        """Findings per verdict, in the order of :data:`VERDICTS` (checks not counted)."""
        return {v: sum(r.verdict == v for r in self.findings) for v in VERDICTS}


@dataclass(frozen=True)
class ClaimsSample:
    n_used: int
    subsampled: bool
    n_over_N: float
    unstable: bool
    estimator: str
    sentence: str


@dataclass(frozen=True)
class OriginMetric:
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


@dataclass(frozen=True)
class OriginNearest:
    origin: float
    median: float
    q99: float
    origin_over_median: float
    origin_over_q99: float


@dataclass(frozen=True)
class ClaimsOrigin:
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
        raise ArtifactError(CLAIMS_DETAILS, f"has no origin metric '{name}'; {_fix(CLAIMS_DETAILS)}")


@dataclass(frozen=True)
class LedgerB:
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


@dataclass(frozen=True)
class NullCounts:
    n: int
    cube: int
    median: float
    min: int
    max: int
    cube_share: float
    median_share: float
    pairs: tuple[int, ...]


@dataclass(frozen=True)
class NullRatios:
    cube: tuple[float | None, float | None, float | None]
    median_slice: tuple[float | None, float | None, float | None]
    cube_void: bool
    slice_void: bool


@dataclass(frozen=True)
class PairNull:
    share: float
    ratio: tuple[float | None, float | None, float | None]
    void: bool


@dataclass(frozen=True)
class PairCheck:
    pair: tuple[int, int]
    count: int
    share: float
    null: Mapping[str, PairNull]


@dataclass(frozen=True)
class NullCheck:
    name: str
    b: float
    counts: Mapping[str, NullCounts]
    ratios: Mapping[str, NullRatios]
    pairs: tuple[PairCheck, ...]


@dataclass(frozen=True)
class ProjectionCount:
    points: int
    median_projected: float
    cube: int
    kept: float | None


@dataclass(frozen=True)
class ProjectionAtB:
    b: float
    median_projected: float
    cube: int
    kept: float | None


@dataclass(frozen=True)
class ClaimsNulls:
    kinds: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    atlas_b: tuple[float, ...]
    checks: tuple[NullCheck, ...]
    projection: Mapping[str, ProjectionCount]
    projection_across_b: tuple[ProjectionAtB, ProjectionAtB]


@dataclass(frozen=True)
class VoidKind:
    inside: int
    total: int
    share: float
    ratio: float | None
    nn_median: float
    nn_min: float


@dataclass(frozen=True)
class VoidNearest:
    real_median: float
    real_q99: float
    uniform_median_ratio: float
    uniform_min_ratio: float
    normal_median_ratio: float
    normal_at_origin_median_ratio: float


@dataclass(frozen=True)
class Void:
    """Where uniform points lie: the data's cross-fitted k-NN support and the nearest real point."""

    k: int
    folds: int
    b: float
    points: int  #: real points the support is built from (claims.support_points at most)
    kinds: Mapping[str, VoidKind]  #: "real" (held-out: the calibration), "uniform", "normal", "normal_at_origin"
    nn: VoidNearest


@dataclass(frozen=True)
class Contrast:
    measure: str
    inside_median: float | None
    all_median: float
    inside_rank_median: float | None
    spearman_radius: float | None


@dataclass(frozen=True)
class CubeObservation:
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


@dataclass(frozen=True)
class LedgerTests:
    ids: tuple[str, ...]
    alpha: float
    family: str


@dataclass(frozen=True)
class Calibrated:
    value: float
    null_mean: float
    null_sd: float
    z: float | None
    p: float


@dataclass(frozen=True)
class NormalityPart:
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


@dataclass(frozen=True)
class ClaimsNormality:
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


@dataclass(frozen=True)
class GeneratorCheck:
    """One generator's latent and pixel precision relative to the real reference, in the ledger's bands."""

    name: str
    latent: Literal["in support", "partly in support", "off support", "undefined"]
    pixel: Literal["face-like", "between", "not face-like", "undefined"]
    latent_ratio: tuple[float, float, float] | None  #: mean, low, high
    pixel_ratio: tuple[float, float, float] | None
    recall: float
    coverage: float
    precision: float
    recall_inflated: bool


@dataclass(frozen=True)
class GeneratorChecks:
    """Where latent and pixel metrics disagree, and where k-NN recall is inflated (:mod:`analysis.claims`)."""

    rows: tuple[GeneratorCheck, ...]
    off_support_faces: tuple[str, ...]
    in_support_nonfaces: tuple[str, ...]
    recall_inflated: tuple[str, ...]
    sentence: str
    recall_sentence: str


@dataclass(frozen=True)
class ClaimsSettings:
    folds: int
    bootstrap: int
    level: float
    ledger_alpha: float
    null_draws: int
    effect_size: float


@dataclass(frozen=True)
class ClaimsDetails:
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
    generators: GeneratorChecks | None  #: None when the generate step has not run
    figures: Mapping[str, Any]  #: id -> the plain figures a geometry row was judged from (analysis.ledger)
    draw_names: tuple[str, ...]
    null_draw_names: tuple[str, ...]
    tests: LedgerTests
    verdicts: Mapping[str, int]
    checks: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ClaimsArrays:
    """``claims/arrays.npz``: the arrays behind the ledger (see :mod:`analysis.claims`)."""

    draws: np.ndarray = _array("S", "Bt")
    null_draws: np.ndarray = _array("T", "M")
    origin_boot_share: np.ndarray = _array("Bt", 4)
    origin_edges: np.ndarray = _array("H+1")
    origin_hist: np.ndarray = _array(2, "H", kinds="iu")
    void_edges: np.ndarray = _array("H+1")
    void_hist: np.ndarray = _array(4, "H", kinds="iu")
    b_checks: np.ndarray = _array(3)
    check_pair_counts: np.ndarray = _array(4, 3, "P")
    atlas_median_share: np.ndarray = _array(4, "K")
    axis_skew: np.ndarray = _array("r")
    axis_kurtosis: np.ndarray = _array("r")
    axis_p: np.ndarray = _array("r")
    core_axis_skew: np.ndarray = _array("rc")
    core_axis_kurtosis: np.ndarray = _array("rc")
    core_axis_p: np.ndarray = _array("rc")


# --------------------------------------------------------------------------- views: decode

@dataclass(frozen=True)
class DecodeSettings:
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


@dataclass(frozen=True)
class DecodeReference:
    """The real points distances are measured against (see :mod:`analysis.decode`)."""

    n: int
    subsampled: bool
    quantile: float              #: share of real points within each boundary
    nn_boundary: float           #: B: the quantile of the real points' nearest-neighbour distances
    nn_median: float             #: their median nearest-neighbour distance, in units of B
    mahalanobis_boundary: float  #: D: the quantile of their cross-fitted Mahalanobis distances
    mahalanobis_median: float    #: their median cross-fitted Mahalanobis distance, in units of D
    spread: float                #: RMS distance of the real points from their centre
    gap_median: float            #: their re-encoding gaps relative to spread
    gap_q95: float


@dataclass(frozen=True)
class PlaneCount:
    tiles: int
    inside: int
    faces_inside: int
    outside: int
    faces_outside: int
    distance_min: float
    distance_max: float
    mahalanobis_min: float
    mahalanobis_max: float


@dataclass(frozen=True)
class DecodedPlane:
    pair: tuple[int, int]
    reason: PairReason
    window_x: tuple[float, float]
    window_y: tuple[float, float]
    centre_xy: tuple[float, float]
    centre: PlaneCount   #: the plane through the cloud's centre
    origin: PlaneCount   #: the plane through the origin


@dataclass(frozen=True)
class AnchorSummary:
    """Faces inside and outside the boundary over the planes of one anchor (never pooled with the other)."""

    anchor: Literal["centre", "origin"]
    planes: int
    tiles_inside: int
    faces_inside: int
    share_faces_inside: float | None   #: None without tiles inside the boundary
    inside_low: float | None           #: its binomial interval
    inside_high: float | None
    tiles_outside: int
    faces_outside: int
    share_faces_outside: float | None
    outside_low: float | None
    outside_high: float | None
    ratio: float | None                #: share inside over share outside, with its interval (None: undefined)
    ratio_low: float | None
    ratio_high: float | None
    contrast: str | None               #: "more often inside than outside", ... (None: no faces at all)


@dataclass(frozen=True)
class AnchorPair:
    centre: AnchorSummary
    origin: AnchorSummary


@dataclass(frozen=True)
class AnchorSentences:
    centre: str
    origin: str


@dataclass(frozen=True)
class PlanesSummary:
    """The decoded planes' faces inside and outside the data, per anchor, with the sentences chosen from them."""

    testable: bool            #: False without a usable face test
    reason: str | None
    anchors: AnchorPair
    sentences: AnchorSentences
    sentence: str             #: the two anchors' sentences (or why not testable)


@dataclass(frozen=True)
class DecodeFaces:
    """The face tests in the decode step: the rule and the two tests' agreement on every decoded tile and path step."""

    available: bool
    usable: bool
    rule: FaceRule | None
    rule_text: str | None
    agreement: Agreement | None


@dataclass(frozen=True)
class FaceStop:
    start_face: bool
    stop_index: int | None
    last_face: float | None
    first_nonface: float | None
    stop: float | None   #: None when every step is a face, or the first is not (units of B)
    mahalanobis: float | None  #: the Mahalanobis distance at the stop (units of D)


@dataclass(frozen=True)
class DecodedPath:
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
    stop: FaceStop | None   #: rays only


@dataclass(frozen=True)
class Stops:
    """Where the images stop being faces along the rays, judged against the data's boundary."""

    band: Literal["at the boundary", "inside the data", "beyond the data", "not testable"]
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"]
    median: float | None
    rays: int
    censored: int
    sentence: str
    criterion: str


@dataclass(frozen=True)
class LiveDecoder:
    available: bool
    file: str | None        #: in decode/, the weights script (None without a live decoder)
    weights_bytes: int
    limit_bytes: int
    parameters: int
    reason: str | None      #: why there is no live decoder (None with one)


@dataclass(frozen=True)
class Anchor:
    kind: Literal["centre", "origin", "real"]
    label: str
    row: int | None
    id: str | None


@dataclass(frozen=True)
class Decode:
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
        raise ArtifactError(DECODE, f"has no path named '{name}'; {_fix(DECODE)}")

    @property
    def rays(self) -> tuple[DecodedPath, ...]:
        """The paths that leave the cloud from its centre."""
        return tuple(p for p in self.paths if p.kind == "ray")


@dataclass(frozen=True, eq=False)
class DecodedPlanes:
    """``decode/planes.npz``: ``[p, k, iy, ix]`` is pair p's plane k (0 centre, 1 origin) at
    z[j1] = xs[p, ix], z[j2] = ys[p, iy]."""

    pairs: np.ndarray = _array("P", 2, kinds="iu")
    xs: np.ndarray = _array("P", "G")
    ys: np.ndarray = _array("P", "G")
    images: np.ndarray = _array("P", 2, "G", "G", "C", "S", "S", kinds="u")
    distance: np.ndarray = _array("P", 2, "G", "G")
    mahalanobis: np.ndarray = _array("P", 2, "G", "G")
    gap: np.ndarray = _array("P", 2, "G", "G")
    face: np.ndarray = _array("P", 2, "G", "G", kinds="b")
    face_detector: np.ndarray = _array("P", 2, "G", "G", kinds="b")
    face_classifier: np.ndarray = _array("P", 2, "G", "G", kinds="b")
    anchor_z: np.ndarray = _array("A", "N")


@dataclass(frozen=True, eq=False)
class DecodedPaths:
    """``decode/paths.npz``: each path's steps, in the order of ``decode.json``'s ``paths``."""

    t: np.ndarray = _array("T")
    z: np.ndarray = _array("Q", "T", "N")
    images: np.ndarray = _array("Q", "T", "C", "S", "S", kinds="u")
    distance: np.ndarray = _array("Q", "T")
    mahalanobis: np.ndarray = _array("Q", "T")
    gap: np.ndarray = _array("Q", "T")
    face: np.ndarray = _array("Q", "T", kinds="b")
    face_detector: np.ndarray = _array("Q", "T", kinds="b")
    face_classifier: np.ndarray = _array("Q", "T", kinds="b")


# --------------------------------------------------------------------------- views: the runs side by side

@dataclass(frozen=True)
class RunValue:
    """One run's figure of a finding, with its interval and verdict (None: its ledger lacks the finding)."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] | None


@dataclass(frozen=True)
class Spread:
    """The spread of the runs' values: how many have one, their mean, least and greatest."""

    n: int
    mean: float
    min: float
    max: float


@dataclass(frozen=True)
class VariantSpread:
    variant: str
    runs: tuple[str, ...]
    spread: Spread | None


@dataclass(frozen=True)
class ControlValue:
    """A control run's figure of a finding beside the headline row (see :mod:`analysis.across`)."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] | None
    differs: bool      #: its verdict is not the headline's
    sentence: str | None


@dataclass(frozen=True)
class AcrossClaim:
    """One row of ``across/ledger.json``: a finding in every run (see :mod:`analysis.across`)."""

    id: str
    claim: str
    part: str
    unit: Literal["share", "ratio", "difference", "b", "score"]
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] | None
    runs: tuple[RunValue, ...]
    spread: Spread | None
    groups: tuple[VariantSpread, ...]
    verdicts: Mapping[str, int]
    holds: bool
    sentence: str
    headline: Claim  #: the row the article's ledger shows (pooled over the seeds' runs where there are 3 or more)
    #: the control runs' figures ([[runs.control]]) beside the headline; empty without controls
    controls: tuple[ControlValue, ...] = field(default=(), metadata={"optional": True})

    def control(self, name: str) -> ControlValue:
        """The control ``name``'s figure of this finding; an ArtifactError names the file if it is absent."""
        for c in self.controls or ():
            if c.name == name:
                return c
        raise ArtifactError(ACROSS_LEDGER, f"finding '{self.id}' has no figure of the control '{name}'; "
                                           f"{_fix(ACROSS_LEDGER)}")


@dataclass(frozen=True)
class RunRadii:
    edges: tuple[float, ...]
    share: tuple[float, ...]


@dataclass(frozen=True)
class RunBScan:
    grid: tuple[float, ...]
    w: tuple[float | None, ...]
    best: float
    used: float
    fine_low: float
    fine_high: float


@dataclass(frozen=True)
class RunOccupancy:
    b: tuple[float, ...]
    median: tuple[float, ...]
    every: tuple[float, ...]


@dataclass(frozen=True)
class RunOriginMetric:
    metric: Literal["euclidean", "subspace_90", "subspace_99", "ledoit_wolf", "nearest_real"]
    share: float
    low: float
    high: float
    gaussian: float


@dataclass(frozen=True)
class RunOrigin:
    band: Literal["beyond the data", "at the border", "in the outer part", "inside the bulk"]
    metrics: tuple[RunOriginMetric, ...]


@dataclass(frozen=True)
class RunGenerator:
    name: str
    score: float
    low: float
    high: float
    rank: int


@dataclass(frozen=True)
class Density:
    edges: tuple[float, ...]
    density: tuple[float, ...]


@dataclass(frozen=True)
class PriorShell:
    """The radii of N(0, I) in N dimensions (chi, N degrees of freedom): their density, mean and sd."""

    edges: tuple[float, ...]
    density: tuple[float, ...]
    mean: float
    sd: float


@dataclass(frozen=True)
class PriorFaces:
    name: Literal["uniform", "standard-normal"]
    face_share: float
    low: float
    high: float


@dataclass(frozen=True)
class RunModel:
    """The network of a run as the control's section compares it."""

    kind: Literal["ae", "vae"]
    mse: float                #: held-out reconstruction error per pixel
    radius_density: Density   #: the real radii's histogram as a density
    prior_shell: PriorShell
    active: int | None        #: a VAE's active units; None for an AE
    priors: tuple[PriorFaces, ...]  #: the face tests' shares of images decoded from uniform points and N(0, I)


@dataclass(frozen=True)
class Flip:
    id: str
    claim: str
    was: str = field(metadata={"key": "from"})
    now: str = field(metadata={"key": "to"})


@dataclass(frozen=True)
class ControlSummary:
    """Which findings a control flips (``runs.json`` ``control_summary``)."""

    name: str
    n: int
    flipped: tuple[Flip, ...]
    kept: tuple[str, ...]
    sentence: str
    mse_ratio: float | None     #: its held-out reconstruction error over the primary run's
    mse_sentence: str
    prior_sentence: str         #: the face tests' shares of images decoded from uniform and N(0, I), both networks


@dataclass(frozen=True)
class AcrossRun:
    """One run of ``across/runs.json``: who it is, and the curves the overlay charts draw."""

    name: str
    variant: str
    seed: int
    dir: str
    primary: bool
    overrides: Mapping[str, Any]
    n: int
    N: int
    verdicts: Mapping[str, int]
    radii: RunRadii
    bscan: RunBScan
    occupancy: RunOccupancy
    origin: RunOrigin
    generators: tuple[RunGenerator, ...] | None
    model: RunModel | None = field(default=None, metadata={"optional": True})


@dataclass(frozen=True)
class _AcrossRuns:
    config: str
    kind: Literal["seeds", "variants", "variants and seeds"]
    sweep_key: str
    seeds: tuple[int, ...]
    runs: tuple[AcrossRun, ...]
    controls: tuple[AcrossRun, ...] | None = field(default=None, metadata={"optional": True})
    control_summary: tuple[ControlSummary, ...] | None = field(default=None, metadata={"optional": True})


@dataclass(frozen=True)
class Across:
    """``across/``: the runs of the config side by side (see :mod:`analysis.across`)."""

    kind: Literal["seeds", "variants", "variants and seeds"]
    sweep_key: str
    seeds: tuple[int, ...]
    runs: tuple[AcrossRun, ...]
    ledger: tuple[AcrossClaim, ...]
    #: the control runs ([[runs.control]], e.g. the same network as a VAE) and what each flips
    controls: tuple[AcrossRun, ...] = ()
    control_summary: tuple[ControlSummary, ...] = ()

    def control(self, name: str) -> tuple[AcrossRun, ControlSummary]:
        """The control run ``name`` and its comparison with the headline ledger."""
        for run, summary in zip(self.controls, self.control_summary):
            if run.name == name:
                return run, summary
        raise ArtifactError(ACROSS_RUNS, f"has no control run '{name}' (controls: "
                                         f"{', '.join(r.name for r in self.controls) or 'none'}); {_fix(ACROSS_RUNS)}")

    @property
    def names(self) -> tuple[str, ...]:
        """The runs' names, the primary's first."""
        return tuple(r.name for r in self.runs)

    def row(self, fid: str) -> AcrossClaim:
        """Finding ``fid`` across the runs; an ArtifactError names the file if the ledger lacks it."""
        for r in self.ledger:
            if r.id == fid:
                return r
        raise ArtifactError(ACROSS_LEDGER, f"has no finding with id '{fid}'; {_fix(ACROSS_LEDGER)}")

    @property
    def differ(self) -> tuple[AcrossClaim, ...]:
        """The findings whose verdict is not the same in every run."""
        return tuple(r for r in self.ledger if not r.holds)


# --------------------------------------------------------------------------- views: provenance

@dataclass(frozen=True)
class ComputedOn:
    """Where the train step computed the weights: CPU results are bit-identical per thread count."""

    device: str
    threads: int | None  #: CPU intra-op threads (None on a GPU)

    @property
    def text(self) -> str:
        if self.device != "cpu":
            return (f"The weights were computed on a {self.device} device, where kernel choices make "
                    "repeated trainings agree up to floating-point noise, not bit for bit.")
        n = self.threads or 1
        return (f"The weights were computed on the CPU with {n} thread{'s' if n != 1 else ''}. CPU "
                "kernels split their sums by thread, so a training is bit-identical only when it is "
                "repeated with the same thread count; another count gives a slightly different model.")


@dataclass(frozen=True)
class Manifest:
    """``<step>.manifest.json``: what a step read and wrote, with hashes and versions."""

    step: str
    key: str
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]
    versions: Mapping[str, str]
    #: outputs not hashed because they differ from run to run (train/timing.json); None if none
    volatile: tuple[str, ...] | None = field(default=None, metadata={"optional": True})
    #: train: the device and CPU thread count the weights were computed with (None: an adopted
    #: checkpoint, or another step)
    computed_on: ComputedOn | None = field(default=None, metadata={"optional": True})


# --------------------------------------------------------------------------- the reader

def _fix(file: str) -> str:
    """How to get ``file`` (re)written."""
    step = WRITER[file] if file in WRITER else file.removesuffix(".manifest.json")
    return f"the {step} step writes it (python -m analysis {step} --config ...)"


class Run:
    """The artifacts of one run directory (``build/<config>/``), read on first use.

    Parameters
    ----------
    path : path
        The run directory.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ---- files

    def _file(self, rel: str) -> Path:
        p = self.path / rel
        if not p.is_file():
            raise ArtifactError(rel, f"does not exist in {self.path}; {_fix(rel)}")
        return p

    def _json(self, rel: str) -> dict:
        path = self._file(rel)
        try:
            data = load_json(path)
        except json.JSONDecodeError as e:
            raise ArtifactError(rel, f"is not valid JSON ({e.msg}, line {e.lineno}); {_fix(rel)}") from None
        except ValueError as e:  # not UTF-8, nested too deeply
            raise ArtifactError(rel, f"{e}; {_fix(rel)}") from None
        except OSError as e:
            raise ArtifactError(rel, f"cannot be read ({e.strerror})") from None
        if not isinstance(data, dict):
            raise ArtifactError(rel, f"holds {_describe(data)}, expected a JSON object; {_fix(rel)}")
        return data

    def _npz(self, rel: str) -> dict[str, np.ndarray]:
        path = self._file(rel)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as e:
            raise ArtifactError(rel, f"is not a readable .npz archive ({e}); {_fix(rel)}") from None

    # ---- configuration and data

    @cached_property
    def config(self) -> Config:
        """The resolved configuration the run was made with (``config.toml``)."""
        self._file(CONFIG)
        try:
            return load_config(self.path / CONFIG)
        except UserError as e:
            raise ArtifactError(CONFIG, e.problem) from None

    @cached_property
    def config_text(self) -> str:
        """``config.toml`` as written, for display."""
        try:
            return read_config_text(self._file(CONFIG))
        except UserError as e:
            raise ArtifactError(CONFIG, e.problem) from None

    @cached_property
    def data(self) -> DataInfo:
        return _read(DataInfo, self._json(DATA_INFO), DATA_INFO)

    # ---- training

    @cached_property
    def history(self) -> History:
        doc = self._json(HISTORY)
        if "source" in doc:
            if doc["source"] != "user checkpoint":
                raise ArtifactError(HISTORY, f"key 'source' is {_describe(doc['source'])}, "
                                             "expected 'user checkpoint'")
            h = _read(_AdoptedHistory, doc, HISTORY)
            return History(h.epochs, None, None, h.checkpoint)
        h = _read(_TrainedHistory, doc, HISTORY)
        return History(h.epochs, h.n_train, h.n_val, None)

    @cached_property
    def timing(self) -> Timing | Absent:
        """``train/timing.json``, or Absent when the weights were adopted rather than trained here."""
        m = self.manifest("train")
        if not m:
            raise ArtifactError(manifest_file("train"), f"does not exist in {self.path}; {_fix(manifest_file('train'))}")
        if TIMING not in (m.volatile or ()):
            return Absent(TIMING, "the weights were adopted from a checkpoint (--checkpoint); "
                                  "no training was timed in this run")
        return _read(Timing, self._json(TIMING), TIMING)

    # ---- encode

    @cached_property
    def _encode_summary(self) -> _EncodeSummary:
        return _read(_EncodeSummary, self._json(ENCODE_SUMMARY), ENCODE_SUMMARY)

    @cached_property
    def network(self) -> Network:
        return self._encode_summary.network

    @cached_property
    def posterior(self) -> Posterior | None:
        """A VAE's posterior moments and active units; None for an AE (its points are not posteriors)."""
        return self._encode_summary.posterior

    @cached_property
    def reconstructions(self) -> Reconstructions:
        info = self._encode_summary.reconstructions
        dims = {"k": info.n, "C": self.data.channels, "S": self.data.image_size}
        arrays = _read_arrays(_array_specs(Reconstructions), self._npz(RECONSTRUCTIONS), RECONSTRUCTIONS, dims)
        return Reconstructions(split=info.split, mse=info.mse, **arrays)

    @cached_property
    def gallery(self) -> Gallery:
        info = self._encode_summary.gallery
        dims = {"g": info.n, "C": self.data.channels, "S": self.data.image_size}
        return Gallery(seed=info.seed, **_read_arrays(_array_specs(Gallery), self._npz(GALLERY), GALLERY, dims))

    @cached_property
    def latents(self) -> Latents:
        path = self._file(LATENTS)
        try:
            z = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ArtifactError(LATENTS, f"is not a readable .npy array ({e}); {_fix(LATENTS)}") from None
        if z.ndim != 2 or z.dtype.kind != "f":
            raise ArtifactError(LATENTS, f"has shape {z.shape} and dtype {z.dtype}, expected (n, N) floats")
        return Latents(n=int(z.shape[0]), N=int(z.shape[1]))

    def latents_array(self) -> np.ndarray:
        """``latents.npy`` memory-mapped, (n, N)."""
        self.latents  # noqa: B018 (checks the file)
        return np.load(self.path / LATENTS, mmap_mode="r", allow_pickle=False)

    # ---- stats

    @cached_property
    def stats(self) -> Stats:
        doc = self._json(STATS)
        if "schema_version" not in doc:
            raise ArtifactError(STATS, "missing key 'schema_version'")
        if doc["schema_version"] != STATS_SCHEMA:
            raise ArtifactError(STATS, f"has schema_version {doc['schema_version']!r}, expected {STATS_SCHEMA} "
                                       f"(written by another version of the stats step); {_fix(STATS)}")
        return _read(Stats, doc, STATS)

    @cached_property
    def published(self) -> Published:
        """The published study's figures, as the stats step stored them."""
        return self.stats.published_reference

    @cached_property
    def data_vs_published(self) -> DataVsPublished:
        """This build's images beside the published study's CelebA."""
        d, p = self.data, self.published
        return DataVsPublished(n_images=d.n_images, published_images=p.celeba_images, image_size=d.image_size,
                               published_size=p.rae_image_size, channels=d.channels,
                               published_channels=p.celeba_channels)

    @cached_property
    def arrays(self) -> StatsArrays:
        s = self.stats
        dims = {"N": s.N, "Q": len(s.components.quantile_levels), "B": s.components.bins,
                "B+1": s.components.bins + 1, "n_s": s.projections.sample_size, "R": s.radii.uniform.n,
                "G": len(s.b.grid), "Gf": s.b.fine.grid_size, "Bf": s.b.fine.bootstrap,
                "nn": s.origin.nearest.query_size, "A": s.projections.n_artificial,
                "SA": s.slices.artificial_per_slice, "P": len(s.pairs), "K": len(s.slices.atlas_b)}
        return StatsArrays(**_read_arrays(_array_specs(StatsArrays), self._npz(ARRAYS), ARRAYS, dims))

    # ---- faces

    @cached_property
    def faces(self) -> FaceCalibration:
        """``faces/calibration.json``: the face tests, their error rates and the verdict rule."""
        doc = self._json(FACES)
        if doc.get("schema_version") != FACES_SCHEMA:
            raise ArtifactError(FACES, f"has schema_version {doc.get('schema_version')!r}, expected {FACES_SCHEMA}; "
                                       f"{_fix(FACES)}")
        f = _read(FaceCalibration, doc, FACES)
        if f.usable != (f.rule is not None) or (f.reason is None) != f.usable:
            raise ArtifactError(FACES, "'usable', 'rule' and 'reason' disagree")
        return f

    @cached_property
    def face_judgement(self) -> FaceJudgement:
        """The face tests as this run uses them: the faces step's sets with the run's reconstructions
        (``generate/metrics.json``, ``faces``) after the real faces, each test's judgement and the run's
        rule; without a generate step, the faces step's own sets and judgement (``checked`` False)."""
        f, g = self.faces, self.generate
        if not g or not g.faces.available or g.faces.reconstructions is None or g.faces.tests is None:
            return FaceJudgement(sets=f.sets, tests=f.tests, rule=f.rule, usable=f.usable, reason=f.reason,
                                 rule_text=f.rule_text, checked=False, notes=())
        G = g.faces
        return FaceJudgement(sets=(*f.sets[:1], G.reconstructions, *f.sets[1:]), tests=G.tests, rule=G.rule,
                             usable=G.usable, reason=G.reason, rule_text=G.rule_text or "", checked=True,
                             notes=G.notes)

    @cached_property
    def face_examples(self) -> FaceExamples:
        f = self.faces
        z = self._npz(FACES_EXAMPLES)
        e = z["images"].shape[1] if "images" in z and z["images"].ndim == 4 else 0
        dims = {"K": len(f.sets), "E": e, "S": f.settings.image_shape[1]}
        return FaceExamples(**_read_arrays(_array_specs(FaceExamples), z, FACES_EXAMPLES, dims))

    # ---- generate

    @cached_property
    def generate(self) -> Generate | Absent:
        """``generate/metrics.json``, or Absent when the generate step has not finished."""
        if not self.manifest("generate"):
            return Absent(METRICS, "the generate step has not run for this build")
        g = _read(Generate, self._json(METRICS), METRICS)
        kinds = [r.kind for r in g.table]
        if kinds.count("reference") != 1:
            raise ArtifactError(METRICS, f"'table' has {kinds.count('reference')} reference rows, expected 1")
        gens = [r for r in g.table if r.kind == "generator"]
        for r in gens:
            above = sum(o.intervals.score.low > r.intervals.score.high for o in gens
                        if o.intervals.score.low is not None and r.intervals.score.high is not None)
            if r.rank != 1 + above:
                raise ArtifactError(METRICS, f"'table' rank of {r.name!r} is {r.rank}, but {above} score intervals lie "
                                             "wholly above its own")
            if len(r.intervals.score.repeats) != g.settings.repeats:
                raise ArtifactError(METRICS, f"'table' row {r.name!r} has {len(r.intervals.score.repeats)} "
                                             f"repetitions of its score, expected settings.repeats = "
                                             f"{g.settings.repeats}")
        if ("gmm" in g.generators) != (g.gmm_selection is not None):
            raise ArtifactError(METRICS, "'gmm_selection' must be given exactly when gmm is among the generators")
        for name, info in g.generators.items():
            if len(info.repeat_params) != g.settings.repeats:
                raise ArtifactError(METRICS, f"'generators.{name}.repeat_params' has {len(info.repeat_params)} "
                                             f"entries, expected settings.repeats = {g.settings.repeats}")
        if g.gmm_selection is not None:
            _check_selection(g.gmm_selection, g.settings.repeats)
        return g

    @cached_property
    def sheets(self) -> dict[str, np.ndarray]:
        """The generate step's contact sheets, name -> image (H, W) or (H, W, 3) float32 in [0, 1]."""
        from PIL import Image

        g = self.generate
        if not g:
            raise ArtifactError(g.artifact, g.reason)
        out = {}
        for name, file in g.files.sheets.items():
            rel = f"generate/{file}"
            try:
                with Image.open(self._file(rel)) as im:
                    out[name] = np.asarray(im, dtype=np.float32) / 255.0
            except OSError as e:
                raise ArtifactError(rel, f"is not a readable PNG image ({e}); {_fix(METRICS)}") from None
        return out

    @cached_property
    def samples(self) -> dict[str, dict[str, np.ndarray]]:
        """``generate/samples.npz``: ``{"z": {name: (m, N)}, "images": {name: (m, C, S, S) uint8}}``.

        Names: every generator, and ``real`` (held-out points and images); ``images`` also
        has ``reconstructed``. m = ``settings.n_images``. With face tests (``faces.available``),
        ``"face"``: {name: (m,) bool}, each image's label by the verdict rule, for every name of
        ``images``.
        """
        g = self.generate
        if not g:
            raise ArtifactError(g.artifact, g.reason)
        rel = f"generate/{g.files.samples}"
        st = g.settings
        dims = {"m": st.n_images, "N": st.latent_dim, "C": st.image_shape[0], "S": st.image_shape[1]}
        names = ["real", *st.generators]
        specs = {**{f"z_{nm}": (("m", "N"), "f") for nm in names},
                 **{f"images_{nm}": (("m", "C", "S", "S"), "u") for nm in [*names, "reconstructed"]}}
        if g.faces.available:
            specs.update({f"face_{nm}": (("m",), "b") for nm in [*names, "reconstructed"]})
        checked = _read_arrays(specs, self._npz(rel), rel, dims)
        out = {"z": {nm: checked[f"z_{nm}"] for nm in names},
               "images": {nm: checked[f"images_{nm}"] for nm in [*names, "reconstructed"]}}
        if g.faces.available:
            out["face"] = {nm: checked[f"face_{nm}"] for nm in [*names, "reconstructed"]}
        return out

    # ---- claims

    @cached_property
    def claims(self) -> Ledger:
        """``claims/claims.json``: the ledger of findings (the article's first table)."""
        path = self._file(CLAIMS)
        try:
            data = load_json(path)
        except ValueError as e:
            raise ArtifactError(CLAIMS, f"is not valid JSON ({e}); {_fix(CLAIMS)}") from None
        except OSError as e:
            raise ArtifactError(CLAIMS, f"cannot be read ({e.strerror})") from None
        if not isinstance(data, list) or not data:
            raise ArtifactError(CLAIMS, f"holds {_describe(data)}, expected a non-empty JSON list; {_fix(CLAIMS)}")
        rows = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ArtifactError(CLAIMS, f"item [{i}] is {_describe(item)}, expected an object")
            rows.append(_read(Claim, item, CLAIMS, f"[{i}]."))
        ids = [r.id for r in rows]
        if len(set(ids)) != len(ids):
            raise ArtifactError(CLAIMS, "lists a finding id more than once")
        return Ledger(tuple(rows))

    @cached_property
    def claims_details(self) -> ClaimsDetails:
        doc = self._json(CLAIMS_DETAILS)
        if doc.get("schema_version") != CLAIMS_SCHEMA:
            raise ArtifactError(CLAIMS_DETAILS, f"has schema_version {doc.get('schema_version')!r}, expected "
                                                f"{CLAIMS_SCHEMA}; {_fix(CLAIMS_DETAILS)}")
        return _read(ClaimsDetails, doc, CLAIMS_DETAILS)

    @cached_property
    def claims_arrays(self) -> ClaimsArrays:
        d = self.claims_details
        npz = self._npz(CLAIMS_ARRAYS)
        dims = {"Bt": d.settings.bootstrap, "P": len(d.nulls.pairs), "S": len(d.draw_names),
                "T": len(d.null_draw_names), "M": npz["null_draws"].shape[1] if "null_draws" in npz else 0,
                "H+1": len(npz["origin_edges"]) if "origin_edges" in npz else 0,
                "K": len(d.nulls.atlas_b), "r": d.normality.whole.rank, "rc": d.normality.core.rank}
        dims["H"] = dims["H+1"] - 1
        return ClaimsArrays(**_read_arrays(_array_specs(ClaimsArrays), npz, CLAIMS_ARRAYS, dims))

    # ---- decode

    @cached_property
    def decode(self) -> Decode:
        doc = self._json(DECODE)
        if doc.get("schema_version") != DECODE_SCHEMA:
            raise ArtifactError(DECODE, f"has schema_version {doc.get('schema_version')!r}, expected "
                                        f"{DECODE_SCHEMA}; {_fix(DECODE)}")
        d = _read(Decode, doc, DECODE)
        if len(d.planes) < 1 or not d.paths:
            raise ArtifactError(DECODE, f"lists {len(d.planes)} planes and {len(d.paths)} paths, expected at least one "
                                        f"of each; {_fix(DECODE)}")
        return d

    def _decode_dims(self) -> dict[str, int]:
        d = self.decode
        C, S, _ = d.settings.image_shape
        return {"P": len(d.planes), "G": d.settings.grid, "C": C, "S": S, "A": len(d.anchors), "N": d.N,
                "Q": len(d.paths), "T": d.settings.path_steps}

    @cached_property
    def decode_planes(self) -> DecodedPlanes:
        return DecodedPlanes(**_read_arrays(_array_specs(DecodedPlanes), self._npz(DECODE_PLANES), DECODE_PLANES,
                                            self._decode_dims()))

    @cached_property
    def decode_paths(self) -> DecodedPaths:
        return DecodedPaths(**_read_arrays(_array_specs(DecodedPaths), self._npz(DECODE_PATHS), DECODE_PATHS,
                                           self._decode_dims()))

    @cached_property
    def live_decoder_file(self) -> Path | Absent:
        """The weights script of the page's live decoder, or Absent (with the reason) when there is none."""
        live = self.decode.live
        if not live.available or live.file is None:
            return Absent("decode/decoder.js", live.reason or "the decode step wrote no live decoder")
        return self._file(f"decode/{live.file}")

    # ---- the runs side by side

    def other(self, r: AcrossRun) -> Run:
        """The reader of another run of this build (one of ``across.runs`` or ``across.controls``)."""
        return Run(self.path / r.dir)

    @cached_property
    def across(self) -> Across | Absent:
        """``across/``: the config's runs side by side; Absent when the config makes one run."""
        if not self.config.runs.several:
            return Absent(ACROSS_LEDGER, "this build is one run (its config names no other seeds or variants "
                                         "in [runs])")
        doc = self._json(ACROSS_RUNS)
        if doc.get("schema_version") != ACROSS_SCHEMA:
            raise ArtifactError(ACROSS_RUNS, f"has schema_version {doc.get('schema_version')!r}, expected "
                                             f"{ACROSS_SCHEMA}; {_fix(ACROSS_RUNS)}")
        runs = _read(_AcrossRuns, doc, ACROSS_RUNS)
        path = self._file(ACROSS_LEDGER)
        try:
            data = load_json(path)
        except ValueError as e:
            raise ArtifactError(ACROSS_LEDGER, f"is not valid JSON ({e}); {_fix(ACROSS_LEDGER)}") from None
        if not isinstance(data, list) or not data:
            raise ArtifactError(ACROSS_LEDGER, f"holds {_describe(data)}, expected a non-empty JSON list")
        ledger = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ArtifactError(ACROSS_LEDGER, f"item [{i}] is {_describe(item)}, expected an object")
            ledger.append(_read(AcrossClaim, item, ACROSS_LEDGER, f"[{i}]."))
        names = [r.name for r in runs.runs]
        for row in ledger:
            if [v.name for v in row.runs] != names:
                raise ArtifactError(ACROSS_LEDGER, f"finding '{row.id}' lists the runs {[v.name for v in row.runs]}, "
                                                   f"but {ACROSS_RUNS} lists {names}; {_fix(ACROSS_LEDGER)}")
        controls, summary = runs.controls or (), runs.control_summary or ()
        if [c.name for c in controls] != [c.name for c in summary]:
            raise ArtifactError(ACROSS_RUNS, f"lists the controls {[c.name for c in controls]} but summarises "
                                             f"{[c.name for c in summary]}; {_fix(ACROSS_RUNS)}")
        for row in ledger:
            if [c.name for c in row.controls or ()] != [c.name for c in controls]:
                raise ArtifactError(ACROSS_LEDGER, f"finding '{row.id}' lists the controls "
                                                   f"{[c.name for c in row.controls or ()]}, but {ACROSS_RUNS} lists "
                                                   f"{[c.name for c in controls]}; {_fix(ACROSS_LEDGER)}")
        return Across(runs.kind, runs.sweep_key, runs.seeds, runs.runs, tuple(ledger), tuple(controls),
                      tuple(summary))

    @cached_property
    def ledger(self) -> Ledger:
        """The ledger the article shows: with several runs, the headline rows of ``across/ledger.json``
        (pooled over the seeds' runs where there are three or more); else this run's ``claims.json``."""
        X = self.across
        if not X:
            return self.claims
        return Ledger(tuple(r.headline for r in X.ledger))

    @cached_property
    def b(self) -> LedgerB:
        """The one b of every row, chart and sentence, with the interval of the fine scan's best b.

        An ArtifactError names the file when a row, the stats step or the claims step uses another b.
        """
        S, D = self.stats, self.claims_details
        b = D.b.value
        if S.b.used != b or S.projections.b != b or S.slices.b != b or S.radii.uniform.b != b:
            raise ArtifactError(STATS, f"b.used = {S.b.used!r} (projections {S.projections.b!r}, slices "
                                       f"{S.slices.b!r}, uniform radii {S.radii.uniform.b!r}) is not the claims "
                                       f"step's b = {b!r}; {_fix(CLAIMS_DETAILS)}")
        for fid, rb in self.claims.b_values.items():
            if rb != b:
                raise ArtifactError(CLAIMS, f"row '{fid}' uses b = {rb!r}, not the build's b = {b!r}; {_fix(CLAIMS)}")
        if D.b.checks[0] != b or D.nulls.checks[0].b != b:
            raise ArtifactError(CLAIMS_DETAILS, f"counts slices at b = {D.b.checks[0]!r}, not at b = {b!r}; "
                                                f"{_fix(CLAIMS_DETAILS)}")
        G = self.generate
        if G and G.settings.b.source == "stats.json" and G.settings.b.value != b:
            raise ArtifactError(METRICS, f"settings.b.value = {G.settings.b.value!r} is not the build's b = {b!r}; "
                                         f"{_fix(METRICS)}")
        return D.b

    # ---- provenance

    def manifest(self, step: str) -> Manifest | Absent:
        """The step's manifest, or Absent when the step has not finished in this run."""
        rel = manifest_file(step)
        if not (self.path / rel).is_file():
            return Absent(rel, f"the {step} step has not finished in this run")
        return _read(Manifest, self._json(rel), rel)

    @cached_property
    def manifests(self) -> dict[str, Manifest | Absent]:
        """Every step's manifest (or Absent), in pipeline order."""
        return {step: self.manifest(step) for step in STEPS}

    @cached_property
    def versions(self) -> dict[str, str]:
        """Package versions the artifacts were computed with (from the manifests)."""
        out: dict[str, str] = {}
        for m in self.manifests.values():
            if m:
                out.update(m.versions)
        return out

    def check(self) -> None:
        """Read every view (the optional ones where present); raise ArtifactError on the first problem."""
        for name in ("config", "config_text", "data", "history", "timing", "network", "reconstructions",
                     "gallery", "latents", "stats", "published", "arrays", "faces", "face_examples", "generate", "face_judgement",
                     "manifests", "claims",
                     "claims_details", "claims_arrays", "decode", "decode_planes", "decode_paths",
                     "live_decoder_file", "across", "ledger", "b"):
            getattr(self, name)
        if self.generate:
            self.sheets  # noqa: B018
            self.samples  # noqa: B018


def shipped_config(name: str) -> Config:
    """A configuration shipped with the project (``configs/<name>.toml``), checked."""
    rel = f"configs/{name}.toml"
    if not (ROOT / rel).is_file():
        raise ArtifactError(rel, f"does not exist in {ROOT}")
    try:
        return load_config(ROOT / rel)
    except UserError as e:
        raise ArtifactError(rel, e.problem) from None
