"""The across step's ``across/ledger.json`` and ``across/runs.json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from analysis.schemas.base import ArtifactError, Schema, TableOf, fix
from analysis.schemas.files import ACROSS_LEDGER
from analysis.schemas.claims import Claim


class RunValue(Schema):
    """One run's figure of a finding, with its interval and verdict (None: its ledger lacks the finding)."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] | None


class Spread(Schema):
    """The spread of the runs' values: how many have one, their mean, least and greatest."""

    n: int
    mean: float
    min: float
    max: float


class VariantSpread(Schema):
    variant: str
    runs: tuple[str, ...]
    spread: Spread | None


class AcrossClaim(Schema):
    """One row of ``across/ledger.json``: a finding in every run (see :mod:`analysis.across`)."""

    id: str
    claim: str
    part: str
    unit: Literal["share", "ratio", "difference", "b", "score"]
    verdict: Literal["reproduced", "partly", "not reproduced", "not testable"] | None
    runs: tuple[RunValue, ...]
    spread: Spread | None
    groups: tuple[VariantSpread, ...]
    verdicts: TableOf[int]
    holds: bool
    sentence: str
    headline: Claim = Field(description="the row the article's ledger shows (pooled over the seeds' runs where there are 3 or more)")


class RunRadii(Schema):
    edges: tuple[float, ...]
    share: tuple[float, ...]


class RunBScan(Schema):
    grid: tuple[float, ...]
    w: tuple[float | None, ...]
    best: float
    used: float
    fine_low: float
    fine_high: float


class RunOccupancy(Schema):
    b: tuple[float, ...]
    median: tuple[float, ...]
    every: tuple[float, ...]


class RunOriginMetric(Schema):
    metric: Literal["euclidean", "subspace_90", "subspace_99", "ledoit_wolf", "nearest_real"]
    share: float
    low: float
    high: float
    gaussian: float


class RunOrigin(Schema):
    band: Literal["beyond the data", "at the border", "in the outer part", "inside the bulk"]
    metrics: tuple[RunOriginMetric, ...]


class RunGenerator(Schema):
    name: str
    score: float
    low: float
    high: float
    rank: int


class AcrossRun(Schema):
    """One run of ``across/runs.json``: who it is, and the curves the overlay charts draw."""

    name: str
    variant: str
    seed: int
    dir: str
    primary: bool
    overrides: TableOf[Any]
    n: int
    N: int
    verdicts: TableOf[int]
    radii: RunRadii
    bscan: RunBScan
    occupancy: RunOccupancy
    origin: RunOrigin
    generators: tuple[RunGenerator, ...] | None


class AcrossRuns(Schema):
    config: str
    kind: Literal["seeds", "variants", "variants and seeds"]
    sweep_key: str
    seeds: tuple[int, ...]
    runs: tuple[AcrossRun, ...]


@dataclass(frozen=True)
class Across:
    """``across/``: the runs of the config side by side (see :mod:`analysis.across`)."""

    kind: Literal["seeds", "variants", "variants and seeds"]
    sweep_key: str
    seeds: tuple[int, ...]
    runs: tuple[AcrossRun, ...]
    ledger: tuple[AcrossClaim, ...]

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
