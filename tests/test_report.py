"""The article build (issue 5): site and PDF from the smoke run, versions, citations, rebuilds.

The smoke pipeline runs once per session into a temporary directory and the report is
built from it once (HTML and, where TeX is installed, PDF) into a temporary site;
``test_report_pdf.py`` and ``test_report_browser.py`` reuse that build through
:func:`built_report`. Tests that need a build of their own use a reduced copy of the
report sources (the index and one chapter) so that they take seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import built_once, encoded_run, run_cli

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "report"
BUILD = REPORT / "build.py"
SMOKE = ROOT / "configs" / "smoke.toml"
#: Chapters only a build of several runs has ([runs]: the runs side by side; report/conf.py).
RUNS_CHAPTERS = ("07-robustness",)
#: Every chapter's source, and the chapters of every build (the smoke build is one run).
ALL_CHAPTERS = sorted(p.stem for p in REPORT.glob("[0-9][0-9]-*.md"))
CHAPTERS = [c for c in ALL_CHAPTERS if c not in RUNS_CHAPTERS]
MAX_PAGE_BYTES = 5 * 1024 * 1024
OLD_LABEL = "0.0.1"  # a fake older version placed in the site before the build

if str(REPORT) not in sys.path:
    sys.path.insert(0, str(REPORT))
import meta  # noqa: E402

_CACHE: dict = {}


def env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


def run(cmd: list, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          env=kw.pop("env", env()), cwd=kw.pop("cwd", ROOT), **kw)


def has_tex() -> bool:
    return shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None


def _smoke_all(encoded: Path, directory: Path) -> dict:
    """The rest of the pipeline on a copy of the shared encoded smoke run (its fetch, train and encode are
    up to date there, so ``all`` only checks them and goes on with stats)."""
    out = directory / "smoke"
    shutil.copytree(encoded, out)
    p = run_cli("all", "--config", SMOKE, "--out", out, fresh=True)  # shared by the session: no test's patches
    assert p.returncode == 0, p.stderr[-3000:]
    return {"run": str(out)}


def smoke_run(tmp_path_factory) -> Path:
    """The smoke pipeline (fetch .. decode) in a temporary run directory, once per session (shared by
    the pytest-xdist workers: :func:`conftest.built_once`), continued from ``conftest.smoke_run``'s."""
    if "run" not in _CACHE:
        encoded = encoded_run(tmp_path_factory)
        _CACHE["run"] = Path(built_once(tmp_path_factory, "smoke-all", lambda d: _smoke_all(encoded, d))["run"])
    return _CACHE["run"]


def _build_smoke_site(rundir: Path, directory: Path) -> dict:
    site = directory / "_site"
    old = site / OLD_LABEL
    old.mkdir(parents=True)
    (old / "index.html").write_text("<!DOCTYPE html><title>old version</title><p>old</p>\n")
    (old / ".build.json").write_text(json.dumps({"label": OLD_LABEL}))  # a version an earlier build published
    formats = "html"  # the PDF's checks read the hostile-strings site's PDF (test_report_pdf.py): one PDF build
    t = time.perf_counter()
    p = run([sys.executable, BUILD, "--run", rundir, "--site", site, "--formats", formats, "--jobs", "2"])
    seconds = time.perf_counter() - t
    assert p.returncode == 0, p.stderr[-4000:]
    record = json.loads(next(site.glob("*/.build.json")).read_text())
    return {"site": str(site), "run": str(rundir), "label": record["label"], "dir": str(site / record["label"]),
            "meta": record["meta"], "record": record, "formats": formats, "seconds": seconds, "stderr": p.stderr}


def built_report(tmp_path_factory) -> dict:
    """Build the smoke report's HTML once per session (shared by the workers; the PDF is checked on the
    hostile-strings site's, :mod:`test_report_pdf`)."""
    if "report" not in _CACHE:
        rundir = smoke_run(tmp_path_factory)
        r = built_once(tmp_path_factory, "smoke-site", lambda d: _build_smoke_site(rundir, d))
        _CACHE["report"] = {**r, **{k: Path(r[k]) for k in ("site", "run", "dir")}}
    return _CACHE["report"]


