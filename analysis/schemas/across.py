"""The across step's ``across/ledger.json`` and ``across/runs.json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from analysis.schemas.base import ArtifactError, Schema, TableOf, fix
from analysis.schemas.files import ACROSS_LEDGER, ACROSS_RUNS
from analysis.schemas.claims import Claim


class RunValue(Schema):
    """One run's figure of a finding, with its interval and verdict (None: its ledger lacks the finding)."""

    name: str = Field(description="the run")
    value: float | None = Field(description="its figure (claims.json ours.value)")
    low: float | None = Field(description="its interval's lower end")
    high: float | None = Field(description="upper end")
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] | None = Field(description="its verdict")


class Spread(Schema):
    """The spread of the runs' values: how many have one, their mean, least and greatest."""

    n: int = Field(description="runs with a value")
    mean: float = Field(description="mean of their values")
    min: float = Field(description="least value")
    max: float = Field(description="greatest value")


class VariantSpread(Schema):
    """A finding's spread over one variant's seeds."""

    variant: str = Field(description="the variant")
    runs: tuple[str, ...] = Field(description="its seeds' runs")
    spread: Spread | None = Field(description="their values' spread (None when none has a value)")


class ControlValue(RunValue):
    """A control run's figure of a finding beside the headline row ([[runs.control]], e.g. the same network as a
    VAE): not pooled with the seeds, not in ``runs``."""

    differs: bool = Field(description="its verdict is not the headline's")
    sentence: str | None = Field(description="its own ledger's sentence")


class AcrossClaim(Schema):
    """One row of ``across/ledger.json`` (a JSON list, one row per finding in the primary run's order): a finding in
    every run. With three or more runs of the primary's variant (training seeds), a geometry row's headline is judged
    again on its figures pooled over those runs (:func:`analysis.science.ledger.pool`): the value is the runs' mean, the
    interval a hierarchical bootstrap (runs resampled, then each run's own bootstrap draws), the tests Holm-adjusted
    again over the pooled ledger, and ``pooled`` names the runs. Otherwise (fewer runs, other variants only, or a row
    that not every run measures, such as the generator rows) the headline is the primary run's row, with a note
    saying why."""

    id: str = Field(description="the finding's id")
    claim: str = Field(description="the finding in our words")
    part: str = Field(description="the part of the study's series")
    unit: Literal["share", "ratio", "difference", "b", "score"] = Field(description="the unit of the values")
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] | None = Field(
        description="the primary run's verdict")
    runs: tuple[RunValue, ...] = Field(description="one per run, copied from its claims.json (None value and verdict "
                                                   "where its ledger lacks the finding)")
    spread: Spread | None = Field(description="the runs' values (None when no run has a value)")
    groups: tuple[VariantSpread, ...] = Field(description="the same per variant across its seeds (one entry per "
                                                          "variant with several seeds; empty otherwise)")
    verdicts: TableOf[int] = Field(description="runs per verdict")
    holds: bool = Field(description="whether every run gave the primary run's verdict")
    sentence: str = Field(description="that in words (\"reproduced in all 3 runs\", \"reproduced in seed0 and seed1; "
                                      "partly in seed2\")")
    headline: Claim = Field(description="the row the article's ledger shows (pooled over the seeds' runs where there "
                                        "are 3 or more)")
    controls: tuple[ControlValue, ...] = Field(description="the control runs' figures beside the headline (empty "
                                                           "without [[runs.control]])")

    def control(self, name: str) -> ControlValue:
        """The control ``name``'s figure of this finding; an ArtifactError names the file if it is absent."""
        for c in self.controls:
            if c.name == name:
                return c
        raise ArtifactError(ACROSS_LEDGER, f"finding '{self.id}' has no figure of the control '{name}'; "
                                           f"{fix(ACROSS_LEDGER)}")


class RunRadii(Schema):
    """A run's radii, for the overlay chart."""

    edges: tuple[float, ...] = Field(description="bin edges (B + 1)")
    share: tuple[float, ...] = Field(description="the histogram of |z| as shares (B)")


class RunBScan(Schema):
    """A run's b-scan, for the overlay chart."""

    grid: tuple[float, ...] = Field(description="the coarse scan's b values")
    w: tuple[float | None, ...] = Field(description="Wasserstein distance of the radii per b")
    best: float = Field(description="the coarse scan's best b")
    used: float = Field(description="the run's one b (its fine scan's best b)")
    fine_low: float = Field(description="lower end of the fine scan's interval of the best b")
    fine_high: float = Field(description="upper end")


class RunOccupancy(Schema):
    """A run's slice occupancy, for the overlay chart."""

    b: tuple[float, ...] = Field(description="the grid's b values")
    median: tuple[float, ...] = Field(description="share of all points in the median pair's slice per b")
    every: tuple[float, ...] = Field(description="share in every slice per b")


class RunOriginMetric(Schema):
    metric: Literal["euclidean", "subspace_90", "subspace_99", "ledoit_wolf", "nearest_real"] = Field(
        description="the metric")
    share: float = Field(description="the cross-fitted share of held-out points farther out than the origin")
    low: float = Field(description="its interval's lower end")
    high: float = Field(description="upper end")
    gaussian: float = Field(description="the same for a Gaussian of the data's shape")


class RunOrigin(Schema):
    band: Literal["beyond the data", "at the border", "in the outer part", "inside the bulk"] = Field(
        description="where the origin lies (the verdict metric's band)")
    metrics: tuple[RunOriginMetric, ...] = Field(description="the origin under each metric (claims' origin table)")


