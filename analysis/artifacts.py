"""The one reader of a run directory: typed, checked views of its artifacts.

The steps write a run's artifacts (each file's keys and their meaning: its schema in
:mod:`analysis.schemas`); this module reads them for the article and anything else that consumes a
run, and it is the only reading code that knows their file names and keys. Every view
is a frozen pydantic model (the file's schema) built from one file and checked on the way in: a missing file,
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

A config of several runs (``[runs]``; :mod:`analysis.pipeline.runs`) has its primary run in the
config's build directory: ``Run("build/default").across`` reads the ``across`` step's
view of every run side by side (:class:`Across`; an :class:`Absent` for a config of one
run), and ``Run("build/default/runs/seed1")`` reads another run like any run.

Views are read lazily, once per :class:`Run`; :meth:`Run.check` reads them all.
Arrays are checked for presence, dimensions (against the sizes in the JSON files)
and dtype kind.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from analysis.runfiles import (ACROSS_READS, OPTIONAL, READS, REQUIRED, ROOT, STEPS, WRITER, RunFiles,  # noqa: F401
                               shipped_config)
from analysis.runviews import MeasureViews
from analysis.pipeline.config import Config  # noqa: F401
from analysis.runfiles import _fix
from analysis.schemas.files import (ACROSS_LEDGER, ACROSS_RUNS, ACROSS_SCHEMA, CLAIMS, CLAIMS_ARRAYS, CLAIMS_DETAILS,
                                    CLAIMS_SCHEMA, DECODE, DECODE_PATHS, DECODE_PLANES, DECODE_SCHEMA, METRICS, STATS)
from analysis.pipeline.storage import load_json

# The views' types, for the readers of a run (``artifacts.Stats``, ``artifacts.VERDICTS`` ...):
from analysis.schemas.data import DataInfo  # noqa: F401
from analysis.schemas.train import AdoptedHistory, Epoch, EpochTime, History, Timing, TrainedHistory  # noqa: F401
from analysis.schemas.encode import EncodeSummary, Gallery, GalleryInfo, Latents, Layer, Network, Posterior, ReconstructionInfo, Reconstructions  # noqa: F401
from analysis.schemas.stats import BScan, Centre, Characteristic, ClosedForm, Components, Correlation, Count, DataVsPublished, EmpiricalMahalanobis, Euclidean, FineScan, LedoitWolf, Mahalanobis, Nearest, Origin, PCA, Pair, PairReason, PcaSubspace, Projections, Published, Radii, RadiusSummary, Slices, Stats, StatsArrays, Thresholds, UniformRadii, Zoom  # noqa: F401
from analysis.schemas.faces import Agreement, FaceCalibration, FaceClassifierInfo, FaceDetectorInfo, FaceExamples, FaceJudgement, FaceRate, FaceRule, FaceSet, FaceSettings, FaceTestJudgement, FaceTests  # noqa: F401
from analysis.schemas.generate import _check_selection, EmSummary, Generate, GenerateB, GenerateFaces, GenerateFiles, GenerateSettings, GeneratorInfo, GmmCandidate, GmmChoice, GmmRepeatChoice, GmmSelection, Interval, ROW_METRICS, Row, RowIntervals, SELECTION_CRITERIA, Sweep, Sweeps  # noqa: F401
from analysis.schemas.claims import Calibrated, Claim, ClaimsArrays, ClaimsDetails, ClaimsNormality, ClaimsNulls, ClaimsOrigin, ClaimsSample, ClaimsSettings, Contrast, CubeObservation, GeneratorCheck, GeneratorChecks, Ledger, LedgerB, LedgerTest, LedgerTests, NormalityPart, NullCheck, NullCounts, NullRatios, OriginMetric, OriginNearest, Ours, PairCheck, PairNull, Pooled, ProjectionAtB, ProjectionCount, VERDICTS, Void, VoidKind, VoidNearest  # noqa: F401
from analysis.schemas.decode import Anchor, AnchorPair, AnchorSentences, AnchorSummary, Decode, DecodeFaces, DecodeReference, DecodeSettings, DecodedPath, DecodedPaths, DecodedPlane, DecodedPlanes, FaceStop, LiveDecoder, PlaneCount, PlanesSummary, Stops  # noqa: F401
from analysis.schemas.across import Across, AcrossClaim, AcrossRun, AcrossRuns, ControlSummary, ControlValue, Density, Flip, PriorFaces, PriorShell, RunModel, RunBScan, RunGenerator, RunOccupancy, RunOrigin, RunOriginMetric, RunRadii, RunValue, Spread, VariantSpread  # noqa: F401
from analysis.schemas.provenance import ComputedOn, Manifest  # noqa: F401
from analysis.words import and_list  # noqa: F401
from analysis.schemas.base import (Absent, ArtifactError, Table, array_specs,  # noqa: F401
                                   check_arrays, describe, fix, validate)
from analysis.schemas.files import *  # noqa: F401,F403


# --------------------------------------------------------------------------- the reader

class Run(MeasureViews):
    """The artifacts of one run directory (``build/<config>/``), read on first use.

    Parameters
    ----------
    path : path
        The run directory.
    """

    # ---- generate

    @cached_property
    def generate(self) -> Generate | Absent:
        """``generate/metrics.json``, or Absent when the generate step has not finished."""
        if not self.manifest("generate"):
            return Absent(METRICS, "the generate step has not run for this build")
        g = validate(Generate, self._json(METRICS), METRICS)
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
        checked = check_arrays(specs, self._npz(rel), rel, dims)
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
            raise ArtifactError(CLAIMS, f"holds {describe(data)}, expected a non-empty JSON list; {_fix(CLAIMS)}")
        rows = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ArtifactError(CLAIMS, f"item [{i}] is {describe(item)}, expected an object")
            rows.append(validate(Claim, item, CLAIMS, f"[{i}]."))
        ids = [r.id for r in rows]
        if len(set(ids)) != len(ids):
            raise ArtifactError(CLAIMS, "lists a finding id more than once")
        return Ledger(tuple(rows))

    @cached_property
    def claims_details(self) -> ClaimsDetails:
        doc = self._versioned(CLAIMS_DETAILS, CLAIMS_SCHEMA)
        return validate(ClaimsDetails, doc, CLAIMS_DETAILS)

    @cached_property
    def claims_arrays(self) -> ClaimsArrays:
        d = self.claims_details
        npz = self._npz(CLAIMS_ARRAYS)
        dims = {"Bt": d.settings.bootstrap, "P": len(d.nulls.pairs), "S": len(d.draw_names),
                "T": len(d.null_draw_names), "M": npz["null_draws"].shape[1] if "null_draws" in npz else 0,
                "H+1": len(npz["origin_edges"]) if "origin_edges" in npz else 0,
                "K": len(d.nulls.atlas_b), "r": d.normality.whole.rank, "rc": d.normality.core.rank}
        dims["H"] = dims["H+1"] - 1
        return ClaimsArrays(**check_arrays(array_specs(ClaimsArrays), npz, CLAIMS_ARRAYS, dims))

    # ---- decode

    @cached_property
    def decode(self) -> Decode:
        doc = self._versioned(DECODE, DECODE_SCHEMA)
        d = validate(Decode, doc, DECODE)
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
        return DecodedPlanes(**check_arrays(array_specs(DecodedPlanes), self._npz(DECODE_PLANES), DECODE_PLANES,
                                            self._decode_dims()))

    @cached_property
    def decode_paths(self) -> DecodedPaths:
        return DecodedPaths(**check_arrays(array_specs(DecodedPaths), self._npz(DECODE_PATHS), DECODE_PATHS,
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
        doc = self._versioned(ACROSS_RUNS, ACROSS_SCHEMA)
        runs = validate(AcrossRuns, doc, ACROSS_RUNS)
        path = self._file(ACROSS_LEDGER)
        try:
            data = load_json(path)
        except ValueError as e:
            raise ArtifactError(ACROSS_LEDGER, f"is not valid JSON ({e}); {_fix(ACROSS_LEDGER)}") from None
        if not isinstance(data, list) or not data:
            raise ArtifactError(ACROSS_LEDGER, f"holds {describe(data)}, expected a non-empty JSON list")
        ledger = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ArtifactError(ACROSS_LEDGER, f"item [{i}] is {describe(item)}, expected an object")
            ledger.append(validate(AcrossClaim, item, ACROSS_LEDGER, f"[{i}]."))
        names = [r.name for r in runs.runs]
        for row in ledger:
            if [v.name for v in row.runs] != names:
                raise ArtifactError(ACROSS_LEDGER, f"finding '{row.id}' lists the runs {[v.name for v in row.runs]}, "
                                                   f"but {ACROSS_RUNS} lists {names}; {_fix(ACROSS_LEDGER)}")
        controls, summary = runs.controls, runs.control_summary
        if [c.name for c in controls] != [c.name for c in summary]:
            raise ArtifactError(ACROSS_RUNS, f"lists the controls {[c.name for c in controls]} but summarises "
                                             f"{[c.name for c in summary]}; {_fix(ACROSS_RUNS)}")
        for row in ledger:
            if [c.name for c in row.controls] != [c.name for c in controls]:
                raise ArtifactError(ACROSS_LEDGER, f"finding '{row.id}' lists the controls "
                                                   f"{[c.name for c in row.controls]}, but {ACROSS_RUNS} lists "
                                                   f"{[c.name for c in controls]}; {_fix(ACROSS_LEDGER)}")
        return Across(runs.kind, runs.sweep_key, runs.seeds, runs.runs, tuple(ledger), controls, summary)

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


