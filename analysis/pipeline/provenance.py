"""Provenance: what each step's outputs are, and whether they still are.

Each step writes a manifest, ``<run>/<step>.manifest.json``, last: the key of
everything its outputs depend on (:func:`hash_key` of its config entries, input hashes
and :func:`code_hash`), the sha256 of its inputs and outputs, the resolved config and
the package versions. Its presence means the step finished. A step is up to date only
while the parts of its key are unchanged and its outputs still have the recorded hashes: one
function decides it, :func:`analysis.pipeline.steps.status`, and says so in a :class:`Freshness`
(the runner, ``python -m analysis check``, hence the Makefile, and the report's gate all ask it;
:func:`output_problem` is its check of the outputs); a later step reads an earlier step's
file only as the earlier manifest vouches for it (:func:`step_output`). The manifest's keys:
:mod:`analysis.schemas.provenance` (JSON Schema: ``schemas/step.manifest.schema.json``).

Hashing a 2.5 GB image cache takes seconds, so :func:`sha256_cached` remembers, in the
run's ``.sha256-cache.json``, each hash with the file's size, mtime, ctime and inode at
the time it was computed and re-hashes only a file whose stat changed (any write,
rename or copy changes its ctime, which no user tool can set back). The cache is
bookkeeping, not an artifact: deleting it only costs one re-hash per file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.errors import UserError
from analysis.pipeline.storage import atomic_symlink, check_regular, dumps_json, load_json, save_json
from analysis.schemas.provenance import Manifest

HASH_CACHE = ".sha256-cache.json"
#: Where the ``analysis`` package's sources are (:func:`code_hash`, :func:`module_hashes`; a test points it
#: at an edited copy).
SOURCE = Path(__file__).resolve().parents[1]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """sha256 (hex) of the regular file at ``path``, read in chunks of ``chunk`` bytes.

    A FIFO, a device or a directory is not read (never waited on): :class:`~analysis.pipeline.storage.LimitError`,
    an OSError saying what it is.
    """
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        check_regular(st, max(st.st_size, 0))
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _read_hash_cache(run_dir: Path) -> dict:
    try:
        files = load_json(run_dir / HASH_CACHE)["files"]
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _cache_name(run_dir: Path, path: Path) -> str:
    return Path(os.path.abspath(path)).relative_to(os.path.abspath(run_dir)).as_posix()


def remember_hashes(run_dir: str | os.PathLike, hashes: dict[str | os.PathLike, str]) -> None:
    """Record ``{path: sha256}`` of files just hashed, with their current stat (see :func:`sha256_cached`)."""
    run_dir = Path(run_dir)
    files = _read_hash_cache(run_dir)
    for path, sha in hashes.items():
        with contextlib.suppress(OSError):
            files[_cache_name(run_dir, Path(path))] = {"sha256": sha, "stat": _stat_key(Path(path))}
    with contextlib.suppress(UserError, OSError):  # only a cache: a read-only run directory still works
        save_json(run_dir / HASH_CACHE, {"files": files, "about": "sha256 of run files by size, mtime, "
                                         "ctime and inode; deleting this file only costs a re-hash"})


def sha256_cached(run_dir: str | os.PathLike, path: str | os.PathLike, update: bool = True) -> str:
    """sha256 of ``path`` (a file inside ``run_dir``), re-hashed only if its stat changed.

    The run's ``.sha256-cache.json`` keeps each hash with the file's size, mtime,
    ctime and inode when it was computed; if all four are unchanged the stored hash is
    returned. ``update=False`` reads the cache but never writes it (for readers that do
    not hold the run's lock). Raises OSError (FileNotFoundError) like :func:`sha256_file`.
    """
    run_dir, path = Path(run_dir), Path(path)
    key = _stat_key(path)
    entry = _read_hash_cache(run_dir).get(_cache_name(run_dir, path))
    if isinstance(entry, dict) and entry.get("stat") == key and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    sha = sha256_file(path)
    if update and _stat_key(path) == key:  # not changed while we read it
        remember_hashes(run_dir, {path: sha})
    return sha


def sha256_bytes(data: bytes) -> str:
    """sha256 (hex) of ``data``."""
    return hashlib.sha256(data).hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the interpreter and the libraries whose results we depend on."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("face-latent-geometry", "torch", "numpy", "scipy", "scikit-learn", "pillow"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def manifest_file(step: str) -> str:
    """The manifest of ``step``, relative to the run directory."""
    return f"{step}.manifest.json"


def manifest_path(run_dir: str | os.PathLike, step: str) -> Path:
    """Where step ``step`` of the run in ``run_dir`` keeps its manifest."""
    return Path(run_dir) / manifest_file(step)


def write_manifest(run_dir: str | os.PathLike, step: str, key: str,
                   inputs: dict[str, str], outputs: list[str | os.PathLike],
                   config: dict | None = None, extra: dict[str, Any] | None = None) -> dict:
    """Write ``run_dir/<step>.manifest.json`` last, as the step's completeness marker.

    Parameters
    ----------
    run_dir : path
        The run's output directory (``build/<name>/`` by default).
    step : str
        Step name (``fetch``, ``train``, ...).
    key : str
        Hash of everything the outputs depend on (config sections and input hashes);
        a later run with the same key may skip the step.
    inputs : dict of str to str
        Input name to its sha256 (or other identifying hash).
    outputs : list of paths
        Files written by the step (inside ``run_dir``); their sha256 are recorded.
    config : dict, optional
        The resolved config the step ran with.
    """
    run_dir = Path(run_dir)
    hashes = {Path(p): sha256_file(p) for p in outputs}
    remember_hashes(run_dir, hashes)
    manifest = {
        "step": step,
        "key": key,
        "inputs": dict(sorted(inputs.items())),
        "outputs": {p.resolve().relative_to(run_dir.resolve()).as_posix(): sha for p, sha in hashes.items()},
        "versions": package_versions(),
    }
    if config is not None:
        manifest["config"] = config
    if extra:
        manifest.update(extra)
    save_json(manifest_path(run_dir, step), manifest, Manifest)
    return manifest


def read_manifest(run_dir: str | os.PathLike, step: str) -> dict | None:
    """The step's manifest, or None if the step never finished."""
    try:
        return load_json(manifest_path(run_dir, step))
    except (OSError, ValueError):
        return None


def file_problem(run_dir: str | os.PathLike, name: str, sha: str, update: bool = True) -> str | None:
    """Why ``run_dir/name`` is not the file with sha256 ``sha``, or None.

    Parameters
    ----------
    run_dir : path
    name : str
        The file, relative to ``run_dir`` (as a manifest lists it).
    sha : str
        The sha256 a manifest records for it.
    update : bool
        Record a fresh hash in the run's hash cache (only for callers holding the run's
        lock; :func:`sha256_cached`).

    Returns
    -------
    str or None
        ``"<name> was deleted"``, ``"<name> cannot be read (...)"`` or
        ``"<name> was changed after the step wrote it"``.
    """
    run_dir = Path(run_dir)
    try:
        current = sha256_cached(run_dir, run_dir / name, update)
    except FileNotFoundError:
        return f"{name} was deleted"
    except OSError as e:
        return f"{name} cannot be read ({e.strerror})"
    if current != sha:
        return f"{name} was changed after the step wrote it"
    return None


def output_problem(run_dir: str | os.PathLike, manifest: dict, update: bool = True) -> str | None:
    """Why the outputs of a finished step no longer are what its manifest records, or None.

    Every output must exist with the recorded sha256 (:func:`file_problem`); the
    manifest's ``volatile`` files (e.g. train/timing.json, wall-clock times) need only exist.
    """
    run_dir = Path(run_dir)
    for name, sha in sorted(manifest.get("outputs", {}).items()):
        problem = file_problem(run_dir, name, sha, update)
        if problem:
            return problem
    for name in manifest.get("volatile", []):
        if not (run_dir / name).is_file():
            return f"{name} was deleted"
    return None


#: The states of a :class:`Freshness`.
CURRENT, NEVER_RUN, KEY_CHANGED, OUTPUTS_CHANGED = "current", "never run", "key changed", "outputs changed"


@dataclass(frozen=True)
class Freshness:
    """Whether a step's outputs are current (:func:`analysis.pipeline.steps.status` decides it).

    Parameters
    ----------
    step : str
    state : str
        :data:`CURRENT`; :data:`NEVER_RUN` (no manifest); :data:`KEY_CHANGED` (a part of its key differs
        from what its manifest records: its config entries, its inputs or its code); or
        :data:`OUTPUTS_CHANGED` (an output was edited or deleted since).
    changed : tuple of str
        With :data:`KEY_CHANGED`: the parts that differ, among ``"config"``, ``"inputs"``, ``"code"``.
    problem : str
        Why it is not current, in words: ``"stats/stats.json was changed after the step wrote it"``,
        ``"its key changed since it ran: config (stats.bins), code (analysis/steps/stats.py)"``.
    manifest : dict or None
        The manifest it was decided on.
    """

    step: str
    state: str
    changed: tuple[str, ...] = ()
    problem: str = ""
    manifest: dict | None = None

    @property
    def current(self) -> bool:
        """True when the step's outputs may be used as they are."""
        return self.state == CURRENT


def is_complete(run_dir: str | os.PathLike, step: str, key: str) -> bool:
    """True if ``step`` finished in ``run_dir`` with the key ``key`` and its outputs are unchanged (a plain
    key comparison; the runner and ``check`` ask :func:`analysis.pipeline.steps.status`, which also says why)."""
    m = read_manifest(run_dir, step)
    return bool(m) and m.get("key") == key and output_problem(run_dir, m) is None


def touch_manifest(run_dir: str | os.PathLike, step: str) -> None:
    """Mark a step found current as checked now, so that ``make`` (which compares file times) sees its
    manifest as newer than the config or code it was just checked against."""
    with contextlib.suppress(OSError):
        os.utime(manifest_path(run_dir, step), follow_symlinks=False)


def share_step(source: str | os.PathLike, run_dir: str | os.PathLike, step: str, key: str,
               config: dict | None = None) -> dict | None:
    """Adopt the outputs of ``step`` as finished in the run ``source`` when it has the same ``key``.

    Two runs of one config whose step has the same key (same settings, inputs and code:
    e.g. the image cache of training seeds) need not compute it twice. Each output (and
    each volatile file) of ``source``'s step becomes a relative symbolic link in
    ``run_dir``, and ``run_dir`` gets a manifest with the same key, inputs and output
    hashes, its own ``config`` and ``shared_from`` (``source`` relative to ``run_dir``).
    The links are checked like any output: when ``source``'s files change, the hashes no
    longer match and the step runs again.

    Returns
    -------
    dict or None
        The new manifest; None (nothing written) when ``source`` has no finished
        ``step`` with this key or its outputs changed since.
    """
    source, run_dir = Path(source), Path(run_dir)
    m = read_manifest(source, step)
    if not m or m.get("key") != key or not isinstance(m.get("outputs"), dict) \
            or output_problem(source, m, update=False):
        return None
    files = [*m["outputs"], *(m.get("volatile") or [])]
    for rel in files:
        link = run_dir / rel
        atomic_symlink(os.path.relpath(os.path.abspath(source / rel), os.path.abspath(link.parent)), link)
    remember_hashes(run_dir, {run_dir / rel: sha for rel, sha in m["outputs"].items()})
    manifest = {k: v for k, v in m.items() if k != "config"}
    if config is not None:
        manifest["config"] = config
    manifest["shared_from"] = os.path.relpath(os.path.abspath(source), os.path.abspath(run_dir))
    save_json(manifest_path(run_dir, step), manifest, Manifest)
    return manifest


def step_output(run_dir: str | os.PathLike, step: str, name: str) -> str:
    """The sha256 of output ``name`` of the finished ``step``, checked against the file.

    For a step that reads an earlier step's output: the file on disk must be the one
    that step's manifest vouches for.

    Raises
    ------
    UserError
        The step has not finished, or the file was deleted or changed since.
    """
    fix = f"run the {step} step again: python -m analysis {step} --config ..."
    m = read_manifest(run_dir, step)
    if m is None or name not in m.get("outputs", {}):
        raise UserError(f"no finished {step} step in {run_dir}", fix)
    problem = file_problem(run_dir, name, m["outputs"][name])
    if problem:
        raise UserError(f"{Path(run_dir) / name} is not what the {step} step recorded: {problem}", fix)
    return m["outputs"][name]


def _source(name: str) -> bytes:
    return (SOURCE / f"{name.replace('.', '/')}.py").read_bytes()


def code_hash(*modules: str) -> str:
    """Hash of the source of the named ``analysis`` modules (a step's code is one of its inputs);
    ``schemas.stats`` names ``analysis/schemas/stats.py``.

    Editing a step's code therefore re-runs that step, not only a changed config or input.
    """
    h = hashlib.sha256()
    for name in modules:
        h.update(_source(name))
    return h.hexdigest()[:16]


def module_hashes(*modules: str) -> dict[str, str]:
    """``{module: sha256 of its source (16 hex)}``: a step's code as its manifest records it (``code``), so
    that a changed key can name the files that changed."""
    return {name: sha256_bytes(_source(name))[:16] for name in modules}


def hash_key(*parts: Any) -> str:
    """A stable hash of JSON-able parts (config sections, input hashes)."""
    return sha256_bytes(dumps_json(list(parts)))[:16]
