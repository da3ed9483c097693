"""Build the article from one run directory: the HTML site and the PDF, versioned.

Usage (``make report`` calls this)::

    python report/build.py --run build/default [--config configs/default.toml]
                           [--site _site] [--formats html,pdf] [--label 0.1.0]
                           [--url https://example.org/site] [--force] [-- --set k=v ...]

Arguments after ``--`` are the analysis CLI's (``make``'s ``$(ARGS)``): their ``--set``
overrides are applied to ``--config`` before it is compared with the run.

Output: ``<site>/<label>/`` with the site (``index.html`` and one page per chapter),
``<slug>-<label>.pdf``, ``<slug>-<label>.bib``, ``CITATION.cff`` and ``.build.json``;
``_static/flg-decoder-weights.js`` (the run's live decoder, ``decode/decoder.js``, when it has
one); ``<site>/versions.js``, ``versions.json`` and ``index.html`` (leads to the newest
version) are rewritten; other versions in ``<site>`` are kept. The label is the
project version (``pyproject.toml``), suffixed ``-<run name>`` for runs other than
``default`` (see ``report/meta.py``).

How it works:

0. Before anything is built, the run is checked (``report/artifacts.py``): its config
   must be ``--config``'s, every step must be current as the analysis decides it
   (``analysis.pipeline.steps.status``: a step whose code changed since it ran is refused),
   every artifact must match the sha256 its step's manifest records and be readable. A config of several runs (``[runs]``) is checked run by run
   (``<run>/runs/<name>/``) and with its ``across`` step, and the article gains the
   chapter on the runs side by side (``report/conf.py`` leaves it out for one run). A
   problem stops the build with exit status 2 and one line naming the file.
1. The chapters (MyST Markdown notebooks) are executed by MyST-NB during the HTML
   build (no execution cache: every build reads the artifacts afresh). The LaTeX
   build reuses the same Sphinx environment, so the notebooks run once per build.
   From this check to the publishing the build holds the analysis lock of every run it
   reads (``<run>/.lock``, :mod:`analysis.pipeline.rundir`): a step started meanwhile waits. After
   Sphinx, before publishing, every check is made again (and the runs' manifests, sizes
   and times and the sources compared with the start): a file changed behind the lock's
   back stops the build with exit status 2 and nothing is published.
2. Everything is built in a private temporary directory inside ``<site>``; the
   result is renamed into ``<site>/<label>/`` at the end under an exclusive lock
   (``<site>/.lock``), so concurrent builds never mix files. In ``<site>`` the build
   replaces or deletes only what it made and follows no link it did not make
   (``report/sitedir.py``): a user's ``index.html``, a link, a folder of the label's name
   that it did not publish stop the build before Sphinx starts.
3. A build whose inputs (run manifests, report sources, version, options) match
   ``<site>/<label>/.build.json`` is skipped (``--force`` rebuilds).
4. A failing chapter stops the build with one line naming the chapter, the code
   cell and the error (exit status 1); the full log is kept in ``<site>/.logs/``
   (the last few of the tool's logs; never through a link) and its path printed.
5. Sphinx, its notebook kernels and LaTeX run in sessions of their own, with their
   temporary files (``TMPDIR``, Jupyter's runtime directory) inside the build's
   private directory. On SIGINT, SIGTERM or SIGHUP the build ends all of them (the
   whole process tree, kernels included), removes its temporary directory and exits
   with 128 + the signal number; a kill -9 of the build takes Sphinx with it
   (``PR_SET_PDEATHSIG``) and the next build removes the orphaned directory.

Exit status: 0 built or up to date, 1 build failed, 2 bad input, 130/143/129 stopped
by SIGINT/SIGTERM/SIGHUP.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import meta as M  # noqa: E402
import sitedir  # noqa: E402

ROOT = M.ROOT
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import artifacts as A  # noqa: E402

import sphinxrun  # noqa: E402
from buildlog import BuildError, InputError, Interrupted, STOP_SIGNALS, log  # noqa: E402,F401
from processes import adopt_orphans, end_children, on_signal, signals_deferred  # noqa: E402
from publishing import publish, save_log, site_index, write_site_index  # noqa: E402,F401
from sphinxrun import diagnose, latex_pdf, sphinx  # noqa: E402,F401

CHAPTER_GLOB = "[0-9][0-9]-*.md"
KEEP_LOGS = sitedir.KEEP_LOGS  # failed builds' logs kept in <site>/.logs


# --------------------------------------------------------------------------- inputs

def source_files() -> list[Path]:
    """The report's sources (whatever changes the output)."""
    src = sphinxrun.SRC
    files = [p for p in src.rglob("*") if p.is_file()
             and "__pycache__" not in p.parts and not p.name.endswith((".pyc", ".log"))
             and not any(part.startswith(("_build", "jupyter_execute")) for part in p.relative_to(src).parts)]
    files += [*(ROOT / "analysis" / "charts").glob("*.py"), ROOT / "analysis" / "artifacts.py",
              ROOT / "analysis" / "runfiles.py", ROOT / "analysis" / "runviews.py", ROOT / "analysis" / "words.py",
              ROOT / "analysis" / "prose.py", ROOT / "configs" / "celeba.toml",
              ROOT / "pyproject.toml", *(ROOT / "analysis" / "schemas").glob("*.py")]
    return sorted(f for f in files if f.is_file())




