"""Atomic, deterministic writes and the provenance manifest.

Every file the pipeline produces goes through :func:`atomic_write`: the bytes are
written to a temporary file in the destination directory, flushed to disk, and
renamed over the destination in one step. A reader therefore sees either the old
file or the complete new one, never a partial file, even after ``kill -9``.

Temporary files are named ``.<name>.flg-tmp-XXXXXXXX.tmp`` (:data:`TMP_MARKER`):
after a killed run, :func:`remove_stale_temporaries` deletes exactly those, and only
in the directories the pipeline writes (the run directory and :data:`RUN_SUBDIRS`),
never anything a user put there.

Writers here are deterministic (sorted JSON keys, fixed zip timestamps), so the
same inputs give byte-identical artifacts and their hashes can be compared.

Each step's manifest records the sha256 of its outputs; a step is up to date only
while its outputs still have those hashes (:func:`is_complete`). Hashing a 2.5 GB
image cache takes seconds, so :func:`sha256_cached` remembers, in the run's
``.sha256-cache.json``, each hash with the file's size, mtime, ctime and inode at the
time it was computed and re-hashes only a file whose stat changed (any write, rename
or copy changes its ctime, which no user tool can set back). The cache is bookkeeping,
not an artifact: deleting it only costs one re-hash per file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import platform
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from analysis.errors import UserError

TMP_MARKER = ".flg-tmp-"  # in the name of every temporary file this package creates
_TMP_NAME = re.compile(r"^\..+" + re.escape(TMP_MARKER) + r"[a-z0-9_]{8}\.tmp$")  # tempfile's 8 random chars
RUN_SUBDIRS = ("data", "train", "encode", "stats", "generate", "claims")  # the directories the steps write in a run directory
HASH_CACHE = ".sha256-cache.json"


def is_temporary_name(name: str) -> bool:
    """True for names :func:`atomic_path` generates (``.<name>.flg-tmp-XXXXXXXX.tmp``)."""
    return bool(_TMP_NAME.match(name))


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporaries a killed run left in ``run_dir`` and its :data:`RUN_SUBDIRS`.

    Only names this package generates are touched (not recursive, no other directory):
    call it while holding the run's lock, so that none of them is live. Returns the
    removed paths.
    """
    removed = []
    for d in (Path(run_dir), *(Path(run_dir) / s for s in RUN_SUBDIRS)):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if is_temporary_name(e.name) and e.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e.path)
                removed.append(Path(e.path))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed
    and ``path`` is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARKER}", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise UserError(f"cannot write to {path.parent}: {e.strerror}",
                        "choose a writable output directory with --out DIR") from None
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise UserError(f"no space left while writing {path}",
                            "free disk space or choose another --out DIR") from None
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise UserError(f"cannot write {path}: {e.strerror}",
                            "choose a writable output directory with --out DIR") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and paths to plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no NaN/inf; null means "not defined"
    return obj