@pytest.fixture(scope="session")
def report(tmp_path_factory) -> dict:
    return built_report(tmp_path_factory)


def page_text(path: Path) -> str:
    """Visible text of an HTML page (scripts and styles dropped)."""
    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.out, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style"):
                self.skip += 1

        def handle_endtag(self, tag):
            if tag in ("script", "style"):
                self.skip -= 1

        def handle_data(self, data):
            if not self.skip:
                self.out.append(data)
    p = P()
    p.feed(path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", "".join(p.out))


def reduced_source(dst: Path, chapters: list[str]) -> Path:
    """A copy of report/ whose index lists only ``chapters`` (the others removed)."""
    shutil.copytree(REPORT, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for md in dst.glob("[0-9][0-9]-*.md"):
        if md.stem not in chapters:
            md.unlink()
    idx = dst / "index.md"
    text = idx.read_text()
    text = re.sub(r"(:hidden:\n\n)(.*?)(\n```)", lambda m: m.group(1) + "\n".join(chapters) + m.group(3), text,
                  flags=re.S)
    idx.write_text(text)
    return dst


# --------------------------------------------------------------------------- the smoke build

def test_smoke_report_builds_every_chapter(report):
    d = report["dir"]
    assert report["label"] == meta.version_label(meta.project_version(), "smoke")
    assert (d / "index.html").is_file()
    for ch in CHAPTERS:
        assert (d / f"{ch}.html").is_file(), ch
    assert len(CHAPTERS) == 8 and len(ALL_CHAPTERS) == 9
    # one run: the article reads as before runs existed, with no empty Robustness chapter
    for ch in RUNS_CHAPTERS:
        assert not (d / f"{ch}.html").exists(), ch
    index = page_text(d / "index.html")
    assert "The figures come from one run: one autoencoder, trained with seed 0." in index
    assert "Robustness" not in index and "mean (range)" not in index
    for name in (report["meta"]["bib"], "CITATION.cff", ".build.json"):
        assert (d / name).is_file(), name
    assert report["formats"] == "html" and not list(d.glob("*.pdf"))  # an HTML-only build makes no PDF


def test_every_page_is_stamped_and_citable(report):
    m = report["meta"]
    for page in ["index"] + CHAPTERS:
        html = (report["dir"] / f"{page}.html").read_text(encoding="utf-8")
        text = page_text(report["dir"] / f"{page}.html")
        assert f"Version {m['label']}" in text, page
        assert m["date"] in text and m["commit"] in text, page
        for tag in ("citation_title", "citation_author", "citation_publication_date", "citation_version",
                    "citation_pdf_url"):
            assert f'name="{tag}"' in html, (page, tag)
        assert f'<meta name="citation_version" content="{m["label"]}">' in html
        assert f'content="{m["pdf"]}"' in html, page
        assert 'id="flg-version-select"' in html, page


def test_site_keeps_versions_and_leads_to_the_newest(report):
    site = report["site"]
    assert (site / OLD_LABEL / "index.html").is_file(), "an older version was removed"
    doc = json.loads((site / "versions.json").read_text())
    assert doc["versions"] == sorted([OLD_LABEL, report["label"]], key=meta.version_key)
    # a suffixed (non-default) build never becomes the landing page while a plain version exists
    assert doc["newest"] == OLD_LABEL
    assert "FLG_SITE_VERSIONS" in (site / "versions.js").read_text()
    assert f'url={OLD_LABEL}/index.html' in (site / "index.html").read_text()
    assert not list(site.glob(".build-*")) and not list(site.glob(".old-*")), "temporary directories left"
    assert meta.newest(["0.9.0", "0.10.0", "0.10.0-smoke"]) == "0.10.0"
    assert meta.newest(["0.1.0-smoke"]) == "0.1.0-smoke"


def test_numbers_in_the_text_come_from_the_artifacts(report):
    s = json.loads((report["run"] / "stats" / "stats.json").read_text())
    comp = s["components"]
    t2 = page_text(report["dir"] / "02-components.html")
    assert f"The means of {comp['n_off_centre']:,} of the {s['N']:,} components" in t2
    t4 = page_text(report["dir"] / "04-origin.html")
    assert f"At b = {s['slices']['b']:.3g} the slices of the {s['slices']['n_pairs']:,} pairs hold between " \
           f"{s['slices']['count_all']['min']:,} and {s['slices']['count_all']['max']:,}" in t4
    assert f"the b of this build, b = {s['b']['used']:.3g} (marked), comes from the fine scan below" in t4
    assert f"Its minimum lies at b = {s['b']['fine']['best']:.4g}" in t4
    h = json.loads((report["run"] / "train" / "history.json").read_text())
    t1 = page_text(report["dir"] / "01-setup.html")
    assert f"The whole network has {h['parameters']:,} weights" in t1
    g = json.loads((report["run"] / "generate" / "metrics.json").read_text())
    best, t5 = g["table"][1], page_text(report["dir"] / "05-generating.html")
    if best["tied_with"]:  # ranks are shared where score intervals overlap: no single best
        assert f"{best['name']} has the highest mean score of this build, but its interval overlaps that of " \
               f"{', '.join(best['tied_with'])}" in t5
    else:
        assert f"The best generator of this build is {best['name']}" in t5
    # published figures are labelled as such, ours as this build
    assert "Published (CelebA)" in t4 and "This build (synthetic test faces" in t4


def test_vega_is_shipped_once_and_nothing_comes_from_a_cdn(report):
    d = report["dir"]
    bundles = list(d.rglob("vega-bundle.js"))
    assert len(bundles) == 1 and bundles[0].parent.name == "_static"
    assert "window.vegaEmbed" in bundles[0].read_text(encoding="utf-8")
    for page in d.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(https?:)?//", html), page.name
        assert "cdn.jsdelivr" not in html and "unpkg.com" not in html, page.name
        assert html.count("vegaEmbed=") == 0, f"vega library inlined in {page.name}"
        if page.stem in CHAPTERS:
            assert '_static/vega-bundle.js' in html


def test_page_weight_at_most_5_mb(report):
    for page in report["dir"].glob("*.html"):
        assert page.stat().st_size <= MAX_PAGE_BYTES, (page.name, page.stat().st_size)


def test_decoder_weights_are_one_file_of_the_site(report):
    """The live decoder's weights are a file of the site (loaded by a script tag, as file:// allows),
    the decode step's weights script byte for byte, and no page inlines them."""
    d = report["dir"]
    weights = d / "_static" / "flg-decoder-weights.js"
    assert weights.read_bytes() == (report["run"] / "decode" / "decoder.js").read_bytes()
    data = json.loads(weights.read_text()[weights.read_text().index("{"):weights.read_text().rindex(";")])["data"]
    using = []
    for page in d.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert data[:200] not in html, f"decoder weights inlined in {page.name}"
        if '<script src="_static/flg-decoder-weights.js">' in html:
            assert html.count("flg-decoder-weights.js") == 1, page.name
            using.append(page.stem)
    assert sorted(using) == ["04-origin", "06-decoder"]
    assert (d / "_static" / "flg-decoder.js").is_file()


def test_citation_files(report):
    with open(ROOT / "CITATION.cff", "rb") as f:
        text = f.read().decode()
    assert f'version: "{meta.project_version()}"' in text
    assert "cff-version: 1.2.0" in text and "preferred-citation:" in text
    m = report["meta"]
    bib = (report["dir"] / m["bib"]).read_text()
    assert bib.startswith(f"@misc{{{meta.SLUG}-{m['label']},")
    assert f"version      = {{{m['label']}}}" in bib and m["commit"] in bib
    cite = page_text(report["dir"] / "09-cite.html")
    assert f"@misc{{{meta.SLUG}-{m['label']}," in cite
    assert "Ghosh" in cite and "Naeem" in cite and "CBCL" in cite and "latent space fragmentation" in cite
    cff = (report["dir"] / "CITATION.cff").read_text()
    assert f'date-released: "{m["date"]}"' in cff


def test_second_build_with_nothing_changed_is_fast(report):
    """Nothing changed: the build says so and rewrites nothing (its speed is a `make bench` figure,
    bench/bench_report.py's no-change rebuild, not a timed test)."""
    def published():  # the pages and files (not the build's own records: .build.json, the make marker)
        return {f: f.stat().st_mtime_ns for f in sorted(Path(report["dir"]).rglob("*"))
                if f.is_file() and not f.name.startswith(".")}
    before = published()
    assert len(before) > 20, before
    p = run([sys.executable, BUILD, "--run", report["run"], "--site", report["site"], "--formats", report["formats"]])
    assert p.returncode == 0, p.stderr
    assert "up to date" in p.stderr
    assert published() == before, "the no-change build rewrote published files"
    # make sees the marker as up to date too: only the set-up check would run
    marker = report["dir"] / f".built-{'-'.join(sorted(report['formats'].split(',')))}"
    assert marker.is_file()
    p = run(["make", "-n", "report", f"CONFIG={SMOKE}", f"RUN={report['run']}", f"SITE={report['site']}",
             f"REPORT_FORMATS={report['formats']}", f"REPORT_LABEL={report['label']}"])
    assert p.returncode == 0, p.stderr
    assert "report/build.py" not in p.stdout and "-m analysis" not in p.stdout, p.stdout


# --------------------------------------------------------------------------- reduced builds

def test_changed_artifact_shows_without_forcing(report, tmp_path):
    src = reduced_source(tmp_path / "src", ["02-components"])
    rundir = tmp_path / "run"
    shutil.copytree(report["run"], rundir)
    site = tmp_path / "site"
    cmd = [sys.executable, BUILD, "--run", rundir, "--site", site, "--formats", "html", "--source", src]
    p = run(cmd)
    assert p.returncode == 0, p.stderr[-3000:]
    label = report["label"]
    stats_path = rundir / "stats" / "stats.json"
    before = json.loads(stats_path.read_text())["components"]["n_off_centre"]
    # the analysis re-run with another threshold changes the artifacts (and their manifests)
    p = run_cli("all", "--config", SMOKE, "--out", rundir, "--set", "stats.k_sigma=1e6")
    assert p.returncode == 0, p.stderr[-3000:]
    after = json.loads(stats_path.read_text())["components"]["n_off_centre"]
    assert after != before
    p = run(cmd)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "up to date" not in p.stderr
    assert f"The means of {after:,} of the" in page_text(site / label / "02-components.html")


def test_generating_chapter_without_generate_artifacts_is_a_placeholder(report, tmp_path):
    src = reduced_source(tmp_path / "src", ["05-generating"])
    rundir = tmp_path / "run"
    shutil.copytree(report["run"], rundir, ignore=shutil.ignore_patterns("generate", "generate.manifest.json"))
    site = tmp_path / "site"
    p = run([sys.executable, BUILD, "--run", rundir, "--site", site, "--formats", "html", "--source", src])
    assert p.returncode == 0, p.stderr[-3000:]
    text = page_text(site / report["label"] / "05-generating.html")
    assert "The generate step has not run for this build" in text
    assert "make generate" in text


def test_a_decoder_too_large_for_the_page_gets_the_precomputed_figures_and_a_reason(report, tmp_path, monkeypatch):
    from analysis.science import export
    from analysis.pipeline import steps
    from analysis.pipeline.config import load_config

    rundir = tmp_path / "run"
    shutil.copytree(report["run"], rundir)
    monkeypatch.setattr(export, "LIVE_MAX_BYTES", 1000)  # as if the weights took more than 20 MB
    steps.run("decode", load_config(SMOKE), rundir, force=True)
    src = reduced_source(tmp_path / "src", ["06-decoder"])
    site = tmp_path / "site"
    p = run([sys.executable, BUILD, "--run", rundir, "--site", site, "--formats", "html", "--source", src])
    assert p.returncode == 0, p.stderr[-3000:]
    d = site / report["label"]
    html = (d / "06-decoder.html").read_text(encoding="utf-8")
    text = page_text(d / "06-decoder.html")
    assert "This build has no live decoder in the page: the decoder’s weights take" in text
    assert "precomputed planes and paths only" in text and "Decoded planes of the pairs" in text
    assert "flg-decoder-weights.js" not in html and 'data-chart="path-explorer"' not in html
    assert not (d / "_static" / "flg-decoder-weights.js").exists()


@pytest.mark.case("a failing chapter",
                  "exit 1 with one line naming the chapter, the code cell and the error; the full log is kept in "
                  "_site/.logs/ (the last 10) and its path printed; no Sphinx temporary file is left in $TMPDIR")
def test_failing_chapter_names_chapter_and_cell(tmp_path, report):
    src = reduced_source(tmp_path / "src", ["02-components"])
    ch = src / "02-components.md"
    text = ch.read_text()
    first_end = text.index("```", text.index("```{code-cell}") + 5) + 3
    ch.write_text(text[:first_end] + '\n\n```{code-cell} ipython3\nraise ValueError("planted failure")\n```\n'
                  + text[first_end:])
    site = tmp_path / "site"
    logs, systmp = site / ".logs", tmp_path / "systmp"
    logs.mkdir(parents=True)
    systmp.mkdir()
    for i in range(12):  # logs of older failed builds: only the newest ones are kept
        old = logs / f"0.0.1-20200101T0000{i:02d}Z-1.log"
        old.write_text("report build of 0.0.1 failed: old")
        os.utime(old, (1000 + i, 1000 + i))
    (logs / "notes.log").write_text("a user's own log: never deleted")
    os.utime(logs / "notes.log", (10, 10))
    p = run([sys.executable, BUILD, "--run", report["run"], "--site", site, "--formats", "html", "--source", src],
            env=dict(env(), TMPDIR=str(systmp)))
    assert p.returncode == 1
    err = p.stderr
    line = next((ln for ln in err.splitlines() if ln.startswith("report: error:")), "")
    assert "chapter 02-components.md ('Latent components') failed in code cell 2 of" in line, err[-3000:]
    assert "ValueError: planted failure" in line
    assert not (site / report["label"]).exists(), "a failed build was published"
    log = Path(re.search(r"\(full log: (\S+\.log)\)$", line).group(1))
    assert log.parent == logs and "planted failure" in log.read_text() and "Traceback" in log.read_text()
    assert len(list(logs.glob("*.log"))) == 11 and not (logs / "0.0.1-20200101T000001Z-1.log").exists()
    assert (logs / "notes.log").read_text() == "a user's own log: never deleted"
    assert not list(systmp.iterdir()), f"temporary files left in $TMPDIR: {list(systmp.iterdir())}"
    assert not list(site.glob(".build-*"))


@pytest.mark.case("two report builds at once into one site",
                  "both succeed (lock, private build directories renamed at the end); the site is whole")
def test_concurrent_builds_do_not_corrupt_the_site(tmp_path, report):
    src = reduced_source(tmp_path / "src", ["09-cite"])
    site = tmp_path / "site"
    cmd = [str(c) for c in (sys.executable, BUILD, "--run", report["run"], "--site", site, "--formats", "html",
                            "--source", src, "--force")]
    procs = [subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    d = site / report["label"]
    assert (d / "index.html").is_file() and (d / "09-cite.html").is_file() and (d / ".build.json").is_file()
    assert not list(site.glob(".build-*")) and not list(site.glob(".old-*"))
    assert json.loads((site / "versions.json").read_text())["versions"] == [report["label"]]


@pytest.mark.case("two builds start chapter kernels at the same moment and one kernel's TCP port is taken by the "
                  "other (jupyter_client's port race: ZMQError: Address already in use)",
                  "that Sphinx run is repeated, at most twice, with a line saying why; any other failure is not")
@pytest.mark.parametrize("races,calls", [(1, 2), (5, 3), (0, 1)])
def test_a_kernel_port_race_runs_sphinx_again(tmp_path, monkeypatch, capsys, races, calls):
    import sphinxrun
    from buildlog import BuildError
    seen = []

    def fake_run(cmd, logfile, env, cwd=None):
        seen.append(cmd)
        if len(seen) <= races:
            return 1, "zmq.error.ZMQError: Address already in use (addr='tcp://127.0.0.1:46839')\n"
        return (0, "") if races else (2, "some other failure\n")
    monkeypatch.setattr(sphinxrun, "run_logged", fake_run)
    if races == 1:
        assert sphinxrun.sphinx("html", tmp_path, {}, "1") >= 0
    else:
        with pytest.raises(BuildError):
            sphinxrun.sphinx("html", tmp_path, {}, "1")
    assert len(seen) == calls and all(c == seen[0] for c in seen)
    assert capsys.readouterr().err.count("could not bind its port") == calls - 1


@pytest.mark.parametrize("png", ["0", "1"])
def test_charts_render_their_static_image_only_for_the_pdf(report, png):
    """A chart's PNG is the PDF's image: an HTML-only build (FLG_CHART_PNG=0, set by build.py) skips
    vl-convert and closes a matplotlib stand-in unrendered; a PDF build keeps both in the output."""
    code = ("import json, altair as alt, matplotlib.pyplot as plt, flg\n"
            "c = alt.Chart(alt.Data(values=[{'x': 1}, {'x': 2}])).mark_point().encode(x='x:Q')\n"
            "fig = plt.figure()\n"
            "print(json.dumps([sorted(flg.chart(c)._repr_mimebundle_()),\n"
            "                  sorted(flg.chart(c, static=fig)._repr_mimebundle_()), plt.get_fignums()]))\n")
    e = dict(env(), FLG_META=json.dumps(report["meta"]), FLG_RUN=str(report["run"]), FLG_CHART_PNG=png,
             MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join([str(ROOT), str(REPORT)]))
    p = run([sys.executable, "-c", code], env=e)
    assert p.returncode == 0, p.stderr[-3000:]
    plain, static, open_figures = json.loads(p.stdout.strip().splitlines()[-1])
    want = ["text/html", "text/plain"] + (["image/png"] if png == "1" else [])
    assert sorted(plain) == sorted(static) == sorted(want) and open_figures == []


def test_diagnosis_of_a_failure_log():
    import build
    from myst_nb.core.read import read_myst_markdown_notebook
    chapter = REPORT / "03-correlations.md"
    code = [c for c in read_myst_markdown_notebook(chapter.read_text()).cells if c.cell_type == "code"]
    src = "\n".join("    " + line for line in code[1].source.splitlines())  # indented as in Sphinx's log
    log = ("myst_nb.core.execute.base.ExecutionError: " + str(chapter) + "\n"
           "    nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:\n"
           "    ------------------\n" + src + "\n    ------------------\n\n"
           "    NameError                                 Traceback (most recent call last)\n"
           "    NameError: name 'N' is not defined\n")
    msg = build.diagnose(log)
    assert msg.startswith("chapter 03-correlations.md ('Correlations and the ellipsoid') failed in code cell 2 of "
                          f"{len(code)} (line "), msg
    assert msg.endswith("NameError: name 'N' is not defined")


def test_bad_input_is_reported(tmp_path):
    p = run([sys.executable, BUILD, "--run", tmp_path / "nope", "--site", tmp_path / "site"])
    assert p.returncode == 2
    assert "lacks" in p.stderr and "python -m analysis all" in p.stderr
    p = run([sys.executable, BUILD, "--run", tmp_path, "--formats", "pdf"])
    assert p.returncode == 2


def test_charts_module_builds_valid_specs():
    import numpy as np

    from analysis import charts
    from analysis.science import slices
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 6)).astype(np.float32)
    ti = np.argsort(-np.abs(z), axis=1)[:, :3]
    ta = np.take_along_axis(np.abs(z), ti, axis=1)
    for c in (charts.projection_explorer(6, (0, 1), 50, 3, 1.0),
              charts.slice_explorer(6, (0, 1), 50, 1.0, (0.1, 3.0), 20, 1.0),
              charts.slice_atlas(6, [0.5, 1.0], 1, 50, 50)):
        spec = c.to_dict()
        assert spec["$schema"].endswith(".json") and "params" in spec
    m = slices.in_slice(ti, ta, 0, 1, 1.0)
    brute = np.array([all(abs(v) <= 1.0 for j, v in enumerate(row) if j not in (0, 1)) for row in z])
    assert (m == brute).all()
    with open(ROOT / "pyproject.toml", "rb") as f:
        assert tomllib.load(f)["project"]["version"] == meta.project_version()


def test_chart_text_alternatives_come_from_the_numbers_shown():
    """charts.describe: the title and, per field drawn from inline data, the range or the names it
    shows; other numbers give another text; the explorers (data from the page) name their controls."""
    from analysis import charts
    spec = charts.training_chart([1, 2, 3], [0.05, 0.03, 0.02], [0.06, 0.04, None]).to_dict()
    text = charts.describe(spec, "Training curves")
    assert text.startswith("Training curves. Reconstruction error during training.")
    assert "epoch from 1 to 3" in text and "mean squared error per pixel from 0.02 to 0.06" in text, text
    other = charts.describe(charts.training_chart([1, 2], [0.5, 0.3], [0.6, 0.4]).to_dict())
    assert "epoch from 1 to 2" in other and "from 0.3 to 0.6" in other and other != text
    live = charts.describe(charts.slice_explorer(6, (0, 1), 50, 1.0, (0.1, 3.0), 20, 1.0).to_dict())
    assert "data the page loads" in live and "Controls below the chart:" in live, live
    assert len(charts.describe({"mark": "point", "data": {"values": [{"x": f"n{i}"} for i in range(5000)]},
                                "encoding": {"x": {"field": "x", "type": "nominal"}}})) <= 1200


@pytest.mark.parametrize("name", ["default", "smoke", "celeba"])
def test_make_follows_the_label_and_source_rules_of_the_build(name):
    """report.mk computes the version label and the report's sources without Python; both agree
    with report/meta.py and report/build.py."""
    from analysis.pipeline.config import load_config

    import build
    config = ROOT / "configs" / f"{name}.toml"
    p = run(["make", "-s", "--eval", "print-vars: ; @echo $(REPORT_LABEL); echo $(sort $(REPORT_SOURCES))",
             "print-vars", f"CONFIG={config}"])
    assert p.returncode == 0, p.stderr
    label, sources = p.stdout.splitlines()
    assert label == meta.version_label(meta.project_version(), load_config(config).run.name)
    assert set(sources.split()) == {str(f.relative_to(ROOT)) for f in build.source_files()}


@pytest.mark.case("kill -9 during the report build (several moments)",
                  "the site never shows a partial version; the re-run publishes pages with the same text as "
                  "an uninterrupted build")
def test_kill_during_report_build(tmp_path, report):
    src = reduced_source(tmp_path / "src", ["09-cite"])  # the lightest chapter: the build's steps, not its charts
    ref_site, site = tmp_path / "ref", tmp_path / "site"
    cmd = [sys.executable, BUILD, "--run", report["run"], "--formats", "html", "--source", src]
    p = run(cmd + ["--site", ref_site])
    assert p.returncode == 0, p.stderr[-3000:]
    label = report["label"]
    want = {name: page_text(ref_site / label / f"{name}.html") for name in ("index", "09-cite")}
    for delay in (1.0, 2.5):  # in Sphinx's start, and in the chapters' execution or the publishing
        proc = subprocess.Popen([str(c) for c in cmd + ["--site", site, "--force"]], env=env(), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        d = site / label
        if d.exists():  # a version directory is only ever there complete
            assert (d / ".build.json").is_file() and (d / "09-cite.html").is_file()
    p = run(cmd + ["--site", site])
    assert p.returncode == 0, p.stderr[-3000:]
    for name, text in want.items():
        assert page_text(site / label / f"{name}.html") == text, name
    assert not list(site.glob(".build-*"))