def build_key(run: Path, meta: dict, formats: list[str], others: list[Path] = ()) -> str:
    """Hash of everything the output depends on: sources, manifests and the artifacts' stats.

    Artifact files are identified by path, size and modification time (hashing a
    CelebA-size image cache would take longer than the no-change rebuild may).
    ``others``: the directories of the config's other runs ([runs]), whose manifests and
    files count as well (with the across step's in ``run``).
    """
    h = hashlib.sha256()
    for f in source_files():
        h.update(str(f).encode() + b"\0" + f.read_bytes() + b"\0")
    for d, steps, reads in [(run, A.NAMES + (A.CONFIG_NAMES if others else ()),
                             A.reader.READS + (A.reader.ACROSS_READS if others else ())),
                            *((o, A.NAMES, ()) for o in others)]:
        outputs = set(reads)  # the artifacts the chapters read, and everything a manifest lists
        h.update(str(d.relative_to(run) if d != run else ".").encode() + b"\0")
        for step in steps:
            p = A.manifest_path(d, step)
            data = p.read_bytes() if p.is_file() else b"-"
            h.update(step.encode() + data + b"\0")
            try:
                outputs |= set(json.loads(data).get("outputs", {}))
            except (ValueError, AttributeError):
                pass
        for rel in sorted(outputs):
            try:
                st = (d / rel).stat()
                h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\0".encode())
            except OSError:
                h.update(f"{rel}:missing\0".encode())
    stable = {k: v for k, v in meta.items() if k not in ("date", "datetime", "year", "month", "commit",
                                                          "commit_full", "dirty")}
    h.update(json.dumps([stable, sorted(formats)], sort_keys=True).encode())
    return h.hexdigest()[:20]


def check_run(run: Path) -> None:
    missing = [n for n in A.NEEDED if not (run / n).is_file()]
    if missing:
        raise InputError(f"run directory {run} lacks {', '.join(missing)}; run the analysis first "
                         f"(make all CONFIG=... or python -m analysis all --config ... --out {run})")


def vega_static_dir() -> Path:
    """A directory holding vega-bundle.js (Vega + Vega-Lite + Vega-Embed), made once and cached."""
    import vl_convert as vlc
    vl = vlc.get_vegalite_versions()[-1]
    tag = f"{vlc.get_vega_version()}-{vl}-{vlc.get_vega_embed_version()}"
    cache = Path(os.environ.get("FLG_CACHE", ROOT / "build" / ".report-cache"))
    d = cache / f"vega-{tag}-wrapped"
    f = d / "vega-bundle.js"
    if not f.is_file():
        d.mkdir(parents=True, exist_ok=True)
        js = vlc.javascript_bundle(vl_version=vl)
        header = (f"/* Vega {vlc.get_vega_version()}, Vega-Lite {vl}, Vega-Embed {vlc.get_vega_embed_version()}: "
                  "bundled by vl-convert-python for offline use (BSD-3-Clause licences). */\n")
        # Wrapped in a function: the bundle's top-level const/let names (e.g. `_`) would
        # otherwise collide with other scripts of the page in the shared global scope.
        # (A new temporary file renamed over it: a link there is replaced, not written through.)
        sitedir.write_file(f, header + "(function () {\n" + js + "\n})();\n")
    return d


