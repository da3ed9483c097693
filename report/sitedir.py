"""The site directory (``_site/``, ``SITE=``): what in it is the tool's, and the only ways it is changed.

The report build shares the site directory with whatever else is there (other versions,
a user's own files). It creates, replaces or deletes only what it made, and never follows
a symbolic link it did not make:

* **Versions** are directories ``<site>/<label>/`` with a label of :data:`meta.LABEL_RE` that
  hold the ``.build.json`` the build wrote (its ``label`` the directory's name), both real
  (no links): :func:`is_version`. Only they are listed (``versions.json``, the version
  switcher, the site's index page) and only they are replaced by a newer build of the same
  label; a directory of that name that is not one stops the build (exit 2) untouched.
* **Site files** (``index.html``, ``versions.json``, ``versions.js``) are rewritten only when
  they are the ones the tool wrote last, as recorded with their sha256 in :data:`RECORD`
  (``.flg-site.json``); a site made before that record existed is recognised by the files'
  own form. A user's file of that name, or a link, stops the build before Sphinx starts.
  They are written atomically (a temporary file renamed over the old one, which replaces a
  link rather than writing through it).
* **The lock** ``<site>/.lock`` is opened without following links and never truncated.
* **Logs** of failed builds go to ``<site>/.logs/`` (a real directory, not a link) as new
  files (``O_EXCL``); only logs the tool wrote (named ``<label>-<UTC time>-<pid>.log`` and
  beginning with its first line) are ever deleted, the oldest beyond :data:`KEEP_LOGS`.
* **Temporary directories** ``.build-<label>-<pid>-XXXXXXXX`` hold :data:`BUILD_MARK`; a stale
  one (its process gone) is removed only when it holds that mark and is not a link.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

import meta as M

RECORD = ".flg-site.json"   # sha256 of the site files the tool wrote last
SITE_FILES = ("index.html", "versions.json", "versions.js")
STAMP = ".build.json"       # in every version directory the build published
BUILD_MARK = ".flg-build"   # in every temporary build directory
KEEP_LOGS = 10              # failed builds' logs kept in <site>/.logs
LOG_HEAD = "report build of "  # the first line of every log the tool writes
_LOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}-\d{8}T\d{6}Z-\d+\.log$")
_BUILD_DIR = re.compile(r"^\.build-[A-Za-z0-9][A-Za-z0-9._+-]{0,99}-(\d+)-[a-z0-9_]{8}$")
_OLD_DIR = re.compile(r"^\.old-[A-Za-z0-9][A-Za-z0-9._+-]{0,99}-(\d+)-\d+$")
_LIMIT = 16 << 20  # the site files and stamps the tool reads back are small


class SiteError(Exception):
    """Something in the site directory that the build must not replace (exit status 2)."""


def _real_dir(p: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(p).st_mode)
    except OSError:
        return False


def _real_file(p: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(p).st_mode)
    except OSError:
        return False


def _read(p: Path, limit: int = _LIMIT, head: bool = False) -> bytes | None:
    """The bytes of the regular file ``p`` (not a link), or None (also when it is larger than ``limit``;
    ``head``: its first ``limit`` bytes instead)."""
    if not _real_file(p):
        return None
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    return data[:limit] if head else data if len(data) <= limit else None


def _read_json(path: Path) -> object | None:
    """The JSON document in ``path`` (read with :func:`_read`: a regular file, not a link), or None."""
    data = _read(path)
    try:
        return json.loads(data) if data is not None else None
    except (ValueError, RecursionError):
        return None


def stamp_label(d: Path) -> str | None:
    """The ``label`` of the ``.build.json`` in ``d`` (a regular file, not a link), or None."""
    doc = _read_json(d / STAMP)
    return doc.get("label") if isinstance(doc, dict) and isinstance(doc.get("label"), str) else None


def is_version(site: Path, name: str) -> bool:
    """Whether ``<site>/<name>`` is a version the build published (see the module docstring)."""
    d = Path(site) / name
    return bool(M.LABEL_RE.match(name)) and _real_dir(d) and stamp_label(d) == name


def versions(site: Path) -> list[str]:
    """The labels of the versions in ``site`` (with their index.html), oldest first."""
    site = Path(site)
    if not _real_dir(site) and not site.is_dir():
        return []
    labels = [e.name for e in os.scandir(site)
              if is_version(site, e.name) and _real_file(site / e.name / "index.html")]
    return sorted(labels, key=M.version_key)


# --------------------------------------------------------------------------- the site files

def _record(site: Path) -> dict | None:
    doc = _read_json(site / RECORD)
    files = doc.get("files") if isinstance(doc, dict) else None
    return files if isinstance(files, dict) else None


def _legacy(name: str, data: bytes) -> bool:
    """A site file written by a build from before :data:`RECORD` (recognised by its form)."""
    text = data.decode("utf-8", "replace")
    if name == "versions.json":
        try:
            doc = json.loads(text)
        except ValueError:
            return False
        return isinstance(doc, dict) and set(doc) == {"versions", "newest"}
    if name == "versions.js":
        return text.startswith("window.FLG_SITE_VERSIONS = ") and text.count("\n") == 1
    return "<title>face-latent-geometry: versions of the article</title>" in text


def check_site_files(site: Path) -> None:
    """Raise :class:`SiteError` if a site file exists that the tool may not replace: a link, not a
    regular file, or not what the tool wrote last (a user's own ``index.html``)."""
    site = Path(site)
    record = _record(site)
    for name in (*SITE_FILES, RECORD):
        p = site / name
        if not os.path.lexists(p):
            continue
        if os.path.islink(p) or not _real_file(p):
            raise SiteError(f"{p} is {'a symbolic link' if os.path.islink(p) else 'not a regular file'}; the "
                            "build does not write through links or over what it did not make -- remove it, or "
                            "choose another site directory (make report SITE=...)")
        if name == RECORD:
            continue
        data = _read(p)
        ours = (data is not None and (hashlib.sha256(data).hexdigest() == record.get(name) if record is not None
                                      else _legacy(name, data)))
        if not ours:
            raise SiteError(f"{p} was not written by the report build (or was changed since); the build does "
                            "not overwrite it -- move it away, or choose another site directory "
                            "(make report SITE=...)")


def _write(path: Path, data: bytes) -> None:
    """``data`` into ``path`` atomically: a new temporary file renamed over it (a link is replaced, not followed)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_site_files(site: Path, files: dict[str, str]) -> None:
    """Write the site files ``{name: text}`` and record their sha256 (call under :func:`lock`, after
    :func:`check_site_files`)."""
    record = dict(_record(site) or {})
    for name, text in files.items():
        data = text.encode("utf-8")
        _write(site / name, data)
        record[name] = hashlib.sha256(data).hexdigest()
    _write(site / RECORD, (json.dumps({"files": record, "about": "sha256 of the site files the report build "
                                       "wrote last; it rewrites only these"}, indent=2, sort_keys=True)
                           + "\n").encode())


def write_file(path: Path, text: str) -> None:
    """A file inside a version or build directory the tool made, written atomically."""
    _write(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- the lock

@contextlib.contextmanager
def lock(site: Path):
    """Hold the site's exclusive lock (``<site>/.lock``: opened without following links, never truncated)."""
    path = Path(site) / ".lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SiteError(f"{path} is a symbolic link; the build does not write through links it did not make "
                            "-- remove it") from None
        raise SiteError(f"cannot open the site's lock {path}: {e.strerror} -- remove it, or choose another "
                        "site directory") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SiteError(f"{path} is not a regular file -- remove it")
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- publishing

