"""The generate step's ``generate/metrics.json`` (and ``generate/samples.npz``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from analysis.schemas.base import ArtifactError, Schema, TableOf
from analysis.words import and_list
from analysis.schemas.files import METRICS
from analysis.schemas.faces import Agreement, FaceRule, FaceSet, FaceTests


class GenerateB(Schema):
    value: float | None
    source: Literal["config", "stats.json", "measured"]


class GenerateSettings(Schema):
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


class Interval(Schema):
    """A metric over the repetitions: its interval and the value of each repetition (None where undefined)."""

    low: float | None
    high: float | None
    repeats: tuple[float | None, ...]


class RowIntervals(Schema):
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
ROW_METRICS = tuple(RowIntervals.model_fields)


class Row(Schema):
    """One row of the generator table: a generator, or the real held-out reference.

    Metrics are means over the repetitions; ``intervals`` holds their intervals.
    """

    name: str
    kind: Literal["reference", "generator"]
    rank: int | None = Field(description="1 + generators whose score interval lies wholly above (ties share a rank)")
    tied_with: tuple[str, ...] = Field(description="generators whose score intervals overlap this one's")
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
    face_share: float | None = Field(description="The face tests (None without a faces step): the share of the scored decoded images called faces by the verdict rule and by each test, and the face score (:func:`analysis.metrics.face_quality`)")
    face_share_detector: float | None
    face_share_classifier: float | None
    face_coverage: float | None
    face_diversity: float | None
    face_score: float | None
    face_rank: int | None = Field(description="as ``rank``, by the face score intervals (None for the reference or without face scores)")
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


class Sweep(Schema):
    parameter: str
    values: tuple[float, ...]
    precision: tuple[float | None, ...]
    recall: tuple[float | None, ...]
    density: tuple[float | None, ...]
    coverage: tuple[float | None, ...]


class Sweeps(Schema):
    gmm_components: Sweep
    pca_confidence: Sweep


class GenerateFiles(Schema):
    samples: str
    sheets: TableOf[str]


class GeneratorInfo(Schema):
    class_name: str = Field(alias="class")
    params: TableOf[Any] = Field(description="shared by every repetition; None for those in ``varying``")
    varying: tuple[str, ...] = Field(description="the hyper-parameters that differ between repetitions")
    repeat_params: tuple[TableOf[Any], ...] = Field(description="their values in every repetition")
    fitted: TableOf[Any] = Field(description="of the first repetition")
    repeats: tuple[TableOf[Any], ...] = Field(description="``fitted`` of every repetition")


class GmmCandidate(Schema):
    """One candidate of the gmm selection (all figures None when it could not be fitted)."""

    n_components: int
    covariance_type: Literal["full", "diag"]
    heldout_loglik: float | None
    bic: float | None
    converged: bool | None
    n_iter: int | None
    lower_bound: float | None
    error: str | None


class GmmChoice(Schema):
    n_components: int
    covariance_type: Literal["full", "diag"]

    @property
    def text(self) -> str:
        """``5 full-covariance components``."""
        return f"{self.n_components} {self.covariance_type}-covariance component{'' if self.n_components == 1 else 's'}"


class GmmRepeatChoice(GmmChoice):
    """One repetition's choice and its criterion's value (held-out log-likelihood per point, or BIC)."""

    score: float


SELECTION_CRITERIA = {"heldout": "the held-out log-likelihood", "bic": "the BIC"}


class GmmSelection(Schema):
    """How the gmm's component count and covariance type were chosen (see :mod:`analysis.generate`):
    the first repetition's candidates and choice, and every repetition's choice."""

    criterion: Literal["heldout", "bic"]
    validation_fraction: float
    n_train: int = Field(description="of the first repetition's selection")
    n_validation: int
    reg_relative: float
    candidates: tuple[GmmCandidate, ...] = Field(description="of the first repetition's selection")
    chosen: GmmChoice = Field(description="in the first repetition")
    per_repeat: tuple[GmmRepeatChoice, ...] = Field(description="every repetition's choice, the first first")
    modal: GmmChoice = Field(description="the choice made most often")
    agreement: int = Field(description="in how many repetitions ``modal`` was chosen")
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
            key = GmmChoice(n_components=c.n_components, covariance_type=c.covariance_type)
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


class EmSummary(Schema):
    """The gmm's EM convergence over the repetitions (:attr:`Generate.gmm_em`)."""

    repeats: int
    converged: int = Field(description="repetitions whose EM converged")
    n_iter_min: int
    n_iter_max: int
    lower_bound_min: float = Field(description="per-point log-likelihood lower bound on the fit points")
    lower_bound_max: float


class GenerateFaces(Schema):
    """The face tests in the generate step: the faces step's verdict rule and the two tests'
    agreement on every decoded image they scored there."""

    available: bool = Field(description="False: the faces step had not run")
    rule: FaceRule | None = Field(description="the run's verdict rule (the faces step's sets and this run's reconstructions)")
    usable: bool
    reason: str | None
    rule_text: str | None
    n_scored: int = Field(description="decoded images scored per row and repetition")
    agreement: Agreement | None
    reconstructions: FaceSet | None = Field(description="this run's reconstructions, scored as a calibration set (None: no faces step)")
    tests: FaceTests | None = Field(description="each test judged on the faces step's sets and the reconstructions")
    notes: tuple[str, ...]


class Generate(Schema):
    """``generate/metrics.json``: the generators compared (see :mod:`analysis.generate`)."""

    settings: GenerateSettings
    table: tuple[Row, ...]
    generators: TableOf[GeneratorInfo]
    gmm_selection: GmmSelection | None = Field(description="None when gmm is not among the generators")
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
