"""Build the article from one run directory: the HTML site and the PDF, versioned.

Usage (``make report`` calls this)::

    python report/build.py --run build/default [--site _site] [--formats html,pdf]
                           [--label 0.1.0] [--url https://example.org/site] [--force]

Output: ``<site>/<label>/`` with the site (``index.html`` and one page per chapter),
``<slug>-<label>.pdf``, ``<slug>-<label>.bib``, ``CITATION.cff`` and ``.build.json``;
``<site>/versions.js``, ``versions.json`` and ``index.html`` (leads to the newest
version) are rewritten; other versions in ``<site>`` are kept. The label is the
project version (``pyproject.toml``), suffixed ``-<run name>`` for runs other than
``default`` (see ``report/meta.py``).

How it works:

1. The chapters (MyST Markdown notebooks) are executed by MyST-NB during the HTML
   build (no execution cache: every build reads the artifacts afresh). The LaTeX
   build reuses the same Sphinx environment, so the notebooks run once per build.
2. Everything is built in a private temporary directory inside ``<site>``; the
   result is renamed into ``<site>/<label>/`` at the end under an exclusive lock
   (``<site>/.lock``), so concurrent builds never mix files.
3. A build whose inputs (run manifests, report sources, version, options) match
   ``<site>/<label>/.build.json`` is skipped (``--force`` rebuilds).
4. A failing chapter stops the build with one line naming the chapter, the code
   cell and the error (exit status 1); the full log is kept and its path printed.

Exit status: 0 built or up to date, 1 build failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import meta as M  # noqa: E402

ROOT = M.ROOT
SRC = HERE  # the Sphinx source directory (``--source`` for tests)
CHAPTER_GLOB = "[0-9][0-9]-*.md"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NOISE = ("Kernel is running over TCP without encryption",)


class BuildError(Exception):
    pass


def log(msg: str) -> None:
    print(f"report: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- inputs

def source_files() -> list[Path]:
    """The report's sources (whatever changes the output)."""
    files = [p for p in SRC.rglob("*") if p.is_file()
             and "__pycache__" not in p.parts and not p.name.endswith((".pyc", ".log"))
             and not any(part.startswith(("_build", "jupyter_execute")) for part in p.relative_to(SRC).parts)]
    files += [ROOT / "analysis" / "charts.py", ROOT / "analysis" / "artifacts.py", ROOT / "configs" / "celeba.toml",
              ROOT / "pyproject.toml"]
    return sorted(f for f in files if f.is_file())


#: Artifacts the chapters read (besides everything a manifest lists).
READ_ARTIFACTS = ("config.toml", "data/info.json", "train/history.json", "train/timing.json", "stats/stats.json",
                  "stats/arrays.npz", "generate/metrics.json")


def build_key(run: Path, meta: dict, formats: list[str]) -> str:
    """Hash of everything the output depends on: sources, manifests and the artifacts' stats.

    Artifact files are identified by path, size and modification time (hashing a
    CelebA-size image cache would take longer than the no-change rebuild may).
    """
    h = hashlib.sha256()
    for f in source_files():
        h.update(str(f).encode() + b"\0" + f.read_bytes() + b"\0")
    outputs = set(READ_ARTIFACTS)
    for step in ("fetch", "train", "encode", "stats", "generate"):
        p = run / f"{step}.manifest.json"
        data = p.read_bytes() if p.is_file() else b"-"
        h.update(step.encode() + data + b"\0")
        try:
            outputs |= set(json.loads(data).get("outputs", {}))
        except (ValueError, AttributeError):
            pass
    for rel in sorted(outputs):
        try:
            st = (run / rel).stat()
            h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\0".encode())
        except OSError:
            h.update(f"{rel}:missing\0".encode())
    stable = {k: v for k, v in meta.items() if k not in ("date", "datetime", "year", "month", "commit",
                                                          "commit_full", "dirty")}
    h.update(json.dumps([stable, sorted(formats)], sort_keys=True).encode())
    return h.hexdigest()[:20]


