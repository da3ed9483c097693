"""The report build with hostile input (issue 11): user strings in every output format,
artifacts the manifests do not vouch for, a config that is not the run's, damaged
artifacts, SIGTERM during the build, and where the logs go.

One hostile run (title, authors, run name and data folder full of HTML, LaTeX, YAML and
BibTeX syntax, a newline and non-ASCII) is made and built once per session; the checks
of the refusals stop before Sphinx starts, so they take a second or two each.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import markupsafe
import numpy as np
import psutil
import pytest
import yaml

from conftest import built_once, run_cli
from test_report import BUILD, REPORT, ROOT, SMOKE, env, has_tex, meta, page_text, reduced_source, run, smoke_run

if str(REPORT) not in sys.path:
    sys.path.insert(0, str(REPORT))


def report_module(name: str):
    """``report/<name>.py``, imported when a test needs it."""
    import importlib
    return importlib.import_module(name)

# ----------------------------------------------------------------------------- hostile strings

TITLE = '<script>alert(1)</script> "quoted": yes # not a comment\n100% & {braces} \\ _ ~ ^ $ é 漢字'
AUTHORS = ['Ada <b>Love</b> & "Co" #1', "100% {A} \\ _ ~ ^ $ é 漢字", "Tom and Jerry"]
# a run name and a folder name hold no "/" (they are path components)
RUN_NAME = '<b onmouseover=alert(2)>run "q": # 100% & {x} _ ~ ^ $ é 漢字'
FOLDER = '<img src=x onerror=alert(3)> "q": yes # c 100% & {b} \\ _ ~ ^ $ é 漢字'
#: Markup that must never reach a page as markup.
RAW = ("<script>alert(1)", "<b>Love</b>", "<b onmouseover", "<img src=x")


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a TOML basic string


def write_images(folder: Path, n: int = 160, size: int = 16) -> None:
    from PIL import Image
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        c, r = size / 2 + rng.normal(0, 1, 2), size / 3 + rng.normal(0, 0.5)
        img = 60 + 150 * (((yy - c[0]) ** 2 + (xx - c[1]) ** 2) < r * r) + rng.normal(0, 20, (size, size))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"img{i:03d}.png")


def _hostile(base: Path) -> dict:
    write_images(base / FOLDER)
    rundir, site = base / "run", base / "_site"
    sets = [f"data.source=folder", f"data.path={toml_str(str(base / FOLDER))}", f"report.title={toml_str(TITLE)}",
            "report.authors=[" + ", ".join(toml_str(a) for a in AUTHORS) + "]", f"run.name={toml_str(RUN_NAME)}"]
    p = run_cli("all", "--config", SMOKE, "--out", rundir, *[x for s in sets for x in ("--set", s)], fresh=True)
    assert p.returncode == 0, p.stderr[-3000:]
    formats = "html,pdf" if has_tex() else "html"
    p = run([sys.executable, BUILD, "--run", rundir, "--site", site, "--formats", formats, "--jobs", "2"])
    assert p.returncode == 0, p.stderr[-4000:]
    record = json.loads(next(site.glob("*/.build.json")).read_text())
    return {"run": str(rundir), "site": str(site), "dir": str(site / record["label"]), "meta": record["meta"],
            "formats": formats, "stderr": p.stderr}


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> dict:
    """The smoke pipeline on a folder named FOLDER with TITLE, AUTHORS and RUN_NAME, and its report; built
    once per session (:func:`conftest.built_once`: shared by the workers), read only."""
    r = built_once(tmp_path_factory, "hostile", _hostile)
    return {**r, **{k: Path(r[k]) for k in ("run", "site", "dir")}}


def test_hostile_strings_reach_the_run(hostile):
    m = hostile["meta"]
    assert (m["title"], m["authors"], m["run_name"]) == (TITLE, AUTHORS, RUN_NAME)
    assert m["data"].endswith(FOLDER)
    assert meta.LABEL_RE.match(m["label"]), m["label"]  # the label names files: made safe, still distinct
    assert m["label"] != meta.version_label(m["version"], RUN_NAME + "x")


@pytest.mark.case("HTML, quotes and ampersands in report.title, report.authors, run.name and the data folder's name",
                  "shown as text on every page (sidebar, footer, stamp, meta tags, title): no markup from them "
                  "in any built page; the version list is valid JSON")
def test_user_strings_are_escaped_in_every_page(hostile):
    d = hostile["dir"]
    pages = sorted(d.glob("*.html")) + [hostile["site"] / "index.html"]
    assert len(pages) >= 10
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for raw in RAW:
            assert raw not in text, (page.name, raw, text[max(0, text.find(raw) - 200):text.find(raw) + 100])
    index = (d / "index.html").read_text(encoding="utf-8")
    shown = page_text(d / "index.html")
    one = meta.one_line(TITLE)
    assert one in html.unescape(re.search(r'class="title logo__title">(.*?)</p>', index, re.S).group(1))  # sidebar
    assert html.unescape(re.search(r"<title>(.*?)</title>", index, re.S).group(1)).endswith(one)
    assert f"By {', '.join(AUTHORS)}" in shown  # footer
    assert f"data: {hostile['meta']['data']} (run {RUN_NAME})" in shown  # stamp
    for a in AUTHORS:
        assert f'<meta name="citation_author" content="{markupsafe.escape(a)}">' in index
    sel = re.search(r'data-versions="([^"]*)"', index).group(1)
    assert hostile["meta"]["label"] in json.loads(html.unescape(sel))
    doc = json.loads((hostile["site"] / "versions.json").read_text())
    js = (hostile["site"] / "versions.js").read_text()
    assert json.loads(js[js.index("=") + 1:js.rindex(";")]) == doc


@pytest.mark.case('"quotes": colons, # and newlines (YAML) and % & { } \\ _ ~ ^ $ (LaTeX, BibTeX) in the title '
                  "and authors", "CITATION.cff reads back (yaml.safe_load) to the exact strings; the .bib entry "
                  "has balanced braces and every field")
def test_citation_files_keep_hostile_strings(hostile):
    d, m = hostile["dir"], hostile["meta"]
    cff = yaml.safe_load((d / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["title"] == TITLE and cff["preferred-citation"]["title"] == TITLE
    assert [a["name"] for a in cff["authors"]] == AUTHORS
    assert cff["version"] == m["label"] and cff["date-released"] == m["date"] and cff["cff-version"] == "1.2.0"
    bib = (d / m["bib"]).read_text(encoding="utf-8")
    depth = 0
    for ch in bib:  # BibTeX counts every brace, escaped or not
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, bib
    assert depth == 0, bib
    fields = dict(re.findall(r"^  (\w+)\s*= (.*?),?$", bib, re.M))
    assert set(fields) >= {"title", "author", "year", "month", "version", "note"}, fields
    assert fields["title"] == "{{" + meta.bib_escape(TITLE) + "}}"
    assert r"100\% \& \textbraceleft{}braces\textbraceright{} \textbackslash{} \_ \textasciitilde{}" in fields["title"]
    assert fields["author"].count("} and {") == 2 and fields["author"].endswith("and {Tom and Jerry}}")


@pytest.mark.case("% & { } \\ _ ~ ^ $ # and CJK characters in the title, authors, run name and folder name (PDF)",
                  "the PDF builds; its metadata holds the exact title; characters its fonts lack show as ? with "
                  "one warning naming them")
def test_pdf_with_hostile_strings(hostile):
    if "pdf" not in hostile["formats"] or shutil.which("pdftotext") is None:
        pytest.skip("TeX Live or poppler-utils is not installed; run `make setup`")
    pdf = hostile["dir"] / hostile["meta"]["pdf"]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    fields = dict(re.findall(r"^(\w[\w ]*?):\s+(.*)$", info, flags=re.M))
    assert fields["Title"] == f"{meta.one_line(TITLE)} (version {hostile['meta']['label']})", info
    assert fields["Author"] == ", ".join(AUTHORS), info
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    shown = meta.one_line(TITLE).replace("漢字", "??")
    assert shown in text, text[:1500]
    assert f"(run {RUN_NAME.replace('漢字', '??')})" in text
    assert "漢 (U+6F22)" in hostile["stderr"] and "字 (U+5B57)" in hostile["stderr"]


def test_escaping_helpers():
    assert meta.label_part("smoke") == "smoke"
    for name in (RUN_NAME, "../../x", "a b", "漢字", "-x", ".hidden", "x" * 300):
        part = meta.label_part(name)
        assert meta.LABEL_RE.match(f"0.1.0-{part}"), (name, part)
    assert meta.label_part("a b") != meta.label_part("a_b") != meta.label_part("a-b")
    js = meta.script_json({"v": "</script><!-- \u2028"})
    assert "</" not in js and "<!--" not in js and "\u2028" not in js
    assert json.loads(js) == {"v": "</script><!-- \u2028"}
    assert meta.md_escape("<b>*x*</b> `y`") == r"\<b\>\*x\*\<\/b\> \`y\`"


@pytest.mark.case("a directory with markup in its name inside the site (with an index.html and a .build.json "
                  "naming it)",
                  "not a version (its name is no label the build gives): not listed on the site's index page, "
                  "in versions.json or the version switcher; the published versions are, linked URL-quoted")
def test_site_index_escapes_foreign_labels(tmp_path):
    bad = '<img src=x onerror=alert(4)>"'
    for label in ("0.1.0", "0.2.0+x", bad):
        (tmp_path / label).mkdir()
        (tmp_path / label / "index.html").write_text("<p>x</p>")
        (tmp_path / label / ".build.json").write_text(json.dumps({"label": label}))
    report_module("build").write_site_index(tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert "<img" not in page and "onerror" not in page and "alert" not in page
    assert 'href="0.2.0%2Bx/index.html"' in page
    js = (tmp_path / "versions.js").read_text()
    assert json.loads(js[js.index("=") + 1:js.rindex(";")])["versions"] == ["0.1.0", "0.2.0+x"]


# ----------------------------------------------------------------------------- artifacts and config

@pytest.fixture(scope="session")
def report(tmp_path_factory) -> dict:
    """The smoke run (fetch .. generate; shared with test_report.py) and its label. No build."""
    return {"run": smoke_run(tmp_path_factory), "label": meta.version_label(meta.project_version(), "smoke")}


def copy_run(report: dict, dst: Path) -> Path:
    shutil.copytree(report["run"], dst)
    return dst


def refused(p: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2 with one line on stderr that starts with 'report: error:' and holds ``needles``."""
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr[-3000:])
    assert "Traceback" not in p.stderr and len(lines) == 1 and lines[0].startswith("report: error:"), p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def build_cmd(rundir: Path, site: Path, *extra) -> list:
    return [sys.executable, BUILD, "--run", rundir, "--site", site, "--formats", "html", *extra]


