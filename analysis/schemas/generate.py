"""The generate step's ``generate/metrics.json`` (and ``generate/samples.npz``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from analysis.schemas.base import ArtifactError, Schema, TableOf
from analysis.words import and_list
from analysis.schemas.files import METRICS
from analysis.schemas.faces import Agreement, FaceRule, FaceSet, FaceTests


class GenerateB(Schema):
    """The half-width b of the uniform generator's cube [-b, b]^N and where it comes from."""

    value: float | None = Field(description="the uniform generator's half-width b (None: no uniform generator needs "
                                            "one)")
    source: Literal["config", "stats.json", "measured"] = Field(
        description="\"config\" (generate.b > 0), \"stats.json\" (b.used of the stats step) or \"measured\" on the "
                    "fit part by radius matching, median |z| / sqrt(N/3) (latents placed by hand, no stats step)")


class GenerateSettings(Schema):
    """The sizes, parameters and scales of the comparison (see :mod:`analysis.steps.generate`, Procedure)."""

    n_points: int = Field(description="real latent points (rows of latents.npy)")
    latent_dim: int = Field(description="N")
    n_fit: int = Field(description="points of the fit part (the generators see only these)")
    n_holdout: int = Field(description="points of the held-out part")
    n_real: int = Field(description="held-out points in the real set every row is compared with (generate.n_samples "
                                    "at most)")
    n_fake: int = Field(description="points per row: min(generate.n_samples, n_fit)")
    n_image: int = Field(description="decoded points per row in the pixel metrics: min(generate.image_points, n_fake)")
    n_image_real: int = Field(description="held-out reconstructions in the pixel metrics: min(n_image, n_real)")
    n_images: int = Field(description="images per contact sheet")
    image_shape: tuple[int, int, int] = Field(description="[C, S, S]")
    k: int = Field(description="the k of the k-NN metrics (generate.k)")
    copy_quantile: float = Field(description="the quantile of the held-out points' nearest-fit distances below which "
                                             "a point counts as a copy (copy_share)")
    copy_share_limit: float = Field(description="a row copies when its copy_share exceeds this (twice what new data "
                                                "give)")
    holdout_fraction: float = Field(description="generate.holdout_fraction")
    seed: int = Field(description="run.seed")
    repeats: int = Field(description="repetitions of the whole comparison (generate.repeats)")
    level: float = Field(description="confidence level of every interval (generate.level)")
    interval: Literal["student-t"] = Field(description="how the intervals are computed: Student t over the "
                                                       "repetitions, clipped to the metric's range")
    repeat_seeds: tuple[tuple[int, int], ...] = Field(
        description="[split seed, generator seed] of each repetition, derived from run.seed")
    b: GenerateB
    spread: float = Field(description="RMS distance of the fit-part points from their centroid (the scale of "
                                      "reencode_gap_rel)")
    real_radius_mean: float = Field(description="mean |z| of the real set")
    latents_vs_encoder: float | None = Field(description="max |E(x) - z| over the sheet's real images divided by "
                                                         "spread (about 0 when latents.npy was encoded by this model; "
                                                         "None if spread is 0)")
    generators: tuple[str, ...] = Field(description="generate.generators, in config order")