def check_run(run: Path) -> None:
    need = ["config.toml", "stats.manifest.json", "stats/stats.json", "stats/arrays.npz",
            "train/history.json", "data/info.json"]
    missing = [n for n in need if not (run / n).is_file()]
    if missing:
        raise BuildError(f"run directory {run} lacks {', '.join(missing)}; run the analysis first "
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
        tmp = d / f".vega-bundle.{os.getpid()}.tmp"
        # Wrapped in a function: the bundle's top-level const/let names (e.g. `_`) would
        # otherwise collide with other scripts of the page in the shared global scope.
        tmp.write_text(header + "(function () {\n" + js + "\n})();\n", encoding="utf-8")
        os.replace(tmp, f)
    return d


# --------------------------------------------------------------------------- diagnosis

def chapter_title(md: Path) -> str:  # noqa: D103
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return md.stem


def diagnose(text: str) -> str | None:
    """One line naming the chapter, cell and error of a failed notebook execution."""
    text = ANSI.sub("", text)
    m = re.search(r"ExecutionError: (\S+\.md)", text) or re.search(r"(\S+/[0-9][0-9]-[^/\s]+\.md): Executing notebook",
                                                                   text)
    errlog = re.search(r"(/\S*sphinx-err-\S+\.log)", text)
    full = text
    if errlog and Path(errlog.group(1)).is_file():
        full += "\n" + ANSI.sub("", Path(errlog.group(1)).read_text(encoding="utf-8", errors="replace"))
    cm = re.search(r"An error occurred while executing the following cell:\n\s*-+\n(.*?)\n\s*-+\n", full, re.S)
    if not m and not cm:
        return None
    chapter = Path(m.group(1)) if m else None
    if chapter is not None and not chapter.is_file():
        chapter = SRC / chapter.name
    err = ""
    tail = full[cm.end():] if cm else full
    for line in tail.splitlines():
        s = line.strip()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(: .*)?$", s) and \
                not s.startswith(("nbclient.", "myst_nb.", "sphinx.")):
            err = s
            break
    where = ""
    if cm and chapter is not None:
        src_lines = cm.group(1).splitlines()
        indent = min((len(l) - len(l.lstrip()) for l in src_lines if l.strip()), default=0)
        src = "\n".join(l[indent:] for l in src_lines).strip()
        try:
            from myst_nb.core.read import read_myst_markdown_notebook
            nb = read_myst_markdown_notebook(chapter.read_text(encoding="utf-8"))
            code = [c for c in nb.cells if c.cell_type == "code"]
            idx = next((i for i, c in enumerate(code) if c.source.strip() == src), None)
            text_md = chapter.read_text(encoding="utf-8")
            pos = text_md.find(src) if src else -1
            lineno = text_md.count("\n", 0, pos) + 1 if pos >= 0 else None
            if idx is not None:
                where = f" in code cell {idx + 1} of {len(code)}" + (f" (line {lineno})" if lineno else "")
        except Exception:  # diagnosis must never hide the original failure
            pass
        if not where:
            where = f" in the cell starting {src.splitlines()[0][:60]!r}" if src else ""
    name = f"chapter {chapter.name} ({chapter_title(chapter)!r})" if chapter and chapter.is_file() else "a chapter"
    return f"{name} failed{where}: {err or 'see the log'}"


# --------------------------------------------------------------------------- steps

def _die_with_parent() -> None:
    """In a child process: get SIGKILL when the build process dies (Linux), so a killed
    build leaves no orphan Sphinx writing into its temporary directory."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_logged(cmd: list[str], logfile: Path, env: dict, cwd: Path | None = None) -> tuple[int, str]:
    with open(logfile, "w", encoding="utf-8") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                           preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    text = logfile.read_text(encoding="utf-8", errors="replace")
    return p.returncode, text


def sphinx(builder: str, work: Path, env: dict, jobs: str) -> float:
    t = time.perf_counter()
    out = work / builder
    cmd = [sys.executable, "-m", "sphinx", "-b", builder, "-d", str(work / "doctrees"), "-q", "-j", jobs,
           "-w", str(work / f"{builder}.warnings"), str(SRC), str(out)]
    code, text = run_logged(cmd, work / f"{builder}.log", env)
    warnings = [l for l in (work / f"{builder}.warnings").read_text(encoding="utf-8", errors="replace").splitlines()
                if l.strip() and not any(n in l for n in NOISE)] if (work / f"{builder}.warnings").is_file() else []
    if code != 0:
        msg = diagnose(text) or diagnose("\n".join(warnings))
        errlog = re.search(r"(/\S*sphinx-err-\S+\.log)", text)
        if msg:
            raise BuildError(msg + f"\n  (full log: {work / (builder + '.log')}"
                             + (f"; traceback: {errlog.group(1)}" if errlog else "") + ")")
        tail = "\n".join(l for l in ANSI.sub("", text).splitlines()[-25:] if not any(n in l for n in NOISE))
        raise BuildError(f"sphinx {builder} build failed\n--- last lines of {work / (builder + '.log')}:\n{tail}")
    real = [w for w in warnings if "WARNING" in w or "ERROR" in w]
    if real:
        raise BuildError(f"sphinx {builder} build gave {len(real)} warning(s) (treated as errors):\n"
                         + "\n".join(real[:20]))
    return time.perf_counter() - t


def latex_pdf(work: Path, meta: dict, env: dict) -> tuple[Path, float]:
    t = time.perf_counter()
    texdir = work / "latex"
    tex = f"{meta['slug']}-{meta['label']}.tex"
    cmd = ["latexmk", "-pdf", "-dvi-", "-ps-", "-interaction=nonstopmode", "-halt-on-error", "-silent", tex]
    code, text = run_logged(cmd, work / "latexmk.log", env, cwd=texdir)
    pdf = texdir / tex.replace(".tex", ".pdf")
    if code != 0 or not pdf.is_file():
        texlog = texdir / tex.replace(".tex", ".log")
        lines = texlog.read_text(encoding="latin-1").splitlines() if texlog.is_file() else text.splitlines()
        errs = [" ".join(lines[i:i + 3]) for i, l in enumerate(lines) if l.startswith("!")][:5]
        raise BuildError("LaTeX failed: " + ("; ".join(errs) or "see " + str(work / "latexmk.log")))
    return pdf, time.perf_counter() - t


def write_site_index(site: Path) -> None:
    labels = M.list_versions(site)
    new = M.newest(labels)
    doc = {"versions": labels, "newest": new}
    (site / "versions.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (site / "versions.js").write_text("window.FLG_SITE_VERSIONS = " + json.dumps(doc) + ";\n", encoding="utf-8")
    items = "\n".join(f'<li><a href="{v}/index.html">{v}</a>{" (newest)" if v == new else ""}</li>'
                      for v in reversed(labels))
    target = f"{new}/index.html" if new else ""
    refresh = f'<meta http-equiv="refresh" content="0; url={target}">' if new else ""
    script = f'<script>window.location.replace("{target}");</script>' if new else ""
    (site / "index.html").write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<title>face-latent-geometry: versions of the article</title></head>
<body>{script}
<p>The newest version of the article is <a href="{target}">{new}</a>. All versions:</p>
<ul>
{items}
</ul></body></html>
""", encoding="utf-8")


