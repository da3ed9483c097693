"""What the report may publish: the run's artifacts, checked before Sphinx starts.

``report/build.py`` calls :func:`check_config` and :func:`check_artifacts` before it
builds anything. Each problem is an :class:`ArtifactError`: one line naming the file
(and the config key), what is wrong and how to fix it; the build exits with status 2.

* **Config.** The run's ``config.toml`` (written by every analysis CLI run) must be the
  resolved config of ``--config`` plus its ``--set`` overrides, and each step's manifest
  must record the same values in the config entries that step depends on (its
  declaration's ``sections`` in :mod:`analysis.steps`). Only
  :data:`analysis.steps.VOLATILE` keys (where and how fast a step runs, not what it
  computes) may differ.
* **Manifests.** Every output a step's manifest lists must exist and have the sha256
  the manifest records (:func:`analysis.provenance.file_problem`, the check the steps
  make; except the files in its ``volatile`` list, e.g. ``train/timing.json``); every input a manifest names that another step produced must
  be that step's current output (no step built on an older version of another).
* **Readability.** Every JSON artifact is parsed, every ``.npz`` read (zip checksums),
  every ``.npy`` header checked, so a damaged file is named here and not as a bare
  ``JSONDecodeError`` inside a chapter.
"""

from __future__ import annotations

import json
import shlex
import zipfile
from pathlib import Path

import numpy as np

from analysis import artifacts as reader
from analysis.config import Config, load_config
from analysis.errors import UserError
from analysis.provenance import file_problem, manifest_file, manifest_path
from analysis.steps import NAMES, VOLATILE, Step, declaration_of, depends_on

#: The files a build cannot do without: those the chapters must read, and the manifests of
#: the stats, decode and claims steps (the analysis ran to the end of what the article needs).
NEEDED = (*reader.REQUIRED, manifest_file("stats"), manifest_file("decode"), manifest_file("claims"))


class ArtifactError(Exception):
    """A run the report must not publish (exit status 2)."""


def _rerun(run: Path, config: str | None, overrides=(), step: str | None = None) -> str:
    """How to remake the run's artifacts: the analysis CLI (``make`` goes by file times
    and may see nothing to do). ``step``: that step is forced first (its outputs were
    changed behind its back, so its manifest alone looks up to date)."""
    args = (f"--config {shlex.quote(config) if config else '<its config file>'}"
            + "".join(f" --set {shlex.quote(o)}" for o in overrides) + f" --out {shlex.quote(str(run))}")
    if step:
        return f"re-run that step: python -m analysis {step} --force {args}, then build the report again"
    return f"re-run the analysis with that config: python -m analysis all {args}, then build the report again"


# --------------------------------------------------------------------------- config

def _flat(cfg: dict) -> dict[str, object]:
    return {f"{s}.{k}": v for s, table in cfg.items() if isinstance(table, dict) for k, v in table.items()}


def _norm(v):
    """Values as JSON would give them back (tuples as lists, ints and floats as equal numbers)."""
    return json.loads(json.dumps(v)) if isinstance(v, (list, tuple)) else v


def first_difference(got: dict, want: dict, step: Step | None = None) -> tuple[str, object, object] | None:
    """The first ``section.key`` (in config order) whose value differs, ignoring
    :data:`analysis.steps.VOLATILE` keys.

    ``got`` and ``want`` are resolved configs as dicts of sections; a key ``got`` lacks
    counts as its default. ``step`` limits the comparison to the keys its outputs depend on.
    """
    default = _flat(Config().to_dict())
    g, w = _flat(got), _flat(want)
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
        raise ArtifactError(str(e)) from None