class Interval(Schema):
    """A metric over the repetitions: its interval and the value of each repetition (None where undefined)."""

    low: float | None = Field(description="lower end of the Student t interval of the mean at settings.level, clipped "
                                          "to the metric's range (None if the metric is undefined in a repetition)")
    high: float | None = Field(description="upper end")
    repeats: tuple[float | None, ...] = Field(description="the metric's value in each repetition, in the order of "
                                                          "settings.repeat_seeds")


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

    name: str = Field(description="the generator's name, or \"real (held-out)\" for the reference")
    kind: Literal["reference", "generator"] = Field(description="\"reference\": n_fake real fit-part points (what a "
                                                                "perfect generator would score); \"generator\"")
    rank: int | None = Field(description="1 + generators whose score interval lies wholly above (ties share a rank)")
    tied_with: tuple[str, ...] = Field(description="generators whose score intervals overlap this one's")
    score: float = Field(description="harmonic mean of precision and coverage per repetition (fidelity and diversity "
                                     "both needed)")
    in_support: float = Field(description="share of the points inside the real set's k-NN support (equal to precision "
                                          "by definition)")
    precision: float = Field(description="k-NN precision against the real set (latent space)")
    recall: float = Field(description="k-NN recall")
    density: float = Field(description="k-NN density")
    coverage: float = Field(description="k-NN coverage")
    nn_real_mean: float = Field(description="mean Euclidean distance to the nearest real point")
    radius_w1: float = Field(description="Wasserstein distance between the |z| distributions of the points and the "
                                         "real set")
    radius_mean: float = Field(description="mean |z|")
    pixel_precision: float = Field(description="k-NN precision of the decoded images against the held-out "
                                               "reconstructions (pixels)")
    pixel_recall: float = Field(description="k-NN recall in pixel space")
    pixel_density: float = Field(description="k-NN density in pixel space")
    pixel_coverage: float = Field(description="k-NN coverage in pixel space")
    pixel_nn_real_mean: float = Field(description="mean pixel distance to the nearest held-out reconstruction")
    reencode_gap: float = Field(description="mean re-encoding gap |E(D(z)) - z|")
    reencode_gap_rel: float | None = Field(description="reencode_gap / settings.spread (None if spread is 0)")
    copy_share: float = Field(description="share of points closer to the fit part than the settings.copy_quantile "
                                          "quantile of the held-out points' nearest-fit distances "
                                          "(:func:`analysis.science.metrics.copy_metrics`; the reference row uses the odd "
                                          "rows of the real set, about 0.05)")
    nn_fit_ratio: float | None = Field(description="median nearest-fit distance over the held-out points' (about 1 "
                                                   "for new data)")
    copies: bool = Field(description="mean copy_share > settings.copy_share_limit")
    face_share: float | None = Field(description="share of the scored decoded images (the first faces.n_scored of "
                                                 "the row in each repetition) called faces by the verdict rule "
                                                 "(without a usable rule, by both tests together); None without a "
                                                 "faces step, as every face metric")
    face_share_detector: float | None = Field(description="share of the scored decoded images the detector calls faces")
    face_share_classifier: float | None = Field(description="share the classifier calls faces")
    face_coverage: float | None = Field(description="face coverage against the held-out reconstructions "
                                                    "(:func:`analysis.science.metrics.face_quality`)")
    face_diversity: float | None = Field(description="face diversity (:func:`analysis.science.metrics.face_quality`)")
    face_score: float | None = Field(description="harmonic mean of face_share, face_coverage and face_diversity: a "
                                                 "generator of one repeated face cannot score well")
    face_rank: int | None = Field(description="as ``rank``, by the face score intervals (None for the reference or "
                                              "without face scores)")
    face_tied_with: tuple[str, ...] = Field(description="as tied_with, by the face score intervals (empty for the "
                                                        "reference)")
    intervals: RowIntervals = Field(description="each metric's interval and its value in every repetition")

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
    """One hyper-parameter swept on the first repetition, the latent k-NN metrics aligned with ``values``."""

    parameter: str = Field(description="the swept hyper-parameter")
    values: tuple[float, ...] = Field(description="its values")
    precision: tuple[float | None, ...] = Field(description="latent k-NN precision at each value (None: the setting "
                                                            "could not be fitted, see notes)")
    recall: tuple[float | None, ...] = Field(description="latent k-NN recall at each value")
    density: tuple[float | None, ...] = Field(description="latent k-NN density at each value")
    coverage: tuple[float | None, ...] = Field(description="latent k-NN coverage at each value")


class Sweeps(Schema):
    """The sweeps the report's chart draws."""

    gmm_components: Sweep = Field(description="the first repetition's gmm selection candidates of its chosen "
                                              "covariance type, by component count (fitted on its training part)")
    pca_confidence: Sweep = Field(description="pca-ellipsoid at each level of generate.sweep_confidence")


class GenerateFiles(Schema):
    """The other files of ``generate/``, in the same directory."""

    samples: str = Field(description="\"samples.npz\": the first repetition's sheet points, images and face labels")
    sheets: TableOf[str] = Field(description="contact sheets: \"real\", \"reconstructed\" and one per generator name "
                                             "-> PNG file name")


class GeneratorInfo(Schema):
    """A generator as fitted: its hyper-parameters and fitted scalars in every repetition."""

    class_name: str = Field(alias="class", description="the estimator's class")
    params: TableOf[Any] = Field(description="the hyper-parameters every repetition shares; None for those in "
                                            "``varying`` (random_state, a new seed each time; for gmm n_components "
                                            "and covariance_type when the repetitions' selections differ)")
    varying: tuple[str, ...] = Field(description="the hyper-parameters that differ between repetitions, sorted")
    repeat_params: tuple[TableOf[Any], ...] = Field(description="their values in every repetition ({name: value}, "
                                                             "aligned with settings.repeat_seeds)")
    fitted: TableOf[Any] = Field(description="the first repetition's fitted scalars: b for uniform; kept_fraction, "
                                            "threshold, tail_probability for mvn-core; chi2_threshold for "
                                            "pca-ellipsoid; for gmm its EM convergence converged, n_iter, "
                                            "lower_bound (per-point log-likelihood bound on the fit points), "
                                            "reg_covar, n_fit_points")
    repeats: tuple[TableOf[Any], ...] = Field(description="``fitted`` of every repetition")


class GmmCandidate(Schema):
    """One candidate of the gmm selection (all figures None when it could not be fitted)."""

    n_components: int = Field(description="mixture components")
    covariance_type: Literal["full", "diag"] = Field(description="\"full\" or \"diag\"")
    heldout_loglik: float | None = Field(description="mean log-likelihood per validation point")
    bic: float | None = Field(description="BIC on the training part")
    converged: bool | None = Field(description="whether EM converged")
    n_iter: int | None = Field(description="EM iterations")
    lower_bound: float | None = Field(description="EM's per-point log-likelihood lower bound on the training part")
    error: str | None = Field(description="why it could not be fitted (None if it was)")


