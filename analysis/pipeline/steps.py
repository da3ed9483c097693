"""The pipeline's steps, each declared once, and the one runner that runs any of them.

A :class:`Step` says what a step reads (files of earlier steps), which config entries
and which code its outputs depend on, and what it writes. That declaration drives:

* the key and the skip logic (:func:`run`): the key hashes the step's config entries
  (:func:`settings`), the sha256 of its inputs and the source of its code; the step is
  skipped while its manifest has the same key and its outputs are unchanged, and
  otherwise computed and recorded in a new manifest (:mod:`analysis.pipeline.provenance`);
* the command line's list of steps and ``check`` (:mod:`analysis.cli`);
* the report's provenance check (``report/artifacts.py``: which config entries a
  manifest must agree on, which files it vouches for);
* the Makefile's rules (prerequisites: the earlier steps' manifests and the step's code
  files), which are written out by hand for readability and checked against these
  declarations by ``tests/test_steps.py``; the outputs are no prerequisites: ``check``
  lists the steps whose outputs were deleted or edited, and make re-runs them.

A step's module (the first of its ``code``) provides ``compute(cfg, run_dir, inputs,
key) -> Written`` (``inputs``: name -> sha256 of what it reads) and optionally
``check_config(cfg)``, which checks the settings on their own before any file is
read, and ``prepare(cfg, run_dir, inputs) -> dict``, which checks the inputs before the
skip decision and returns identifying hashes of inputs that are not files of earlier
steps (a data folder's fingerprint, a user's checkpoint). They raise
:class:`~analysis.errors.UserError` for bad input; nothing is written then.

Config entries that say where and how fast a step runs, not what it computes
(:data:`VOLATILE`), are left out of every key and of the report's comparison.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.errors import UserError, eprint
from analysis.pipeline.provenance import (code_hash, hash_key, is_complete, read_manifest, sha256_cached, share_step,
                                 step_output, write_manifest)
from analysis.pipeline.storage import NpyRows


@dataclass(frozen=True)
class Step:
    """One step of the pipeline, declared once.

    Parameters
    ----------
    name : str
        The step's name on the command line (``fetch``, ``train``, ...).
    code : tuple of str
        The ``analysis`` modules whose source its outputs depend on; the first holds
        its ``compute`` (and ``prepare``) function.
    inputs : tuple of str
        Files of earlier steps it reads, relative to the run directory. Their sha256 go
        into its key and manifest; the steps that write them are its :attr:`needs`.
    sections : tuple of str
        Config sections (``"stats"``) or single keys (``"run.seed"``) its outputs
        depend on, less :data:`VOLATILE`.
    outputs : tuple of str
        Files it writes (relative to the run directory), hashed in its manifest.
    volatile : tuple of str
        Files it writes that differ between identical runs (wall-clock times): they
        must exist but are not hashed.
    optional : tuple of str
        Inputs that may be absent (recorded as ``"absent"``).
    hand_placed : bool
        False: every input must be the file its step's manifest records
        (:func:`analysis.pipeline.provenance.step_output`). True: a file placed by hand
        (no manifest) is taken as found, e.g. latents from elsewhere.
    device : bool
        The step runs a model on ``run.device`` (checked before anything is created).
    shared : bool
        Its outputs depend on the data and the config, not on ``run.seed``: the runs of one
        config that differ only in their seed have the same key, so each links the primary
        run's outputs (``share`` of :func:`run`) once the primary's step has finished (the
        Makefile's rule of the other runs waits for it).
    """

    name: str
    code: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    volatile: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    hand_placed: bool = False
    device: bool = False
    shared: bool = False

    @property
    def module(self) -> str:
        """The module holding the step's ``compute``."""
        return self.code[0]

    @property
    def needs(self) -> tuple[str, ...]:
        """The earlier steps whose files it reads, in pipeline order."""
        writers = {producer(f) for f in self.inputs}
        return tuple(s.name for s in STEPS if s.name in writers)


@dataclass(frozen=True)
class Written:
    """What a step's ``compute`` hands back to :func:`run` besides its declared outputs.

    Parameters
    ----------
    outputs : tuple of Path
        Files written beyond the declared ones (``generate``'s contact sheets).
    extra : dict
        More manifest entries (``encode``: ``shape``; an adopted checkpoint's provenance).
    remove : tuple of Path
        Files to delete once the manifest is written (``train``'s resume state).
    """

    outputs: tuple[Path, ...] = ()
    extra: dict = field(default_factory=dict)
    remove: tuple[Path, ...] = ()


#: Config keys that say where and how fast a step runs, not what it computes: left out
#: of every step's key and of the report's check that a run was made with a config.
VOLATILE = frozenset({"run.device", "run.threads", "data.workers", "data.cache_dir",
                      "train.checkpoint_interval"})

#: The artifact schemas (:mod:`analysis.schemas`): a step's key covers the schemas it writes with, and
#: a step that reads artifacts through :mod:`analysis.artifacts` covers every schema.
SCHEMAS = tuple(f"schemas.{m}" for m in ("base", "files", "data", "train", "encode", "stats", "statscloud", "faces",
                                          "generate", "claims", "decode", "across", "provenance"))


#: The schema modules a step's schema module imports besides the base.
SCHEMA_PARTS = {"stats": ("statscloud",)}


def _schemas(*steps: str) -> tuple[str, ...]:
    """The schema modules a step writes with (and the base they share)."""
    return ("schemas.base", *(f"schemas.{m}" for s in steps for m in (s, *SCHEMA_PARTS.get(s, ()))))


FETCH = Step("fetch", code=("steps.data", *_schemas("data")), sections=("data",),
             outputs=("data/images.npy", "data/ids.txt", "data/info.json"), shared=True)
TRAIN = Step("train", code=("steps.train", "steps.trainparts", "steps.trainsave", "pipeline.model",
                            "pipeline.network", "pipeline.checkpoint", *_schemas("train")),
             inputs=("data/images.npy",),
             sections=("data", "model", "train", "run.seed"),
             outputs=("train/model.pt", "train/history.json"), volatile=("train/timing.json",), device=True)
#: ``train --checkpoint``: a user's weights adopted instead of trained; they depend on the
#: architecture and the data only, and nothing is timed.
ADOPT = dataclasses.replace(TRAIN, sections=("data", "model"), volatile=())
ENCODE = Step("encode", code=("steps.encode", "pipeline.model", "pipeline.network", "pipeline.checkpoint",
                              "steps.train", "steps.trainparts", "steps.trainsave", *_schemas("encode", "train")),
              inputs=("data/images.npy", "data/ids.txt", "train/model.pt"),
              sections=("model", "encode", "data.val_fraction", "run.seed"),
              outputs=("latents.npy", "ids.txt", "encode/summary.json", "encode/reconstructions.npz",
                       "encode/gallery.npz"), device=True)
STATS = Step("stats", code=("steps.stats", "steps.statsfigures", "steps.statsplanes", "science.geometry",
                            "science.slices", "published", "science.calibration", "science.intervals",
                            "science.bscan", *_schemas("stats")), inputs=("latents.npy",),
             sections=("stats", "run.seed"), outputs=("stats/stats.json", "stats/arrays.npz"), hand_placed=True)
#: The ``[faces]`` keys the face tests' fit and calibration depend on: ``faces.seed``, not ``run.seed``,
#: so that the training seeds of one config share one classifier (``images_per_row`` is generate's).
FACE_TEST_KEYS = ("faces.calibration_images", "faces.folds", "faces.max_train", "faces.classifier_size",
                  "faces.classifier_components", "faces.classifier_c", "faces.min_tpr", "faces.max_fpr",
                  "faces.level", "faces.seed")
#: What a run's check of the face tests on its own reconstructions reads (:func:`analysis.steps.facecheck.check_run`,
#: in the generate and decode steps): the set's size, the bars, and the run's held-out images.
FACE_CHECK_KEYS = ("faces.calibration_images", "faces.min_tpr", "faces.max_fpr", "faces.level",
                   "data.val_fraction", "run.seed")
#: The face tests (:mod:`analysis.steps.facetest`): a detector and a classifier, measured on labelled images
#: made from the data alone (shared by the training seeds); the later steps check them on their run's
#: reconstructions and judge decoded images with them.
FACES = Step("faces", code=("steps.facetest", "science.faces", "steps.instrument", "artifacts", "runfiles",
                            "runviews", "science.calibration", "science.intervals", "science.bscan",
                            "science.geometry", "steps.data", *SCHEMAS, "words"),
             inputs=("data/images.npy",),
             sections=(*FACE_TEST_KEYS, "data"),
             outputs=("faces/calibration.json", "faces/classifier.skops", "faces/folds.skops", "faces/examples.npz"),
             shared=True)
GENERATE = Step("generate", code=("steps.generate", "steps.genjudge", "steps.genfit", "science.generators",
                                  "science.genbase", "science.genparametric", "science.genmixture",
                                  "science.metrics", "science.calibration", "science.intervals", "science.bscan",
                                  "science.geometry", "pipeline.model", "pipeline.network", "pipeline.checkpoint",
                                  "steps.instrument", "science.faces", "steps.facecheck", "steps.train",
                                  "steps.trainparts", "steps.trainsave", "artifacts", "runfiles", "runviews",
                                  *SCHEMAS, "words"),
                inputs=("data/images.npy", "train/model.pt", "latents.npy", "stats/stats.json",
                        "faces/calibration.json", "faces/classifier.skops", "faces/folds.skops"),
                optional=("stats/stats.json", "faces/calibration.json", "faces/classifier.skops",
                          "faces/folds.skops"),
                sections=("generate", "faces.images_per_row", *FACE_CHECK_KEYS),
                outputs=("generate/metrics.json", "generate/samples.npz"), hand_placed=True, device=True)
DECODE = Step("decode", code=("steps.decode", "science.probes", "science.export", "artifacts", "runfiles",
                              "runviews", "science.calibration", "science.intervals", "science.bscan",
                              "science.geometry", "science.metrics", "pipeline.model", "pipeline.network",
                              "pipeline.checkpoint", "steps.instrument", "science.faces", "steps.facecheck",
                              "steps.train", "steps.trainparts", "steps.trainsave", *SCHEMAS, "words"),
              inputs=("train/model.pt", "latents.npy", "ids.txt", "stats/stats.json", "stats/arrays.npz",
                      "faces/calibration.json", "faces/classifier.skops", "faces/folds.skops"),
              optional=("faces/calibration.json", "faces/classifier.skops", "faces/folds.skops"),
              sections=("decode", *FACE_CHECK_KEYS), outputs=("decode/decode.json", "decode/planes.npz", "decode/paths.npz"),
              hand_placed=True, device=True)

CLAIMS = Step("claims", code=("steps.claims", "steps.claimfigures", "steps.claimmeasures", "steps.genclaims",
                              "steps.findings", "science.ledger", "science.calibration", "science.intervals",
                              "science.bscan", "science.nulls", "science.normality", "science.slices",
                              "science.geometry", "science.metrics", "published", "artifacts", "runfiles",
                              "runviews", *SCHEMAS, "words"),
              inputs=("latents.npy", "stats/stats.json", "stats/arrays.npz", "generate/metrics.json",
                      "data/images.npy", "data/ids.txt", "ids.txt"),
              optional=("generate/metrics.json", "data/images.npy", "data/ids.txt", "ids.txt"),
              sections=("claims", "run.seed"),
              outputs=("claims/claims.json", "claims/details.json", "claims/arrays.npz"), hand_placed=True)

#: The steps of one run, in pipeline order (``all`` runs them in turn). ``decode`` comes last:
#: nothing reads it but the article, and the other runs of [runs] stop at ``claims``.
STEPS = (FETCH, TRAIN, ENCODE, STATS, FACES, GENERATE, CLAIMS, DECODE)
NAMES = tuple(s.name for s in STEPS)

#: The config-level step: the runs of a config side by side (:mod:`analysis.steps.across`). It runs
#: in the config's build directory (the primary run's) once every run has finished; its
#: ``inputs`` are the primary run's files, and its ``prepare`` adds the same files of the
#: other runs (``runs/<name>/...``), each as its run's manifest vouches for it.
ACROSS = Step("across", code=("steps.across", "artifacts", "runfiles", "runviews", "pipeline.runs", "science.ledger",
                              "steps.findings", "science.calibration", "science.intervals", "science.bscan",
                              "science.geometry", "published", *SCHEMAS, "words"),
              inputs=("encode/summary.json", "encode/reconstructions.npz", "stats/stats.json", "stats/arrays.npz",
                      "generate/metrics.json", "claims/claims.json", "claims/details.json", "claims/arrays.npz"),
              sections=("runs", "claims", "run.seed"), outputs=("across/ledger.json", "across/runs.json"))
#: Steps that work on every run of a config at once.
CONFIG_STEPS = (ACROSS,)
CONFIG_NAMES = tuple(s.name for s in CONFIG_STEPS)

#: The directories the steps write inside a run (or the config's build) directory.
SUBDIRS = tuple(sorted({o.split("/")[0] for s in (*STEPS, *CONFIG_STEPS) for o in (*s.outputs, *s.volatile)
                        if "/" in o}))


def declaration(name: str) -> Step:
    """The declaration of the step called ``name``."""
    for s in (*STEPS, *CONFIG_STEPS):
        if s.name == name:
            return s
    raise KeyError(name)


def producer(file: str) -> str:
    """The step that writes ``file`` (relative to the run directory)."""
    for s in (*STEPS, *CONFIG_STEPS):
        if file in s.outputs or file in s.volatile:
            return s.name
    raise KeyError(file)


def declaration_of(name: str, manifest: dict) -> Step:
    """The declaration a finished step ran under, from its manifest (``train`` may have adopted a checkpoint)."""
    if name == "train" and "checkpoint" in (manifest.get("inputs") or {}):
        return ADOPT
    return declaration(name)


def check_config(cfg) -> None:
    """Every step's own check of its settings (its module's ``check_config``), for the whole config.

    The CLI calls it before the first step of any command runs, so that a setting of a later
    step (an unknown generator name, a claims band) is refused before the earlier steps spend
    time, and nothing is created (:mod:`analysis.cli`).
    """
    for s in (*STEPS, *CONFIG_STEPS):
        module = importlib.import_module(f"analysis.{s.module}")
        if hasattr(module, "check_config"):
            module.check_config(cfg)


# --------------------------------------------------------------------------- the key

def _in(key: str, entries: tuple[str, ...]) -> bool:
    return any(key == e or key.startswith(e + ".") for e in entries)


def depends_on(s: Step, key: str) -> bool:
    """Whether the outputs of ``s`` depend on the config key ``section.key``."""
    return key not in VOLATILE and _in(key, s.sections)


def settings(cfg, s: Step) -> dict[str, dict]:
    """The config values the step's outputs depend on: ``{section: {key: value}}``.

    ``cfg``: a Config, or a resolved config as a dict of sections (a manifest's ``config``).
    """
    out: dict[str, dict] = {}
    for section, table in (cfg if isinstance(cfg, dict) else cfg.to_dict()).items():
        if not isinstance(table, dict):
            continue
        kept = {k: v for k, v in table.items() if depends_on(s, f"{section}.{k}")}
        if kept:
            out[section] = kept
    return out


def input_hashes(s: Step, run_dir: Path) -> dict[str, str]:
    """sha256 of each input of ``s``, checked as its declaration says (see :class:`Step`)."""
    out = {}
    for name in s.inputs:
        writer = producer(name)
        if not s.hand_placed:
            out[name] = step_output(run_dir, writer, name)
        elif (run_dir / name).is_file():
            out[name] = sha256_cached(run_dir, run_dir / name)
        elif name in s.optional:
            out[name] = "absent"
        else:
            raise UserError(f"{run_dir / name} does not exist",
                            f"run the {writer} step first: python -m analysis {writer} --config ...")
    return out


def step_key(s: Step, cfg, inputs: dict[str, str]) -> str:
    """Hash of everything the outputs of ``s`` depend on: config entries, inputs and code."""
    return hash_key(s.name, settings(cfg, s), inputs, code_hash(*s.code))


# --------------------------------------------------------------------------- the runner

def run(name: str, cfg, run_dir: str | os.PathLike, force: bool = False, share: str | os.PathLike | None = None,
        **options) -> dict:
    """Run step ``name`` unless it is up to date; return its manifest.

    Parameters
    ----------
    name : str
        A step's name (:data:`NAMES`, :data:`CONFIG_NAMES`).
    cfg : Config
    run_dir : path
    force : bool
        Run even if up to date.
    share : path, optional
        Another run of the same config (the primary): when its step finished with the same
        key, its outputs are linked instead of computed again
        (:func:`analysis.pipeline.provenance.share_step`; e.g. the image cache of training seeds).
    **options
        Handed to the step's ``prepare`` and ``compute`` (``train``: ``checkpoint``).

    Returns
    -------
    dict
        The step's manifest (empty in a distributed worker, which records nothing).
    """
    s = ADOPT if name == "train" and options.get("checkpoint") is not None else declaration(name)
    module = importlib.import_module(f"analysis.{s.module}")
    run_dir = Path(run_dir)
    if hasattr(module, "check_config"):
        module.check_config(cfg)
    inputs = input_hashes(s, run_dir)
    prepare = getattr(module, "prepare", None)
    if prepare is not None:
        inputs.update(prepare(cfg, run_dir, inputs, **options))
    key = step_key(s, cfg, inputs)
    if not force and is_complete(run_dir, s.name, key):
        eprint(f"{s.name}: up to date")
        return read_manifest(run_dir, s.name)
    if share is not None and not force and s is not ADOPT:
        shared = share_step(share, run_dir, s.name, key, config=cfg.to_dict())
        if shared is not None:
            eprint(f"{s.name}: same settings and inputs as in {share}: its outputs are linked, not computed again")
            return shared
    written = module.compute(cfg, run_dir, inputs, key, **options)
    if written is None:
        return {}
    extra = {"volatile": list(s.volatile)} if s.volatile else {}
    manifest = write_manifest(run_dir, s.name, key, inputs, [run_dir / o for o in s.outputs] + list(written.outputs),
                              config=cfg.to_dict(), extra={**extra, **written.extra})
    for path in written.remove:
        path.unlink(missing_ok=True)
    return manifest


# --------------------------------------------------------------------------- reading what steps hand over

def load_images(run_dir: Path) -> NpyRows:
    """A reader of the image cache ``data/images.npy``, uint8 (n, C, S, S), that reads rows on demand.

    Memory stays at the rows asked for (plain reads, no memory map), whatever the data size.
    """
    path = Path(run_dir) / "data" / "images.npy"
    fix = "run the fetch step first: python -m analysis fetch --config ..."
    try:
        return NpyRows(path)
    except FileNotFoundError:
        raise UserError(f"image cache {path} does not exist", fix) from None
    except (OSError, ValueError) as e:
        raise UserError(f"image cache {path} is not a readable .npy array ({e})", fix) from None


def open_latents(path: str | os.PathLike) -> np.ndarray:
    """``latents.npy`` memory-mapped, (n, N), after :func:`load_latents` checked it."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def load_latents(path: str | os.PathLike) -> np.ndarray:
    """Open and check a latents file: a finite 2-D float array (n points x N components), memory-mapped.

    Raises
    ------
    UserError
        Missing, unreadable, wrong-shaped, non-float or non-finite latents, or points
        that are all the same (zero variance in every component: nothing to measure or
        fit; :func:`is_constant`).
    """
    path = Path(path)
    fix = "re-run the encode step (python -m analysis encode --config ...)"
    try:
        z = open_latents(path)
    except FileNotFoundError:
        raise UserError(f"latents file {path} does not exist", fix) from None
    except (OSError, ValueError) as e:
        raise UserError(f"latents file {path} is not a readable .npy array ({e})", fix) from None
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise UserError(f"latents file {path} has shape {z.shape}, expected (n points, N components)", fix)
    if not np.issubdtype(z.dtype, np.floating):
        raise UserError(f"latents file {path} has dtype {z.dtype}, expected float", fix)
    bad, lo, hi = 0, np.full(z.shape[1], np.inf), np.full(z.shape[1], -np.inf)
    for i in range(0, z.shape[0], 65536):
        block = np.asarray(z[i:i + 65536])
        bad += int(np.count_nonzero(~np.isfinite(block)))
        np.minimum(lo, block.min(axis=0), out=lo)
        np.maximum(hi, block.max(axis=0), out=hi)
    if bad:
        raise UserError(f"latents file {path} contains {bad} NaN/inf values", fix)
    if z.shape[0] > 1 and is_constant(lo, hi):
        raise UserError(f"latents file {path}: the {z.shape[0]} latent points have zero variance in all "
                        f"{z.shape[1]} components (they are all the same point): the images are identical "
                        "or the encoder collapsed",
                        "use a data set of different images (data.path), or retrain (e.g. with a lower "
                        "train.lr) and encode again")
    return z


def is_constant(lo: np.ndarray, hi: np.ndarray, rtol: float = 1e-6) -> bool:
    """True if every component's range ``hi - lo`` is zero up to float32 round-off.

    ``lo`` and ``hi`` are per-component minima and maxima; the tolerance is ``rtol``
    times the largest magnitude of any coordinate (identical images can give latents
    differing in the last bits when encoded at different positions in a batch).
    """
    scale = float(max(np.abs(lo).max(initial=0.0), np.abs(hi).max(initial=0.0)))
    return bool(np.all(hi - lo <= rtol * scale))