def check_destination(site: Path, label: str) -> None:
    """Raise :class:`SiteError` unless ``<site>/<label>`` is absent or a version the build published."""
    dest = Path(site) / label
    if os.path.lexists(dest) and not is_version(site, label):
        raise SiteError(f"{dest} exists and is not a version the report build published (no {STAMP} of label "
                        f"{label!r}, or a link); the build does not replace it -- move it away, or choose another "
                        "site directory (make report SITE=...) or label (REPORT_LABEL=...)")


def replace_version(site: Path, built: Path, label: str, index) -> None:
    """Rename the finished build directory ``built`` into ``<site>/<label>`` (the old version moved
    aside first, then removed) and write the site files ``index()`` gives then ({name: text}; call
    under :func:`lock`)."""
    check_destination(site, label)
    check_site_files(site)
    dest = Path(site) / label
    old = None
    if os.path.lexists(dest):
        old = Path(site) / f".old-{label}-{os.getpid()}-{time.time_ns()}"
        os.rename(dest, old)
    os.rename(built, dest)
    write_site_files(site, index())
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- temporary directories

def make_build_dir(site: Path, label: str) -> Path:
    """A new private build directory ``<site>/.build-<label>-<pid>-XXXXXXXX`` holding :data:`BUILD_MARK`."""
    work = Path(tempfile.mkdtemp(prefix=f".build-{label}-{os.getpid()}-", dir=site))
    (work / BUILD_MARK).write_text("a report build's temporary directory; removed when it ends\n")
    return work


def _gone(pid: str) -> bool:
    return not Path(f"/proc/{pid}").exists()


def clean_stale(site: Path) -> None:
    """Remove what killed builds left: their temporary directories (with :data:`BUILD_MARK`) and versions
    moved aside while publishing (``.old-<label>-<pid>-<n>`` with a stamp), of processes that are gone;
    real directories only, never a link."""
    site = Path(site)
    with contextlib.suppress(OSError):
        for e in os.scandir(site):
            m = _BUILD_DIR.match(e.name) or _OLD_DIR.match(e.name)
            if not m or not e.is_dir(follow_symlinks=False) or not _gone(m.group(1)):
                continue
            p = site / e.name
            if (e.name.startswith(".build-") and _real_file(p / BUILD_MARK)) or \
                    (e.name.startswith(".old-") and stamp_label(p) is not None):
                shutil.rmtree(p, ignore_errors=True)


# --------------------------------------------------------------------------- logs

def save_log(site: Path, label: str, stamp: str, text: str) -> Path | None:
    """Keep a failed build's log as ``<site>/.logs/<label>-<stamp>-<pid>.log`` (a new file); remove the
    oldest of the tool's logs beyond :data:`KEEP_LOGS`. None when there is no place for it (``.logs`` is
    a link or not a directory: nothing is written through it)."""
    logs = Path(site) / ".logs"
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(logs)
        if not _real_dir(logs):
            return None
        path = logs / f"{label}-{stamp}-{os.getpid()}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text if text.startswith(LOG_HEAD) else LOG_HEAD + text)
        ours = []
        for e in os.scandir(logs):
            if _LOG_NAME.match(e.name) and e.is_file(follow_symlinks=False):
                if (_read(logs / e.name, limit=len(LOG_HEAD), head=True) or b"") == LOG_HEAD.encode():
                    ours.append((e.stat(follow_symlinks=False).st_mtime, e.name))
        for _, name in sorted(ours)[:-KEEP_LOGS]:
            with contextlib.suppress(OSError):
                os.unlink(logs / name)
        return path
    except OSError:
        return None
