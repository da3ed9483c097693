"""Run directories: which directories are ours, and the one lock on each.

A run directory is where the steps of one run write (``build/<config>/``, ``--out DIR``,
``<out>/runs/<name>/``). The tool writes into a directory only if it is new, empty, or
already a run directory: one that holds the marker file :data:`MARKER` (written when the
first command takes the directory's lock), or, made by an older version of the tool, a
manifest of one of its steps. A directory of someone else's files is refused with exit
status 2 before anything is written, so their ``config.toml`` or ``data/`` is never
overwritten (:func:`check_ours`).

The lock is ``<run>/.lock``, an ``flock`` held by one process at a time: every command of
the analysis CLI holds it while its steps run, and the report build holds it on every run
it reads from its first check to the publishing of the site (``report/build.py``), so no
step can change an artifact while the article is built from it. The lock file is opened
without following a symbolic link (a link there, dangling or not, is refused: the tool
never writes through a link it did not make) and removed, still locked, when the holder
is done.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
from pathlib import Path

from analysis.errors import UserError

MARKER = ".flg-run"  # in every run directory the tool made
LOCK = ".lock"
_MARKER_TEXT = ("This directory is a run directory of face-latent-geometry (python -m analysis writes here).\n"
                "`make clean` or deleting the directory removes it with everything the tool wrote.\n")


def _has_manifest(run_dir: Path) -> bool:
    """A manifest of one of the tool's steps (a run directory made before :data:`MARKER` existed)."""
    from analysis.pipeline.storage import load_json

    with contextlib.suppress(OSError):
        for e in os.scandir(run_dir):
            if e.name.endswith(".manifest.json") and e.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError, ValueError):
                    m = load_json(e.path, limit=16 << 20)
                    if isinstance(m, dict) and m.get("step") == e.name[:-len(".manifest.json")] \
                            and isinstance(m.get("outputs"), dict) and isinstance(m.get("key"), str):
                        return True
    return False


def is_ours(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` is a run directory of the tool (its marker, or a manifest of one of its steps)."""
    run_dir = Path(run_dir)
    marker = run_dir / MARKER
    return (marker.is_file() and not marker.is_symlink()) or _has_manifest(run_dir)


def check_ours(run_dir: str | os.PathLike, option: str = "--out") -> None:
    """Refuse (UserError) a directory the tool may not write into: one that exists and is not a
    directory, or a non-empty directory that is not a run directory (:func:`is_ours`).

    A new path or an empty directory is fine: the lock marks it as a run directory.
    """
    run_dir = Path(run_dir)
    if not os.path.lexists(run_dir):
        return
    if not run_dir.is_dir():
        raise UserError(f"cannot write to output directory {run_dir}: it is not a directory",
                        f"choose a directory with {option} DIR")
    try:
        entries = sorted(e.name for e in os.scandir(run_dir) if e.name != LOCK)
    except OSError as e:
        raise UserError(f"cannot read output directory {run_dir}: {e.strerror}",
                        f"choose a readable directory with {option} DIR") from None
    if entries and not is_ours(run_dir):
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise UserError(f"output directory {run_dir} holds files this tool did not make ({shown}) and is "
                        f"not a run directory (no {MARKER})",
                        f"choose a new or empty directory with {option} DIR (the tool writes only into "
                        "directories it made)")


def mark(run_dir: Path) -> bool:
    """Write :data:`MARKER` into ``run_dir`` (new, never through a link); True if this call wrote it."""
    path = run_dir / MARKER
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        if path.is_symlink() or not path.is_file():
            raise UserError(f"{path} is not the tool's marker file (a link or a directory)",
                            f"remove {path}, or choose another output directory") from None
        return False
    except OSError as e:
        raise UserError(f"cannot write to output directory {run_dir}: {e.strerror}",
                        "choose a writable directory with --out DIR") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_MARKER_TEXT)
    return True


def unmark_if_alone(run_dir: Path) -> None:
    """Remove :data:`MARKER` when it is all the directory holds (a first command failed on bad input)."""
    with contextlib.suppress(OSError):
        if [e.name for e in os.scandir(run_dir)] == [MARKER]:
            os.unlink(run_dir / MARKER)


def open_lock_file(path: Path) -> int:
    """Open (create) the lock file ``path`` without following a symbolic link; a descriptor.

    Raises UserError for a link (dangling or not), a non-regular file, or an unwritable directory.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP or os.path.islink(path):
            raise UserError(f"{path} is a symbolic link; the tool does not write through links it did not make",
                            f"remove the link {path}") from None
        if e.errno in (errno.EISDIR, errno.ENXIO, errno.EWOULDBLOCK):
            raise UserError(f"{path} is not a regular file", f"remove {path}") from None
        raise UserError(f"cannot write to directory {path.parent}: {e.strerror}",
                        "choose a writable directory") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{path} is not a regular file", f"remove {path}")
    return fd


def lock(run_dir: Path, who: str = "another command (an analysis step or a report build)") -> int:
    """Take the exclusive lock of ``run_dir`` (created if missing); returns the descriptor that holds it.

    The lock file is removed by :func:`unlock` while still locked, so a waiter may end up
    holding a lock on a file that is no longer there: it checks that the path still names
    the file it locked, and otherwise tries again.
    """
    path = run_dir / LOCK
    waiting = False
    while True:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot write to output directory {run_dir}: {e.strerror}",
                            "choose a writable directory with --out DIR") from None
        fd = open_lock_file(path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waiting:
                    print(f"waiting for {who} on {run_dir} to finish ...", file=sys.stderr, flush=True)
                    waiting = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed the file before we got it: lock the new one


def same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` (not followed) names the file open as ``fd``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    fs = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fs.st_dev, fs.st_ino)


def unlock(run_dir: Path, fd: int) -> None:
    """Remove the lock file (still holding the lock) and release it."""
    with contextlib.suppress(OSError):
        if same_file(fd, run_dir / LOCK):
            os.unlink(run_dir / LOCK)
    os.close(fd)