def check_config(run: Path, config: str | None = None, overrides: list[str] = ()) -> Config:
    """Check that the run was made with ``config`` (+ overrides) and that its manifests agree.

    Without ``config`` the run's own ``config.toml`` is the reference. Each manifest is
    compared only on the entries its step depends on: a step that is up to date does
    not rewrite its manifest, so its other sections may be older than config.toml
    without anything being wrong. Returns the reference config.
    """
    run_cfg = _load(run / "config.toml")
    if config is not None:
        ref = _load(Path(config), overrides)
        what = f"{config}" + (" with " + " ".join(f"--set {o}" for o in overrides) if overrides else "")
        diff = first_difference(run_cfg.to_dict(), ref.to_dict())
        if diff:
            key, a, b = diff
            raise ArtifactError(
                f"{run / 'config.toml'} was made with {key} = {_fmt(a)}, but {what} gives {key} = {_fmt(b)}: "
                f"the artifacts in {run} are not this config's -- {_rerun(run, config, overrides)}")
    else:
        ref, what = run_cfg, f"the run's {run / 'config.toml'}"
    for step in NAMES:
        m = _manifest(run, step)
        if m is None or not isinstance(m.get("config"), dict):
            continue
        diff = first_difference(m["config"], ref.to_dict(), declaration_of(step, m))
        if diff:
            key, a, b = diff
            raise ArtifactError(
                f"{run / f'{step}.manifest.json'}: the {step} step ran with {key} = {_fmt(a)}, but {what} gives "
                f"{key} = {_fmt(b)} -- {_rerun(run, config, overrides)}")
    return ref


# --------------------------------------------------------------------------- manifests and files

def _manifest(run: Path, step: str) -> dict | None:
    p = manifest_path(run, step)
    if not p.is_file():
        return None
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ArtifactError(f"{p} is not a readable manifest ({type(e).__name__}: {e}) -- "
                            f"re-run the {step} step with --force (make all CONFIG=...)") from None
    if not isinstance(m, dict) or not isinstance(m.get("outputs"), dict):
        raise ArtifactError(f"{p} is not a manifest of this tool (no 'outputs' table) -- "
                            f"re-run the {step} step with --force (make all CONFIG=...)")
    return m


def check_readable(path: Path) -> None:
    """Parse ``path`` as the report will read it; raise :class:`ValueError` saying what is wrong."""
    suffix = path.suffix
    try:
        if suffix == ".json":
            with open(path, encoding="utf-8") as f:
                json.load(f)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                for name in z.files:
                    z[name]  # reads the member: checks its zip CRC and .npy header
        elif suffix == ".npy":
            np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, UnicodeDecodeError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        kind = {".json": "valid JSON", ".npz": "a readable .npz archive", ".npy": "a readable .npy array"}[suffix]
        raise ValueError(f"is not {kind} ({type(e).__name__}: {e})") from None


def check_artifacts(run: Path, config: str | None = None, overrides=()) -> list[str]:
    """Check every artifact the manifests list (exists, readable, same sha256) and the
    hand-over between steps. Returns the checked paths (relative to ``run``)."""
    manifests = {s: m for s in NAMES if (m := _manifest(run, s)) is not None}
    produced = {rel: (step, sha) for step, m in manifests.items() for rel, sha in m["outputs"].items()}
    checked = []
    for step, m in manifests.items():
        volatile = set(m.get("volatile") or ())
        for rel, sha in m["outputs"].items():
            if rel in volatile:
                continue
            path = run / rel
            if not path.is_file():
                raise ArtifactError(f"{path} is missing (listed by {step}.manifest.json) -- "
                                    f"{_rerun(run, config, overrides, step)}")
            if path.suffix in (".json", ".npz", ".npy"):
                try:
                    check_readable(path)
                except ValueError as e:
                    raise ArtifactError(f"{path} {e} -- {_rerun(run, config, overrides, step)}") from None
            problem = file_problem(run, rel, sha, update=False)
            if problem:
                raise ArtifactError(
                    f"{path} does not match the sha256 that {step}.manifest.json records for it ({problem}) "
                    f"-- {_rerun(run, config, overrides, step)}")
            checked.append(rel)
        for rel, sha in (m.get("inputs") or {}).items():
            src = produced.get(rel)
            if src and src[0] != step and src[1] != sha:
                raise ArtifactError(
                    f"{run / f'{step}.manifest.json'}: the {step} step used a {rel} that is no longer the one "
                    f"the {src[0]} step made -- {_rerun(run, config, overrides, step)}")
    for rel in NEEDED:
        path = run / rel
        if path.is_file() and rel not in checked and path.suffix in (".json", ".npz", ".npy"):
            try:
                check_readable(path)
            except ValueError as e:
                raise ArtifactError(f"{path} {e} -- {_rerun(run, config, overrides)}") from None
    return checked