def publish(work_html: Path, site: Path, label: str) -> None:
    """Rename the finished build into ``site/label`` and refresh the site index, under a lock."""
    site.mkdir(parents=True, exist_ok=True)
    with open(site / ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        dest = site / label
        old = None
        if dest.exists():
            old = site / f".old-{label}-{os.getpid()}-{time.time_ns()}"
            os.rename(dest, old)
        os.rename(work_html, dest)
        write_site_index(site)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def clean_stale(site: Path) -> None:
    """Remove temporary build directories of processes that no longer exist."""
    for p in site.glob(".build-*"):
        m = re.match(r"\.build-.*-(\d+)-\w+$", p.name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            shutil.rmtree(p, ignore_errors=True)


def build(run: Path, site: Path, formats: list[str], label: str | None = None, url: str = "",
          force: bool = False, jobs: str = "1", keep: bool = False) -> dict:
    run = run.resolve()
    site = site.resolve()
    check_run(run)
    meta = M.build_meta(run, label, url)
    label = meta["label"]
    key = build_key(run, meta, formats)
    dest = site / label
    stamp = dest / ".build.json"
    if site.is_dir():
        clean_stale(site)
    if not force and stamp.is_file():
        try:
            old = json.loads(stamp.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
        if old.get("key") == key and (dest / "index.html").is_file() and \
                ("pdf" not in formats or (dest / meta["pdf"]).is_file()):
            os.utime(stamp)
            marker = dest / f".built-{'-'.join(sorted(formats))}"
            marker.write_text(key + "\n", encoding="utf-8")
            log(f"{dest} is up to date (use --force to rebuild)")
            return old
    if "pdf" in formats and shutil.which("latexmk") is None:
        raise BuildError("latexmk (TeX Live) is not installed; run `make setup` or build with --formats html")

    site.mkdir(parents=True, exist_ok=True)
    clean_stale(site)
    work = Path(tempfile.mkdtemp(prefix=f".build-{label}-{os.getpid()}-", dir=site))
    t0 = time.perf_counter()
    try:
        versions = sorted(set(M.list_versions(site)) | {label}, key=M.version_key)
        env = dict(os.environ)
        env.update({
            "FLG_META": json.dumps(meta), "FLG_RUN": str(run), "FLG_STATIC": str(vega_static_dir()),
            "FLG_VERSIONS": json.dumps(versions), "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(SRC)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])),
            "PYTHONWARNINGS": "ignore", "TEXMFVAR": env.get("TEXMFVAR", str(work / "texmf-var")),
        })
        timings = {}
        log(f"building version {label} from {run} ({', '.join(formats)}) ...")
        timings["html_seconds"] = round(sphinx("html", work, env, jobs), 2)
        log(f"HTML done in {timings['html_seconds']:.1f} s")
        html = work / "html"
        if "pdf" in formats:
            t = time.perf_counter()
            sphinx("latex", work, env, "1")
            pdf, _ = latex_pdf(work, meta, env)
            shutil.copy2(pdf, html / meta["pdf"])
            timings["pdf_seconds"] = round(time.perf_counter() - t, 2)
            log(f"PDF done in {timings['pdf_seconds']:.1f} s")
        (html / meta["bib"]).write_text(M.bibtex(meta), encoding="utf-8")
        (html / "CITATION.cff").write_text(M.cff(meta), encoding="utf-8")
        for junk in (".buildinfo", ".buildinfo.bak", "objects.inv"):
            (html / junk).unlink(missing_ok=True)
        shutil.rmtree(html / ".doctrees", ignore_errors=True)
        record = {"key": key, "label": label, "formats": formats, "meta": meta, **timings,
                  "total_seconds": round(time.perf_counter() - t0, 2)}
        (html / ".build.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (html / f".built-{'-'.join(sorted(formats))}").write_text(key + "\n", encoding="utf-8")
        publish(html, site, label)
        log(f"published {dest}/index.html" + (f" and {meta['pdf']}" if "pdf" in formats else "")
            + f" in {record['total_seconds']:.1f} s")
        return record
    finally:
        if keep:
            log(f"kept the build directory {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, type=Path, help="run directory with the analysis artifacts")
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
    global SRC
    SRC = a.source.resolve()
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    if not formats or set(formats) - {"html", "pdf"} or "html" not in formats:
        print("report: error: --formats must be html or html,pdf", file=sys.stderr)
        return 2
    try:
        build(a.run, a.site, formats, a.label, a.url, a.force, a.jobs, a.keep)
    except BuildError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 1 if "lacks" not in str(e) and "not installed" not in str(e) else 2
    except KeyboardInterrupt:
        print("report: interrupted; the published site is unchanged", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