class GmmChoice(Schema):
    """A gmm configuration."""

    n_components: int = Field(description="mixture components")
    covariance_type: Literal["full", "diag"] = Field(description="\"full\" or \"diag\"")

    @property
    def text(self) -> str:
        """``5 full-covariance components``."""
        return f"{self.n_components} {self.covariance_type}-covariance component{'' if self.n_components == 1 else 's'}"


class GmmRepeatChoice(GmmChoice):
    """One repetition's choice and its criterion's value (held-out log-likelihood per point, or BIC)."""

    score: float = Field(description="the criterion's value of that choice: mean held-out log-likelihood per "
                                     "validation point, or BIC")


SELECTION_CRITERIA = {"heldout": "the held-out log-likelihood", "bic": "the BIC"}


class GmmSelection(Schema):
    """How the gmm's component count and covariance type were chosen (see :mod:`analysis.steps.generate`):
    the first repetition's candidates and choice, and every repetition's choice."""

    criterion: Literal["heldout", "bic"] = Field(description="\"heldout\" (mean held-out log-likelihood) or \"bic\" "
                                                             "(generate.gmm_selection)")
    validation_fraction: float = Field(description="share of the fit part the candidates are scored on")
    n_train: int = Field(description="training points of the first repetition's selection")
    n_validation: int = Field(description="validation points of the first repetition's selection")
    reg_relative: float = Field(description="diagonal regularisation relative to the mean per-coordinate variance "
                                            "(generate.gmm_reg)")
    tol: float = Field(description="EM's stopping tolerance: the least gain of the per-point lower bound (nats; "
                                   "generate.gmm_tol)")
    candidates: tuple[GmmCandidate, ...] = Field(description="of the first repetition's selection")
    chosen: GmmChoice = Field(description="in the first repetition")
    per_repeat: tuple[GmmRepeatChoice, ...] = Field(description="every repetition's choice, the first first")
    modal: GmmChoice = Field(description="the choice made most often (a tie goes to the one chosen first)")
    agreement: int = Field(description="in how many repetitions ``modal`` was chosen")
    repeats: int = Field(description="repetitions (settings.repeats)")

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

    repeats: int = Field(description="repetitions")
    converged: int = Field(description="repetitions whose EM converged")
    n_iter_min: int = Field(description="fewest EM iterations of a repetition")
    n_iter_max: int = Field(description="most EM iterations of a repetition")
    lower_bound_min: float = Field(description="per-point log-likelihood lower bound on the fit points")
    lower_bound_max: float = Field(description="the largest such bound")


class GenerateFaces(Schema):
    """The face tests in the generate step: the faces step's verdict rule and the two tests'
    agreement on every decoded image they scored there."""

    available: bool = Field(description="False: the faces step had not run")
    rule: FaceRule | None = Field(description="the run's verdict rule (the faces step's sets and this run's "
                                              "reconstructions)")
    usable: bool = Field(description="whether the run's verdict rule is usable (every face label here is by it)")
    reason: str | None = Field(description="why not usable (None when usable)")
    rule_text: str | None = Field(description="the verdict rule in words, with its error rates (None without the "
                                              "faces step)")
    n_scored: int = Field(description="decoded images scored per row and repetition (faces.images_per_row, at least "
                                     "the sheet's)")
    agreement: Agreement | None = Field(description="Cohen's kappa of the two tests over every image they scored "
                                                    "here, with its bootstrap interval (:func:`analysis.science.faces.kappa`; "
                                                    "None without the faces step)")
    reconstructions: FaceSet | None = Field(description="this run's reconstructions, scored as a calibration set "
                                                        "(None: no faces step)")
    tests: FaceTests | None = Field(description="each test judged on the faces step's sets and the reconstructions")
    notes: tuple[str, ...] = Field(description="remarks on the face tests in this run")


class Generate(Schema):
    """``generate/metrics.json``: the generators compared (see :mod:`analysis.steps.generate`, Procedure).

    Also written: ``image_reference`` (first repetition), the pixel metrics against the raw held-out images: ``raw``
    for raw fit-part images (real against real, no decoder) and ``reconstructed`` for the reconstructions of the same
    fit-part points (the cost of the decoder's blur)."""

    settings: GenerateSettings
    table: tuple[Row, ...] = Field(description="the reference row first, then the generators by rank, mean score and "
                                               "name")
    generators: TableOf[GeneratorInfo] = Field(description="generator name -> its hyper-parameters and fitted scalars")
    gmm_selection: GmmSelection | None = Field(description="None when gmm is not among the generators")
    sweeps: Sweeps
    faces: GenerateFaces
    files: GenerateFiles
    notes: tuple[str, ...] = Field(description="sentences on anything clipped, skipped, measured instead of read, or "
                                               "not converged")

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
