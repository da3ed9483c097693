"""What the report may publish: the run's artifacts, checked before Sphinx starts.

``report/build.py`` calls :func:`check_config` and :func:`check_artifacts` before it
builds anything. Each problem is an :class:`PublishError`: one line naming the file
(and the config key), what is wrong and how to fix it; the build exits with status 2.

* **Config.** The run's ``config.toml`` (written by every analysis CLI run) must be the
  resolved config of ``--config`` plus its ``--set`` overrides, and each step's manifest
  must record the same values in the config entries that step depends on (its
  declaration's ``sections`` in :mod:`analysis.pipeline.steps`). Only
  :data:`analysis.pipeline.steps.VOLATILE` keys (where and how fast a step runs, not what it
  computes) may differ.
* **Current.** Each step must be current for that config and this checkout's code, as the runner
  and ``python -m analysis check`` decide it (:func:`analysis.pipeline.steps.status`): a step whose
  code changed since it ran is refused, naming the files. Its inputs are the ones its manifest
  records, which the hand-over check below ties to the files on disk.
* **Manifests.** Every output a step's manifest lists must exist and have the sha256
  the manifest records (:func:`analysis.pipeline.provenance.file_problem`, the check the steps
  make; except the files in its ``volatile`` list, e.g. ``train/timing.json``); every input a manifest names that another step produced must
  be that step's current output (no step built on an older version of another).
* **Readability.** Every JSON artifact is parsed, every ``.npz`` read (zip checksums),
  every ``.npy`` header checked, so a damaged file is named here and not as a bare
  ``JSONDecodeError`` inside a chapter.
* **Runs.** A config with several runs (``[runs]``, :mod:`analysis.pipeline.runs`) is checked run
  by run: the primary run (the run directory itself) against the primary's config, each
  other run in ``<run>/runs/<name>/`` against its own (the config's base with the run's
  overrides and seed), with the same three checks; then the ``across`` step's manifest,
  whose inputs must be the runs' current files.
"""

from __future__ import annotations

import json
import shlex
import zipfile
from pathlib import Path

import numpy as np

from analysis import artifacts as reader
from analysis.pipeline.config import Config, load_config
from analysis.errors import UserError
from analysis.pipeline.provenance import file_problem, manifest_file, manifest_path
from analysis.pipeline.storage import load_json
from analysis.pipeline.runs import RunSpec, expand
# (build.py reads NAMES and CONFIG_NAMES from here)
from analysis.pipeline.steps import (CONFIG_NAMES, NAMES, VOLATILE, Step, declaration_of, depends_on, flat,
                                     status)

#: The files a build cannot do without: those the chapters must read, and the manifests of
#: the stats, decode and claims steps (the analysis ran to the end of what the article needs).
NEEDED = (*reader.REQUIRED, manifest_file("stats"), manifest_file("decode"), manifest_file("claims"))


class PublishError(Exception):
    """A run the report must not publish (exit status 2)."""


def _rerun(run: Path, config: str | None, overrides=(), step: str | None = None, run_name: str | None = None) -> str:
    """How to remake the run's artifacts: the analysis CLI (``make`` goes by file times
    and may see nothing to do). ``step``: that step is forced first (its outputs were
    changed behind its back, so its manifest alone looks up to date). ``run``: the
    config's build directory; ``run_name``: one of its other runs."""
    args = (f"--config {shlex.quote(config) if config else '<its config file>'}"
            + "".join(f" --set {shlex.quote(o)}" for o in overrides) + f" --out {shlex.quote(str(run))}"
            + (f" --run {shlex.quote(run_name)}" if run_name else ""))
    if step:
        return f"re-run that step: python -m analysis {step} --force {args}, then build the report again"
    return f"re-run the analysis with that config: python -m analysis all {args}, then build the report again"


# --------------------------------------------------------------------------- config

def _norm(v):
    """Values as JSON would give them back (tuples as lists, ints and floats as equal numbers)."""
    return json.loads(json.dumps(v)) if isinstance(v, (list, tuple)) else v


def first_difference(got: dict, want: dict, step: Step | None = None) -> tuple[str, object, object] | None:
    """The first ``section.key`` (in config order) whose value differs, ignoring
    :data:`analysis.pipeline.steps.VOLATILE` keys.

    ``got`` and ``want`` are resolved configs as dicts of sections; a key ``got`` lacks
    counts as its default. ``step`` limits the comparison to the keys its outputs depend on.
    """
    default = flat(Config().to_dict())
    g, w = flat(got), flat(want)
    for key in w:
        if key in VOLATILE or (step is not None and not depends_on(step, key)):
            continue
        a = _norm(g.get(key, default.get(key)))
        b = _norm(w[key])
        if a != b:
            return key, a, b
    return None