def dumps_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return (json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def save_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write(path, dumps_json(obj))


def load_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save one array as ``.npy`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save arrays as an uncompressed ``.npz`` with fixed timestamps (byte-reproducible)."""
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name in sorted(arrays):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
                zf.writestr(info, buf.getvalue())


_NPY_HEADER = 128  # fixed header size of files written by NpyWriter (numpy reads any padding)


class NpyWriter:
    """Write a ``.npy`` file row block by row block, atomically, without memory-mapping it.

    The row count need not be known in advance: the header is rewritten on close.
    Memory use is one block. Use as a context manager::

        with NpyWriter(path, np.float32, (N,)) as w:
            for block in blocks:
                w.write(block)          # (k, N)
    """

    def __init__(self, path: str | os.PathLike, dtype, row_shape: tuple[int, ...]):
        self.path, self.dtype, self.row_shape = Path(path), np.dtype(dtype), tuple(row_shape)
        self.rows = 0

    def _header(self) -> bytes:
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
             "shape": (self.rows, *self.row_shape)}
        text = repr(d).encode("latin1")
        pad = _NPY_HEADER - 10 - len(text) - 1
        if pad < 0:
            raise ValueError("array shape too long for the fixed .npy header")
        return b"\x93NUMPY\x01\x00" + (_NPY_HEADER - 10).to_bytes(2, "little") + text + b" " * pad + b"\n"

    def __enter__(self) -> "NpyWriter":
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._f = open(self._tmp, "wb")
        self._f.write(self._header())
        return self

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"block of shape {block.shape} does not fit rows of shape {self.row_shape}")
        self._f.write(block.tobytes())
        self.rows += len(block)

    def __exit__(self, *exc) -> bool:
        try:
            if exc[0] is None:
                self._f.seek(0)
                self._f.write(self._header())
            self._f.close()
        except BaseException as e:  # a failed header write or a signal now: the file is not renamed
            with contextlib.suppress(OSError):
                self._f.close()
            if not self._ctx.__exit__(type(e), e, e.__traceback__):
                raise
            return True
        return self._ctx.__exit__(*exc)


class NpyRows:
    """Read rows of a ``.npy`` file with plain reads (no memory map, so RSS stays at one batch).

    Parameters
    ----------
    path : path
        A C-ordered ``.npy`` file of shape (n, ...).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"{path}: unsupported .npy version {version}")
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran or not shape:
            raise ValueError(f"{path}: expected a C-ordered array with rows")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new array, shape (stop - start, ...)."""
        stop = min(stop, len(self))
        buf = os.pread(self._fd, (stop - start) * self.row_bytes, self.offset + start * self.row_bytes)
        return np.frombuffer(bytearray(buf), dtype=self.dtype).reshape(stop - start, *self.shape[1:])

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (any order) as a new array, shape (len(idx), ...)."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(len(idx), -1).view(np.uint8)
        for j in np.argsort(idx, kind="stable"):
            flat[j] = np.frombuffer(os.pread(self._fd, self.row_bytes, self.offset + int(idx[j]) * self.row_bytes),
                                    dtype=np.uint8)
        return out


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
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


def manifest_path(run_dir: str | os.PathLike, step: str) -> Path:
    """Where step ``step`` of the run in ``run_dir`` keeps its manifest."""
    return Path(run_dir) / f"{step}.manifest.json"


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
    save_json(manifest_path(run_dir, step), manifest)
    return manifest


def read_manifest(run_dir: str | os.PathLike, step: str) -> dict | None:
    """The step's manifest, or None if the step never finished."""
    try:
        return load_json(manifest_path(run_dir, step))
    except (OSError, ValueError):
        return None


def output_problem(run_dir: str | os.PathLike, manifest: dict, update: bool = True) -> str | None:
    """Why the outputs of a finished step no longer are what its manifest records, or None.

    Every output must exist with the recorded sha256 (:func:`sha256_cached`: hashed
    again only when its stat changed); the manifest's ``volatile`` files (e.g.
    train/timing.json, wall-clock times) need only exist.
    """
    run_dir = Path(run_dir)
    for name, sha in sorted(manifest.get("outputs", {}).items()):
        try:
            current = sha256_cached(run_dir, run_dir / name, update)
        except FileNotFoundError:
            return f"{name} was deleted"
        except OSError as e:
            return f"{name} cannot be read ({e.strerror})"
        if current != sha:
            return f"{name} was changed after the step wrote it"
    for name in manifest.get("volatile", []):
        if not (run_dir / name).is_file():
            return f"{name} was deleted"
    return None


def is_complete(run_dir: str | os.PathLike, step: str, key: str) -> bool:
    """True if ``step`` finished in ``run_dir`` with the same key and its outputs are unchanged.

    Outputs that were edited or deleted make the step incomplete (it says so on stderr
    and runs again). A complete step's manifest is touched, so that ``make`` (which
    compares file times) sees it as newer than the config or code it was just checked
    against.
    """
    m = read_manifest(run_dir, step)
    if not m or m.get("key") != key:
        return False
    problem = output_problem(run_dir, m)
    if problem:
        eprint(f"{step}: {problem}; running the step again")
        return False
    with contextlib.suppress(OSError):
        os.utime(manifest_path(run_dir, step))
    return True


def stale_steps(run_dir: str | os.PathLike, steps: tuple[str, ...]) -> list[tuple[str, str]]:
    """(step, problem) for each finished step among ``steps`` whose outputs were edited or deleted.

    Needs no lock: it writes nothing but the hash cache, whose entries are keyed by the
    files' stat (a concurrent writer can at worst make a later check hash a file again).
    """
    out = []
    for step in steps:
        m = read_manifest(run_dir, step)
        problem = output_problem(run_dir, m) if m else None
        if problem:
            out.append((step, problem))
    return out


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
    path = Path(run_dir) / name
    try:
        current = sha256_cached(run_dir, path)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist (deleted after the {step} step wrote it)", fix) from None
    if current != m["outputs"][name]:
        raise UserError(f"{path} differs from what the {step} step recorded (changed after it was written)", fix)
    return current


def load_latents(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load and check a latents file: a finite 2-D float array (n points x N components).

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
        z = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
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


def code_hash(*modules: str) -> str:
    """Hash of the source of the named ``analysis`` modules (a step's code is one of its inputs).

    Editing a step's code therefore re-runs that step, not only a changed config or input.
    """
    h = hashlib.sha256()
    for name in modules:
        h.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


def hash_key(*parts: Any) -> str:
    """A stable hash of JSON-able parts (config sections, input hashes)."""
    return sha256_bytes(dumps_json(list(parts)))[:16]


def eprint(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)
