"""The reader's views of the measuring steps' artifacts: the configuration, the data, the training,
the encoding, the statistics of the cloud and the face tests (each validated into its schema).

:class:`MeasureViews` is a part of the typed reader :class:`analysis.artifacts.Run`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from analysis.pipeline.config import Config, load_config, read_config_text
from analysis.errors import UserError
from analysis.runfiles import RunFiles, _fix
from analysis.schemas.base import Absent, ArtifactError, check_arrays, validate
from analysis.schemas.files import (ARRAYS, CONFIG, DATA_INFO, ENCODE_SUMMARY, FACES, FACES_EXAMPLES, FACES_SCHEMA,
                                    GALLERY, HISTORY, LATENTS, RECONSTRUCTIONS, STATS, STATS_SCHEMA, TIMING)
from analysis.schemas.train import AdoptedHistory, History, Timing, TrainedHistory
from analysis.schemas.data import DataInfo
from analysis.schemas.stats import DataVsPublished, Published, Stats, StatsArrays
from analysis.schemas.encode import EncodeSummary, Gallery, Latents, Network, Posterior, Reconstructions
from analysis.schemas.faces import FaceCalibration, FaceExamples, FaceJudgement
from analysis.schemas.base import array_specs, describe
from analysis.pipeline.provenance import manifest_file


class MeasureViews(RunFiles):
    """Views of the data, train, encode, stats and faces steps' artifacts."""

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
        return validate(DataInfo, self._json(DATA_INFO), DATA_INFO)

    # ---- training

    @cached_property
    def history(self) -> History:
        doc = self._json(HISTORY)
        if "source" in doc:
            if doc["source"] != "user checkpoint":
                raise ArtifactError(HISTORY, f"key 'source' is {describe(doc['source'])}, "
                                             "expected 'user checkpoint'")
            h = validate(AdoptedHistory, doc, HISTORY)
            return History(h.epochs, None, None, h.checkpoint)
        h = validate(TrainedHistory, doc, HISTORY)
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
        return validate(Timing, self._json(TIMING), TIMING)

    # ---- encode

    @cached_property
    def _encode_summary(self) -> EncodeSummary:
        return validate(EncodeSummary, self._json(ENCODE_SUMMARY), ENCODE_SUMMARY)

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
        arrays = check_arrays(array_specs(Reconstructions), self._npz(RECONSTRUCTIONS), RECONSTRUCTIONS, dims)
        return Reconstructions(split=info.split, mse=info.mse, **arrays)

    @cached_property
    def gallery(self) -> Gallery:
        info = self._encode_summary.gallery
        dims = {"g": info.n, "C": self.data.channels, "S": self.data.image_size}
        return Gallery(seed=info.seed, **check_arrays(array_specs(Gallery), self._npz(GALLERY), GALLERY, dims))

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
        return validate(Stats, doc, STATS)

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
        return StatsArrays(**check_arrays(array_specs(StatsArrays), self._npz(ARRAYS), ARRAYS, dims))

    # ---- faces

    @cached_property
    def faces(self) -> FaceCalibration:
        """``faces/calibration.json``: the face tests, their error rates and the verdict rule."""
        doc = self._versioned(FACES, FACES_SCHEMA)
        f = validate(FaceCalibration, doc, FACES)
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
        return FaceExamples(**check_arrays(array_specs(FaceExamples), z, FACES_EXAMPLES, dims))