class RunGenerator(Schema):
    name: str = Field(description="the generator")
    score: float = Field(description="its mean score")
    low: float = Field(description="its interval's lower end")
    high: float = Field(description="upper end")
    rank: int = Field(description="its rank")


class Density(Schema):
    edges: tuple[float, ...] = Field(description="bin edges (B + 1)")
    density: tuple[float, ...] = Field(description="the histogram as a density (B)")


class PriorShell(Schema):
    """The radii of N(0, I) in N dimensions (chi, N degrees of freedom) over its central 99.98 %."""

    edges: tuple[float, ...] = Field(description="bin edges")
    density: tuple[float, ...] = Field(description="the chi density per bin")
    mean: float = Field(description="the mean radius")
    sd: float = Field(description="its standard deviation")


class PriorFaces(Schema):
    name: Literal["uniform", "standard-normal"] = Field(description="the simple generator")
    face_share: float = Field(description="the share of the images decoded from it that the face tests call faces")
    low: float = Field(description="its interval's lower end")
    high: float = Field(description="upper end")


class RunModel(Schema):
    """The network of a run as the control's section compares it."""

    kind: Literal["ae", "vae"] = Field(description="model.kind")
    mse: float = Field(description="held-out reconstruction error per pixel")
    radius_density: Density = Field(description="the real radii's histogram as a density")
    prior_shell: PriorShell = Field(description="the prior N(0, I)'s radii")
    active: int | None = Field(description="a VAE's active units; None for an AE")
    priors: tuple[PriorFaces, ...] = Field(description="the face tests' shares of images decoded from uniform points "
                                                       "and N(0, I) (empty without the face tests)")


class Flip(Schema):
    id: str = Field(description="the finding")
    claim: str = Field(description="the finding in our words")
    was: str = Field(alias="from", description="the headline's verdict")
    now: str = Field(alias="to", description="the control's verdict")


class ControlSummary(Schema):
    """Which findings a control flips."""

    name: str = Field(description="the control run")
    n: int = Field(description="findings compared")
    flipped: tuple[Flip, ...] = Field(description="the findings whose verdict the control changes")
    kept: tuple[str, ...] = Field(description="the ids of those it keeps")
    sentence: str = Field(description="that in words, chosen from the two ledgers")
    mse_ratio: float | None = Field(description="its held-out reconstruction error over the primary run's")
    mse_sentence: str = Field(description="that in words")
    prior_sentence: str = Field(description="the face tests' shares of images decoded from uniform points and "
                                            "N(0, I), both networks, in words (\"\" without them)")


class AcrossRun(Schema):
    """One run of ``across/runs.json``: who it is, and the curves the overlay charts draw."""

    name: str = Field(description="the run")
    variant: str = Field(description="its variant")
    seed: int = Field(description="its run.seed")
    dir: str = Field(description="its directory, relative to the config's build directory")
    primary: bool = Field(description="whether it is the primary run")
    overrides: TableOf[Any] = Field(description="dotted config key -> value")
    n: int = Field(description="points")
    N: int = Field(description="latent dimension")
    verdicts: TableOf[int] = Field(description="its ledger's count per verdict")
    radii: RunRadii = Field(description="for the overlay charts")
    bscan: RunBScan = Field(description="for the overlay charts")
    occupancy: RunOccupancy = Field(description="for the overlay charts")
    origin: RunOrigin = Field(description="for the overlay charts")
    generators: tuple[RunGenerator, ...] | None = Field(
        description="its generators' scores (None when the run has no generate step)")
    model: RunModel = Field(description="its network, for the control's section")


class AcrossRuns(Schema):
    """``across/runs.json``: the runs of the config and the curves the overlay charts draw (see
    :mod:`analysis.steps.across`). Also written: ``schema_version`` (1)."""

    config: str = Field(description="the config's run.name")
    kind: Literal["seeds", "variants", "variants and seeds"] = Field(description="what the runs are")
    sweep_key: str = Field(description="the swept key (\"\" without a sweep)")
    seeds: tuple[int, ...] = Field(description="the training seeds")
    runs: tuple[AcrossRun, ...] = Field(description="one per run, primary first")
    controls: tuple[AcrossRun, ...] = Field(description="the control runs ([[runs.control]]), the same keys")
    control_summary: tuple[ControlSummary, ...] = Field(description="per control, which findings it flips")


@dataclass(frozen=True)
class Across:
    """``across/``: the runs of the config side by side (see :mod:`analysis.steps.across`)."""

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
                                         f"{', '.join(r.name for r in self.controls) or 'none'}); {fix(ACROSS_RUNS)}")

    @property
    def names(self) -> tuple[str, ...]:
        """The runs' names, the primary's first."""
        return tuple(r.name for r in self.runs)

    def row(self, fid: str) -> AcrossClaim:
        """Finding ``fid`` across the runs; an ArtifactError names the file if the ledger lacks it."""
        for r in self.ledger:
            if r.id == fid:
                return r
        raise ArtifactError(ACROSS_LEDGER, f"has no finding with id '{fid}'; {fix(ACROSS_LEDGER)}")

    @property
    def differ(self) -> tuple[AcrossClaim, ...]:
        """The findings whose verdict is not the same in every run."""
        return tuple(r for r in self.ledger if not r.holds)