@pytest.mark.case("an artifact changed after its step (hand-edited stats.json, metrics.json, history.json)",
                  "the report refuses it: exit 2 naming the file and its manifest, before Sphinx starts; "
                  "nothing is published; the volatile train/timing.json is not checked")
@pytest.mark.parametrize("rel", ["stats/stats.json", "generate/metrics.json", "train/history.json"])
def test_edited_artifact_is_refused(tmp_path, report, rel):
    rundir = copy_run(report, tmp_path / "run")
    doc = json.loads((rundir / rel).read_text())
    doc["hand_edited"] = 98765
    (rundir / rel).write_text(json.dumps(doc))
    site = tmp_path / "site"
    p = run(build_cmd(rundir, site))
    line = refused(p, str(rundir / rel), f"{rel.split('/')[0]}.manifest.json", "--force")
    assert "does not match the sha256" in line
    assert "building version" not in p.stderr, "checked after Sphinx started"  # (the line before Sphinx)
    assert not (site / report["label"]).exists() and not list(site.glob(".build-*"))
    if rel == "stats/stats.json":  # the volatile file of the train step is not hash-checked
        shutil.copy2(report["run"] / rel, rundir / rel)
        (rundir / "train" / "timing.json").write_text('{"epochs": [], "changed": true}')
        checked = report_module("artifacts").check_artifacts(rundir)
        assert "train/model.pt" in checked and "train/timing.json" not in checked


