"""The pipeline's steps, each declared once, and the one runner that runs any of them.

A :class:`Step` says what a step reads (files of earlier steps), which config entries
and which code its outputs depend on, and what it writes. That declaration drives:

* the key and whether the step's outputs are current (:func:`status`, the one place that decides
  it): the key hashes the step's config entries (:func:`settings`), the sha256 of its inputs and
  the source of its code; the step is current while its manifest records the same three parts and
  its outputs are unchanged. The runner (:func:`run`) skips a current step and otherwise computes it
  and records a new manifest (:mod:`analysis.pipeline.provenance`); ``python -m analysis check``
  (hence the Makefile) lists the steps that are not current, and the report's gate refuses them;
* the command line's list of steps and ``check`` (:mod:`analysis.cli`);
* the report's provenance check (``report/artifacts.py``: which config entries a
  manifest must agree on, which files it vouches for, whether its code is this checkout's);
* the Makefile's rules (prerequisites: the earlier steps' manifests and the step's code
  files), which are written out by hand for readability and checked against these
  declarations by ``tests/test_steps.py``; the outputs are no prerequisites: ``check``
  lists the steps whose outputs were deleted or edited, and make re-runs them.

A step's module (the first of its ``code``) provides ``compute(cfg, run_dir, inputs,
key) -> Written`` (``inputs``: name -> sha256 of what it reads) and optionally
``prepare(cfg, run_dir, inputs) -> dict``, which checks the inputs and returns identifying
hashes of inputs that are not files of earlier steps (a data folder's fingerprint, a user's
checkpoint). One that only checks (it may read the latents whole) returns ``{}`` and runs only
when the step computes (:func:`run` decides first, its module not imported). One that identifies
inputs is cheap, writes nothing, and its step is declared ``identifies=True``: :func:`status` calls it outside a
run too (``check``, the report's gate) and :func:`run` before the skip decision. They raise
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

from analysis.errors import UserError, eprint
from analysis.pipeline.config import validated
from analysis.pipeline.handover import is_constant, load_images, load_latents, open_latents  # noqa: F401
from analysis.pipeline.provenance import (CURRENT, KEY_CHANGED, NEVER_RUN, OUTPUTS_CHANGED, Freshness, code_hash,
                                          hash_key, module_hashes, output_problem, read_manifest, sha256_cached,
                                          share_step, step_output, touch_manifest, write_manifest)


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
    identifies : bool
        Its module's ``prepare`` returns identifying hashes of inputs that are no files of earlier
        steps, cheaply and writing nothing (``fetch``: the data's fingerprint): :func:`status` calls it
        outside a run too. False: ``prepare`` only checks the inputs (it may read them whole) and
        returns ``{}``, and only a run calls it.
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
    identifies: bool = False

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
             outputs=("data/images.npy", "data/ids.txt", "data/info.json"), shared=True, identifies=True)
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
             shared=True, identifies=True)
GENERATE = Step("generate", code=("steps.generate", "steps.genjudge", "steps.genfit", "science.generators",
                                  "science.gennames", "science.genbase", "science.genparametric", "science.genmixture",
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
              sections=("runs", "claims", "run.seed"), outputs=("across/ledger.json", "across/runs.json"),
              identifies=True)
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


# --------------------------------------------------------------------------- whether a step is current

def status(name: str, cfg, run_dir: str | os.PathLike, *, inputs: dict[str, str] | None = None, keyed: bool = True,
           outputs: bool = True, update: bool = True, **options) -> Freshness:
    """Whether the outputs of step ``name`` in ``run_dir`` are current for ``cfg`` and this checkout's code.

    The one decision the runner (:func:`run`), ``python -m analysis check`` (hence the Makefile) and the
    report's gate share. A step is current when its manifest records the parts its key is made of as
    they are now (its config entries, its inputs' hashes, its code modules' hashes; for a manifest of
    an older version that records no code, the key stands in for the code) and every output still has
    the recorded sha256. Nothing heavy runs here: the inputs are hashed through the run's hash cache,
    and a step's ``prepare`` is called only when it identifies inputs (:attr:`Step.identifies`).

    Parameters
    ----------
    name : str
    cfg, run_dir : Config (or a resolved config as a dict of sections), path
    inputs : dict, optional
        The inputs' hashes (the runner's, after ``prepare``); by default computed here
        (:func:`current_inputs`). The report's gate passes the manifest's own, which its check of the
        hand-over between steps vouches for.
    keyed : bool
        False: the key's parts are not compared (an earlier step is not current, so this step's turn
        comes after it), only the outputs.
    outputs : bool
        False: the outputs are not hashed (the caller has just checked them).
    update : bool
        Record fresh hashes in the run's hash cache (:func:`analysis.pipeline.provenance.sha256_cached`).
    **options
        ``train``: ``checkpoint`` (the runner's; without it an adopted checkpoint's recorded hash stands).

    Raises :class:`~analysis.errors.UserError` when the inputs cannot be hashed or identified (an earlier
    step's output changed, a data folder is gone; only when ``keyed`` and ``inputs`` is None).
    """
    run_dir = Path(run_dir)
    m = read_manifest(run_dir, name)
    if m is None:
        return Freshness(name, NEVER_RUN, problem="it has not run")
    if keyed:
        s = ADOPT if name == "train" and options.get("checkpoint") is not None else declaration_of(name, m)
        if inputs is None:
            inputs = current_inputs(s, cfg, run_dir, m, **options)
        changed = key_changes(s, cfg, m, inputs)
        if changed:
            return Freshness(name, KEY_CHANGED, tuple(part for part, _ in changed),
                             "its key changed since it ran: " + ", ".join(f"{p} ({what})" for p, what in changed), m)
    problem = output_problem(run_dir, m, update) if outputs else None
    if problem:
        return Freshness(name, OUTPUTS_CHANGED, problem=problem, manifest=m)
    return Freshness(name, CURRENT, manifest=m)


def current_inputs(s: Step, cfg, run_dir: Path, manifest: dict, **options) -> dict[str, str]:
    """The hashes of the inputs of ``s`` as they are now, outside a run: its files (:func:`input_hashes`),
    and what its ``prepare`` identifies when it does so cheaply (:attr:`Step.identifies`). An adopted
    checkpoint (``train --checkpoint``) is a user's file whose path only the run knew: its recorded hash
    stands (the weights it became are an output, hashed like any)."""
    inputs = input_hashes(s, run_dir)
    if s.identifies:
        module = importlib.import_module(f"analysis.{s.module}")
        inputs.update(module.prepare(cfg, run_dir, inputs, **options))
    if s is ADOPT and "checkpoint" not in inputs:
        inputs["checkpoint"] = (manifest.get("inputs") or {}).get("checkpoint", "unknown")
    return inputs


def _differing(was: dict, now: dict, limit: int = 3) -> str:
    keys = [k for k in sorted(set(was) | set(now)) if hash_key(was.get(k)) != hash_key(now.get(k))]
    return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def flat(cfg: dict) -> dict[str, object]:
    """A resolved config (or a step's :func:`settings`) as ``{"section.key": value}``."""
    return {f"{sec}.{k}": v for sec, t in cfg.items() for k, v in (t.items() if isinstance(t, dict) else ())}


def key_changes(s: Step, cfg, manifest: dict, inputs: dict[str, str]) -> list[tuple[str, str]]:
    """The parts of the key of ``s`` that differ from what ``manifest`` records: ``[(part, what)]`` with
    part ``"config"`` (the entries), ``"inputs"`` (the files) or ``"code"`` (the modules' files)."""
    out = []
    recorded = manifest.get("config")
    was = settings(recorded, s) if isinstance(recorded, dict) else {}
    now = settings(cfg, s)
    if hash_key(was) != hash_key(now):
        out.append(("config", _differing(flat(was), flat(now))))
    was_inputs = manifest.get("inputs") if isinstance(manifest.get("inputs"), dict) else {}
    if was_inputs != inputs:
        out.append(("inputs", _differing(was_inputs, inputs)))
    code = module_hashes(*s.code)
    if isinstance(manifest.get("code"), dict):
        if manifest["code"] != code:
            files = {f"analysis/{m.replace('.', '/')}.py": h for m, h in code.items()}
            was_files = {f"analysis/{m.replace('.', '/')}.py": h for m, h in manifest["code"].items()}
            out.append(("code", _differing(was_files, files)))
    elif not out and manifest.get("key") != step_key(s, cfg, inputs):  # a manifest without its code's hashes
        first = f"analysis/{s.module.replace('.', '/')}.py"
        out.append(("code", first if len(s.code) == 1 else f"{first} or another of its {len(s.code)} modules"))
    return out


# --------------------------------------------------------------------------- the runner

def threads_limited(threads: int):
    """A context in which the BLAS and OpenMP pools (numpy, scipy, scikit-learn) use at most ``threads``
    threads (0: their defaults). ``run.threads``: PyTorch's own count is set where the network runs."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads or None)


def _up_to_date(run_dir: Path, name: str, fresh: Freshness) -> dict:
    touch_manifest(run_dir, name)
    eprint(f"{name}: up to date")
    return fresh.manifest


def run(name: str, cfg, run_dir: str | os.PathLike, force: bool = False, share: str | os.PathLike | None = None,
        **options) -> dict:
    """Run step ``name`` unless it is current (:func:`status`); return its manifest.

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
    run_dir = Path(run_dir)
    validated(cfg.to_dict())  # (a caller may have changed a setting after loading)
    # Current or not, before the module (torch, scikit-learn: seconds) is imported; but after a prepare that
    # identifies inputs or hashes an adopted checkpoint (the user's file), which then runs once.
    early = not force and not s.identifies and s is not ADOPT
    fresh = status(s.name, cfg, run_dir, **options) if early else None
    if fresh is not None and fresh.current:
        return _up_to_date(run_dir, s.name, fresh)
    module = importlib.import_module(f"analysis.{s.module}")
    inputs = input_hashes(s, run_dir)
    prepare = getattr(module, "prepare", None)
    if prepare is not None:
        inputs.update(prepare(cfg, run_dir, inputs, **options))
    key = step_key(s, cfg, inputs)
    if not force and not early:
        fresh = status(s.name, cfg, run_dir, inputs=inputs, **options)
        if fresh.current:
            return _up_to_date(run_dir, s.name, fresh)
    if fresh is not None and fresh.state != NEVER_RUN:
        eprint(f"{s.name}: {fresh.problem}; running the step again")
    if share is not None and not force and s is not ADOPT:
        shared = share_step(share, run_dir, s.name, key, config=cfg.to_dict())
        if shared is not None:
            eprint(f"{s.name}: same settings and inputs as in {share}: its outputs are linked, not computed again")
            return shared
    with threads_limited(cfg.run.threads):
        written = module.compute(cfg, run_dir, inputs, key, **options)
    if written is None:
        return {}
    extra = {"volatile": list(s.volatile)} if s.volatile else {}
    manifest = write_manifest(run_dir, s.name, key, inputs, [run_dir / o for o in s.outputs] + list(written.outputs),
                              config=cfg.to_dict(), extra={**extra, "code": module_hashes(*s.code), **written.extra})
    for path in written.remove:
        path.unlink(missing_ok=True)
    return manifest