def run_static_dir(run: Path, work: Path) -> Path | None:
    """A directory holding the run's live decoder weights as ``flg-decoder-weights.js`` (the name
    the pages load, see ``flg.DECODER_WEIGHTS``), or None when the run has no live decoder."""
    try:
        src = A.reader.Run(run).live_decoder_file
    except A.reader.ArtifactError as e:
        raise InputError(f"{run / e.file}: {e.problem}") from None
    if not src:
        return None
    d = work / "static-run"
    d.mkdir()
    shutil.copyfile(src, d / "flg-decoder-weights.js")
    return d


@contextlib.contextmanager
def runs_locked(dirs: list[Path]):
    """Hold the analysis lock of every run directory in ``dirs`` (:mod:`analysis.pipeline.rundir`): no step can
    change an artifact between the report's first check and the publishing of the site. A run
    directory the build may not write (read-only) is read without it; the hashes are checked again
    before publishing in any case."""
    from analysis.pipeline import rundir
    from analysis.errors import UserError

    held = []
    try:
        for d in sorted(set(dirs)):
            if not os.access(d, os.W_OK):
                log(f"note: {d} is read-only: built without its lock (the artifacts are checked again before "
                    "publishing)")
                continue
            try:
                held.append((d, rundir.lock(d)))
            except UserError as e:
                raise InputError(str(e)) from None
        yield
    finally:
        for d, fd in reversed(held):
            rundir.unlock(d, fd)


def _checked_label(label: str | None) -> str | None:
    if label is not None and not M.LABEL_RE.match(label):
        raise InputError(f"--label {label!r} may only hold ASCII letters, digits and . _ + - (it names the "
                         "version's directory and files); choose e.g. --label 0.1.0-test (make: REPORT_LABEL=...)")
    return label


def build(run: Path, site: Path, formats: list[str], label: str | None = None, url: str = "",
          force: bool = False, jobs: str = "1", keep: bool = False, config: str | None = None,
          overrides: list[str] = ()) -> dict:
    """Build the article from the run in ``run`` into ``site`` (see the module docstring), holding the
    analysis lock of every run it reads from its first check until the site is published."""
    run = run.resolve()
    site = site.resolve()
    check_run(run)
    try:
        dirs = [d for _, d in A.runs_of(run, config, list(overrides))]
    except A.PublishError as e:
        raise InputError(str(e)) from None
    try:
        with runs_locked([run, *dirs]):
            return _build(run, site, formats, label, url, force, jobs, keep, config, overrides)
    except sitedir.SiteError as e:
        raise InputError(str(e)) from None


def _checked(run: Path, config: str | None, overrides, artifacts: bool = True) -> list[Path]:
    """The checks of the run (config, and with ``artifacts`` every artifact's sha256); the other runs' directories."""
    try:
        A.check_config(run, config, list(overrides))
        others = [d for spec, d in A.runs_of(run, config, list(overrides)) if not spec.primary]
        if artifacts:
            A.check_artifacts(run, config, list(overrides))
    except A.PublishError as e:
        raise InputError(str(e)) from None
    return others