def _fmt(v) -> str:
    return json.dumps(v, ensure_ascii=False)


def _load(path: Path, overrides: list[str] = ()) -> Config:
    try:
        return load_config(path, overrides)
    except UserError as e:
        raise PublishError(str(e)) from None


def runs_of(run: Path, config: str | None = None, overrides: list[str] = ()) -> list[tuple[RunSpec, Path]]:
    """The runs of the build in ``run`` and their directories, the primary (``run`` itself) first:
    from ``config`` (+ overrides), or without it from the run's own ``config.toml``."""
    base = _load(Path(config), overrides) if config is not None else _load(run / "config.toml")
    try:
        specs = expand(base)
    except UserError as e:
        raise PublishError(str(e)) from None
    return [(spec, spec.directory(run)) for spec in specs]


def check_config(run: Path, config: str | None = None, overrides: list[str] = ()) -> Config:
    """Check that the build in ``run`` was made with ``config`` (+ overrides) and that its
    manifests agree, for every run of the config (see the module docstring).

    Without ``config`` the run's own ``config.toml`` is the reference. Returns the primary
    run's config.
    """
    several = False
    for spec, d in runs_of(run, config, overrides):
        _check_run_config(d, spec.config if config is not None or not spec.primary else None, config, overrides,
                          run, spec.name if not spec.primary else None)
        several = several or not spec.primary
    if several:
        base = _load(Path(config), overrides) if config is not None else _load(run / "config.toml")
        _check_manifests(run, CONFIG_NAMES, base, config or "the run", _rerun(run, config, overrides))
        _check_current(run, CONFIG_NAMES, base, _rerun(run, config, overrides))
    return _load(run / "config.toml") if config is None else runs_of(run, config, overrides)[0][0].config


def _check_run_config(run: Path, want: Config | None, config: str | None, overrides: list[str], top: Path,
                      name: str | None) -> None:
    """One run directory: its config.toml is ``want`` (None: itself) and its manifests agree with it."""
    if not (run / "config.toml").is_file() and name is not None:
        raise PublishError(f"run {name} has no {run / 'config.toml'}: it has not run -- "
                            f"{_rerun(top, config, overrides, run_name=name)}")
    run_cfg = _load(run / "config.toml")
    fix = _rerun(top, config, overrides, run_name=name)
    if want is not None:
        what = f"{config}" + (" with " + " ".join(f"--set {o}" for o in overrides) if overrides else "") \
            + (f" for run {name}" if name else "")
        diff = first_difference(run_cfg.to_dict(), want.to_dict())
        if diff:
            key, a, b = diff
            raise PublishError(
                f"{run / 'config.toml'} was made with {key} = {_fmt(a)}, but {what} gives {key} = {_fmt(b)}: "
                f"the artifacts in {run} are not this config's -- {fix}")
        ref = want
    else:
        ref, what = run_cfg, f"the run's {run / 'config.toml'}"
    _check_manifests(run, NAMES, ref, what, fix)
    _check_current(run, NAMES, ref, fix)


def _check_current(run: Path, names, ref: Config, fix: str) -> None:
    """Each finished step of ``names`` in ``run`` is current for ``ref`` and this checkout's code (the
    analysis' own decision, :func:`analysis.pipeline.steps.status`, on the inputs its manifest records;
    the outputs are checked with :func:`check_artifacts`)."""
    for step in names:
        m = _manifest(run, step)
        if m is None:
            continue
        fresh = status(step, ref, run, inputs=m.get("inputs") or {}, outputs=False, update=False)
        if not fresh.current:
            raise PublishError(f"{manifest_path(run, step)}: the {step} step is not current: {fresh.problem} "
                               f"-- {fix}")


def _check_manifests(run: Path, names, ref: Config, what: str, fix: str) -> None:
    """Each finished step of ``names`` in ``run`` ran with ``ref``'s settings of its sections."""
    for step in names:
        m = _manifest(run, step)
        if m is None or not isinstance(m.get("config"), dict):
            continue
        diff = first_difference(m["config"], ref.to_dict(), declaration_of(step, m))
        if diff:
            key, a, b = diff
            raise PublishError(
                f"{run / f'{step}.manifest.json'}: the {step} step ran with {key} = {_fmt(a)}, but {what} gives "
                f"{key} = {_fmt(b)} -- {fix}")


# --------------------------------------------------------------------------- manifests and files

def _manifest(run: Path, step: str) -> dict | None:
    p = manifest_path(run, step)
    if not p.is_file():
        return None
    try:
        m = load_json(p)
    except (OSError, ValueError) as e:
        raise PublishError(f"{p} is not a readable manifest ({type(e).__name__}: {e}) -- "
                            f"re-run the {step} step with --force (make all CONFIG=...)") from None
    if not isinstance(m, dict) or not isinstance(m.get("outputs"), dict):
        raise PublishError(f"{p} is not a manifest of this tool (no 'outputs' table) -- "
                            f"re-run the {step} step with --force (make all CONFIG=...)")
    return m


