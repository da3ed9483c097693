"""Atomic, deterministic files: the storage layer every step writes through.

Every file the pipeline produces goes through :func:`atomic_path`: the bytes are
written to a temporary file in the destination directory, flushed to disk, and
renamed over the destination in one step. A reader therefore sees either the old
file or the complete new one, never a partial file, even after ``kill -9``.

Temporary files are named ``.<name>.flg-tmp-XXXXXXXX.tmp`` (:data:`TMP_MARKER`):
after a killed run, :func:`remove_stale_temporaries` deletes exactly those, and only
in the directories the pipeline writes, never anything a user put there.

Writers here are deterministic (sorted JSON keys, fixed zip timestamps), so the
same inputs give byte-identical artifacts and their hashes can be compared
(:mod:`analysis.pipeline.provenance` records those hashes). Large arrays are written and read
row block by row block (:class:`NpyWriter`, :class:`NpyRows`), so memory stays at one
block whatever the file size.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from analysis.errors import UserError
from analysis.schemas.base import validate_json

TMP_MARKER = ".flg-tmp-"  # in the name of every temporary file this package creates
_TMP_NAME = re.compile(r"^\..+" + re.escape(TMP_MARKER) + r"[a-z0-9_]{8}\.tmp$")  # tempfile's 8 random chars


def is_temporary_name(name: str) -> bool:
    """True for names :func:`atomic_path` generates (``.<name>.flg-tmp-XXXXXXXX.tmp``)."""
    return bool(_TMP_NAME.match(name))


def remove_stale_temporaries(run_dir: str | os.PathLike, subdirs: tuple[str, ...] = ()) -> list[Path]:
    """Delete the temporaries a killed run left in ``run_dir`` and its ``subdirs``.

    Only names this package generates are touched (not recursive, no other directory):
    call it while holding the run's lock, so that none of them is live.

    Parameters
    ----------
    run_dir : path
    subdirs : tuple of str
        The directories inside ``run_dir`` that the steps write (:data:`analysis.pipeline.steps.SUBDIRS`).

    Returns
    -------
    list of Path
        The removed files.
    """
    removed = []
    for d in (Path(run_dir), *(Path(run_dir) / s for s in subdirs)):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if is_temporary_name(e.name) and (e.is_file(follow_symlinks=False) or e.is_symlink()):
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


def atomic_symlink(target: str | os.PathLike, path: str | os.PathLike) -> None:
    """Make ``path`` a symbolic link to ``target`` (relative to ``path``'s directory), atomically:
    the link is made under a temporary name beside ``path`` and renamed over it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = path.parent / f".{path.name}{TMP_MARKER}{secrets.token_hex(4)}.tmp"
            try:
                os.symlink(target, tmp)
                break
            except FileExistsError:
                continue
    except OSError as e:
        raise UserError(f"cannot write to {path.parent}: {e.strerror}",
                        "choose a writable output directory with --out DIR") from None
    try:
        os.replace(tmp, path)
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


def save_json(path: str | os.PathLike, obj: Any, schema: Any = None) -> None:
    """Write ``obj`` as deterministic JSON (:func:`dumps_json`) to ``path``, atomically.

    ``schema``: the artifact's model (:mod:`analysis.schemas`); the JSON is validated against it
    first, so a step never writes what its reader would refuse (a ValueError names the key).
    """
    data = dumps_json(obj)
    if schema is not None:
        validate_json(schema, data, "/".join(Path(path).parts[-2:]))
    atomic_write(path, data)


JSON_MAX_BYTES = 256 << 20  # a JSON file (manifest, artifact) is read only up to this size


class LimitError(OSError):
    """A file that is not read: not a regular file, or larger than the reader's limit.

    An OSError (with ``strerror`` saying which), so that every reader's ``except OSError``
    names it in its one line."""


def check_regular(st: os.stat_result, limit: int) -> None:
    """Raise :class:`LimitError` unless ``st`` is a regular file of at most ``limit`` bytes."""
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
        raise LimitError(errno.EINVAL, f"not a regular file ({kind})")
    if st.st_size > limit:
        raise LimitError(errno.EFBIG, f"{st.st_size:,} bytes, more than the limit of {limit:,} bytes")


def read_limited(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes, both checked before it is read.

    The file is opened without blocking (a FIFO does not wait for a writer) and read in
    chunks up to ``limit`` + 1 bytes, so a device such as /dev/zero, a FIFO or a file that
    grows while it is read never makes memory grow past ``limit``.

    Raises
    ------
    LimitError
        An OSError whose ``strerror`` says "not a regular file (a FIFO)" or "N bytes, more
        than the limit of M bytes".
    OSError
        As ``open`` (FileNotFoundError, PermissionError ...).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        check_regular(os.fstat(fd), limit)
        chunks, size = [], 0
        while size <= limit:
            block = os.read(fd, min(1 << 20, limit + 1 - size))
            if not block:
                break
            chunks.append(block)
            size += len(block)
        if size > limit:
            raise LimitError(errno.EFBIG, f"grew beyond the limit of {limit:,} bytes while it was read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_lines(path: str | os.PathLike, limit: int = 1 << 30) -> list[str]:
    """The lines of a UTF-8 text file the pipeline wrote (``ids.txt``), read as :func:`read_limited` reads."""
    return read_limited(path, limit).decode("utf-8").splitlines()


def load_json(path: str | os.PathLike, limit: int = JSON_MAX_BYTES) -> Any:
    """The JSON value in ``path`` (UTF-8), a regular file of at most ``limit`` bytes.

    Raises ValueError for a file that is too large, not a regular file, not UTF-8 or not
    JSON (nested too deeply included); OSError as ``open``.
    """
    data = read_limited(path, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("nests lists or objects too deeply") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"is not UTF-8 ({e})") from None


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