def _build(run: Path, site: Path, formats: list[str], label: str | None, url: str, force: bool, jobs: str,
           keep: bool, config: str | None, overrides) -> dict:
    others = _checked(run, config, overrides, artifacts=False)
    meta = M.build_meta(run, _checked_label(label), url)
    label = meta["label"]
    key = build_key(run, meta, formats, others)
    if site.is_dir():
        sitedir.clean_stale(site)
        sitedir.check_destination(site, label)
    old = None if force else _up_to_date(site, label, key, formats, meta)
    if old is not None:
        return old
    if "pdf" in formats and shutil.which("latexmk") is None:
        raise InputError("latexmk (TeX Live) is not installed; run `make setup` or build with --formats html")
    _checked(run, config, overrides)
    if site.is_dir():
        sitedir.check_site_files(site)  # (before Sphinx: a user's index.html stops the build now, not after it)
    site.mkdir(parents=True, exist_ok=True)
    sitedir.clean_stale(site)
    t0 = time.perf_counter()
    work = None
    try:
        with signals_deferred():  # no signal between making the directory and noting it
            work = sitedir.make_build_dir(site, label)
        log(f"building version {label} from {run} ({', '.join(formats)}) ...")
        timings = _render(work, meta, formats, _environment(run, site, work, meta, label), jobs)
        record = _finish(work / "html", {"key": key, "label": label, "formats": formats, "meta": meta, **timings,
                                          "total_seconds": round(time.perf_counter() - t0, 2)})
        _recheck(run, meta, formats, key, config, overrides)
        publish(work / "html", site, label)
        log(f"published {site / label}/index.html" + (f" and {meta['pdf']}" if "pdf" in formats else "")
            + f" in {record['total_seconds']:.1f} s")
        return record
    except InputError:
        raise
    except BuildError as e:
        saved = save_log(site, label, work, str(e)) if work is not None else None
        raise BuildError(f"{e}" + (f" (full log: {saved})" if saved else "")) from None
    finally:
        _clean_up(work, keep)


def _up_to_date(site: Path, label: str, key: str, formats: list[str], meta: dict) -> dict | None:
    """The record of the published version ``label`` when it was built from the same inputs (``key``) and
    has every format asked for (its stamp touched, so ``make`` sees it as new); else None."""
    dest = site / label
    stamp = dest / ".build.json"
    if not sitedir.is_version(site, label):
        return None
    try:
        old = json.loads(stamp.read_text(encoding="utf-8"))
    except ValueError:
        old = {}
    if old.get("key") != key or not (dest / "index.html").is_file() or \
            ("pdf" in formats and not (dest / meta["pdf"]).is_file()):
        return None
    os.utime(stamp, follow_symlinks=False)
    sitedir.write_file(dest / f".built-{'-'.join(sorted(formats))}", key + "\n")
    log(f"{dest} is up to date (use --force to rebuild)")
    return old


def _environment(run: Path, site: Path, work: Path, meta: dict, label: str) -> dict:
    """The environment of Sphinx and its kernels: the run and its metadata, the versions, the static
    files; every temporary file inside the build's private directory ``work``."""
    versions = sorted(set(sitedir.versions(site)) | {label}, key=M.version_key)
    (work / "tmp").mkdir()
    static = [vega_static_dir(), run_static_dir(run, work)]
    env = dict(os.environ)
    env.update({
        "FLG_META": json.dumps(meta), "FLG_RUN": str(run), "FLG_STATIC": os.pathsep.join(str(d) for d in static if d),
        "FLG_VERSIONS": json.dumps(versions), "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(sphinxrun.SRC)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])),
        "PYTHONWARNINGS": "ignore", "TEXMFVAR": env.get("TEXMFVAR", str(work / "texmf-var")),
        # temporary files of Sphinx (its sphinx-err-*.log), the kernels and LaTeX stay in
        # the build's directory and go with it
        "TMPDIR": str(work / "tmp"), "JUPYTER_RUNTIME_DIR": str(work / "jupyter-runtime"),
        "max_print_line": "10000",  # unwrapped TeX log lines (build.py reads them)
    })
    return env


def _render(work: Path, meta: dict, formats: list[str], env: dict, jobs: str) -> dict:
    """The HTML site in ``work/html`` and, with "pdf", the PDF copied into it; returns the timings."""
    # (the charts' static images are the PDF's: an HTML-only build does not render them)
    env = dict(env, FLG_CHART_PNG="1" if "pdf" in formats else "0")
    timings = {"html_seconds": round(sphinx("html", work, env, jobs), 2)}
    log(f"HTML done in {timings['html_seconds']:.1f} s")
    if "pdf" in formats:
        t = time.perf_counter()
        sphinx("latex", work, env, "1")
        pdf, _ = latex_pdf(work, meta, env)
        shutil.copy2(pdf, work / "html" / meta["pdf"])
        timings["pdf_seconds"] = round(time.perf_counter() - t, 2)
        log(f"PDF done in {timings['pdf_seconds']:.1f} s")
    return timings