def check_readable(path: Path, deep: bool = True) -> None:
    """Parse ``path`` as the report will read it; raise :class:`ValueError` saying what is wrong.

    ``deep=False`` (a file whose hash is not the recorded one: it may be anything) opens an
    ``.npz`` without inflating its members."""
    suffix = path.suffix
    try:
        if suffix == ".json":
            load_json(path)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                for name in z.files if deep else ():
                    z[name]  # reads the member: checks its zip CRC and .npy header
        elif suffix == ".npy":
            np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, UnicodeDecodeError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        kind = {".json": "valid JSON", ".npz": "a readable .npz archive", ".npy": "a readable .npy array"}[suffix]
        raise ValueError(f"is not {kind} ({type(e).__name__}: {e})") from None


def check_artifacts(run: Path, config: str | None = None, overrides=()) -> list[str]:
    """Check every artifact the manifests list (exists, readable, same sha256) and the
    hand-over between steps, in every run of the build and the across step. Returns the
    checked paths (relative to ``run``)."""
    checked = []
    several = False
    for spec, d in runs_of(run, config, overrides):
        name = None if spec.primary else spec.name
        checked += [f"{spec.rel}/{rel}" if name else rel
                    for rel in _check_run_artifacts(d, config, overrides, run, name, NAMES, NEEDED if not name else ())]
        several = several or not spec.primary
    if several:
        checked += _check_run_artifacts(run, config, overrides, run, None, CONFIG_NAMES, reader.ACROSS_READS)
        _check_across_inputs(run, config, overrides)
    return checked


def _check_run_artifacts(run: Path, config: str | None, overrides, top: Path, name: str | None,
                         steps: tuple[str, ...], needed: tuple[str, ...]) -> list[str]:
    """:func:`check_artifacts` for one run directory and the manifests of ``steps`` in it."""
    manifests = {s: m for s in steps if (m := _manifest(run, s)) is not None}
    produced = {rel: (step, sha) for step, m in manifests.items() for rel, sha in m["outputs"].items()}
    checked = []
    for step, m in manifests.items():
        volatile = set(m.get("volatile") or ())
        fix = _rerun(top, config, overrides, step, name)
        for rel, sha in m["outputs"].items():
            if rel in volatile:
                continue
            path = run / rel
            if not path.is_file():
                raise PublishError(f"{path} is missing (listed by {step}.manifest.json) -- {fix}")
            problem = file_problem(run, rel, sha, update=False)
            if problem and path.suffix in (".json", ".npz", ".npy"):
                try:  # a damaged file is named as such (its hash differs too)
                    check_readable(path, deep=False)
                except ValueError as e:
                    raise PublishError(f"{path} {e} -- {fix}") from None
            if problem:
                raise PublishError(
                    f"{path} does not match the sha256 that {step}.manifest.json records for it ({problem}) "
                    f"-- {fix}")
            if path.suffix in (".json", ".npz", ".npy"):
                try:
                    check_readable(path)
                except ValueError as e:
                    raise PublishError(f"{path} {e} -- {fix}") from None
            checked.append(rel)
        for rel, sha in (m.get("inputs") or {}).items():
            src = produced.get(rel)
            if src and src[0] != step and src[1] != sha:
                raise PublishError(
                    f"{run / f'{step}.manifest.json'}: the {step} step used a {rel} that is no longer the one "
                    f"the {src[0]} step made -- {fix}")
    for rel in needed:
        path = run / rel
        if path.is_file() and rel not in checked and path.suffix in (".json", ".npz", ".npy"):
            try:
                check_readable(path)
            except ValueError as e:
                raise PublishError(f"{path} {e} -- {_rerun(top, config, overrides, run_name=name)}") from None
    return checked


def _check_across_inputs(run: Path, config: str | None, overrides) -> None:
    """The across step read every run's files as they are now (``runs/<name>/<file>`` inputs)."""
    m = _manifest(run, "across")
    if m is None:
        raise PublishError(f"{run / manifest_file('across')} does not exist: the runs were not put side by side -- "
                            f"{_rerun(run, config, overrides)}")
    for key, sha in (m.get("inputs") or {}).items():
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != "runs":
            continue
        d, rel = run / parts[0] / parts[1], "/".join(parts[2:])
        produced = {r: s for step in NAMES if (mm := _manifest(d, step)) for r, s in mm["outputs"].items()}
        if produced.get(rel) != sha:
            raise PublishError(f"{run / manifest_file('across')}: the across step used a {key} that is no longer the "
                                f"one run {parts[1]} made -- {_rerun(run, config, overrides, 'across')}")