@pytest.mark.case("a malformed artifact (truncated stats.json, damaged arrays.npz, truncated manifest)",
                  "exit 2 with one line naming the file and the problem (e.g. not valid JSON), before Sphinx starts")
@pytest.mark.parametrize("rel, problem", [("stats/stats.json", "is not valid JSON"),
                                          ("stats/arrays.npz", "is not a readable .npz archive"),
                                          ("generate/metrics.json", "is not valid JSON"),
                                          ("stats.manifest.json", "is not a readable manifest")])
def test_malformed_artifact_is_named(tmp_path, report, rel, problem):
    rundir = copy_run(report, tmp_path / "run")
    data = (rundir / rel).read_bytes()
    (rundir / rel).write_bytes(data[: len(data) // 2])
    p = run(build_cmd(rundir, tmp_path / "site"))
    refused(p, str(rundir / rel), problem)


@pytest.mark.case("make report on a run made with another config of the same name, or with other --set values",
                  "exit 2 naming config.toml or the step's manifest, the first differing key and the command that "
                  "remakes the run")
def test_run_of_another_config_is_refused(tmp_path, report):
    rundir = copy_run(report, tmp_path / "run")
    site = tmp_path / "site"
    refused(run(build_cmd(rundir, site, "--config", SMOKE, "--", "--set", "stats.bins=10")),
            str(rundir / "config.toml"), "stats.bins = 60", "stats.bins = 10", "python -m analysis all",
            "--set stats.bins=10")
    other = tmp_path / "smoke.toml"  # another file of the same name
    other.write_text(SMOKE.read_text().replace("epochs = 3", "epochs = 4"))
    refused(run(build_cmd(rundir, site, "--config", other)), "train.epochs = 3", "train.epochs = 4")
    refused(run(build_cmd(rundir, site, "--config", SMOKE, "--", "--set", "stats.nope=1")), "stats.nope")
    # the stats step re-run with an override, then generate without: config.toml is the
    # config file's again, but the stats step's manifest is not
    cli = [sys.executable, "-m", "analysis"]
    assert run(cli + ["stats", "--config", SMOKE, "--out", rundir, "--set", "stats.bins=10"]).returncode == 0
    assert run(cli + ["generate", "--config", SMOKE, "--out", rundir]).returncode == 0
    refused(run(build_cmd(rundir, site, "--config", SMOKE)), str(rundir / "stats.manifest.json"), "stats.bins = 10")
    refused(run(build_cmd(rundir, site)), "stats.manifest.json", "stats.bins = 10")
    assert not site.exists() or not list(site.iterdir())


def test_volatile_keys_may_differ(tmp_path, report):
    artifacts = report_module("artifacts")
    ref = artifacts.check_config(report["run"], str(SMOKE), ["run.threads=3", "data.workers=2"])
    assert ref.run.threads == 3
    with pytest.raises(artifacts.PublishError, match="run.seed"):
        artifacts.check_config(report["run"], str(SMOKE), ["run.seed=1"])


@pytest.mark.case("a step's output deleted or edited (generate/metrics.json, stats/stats.json) or only touched, "
                  "then make report",
                  "make runs that step again (python -m analysis check lists it) and the steps after it, then builds "
                  "the report (build.py gets CONFIG and ARGS); a file touched but unchanged re-runs no step")
def test_make_remakes_a_deleted_or_edited_artifact(tmp_path, report):
    def dry_run(rundir: Path) -> str:
        make = ["make", "-n", "report", f"CONFIG={SMOKE}", f"RUN={rundir}", f"SITE={tmp_path / 'site'}",
                f"REPORT_LABEL={report['label']}", "REPORT_FORMATS=html", "ARGS=--set run.threads=1"]
        p = run(make)
        assert p.returncode == 0, p.stderr
        assert "report/build.py" in p.stdout, p.stdout
        return p.stdout

    touched = copy_run(report, tmp_path / "touched")
    os.utime(touched / "stats" / "stats.json")  # newer than its manifest, same bytes
    assert "-m analysis" not in dry_run(touched)

    deleted = copy_run(report, tmp_path / "deleted")
    (deleted / "generate" / "metrics.json").unlink()
    out = dry_run(deleted)
    assert out.index("-m analysis generate") < out.index("-m analysis claims") < out.index("report/build.py"), out
    assert f"--config {SMOKE}" in out and "-- --set run.threads=1" in out
    assert "-m analysis stats" not in out and "-m analysis train" not in out, out

    edited = copy_run(report, tmp_path / "edited")
    stats_json = edited / "stats" / "stats.json"
    text = stats_json.read_text()
    assert '"n": 160' in text
    stats_json.write_text(text.replace('"n": 160', '"n": 1'))
    out = dry_run(edited)
    assert out.index("-m analysis stats") < out.index("-m analysis generate") < out.index("report/build.py"), out
    assert "-m analysis claims" in out and "-m analysis decode" in out and "-m analysis train" not in out, out


# ----------------------------------------------------------------------------- signals and logs

def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def in_session(sid: int) -> list[int]:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (OSError, psutil.Error):
            pass
    return out


@pytest.mark.case("SIGTERM (kill, systemd, a batch scheduler) during the report build",
                  "Sphinx, the notebook kernels and their children are ended within seconds; no temporary "
                  "directory is left; exit 143 with one line; the re-run builds")
def test_sigterm_ends_the_whole_build(tmp_path, report):
    src = reduced_source(tmp_path / "src", ["02-components"])
    site = tmp_path / "site"
    # two Sphinx processes (-j 2, as make runs it): forked workers, each with a kernel
    cmd = [str(c) for c in build_cmd(report["run"], site, "--source", src, "--jobs", "2")]
    proc = subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        kernel = False
        while time.monotonic() < deadline and proc.poll() is None and not kernel:
            time.sleep(0.2)
            for c in descendants(proc.pid):
                try:
                    kernel = kernel or "ipykernel" in " ".join(c.cmdline())
                except psutil.Error:
                    pass
        assert kernel, "no notebook kernel started"
        tree = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    t = time.monotonic()
    while alive(tree) and time.monotonic() - t < 5:
        time.sleep(0.1)
    assert not alive(tree), [(p.pid, p.cmdline()) for p in alive(tree)]
    assert not in_session(proc.pid)
    assert proc.returncode == 128 + signal.SIGTERM, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1].startswith("report: stopped by SIGTERM") and "Traceback" not in err, err
    assert not list(site.glob(".build-*")) and not (site / report["label"]).exists()
    p = run(cmd)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (site / report["label"] / "02-components.html").is_file()


def test_repository_citation_file_is_current():
    """The repository's CITATION.cff is what `make citation` writes (the year aside)."""
    def load(text):
        doc = yaml.safe_load(text)
        doc["preferred-citation"].pop("year")
        return doc
    assert load((ROOT / "CITATION.cff").read_text(encoding="utf-8")) == load(meta.repository_cff()), \
        "CITATION.cff is stale: run `make citation`"