def _finish(html: Path, record: dict) -> dict:
    """The citation files, the build's record and stamp in the finished ``html``; Sphinx's own files removed."""
    meta = record["meta"]
    (html / meta["bib"]).write_text(M.bibtex(meta), encoding="utf-8")
    (html / "CITATION.cff").write_text(M.cff(meta), encoding="utf-8")
    for junk in (".buildinfo", ".buildinfo.bak", "objects.inv"):
        (html / junk).unlink(missing_ok=True)
    shutil.rmtree(html / ".doctrees", ignore_errors=True)
    (html / ".build.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (html / f".built-{'-'.join(sorted(record['formats']))}").write_text(record["key"] + "\n", encoding="utf-8")
    return record


def _clean_up(work: Path | None, keep: bool) -> None:
    """End every process the build started and remove its private directory (unless ``keep``)."""
    with signals_deferred():
        end_children()
        if work is None:
            pass
        elif keep:
            log(f"kept the build directory {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _recheck(run: Path, meta: dict, formats: list[str], key: str, config: str | None, overrides) -> None:
    """After Sphinx, before publishing: the run (manifests, artifacts' sizes and times, every sha256) and the
    sources are what the build started from, else nothing is published (exit 2). The runs' locks keep the
    analysis out; this catches anything else that wrote to them meanwhile."""
    others = _checked(run, config, overrides)
    if build_key(run, meta, formats, others) != key:
        raise InputError(f"the run {run} or the report's sources changed while the report was built; nothing "
                         "was published -- build the report again (make report)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, like every other bad input
        print(f"report: error: {message} (see report/build.py --help)", file=sys.stderr)
        sys.exit(2)


def analysis_overrides(config: str | None, args: list[str]) -> list[str]:
    """The ``--set`` overrides among the analysis CLI arguments ``args`` (make's ``$(ARGS)``),
    read by the analysis CLI's own parser."""
    if not args:
        return []
    if config is None:
        raise InputError("arguments after -- (the analysis CLI's, e.g. --set k=v) need --config")
    from analysis.cli import build_parser
    from analysis.errors import UserError
    try:
        return list(build_parser().parse_args(["all", "--config", config, *args]).overrides)
    except UserError as e:
        raise InputError(f"arguments after --: {e}") from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1:]
    p = _Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, type=Path, help="run directory with the analysis artifacts")
    p.add_argument("--config", help="the config file the run must have been made with (make passes CONFIG); "
                                    "arguments after -- are the analysis CLI's (make passes ARGS)")
    p.add_argument("--site", type=Path, default=ROOT / "_site", help="site directory (default: _site)")
    p.add_argument("--formats", default="html,pdf", help="html, pdf or html,pdf (default)")
    p.add_argument("--label", help="version label (default: version[-run name])")
    p.add_argument("--url", default=os.environ.get("REPORT_URL", ""),
                   help="public base URL of the site (for citation URLs; optional)")
    p.add_argument("--jobs", default=os.environ.get("REPORT_JOBS", "1"), help="sphinx -j (default 1)")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.add_argument("--keep", action="store_true", help="keep the temporary build directory (debugging)")
    p.add_argument("--source", type=Path, default=HERE, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    sphinxrun.SRC = a.source.resolve()
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    if not formats or set(formats) - {"html", "pdf"} or "html" not in formats:
        print("report: error: --formats must be html or html,pdf", file=sys.stderr)
        return 2
    for s in STOP_SIGNALS:
        signal.signal(s, on_signal)
    adopt_orphans()
    try:
        build(a.run, a.site, formats, a.label, a.url, a.force, a.jobs, a.keep, a.config,
              analysis_overrides(a.config, rest))
    except InputError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 2
    except BuildError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        print(f"report: stopped by {signal.Signals(signum).name}; its processes are ended and its temporary "
              "files removed (the site holds only complete versions)", file=sys.stderr)
        return 128 + signum
    return 0


if __name__ == "__main__":
    sys.exit(main())
